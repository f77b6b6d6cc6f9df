"""Refining the user's own part ([morph] problem = "part"): rules, job checks, a tiny development, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh

from fab.errors import FabError
from fab.job import load_job
from fab.morph.part import Layout, Rules, apply_rules, decode, mirror_map
from fab.morph.part_job import read_refine_job

ROOT = Path(__file__).resolve().parents[1]


def _layout(domain, keep=None, fixed=None, mirrors=()):
    keep = np.zeros_like(domain) if keep is None else keep
    fixed = np.zeros_like(domain) if fixed is None else fixed
    return Layout(1.0, (0.0, 0.0, 0.0), domain, domain.copy(), keep | fixed, fixed, (keep,), ((0, 0, -1),),
                  ((0,),), mirrors)


def test_rules_fill_voids_keep_attached_and_drop_thin_members():
    dom = np.ones((10, 8, 8), dtype=bool)
    fixed = np.zeros_like(dom)
    fixed[0] = True
    occ = dom.copy()
    occ[2:4, 3:5, 3:5] = False  # an enclosed void behind walls 2 cells thick
    occ[6:, :, :] = False
    occ[6, 0, 0] = True  # a one-cell stub, thinner than the rule
    occ[9, 4, 4] = True  # a cell cut off
    out = apply_rules(occ, _layout(dom, fixed=fixed), Rules(min_thickness=2.0))
    assert out[2:4, 3:5, 3:5].all()  # the void is filled
    assert not out[6, 0, 0] and not out[9, 4, 4]
    assert out[:6].all() and not out[6:].any()


def test_overhang_rule_removes_unsupported_cells_layer_by_layer():
    dom = np.ones((7, 3, 4), dtype=bool)
    fixed = np.zeros_like(dom)
    fixed[3, :, 0] = True
    occ = np.zeros_like(dom)
    occ[3, :, :] = True  # a column
    occ[:, :, 3] = True  # a flat roof on it: 45 degrees lets it widen by one cell a layer only
    out = apply_rules(occ, _layout(dom, fixed=fixed), Rules(min_thickness=0.0, overhang=45.0, no_voids=False))
    assert out[3, :, :].all()
    assert out[2:5, :, 3].all() and not out[0, :, 3].any() and not out[6, :, 3].any()


def test_symmetry_plane_mirrors_the_design():
    shape = (6, 4, 2)
    mirror = mirror_map(shape, (0.5, 0.5, 0.5), 1.0, 0, 3.0)  # plane x = 3 mm between cells 2 and 3
    dom = np.ones(shape, dtype=bool)
    fixed = np.zeros_like(dom)
    fixed[:, 0, :] = True
    occ = fixed.copy()
    occ[0, :, :] = True
    out = apply_rules(occ, _layout(dom, fixed=fixed, mirrors=(mirror,)), Rules(0.0, no_voids=False))
    assert out[5, :, :].all()
    assert np.array_equal(out, out[::-1])


def test_genome_decodes_inside_the_gene_ranges():
    g = decode(np.zeros(9))
    assert g["radius"] == 0.5 and g["slack"] == -0.1
    with pytest.raises(ValueError):
        decode(np.zeros(3))


BAR_JOB = """
[part]
source = "bar.stl"
[voxels]
pitch = 1.0
[material]
name = "PLA"
[physics]
model = "pmb"
[[fix]]
region = "x < 1"
[[load]]
region = ">X:2"
force = [0, 0, -20]
[[load]]
region = ">X:2"
force = [0, 10, 0]
[morph]
problem = "part"
cases = [[1], [2]]
"""


def write_bar(folder: Path, extents: tuple[float, float, float], morph: str = "") -> Path:
    """A bar of ``extents`` mm from x = 0, held at x = 0 and loaded at its far end (two load cases), with its job
    (``morph``: [morph] keys added to the two cases); returns the job file."""
    trimesh.creation.box(extents=extents).apply_translation((extents[0] / 2, 0, 0)).export(folder / "bar.stl")
    (folder / "job.toml").write_text(BAR_JOB + morph)
    return folder / "job.toml"


@pytest.fixture(scope="module")
def bar(tmp_path_factory) -> Path:
    """A 24 x 8 x 8 mm bar held at x = 0, loaded at its far end: two load cases."""
    folder = tmp_path_factory.mktemp("refine")
    write_bar(folder, (24, 8, 8), 'steps = 6\nmin_thickness = 2\noutput = "out"\n')
    return folder


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('keep_in = ["x > 100"]', "lies outside the design space"),
        ('keep_out = [">X:1"]', "a loaded region cannot be kept out"),
        ('keep_out = ["x < 0.6"]', "a support cannot be kept out"),
        ("cases = [[1], [3]]", "names [[load]] 3"),
        ('goal = "stiffness"\nsafety_factor = 2', "applies to goal"),
        ("wobble = 1", "unknown key 'wobble'"),
    ],
)
def test_bad_refinement_input_is_one_line(bar, extra, message):
    text = (bar / "job.toml").read_text()
    text = text.replace("cases = [[1], [2]]\n", "") if extra.startswith("cases") else text
    text += extra + "\n"
    (bar / "bad.toml").write_text(text)
    with pytest.raises(FabError, match=message.replace("[", r"\[")):
        read_refine_job(load_job(bar / "bad.toml"))


def test_fab_morph_refines_the_part_alone(bar):
    res = subprocess.run(
        [sys.executable, "-m", "fab.cli", "morph", str(bar / "job.toml"), "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout)
    assert out["mass_refined_g"] < 0.95 * out["mass_original_g"]
    assert out["estimated_safety_ratio"] >= 1 / 1.05 - 1e-9  # the default genes' slack: 5 % over the original's peak
    assert out["guards"]["final"] == []
    assert out["cells"]["design_space"] == 24 * 64
    assert len(out["compliance_refined_nmm"]) == 2 and len(out["max_von_mises_refined_pa"]) == 2
    assert Path(out["outputs"]["stl"]).is_file() and Path(out["outputs"]["png"]).is_file()
    mesh = trimesh.load(out["outputs"]["stl"])
    assert mesh.is_watertight


def test_workplane_refine_returns_a_solid_that_chains(tmp_path):
    import cadquery as cq

    import cad_plugins  # noqa: F401 (registers Workplane.refine)

    bar = cq.Workplane("XY").box(24, 8, 8).translate((12, 0, 0))
    summary: dict = {}
    refined = bar.refine(
        "PLA", fix="x < 1", load=">X:2", force=[(0, 0, -20), (0, 10, 0)], pitch=1.0, model="pmb", steps=4,
        output=tmp_path / "refine", summary=summary,
    )
    solid = refined.val()
    assert solid.isValid() and 0 < solid.Volume() < 24 * 8 * 8
    assert summary["load_cases"] == [[1], [2]]
    assert Path(summary["outputs"]["step"]).stat().st_size > 0
    refined.export_stl(tmp_path / "refined.stl")
    assert trimesh.load(tmp_path / "refined.stl").is_watertight


def test_fab_run_live_on_a_part_job_hands_the_page_to_the_refinement(bar, monkeypatch):
    """`fab run --live` on a part job opens no single stress-test page: the refinement gets the live options (its
    search's page, as fab morph's), where it used to drop them."""
    from typer.testing import CliRunner

    import fab.refine
    from fab.cli import app
    from fab.live import LiveOptions

    seen = {}

    def refine(job, **kw):
        seen["live"] = kw.get("live")
        raise FabError("refinement reached")

    monkeypatch.setattr(fab.refine, "refine", refine)
    result = CliRunner().invoke(app, ["run", str(bar / "job.toml"), "--live"])
    assert result.exit_code == 2 and "refinement reached" in result.stderr, result.output
    assert isinstance(seen["live"], LiveOptions) and seen["live"].host == "127.0.0.1"


def test_load_cases_fail_in_processes_of_their_own_as_in_this_one(tmp_path, monkeypatch, capfd):
    """fab run's failure tests: the load cases of a part in processes of their own give what one process gives,
    and each says on stderr where it is (plain lines headed by its load case)."""
    import fab.refine as fr
    from fab.voxels import VoxelGrid

    job = load_job(write_bar(tmp_path, (8, 3, 3)))
    lay = read_refine_job(job).problem.layout()
    grid = VoxelGrid(lay.original, lay.pitch, lay.origin)
    here = fr.failure_tests(grid, job, lay.cases, "bar", quiet=True, workers=1)
    monkeypatch.setattr(fr, "PARALLEL_CELLS", 0)
    capfd.readouterr()
    pending = fr.start_failure_tests(grid, job, lay.cases, "bar", quiet=False, workers=2)
    assert pending.pool is not None
    there = pending.results()
    err = capfd.readouterr().err
    for c in (1, 2):
        assert f"bar, load case {c}: service load" in err and f"bar, load case {c}: safety factor" in err
    assert [t["case"] for t in there] == [1, 2]
    for a, b in zip(here, there, strict=True):
        assert a["failure_load_n"] is not None
        assert b["failure_load_n"] == pytest.approx(a["failure_load_n"], rel=1e-6)
        assert b["safety_factor"] == pytest.approx(a["safety_factor"], rel=1e-6)


def test_a_search_asked_for_in_the_call_gets_its_finer_rescoring_layout(bar, monkeypatch):
    """refine(mode="search") on a job whose [morph] mode is quick (bench_refine --cases search, fab run --mode):
    the finer layout a search re-scores on is built (it raised 'no finer re-scoring pitch' after the search)."""
    import fab.refine as fr

    seen = {}

    def stop(job, rj, *args, **kw):
        seen["rj"] = rj
        return {}

    monkeypatch.setattr(fr, "_refine", stop)
    fr.refine(load_job(bar / "job.toml"), mode="search", failure=False, exports=False, quiet=True)
    assert seen["rj"].mode == "search"
    assert seen["rj"].problem.layouts[1] is not None
    with pytest.raises(FabError, match="mode must be"):
        fr.refine(load_job(bar / "job.toml"), mode="fast", quiet=True)


def test_the_stiffness_goal_develops_to_its_volume_fraction_and_settles_there(tmp_path):
    from fab.morph.part import VOLUME_TOLERANCE, default_genome

    job = write_bar(tmp_path, (24, 8, 8), 'goal = "stiffness"\nvolume_fraction = 0.7\nsteps = 10\n'
                    'min_thickness = 2\noutput = "out"\n')  # fmt: skip
    problem = read_refine_job(load_job(job), quiet=True).problem
    lay = problem.layout()
    dev = problem.develop(np.array(default_genome("stiffness")))
    target = 0.7 * lay.domain.sum()
    assert abs(dev.occupancy.sum() - target) <= max(1.0, VOLUME_TOLERANCE * target)  # the rules' cells counted
    assert dev.step > 1 + np.log(0.7) / np.log(1 - decode(default_genome("stiffness"))["rate"])  # went on there
    assert np.array_equal(dev.density >= 1.0, dev.occupancy)  # the density field ranks the design first
    # 0.7 of the bar, placed by the strain energy (1.77 x the whole bar's compliance in each case when written;
    # the held and loaded ends keep 448 of the 1,536 cells, so the span keeps 58 % of its cells in 2-cell members).
    ref = problem.reference()
    assert max(c / d for c, d in zip(dev.compliance, ref.domain_compliance, strict=True)) < 2.2


def test_references_solved_once_travel_with_the_problem(bar, monkeypatch):
    """A search's workers take the reference solves from the problem (solved once: here, or side by side on the
    executor for the finer pitch) and develop the same design as a problem that solves them itself."""
    from dataclasses import replace

    from fab.morph import part
    from fab.morph.executors import SerialExecutor

    problem = read_refine_job(load_job(bar / "job.toml")).problem
    problem = replace(problem, layouts=(problem.layouts[0], problem.layouts[0]))  # a "finer" pitch, the same
    genome = np.array(part.DEFAULT_GENOME)
    part._REFERENCE.clear()
    fresh = problem.develop(genome)
    want = {fine: (problem.reference(fine), problem._pmb_original(fine)) for fine in (False, True)}
    part._REFERENCE.clear()
    carried = problem.with_references().for_rescoring(SerialExecutor())
    part._REFERENCE.clear()  # a worker's process: nothing solved yet

    def refuse(*args, **kw):
        raise AssertionError("a reference solved again")

    monkeypatch.setattr(part.PartProblem, "reference_solve", refuse)
    assert repr(carried) == repr(problem)  # the checkpoint's fingerprint does not change
    for fine in (False, True):
        assert (carried.reference(fine), carried._pmb_original(fine)) == want[fine]
    evaluation = carried.evaluate(genome)  # a worker's: the design goes back with its score, packed
    again = evaluation.design.unpacked()
    assert np.array_equal(again.occupancy, fresh.occupancy) and again.peak_stretch == fresh.peak_stretch
    assert (again.step, again.history, again.shape_steps) == (fresh.step, fresh.history, fresh.shape_steps)


def test_rescoring_keeps_the_design_developed_at_the_searchs_pitch():
    """A re-scored record takes the fine score (or, flagged, keeps the coarse one) and the design of the search's
    own pitch, the one fab.refine hands on without developing the best genome again."""
    from fab.morph.executors import SerialExecutor
    from fab.morph.program import Evaluation
    from fab.morph.search import Record, SearchSettings, _rescore

    class Fine:
        def evaluate(self, genome, fine=False):
            return Evaluation(1.0 + 0.5 * genome[0], design="fine")

    records = [Record(1, np.array([g]), Evaluation(1.0, design=f"coarse {g}")) for g in (0.0, 1.0)]
    _rescore(Fine(), SerialExecutor(), records, SearchSettings(rescore_top=2, rescore_tolerance=0.1))
    kept, flagged = (r.evaluation for r in records)
    assert (kept.score, kept.design, kept.guards) == (1.0, "coarse 0.0", ())
    assert (flagged.score, flagged.design, len(flagged.guards)) == (1.0, "coarse 1.0", 1)


def test_a_case_that_rejects_the_design_leaves_the_other_cases_unsolved():
    """A development's step rejected by its first load case (its peak over the accepted one) does not solve the
    others; the half-solved design is not remembered as a cold solve."""
    from fab.materials import get_material
    from fab.morph.part import PartProblem

    dom = np.ones((16, 4, 4), dtype=bool)
    fixed, tip = np.zeros_like(dom), np.zeros_like(dom)
    fixed[0], tip[-1] = True, True
    lay = Layout(1.0, (0.0, 0.0, 0.0), dom, dom, fixed | tip, fixed, (tip, tip), ((0, 0, -5.0), (0, -5.0, 0)),
                 ((0,), (1,)))  # fmt: skip
    problem = PartProblem((lay, None), get_material("pla"), Rules(1.0))
    seen = []
    half = problem.solve(dom, lay, rejects=lambda c, s: seen.append(c) or True)
    assert seen == [0] and half[0] is not None and half[1] is None
    full = problem.solve(dom, lay)
    assert None not in full and full[0].peak_stretch == half[0].peak_stretch


def test_a_local_dask_workers_evaluations_run_on_one_numba_thread():
    """A dask worker runs tasks in threads of its own, whose numba thread count starts at every core's."""
    import numba

    from fab.morph.executors import _OneThread

    assert _OneThread(lambda x: (x, numba.get_num_threads()))(3) == (3, 1)


def test_a_refined_part_that_is_the_original_reuses_its_failure_tests(tmp_path, monkeypatch):
    """fab run: where the refinement takes nothing away (make demo's coarse doc-test job), the refined part's
    failure tests are the original's (the same cells, deterministic), not run again."""
    from dataclasses import replace

    import fab.refine as fr
    from fab.morph import part

    ran = []

    def fake_test(grid, job, case, c, n, label, quiet, server):
        ran.append((label, c))
        return {"case": c, "failure_load_n": 10.0 * c, "safety_factor": 2.0 * c, "converged": True, "notes": [],
                "seconds": 0.0, "cpu_seconds": 0.0}  # fmt: skip

    develop = part.PartProblem.develop
    monkeypatch.setattr(fr, "_one_failure_test", fake_test)
    monkeypatch.setattr(part.PartProblem, "develop", lambda self, g, fine=False, progress=None: replace(
        develop(self, g, fine), occupancy=self.layout(fine).original.copy()))
    job = load_job(write_bar(tmp_path, (8, 3, 3), 'steps = 4\nmin_thickness = 1\noutput = "out"\n'))
    summary = fr.refine(job, quiet=True, exports=False)
    assert ran == [("original", 1), ("original", 2)]
    assert summary["failure_tests_refined"] == summary["failure_tests_original"]
    assert summary["safety_factor_refined"] == summary["safety_factor_original"] == 2.0


def test_a_solve_that_does_not_settle_is_given_up_and_its_step_rejected(monkeypatch):
    """A least-mass step whose solve Newton cannot settle within SETTLE_BUDGET evaluations (a near-mechanism) is
    given up: no plain relaxation after it, the case unsettled (infinite peak, the warm start kept), the other
    cases unsolved; a development rejects such steps as steps over the accepted peak and counts them."""
    import physics.relaxation
    from fab.materials import get_material
    from fab.morph import part
    from fab.morph.part import PartProblem

    dom = np.ones((16, 4, 4), dtype=bool)
    fixed, tip = np.zeros_like(dom), np.zeros_like(dom)
    fixed[0], tip[-1] = True, True
    lay = Layout(1.0, (0.0, 0.0, 0.0), dom, dom, fixed | tip, fixed, (tip, tip), ((0, 0, -5.0), (0, -5.0, 0)),
                 ((0,), (1,)))  # fmt: skip
    problem = PartProblem((lay, None), get_material("pla"), Rules(1.0), steps=6)
    warm = [s.u for s in problem.solve(dom, lay)]
    budgets = []
    static = part._static

    def never_settles(sim, use_newton, budget=part.SOLVE_STEPS):
        budgets.append(budget)
        return budget != part.SETTLE_BUDGET and static(sim, use_newton, budget)

    monkeypatch.setattr(part, "_static", never_settles)
    relax = physics.relaxation.relax
    monkeypatch.setattr(physics.relaxation, "relax", lambda *a, **k: pytest.fail("relaxed a solve given up"))
    given_up = problem.solve(dom, lay, warm=warm, give_up=True)
    assert budgets == [part.SETTLE_BUDGET] and given_up[1] is None and given_up[0].unsettled
    assert np.array_equal(given_up[0].u, warm[0]) and given_up[0].peak_stretch > 1e300
    monkeypatch.setattr(physics.relaxation, "relax", relax)
    dev = problem.develop(np.array(part.DEFAULT_GENOME))
    assert dev.unsettled >= 1 and any("near-mechanism" in note for note in dev.notes)
    assert all(b == part.SETTLE_BUDGET for b in budgets[3:])  # every step after the first could go back


def test_the_stiffness_goals_strength_term_thickens_the_weakest_case_only():
    """The strength term's yardstick is the design's largest peak stretch over every case: a case ten times safer
    (a tenth of the stretch) gets almost none of it, where each case's own peak would raise both alike."""
    from fab.morph.part import CaseSolution, stiffness_stimulus

    sed = np.ones((4, 1, 1))
    stretch = np.array([1.0, 0.5, 0.0, 0.0]).reshape(4, 1, 1)
    u = np.zeros((4, 1, 1, 3))
    weak = CaseSolution(1.0, sed, 1e-3 * stretch, 1e-3, u)
    safe = CaseSolution(1.0, sed[::-1].copy(), 1e-4 * stretch[::-1], 1e-4, u)
    plain = stiffness_stimulus([weak, safe], [1.0, 1.0], 0.0).ravel()
    stim = stiffness_stimulus([weak, safe], [1.0, 1.0], 2.0).ravel()
    assert np.allclose(plain, 2.0)  # no strength term: the weighted strain energy densities
    assert stim[0] == pytest.approx(2.0 + 2.0) and stim[1] == pytest.approx(2.0 + 2.0 * 0.5**2)  # the weak case
    assert stim[3] == pytest.approx(2.0 + 2.0 * 0.1**2) and stim[2] == pytest.approx(2.0 + 2.0 * 0.05**2)
    assert np.allclose(stiffness_stimulus([weak, safe], [3.0, 0.5], 0.0).ravel(), 3.5)  # the cases' weights
