"""Morphogenesis: search determinism across executors, checkpoint/resume, guards, the gear problem, the CLI."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from fab.errors import FabError
from fab.materials import get_material
from fab.morph import guards as G
from fab.morph.config import read_morph_job
from fab.morph.executors import DaskExecutor, PoolExecutor, SerialExecutor
from fab.morph.gear import GearProblem
from fab.morph.gear_cutter import CutterProgram, generate, genome_of, half_thickness
from fab.morph.gear_mesh import ToothProfile
from fab.morph.program import Evaluation
from fab.morph.search import RESCORE_ROUNDS, SearchSettings, pareto_front, run_search


class Toy:
    """A cheap program: a bar whose length and height come from the genome; out of domain past x = 0.6."""

    name = "toy"
    gene_names = ("a", "b", "c")
    dimension = 3

    def __init__(self, sensitive: bool = False, sensitive_below: float = math.inf) -> None:
        self.sensitive = sensitive
        self.sensitive_below = sensitive_below  # only designs scoring below this are artefacts

    def __repr__(self) -> str:
        return f"Toy(sensitive={self.sensitive}, sensitive_below={self.sensitive_below})"

    def evaluate(self, genome: np.ndarray, fine: bool = False) -> Evaluation:
        target = np.array([0.3, 0.6, 0.5])
        score = float(((genome - target) ** 2).sum()) + 0.01
        if fine and self.sensitive and score < self.sensitive_below:
            score *= 2.0  # a design whose score is an artefact of the coarse resolution
        occ = np.zeros((20, 10), dtype=bool)
        occ[: 1 + int(genome[0] * 19), : 1 + int(genome[1] * 9)] = True
        domain = np.zeros_like(occ)
        domain[:12] = True
        caught = (G.OUT_OF_DOMAIN,) if G.outside_fraction(occ, domain) > 0 else ()
        return Evaluation(score, {"f1": float(genome[0]), "f2": float(1 - genome[0] + genome[2])}, caught)

    def snapshot(self, genome, path, title="") -> None:
        pass


def _run(program, settings, executor, path, resume=False, **kw):
    return run_search(program, 3, settings, executor, path, resume=resume, **kw)


def _trace(result) -> list:
    return [
        (r.generation, r.genome.tolist(), r.evaluation.score, r.evaluation.guards) for r in result.records
    ]


def test_search_gives_identical_results_on_every_executor(tmp_path: Path) -> None:
    settings = SearchSettings(method="cma", generations=3, population=6, seed=4, rescore_top=2)
    serial = _run(Toy(), settings, SerialExecutor(), tmp_path / "a.pkl")
    pool = PoolExecutor(2)
    try:
        pooled = _run(Toy(), settings, pool, tmp_path / "b.pkl")
    finally:
        pool.close()
    dask = DaskExecutor(workers=2, processes=False)
    try:
        dasked = _run(Toy(), settings, dask, tmp_path / "c.pkl")
    finally:
        dask.close()
    assert _trace(serial) == _trace(pooled) == _trace(dasked)
    assert serial.evaluations == 18 and serial.generations == 3
    assert serial.history[-1]["best"] <= serial.history[0]["best"]
    # Another seed is another search.
    other = _run(Toy(), replace(settings, seed=5), SerialExecutor(), tmp_path / "d.pkl")
    assert _trace(other) != _trace(serial)


@pytest.mark.parametrize("method", ["cma", "ga"])
def test_resume_continues_exactly(tmp_path: Path, method: str) -> None:
    full = SearchSettings(method=method, generations=5, population=6, seed=7, rescore_top=0)
    straight = _run(Toy(), full, SerialExecutor(), tmp_path / "straight.pkl")
    _run(Toy(), replace(full, generations=2), SerialExecutor(), tmp_path / "split.pkl")
    np.random.seed(123)  # unrelated use of numpy's global stream must not change the search
    np.random.random(5)
    resumed = _run(Toy(), full, SerialExecutor(), tmp_path / "split.pkl", resume=True)
    assert _trace(resumed) == _trace(straight)
    assert resumed.best.evaluation.score == straight.best.evaluation.score
    with pytest.raises(FabError, match="different"):
        _run(Toy(sensitive=True), full, SerialExecutor(), tmp_path / "split.pkl", resume=True)
    with pytest.raises(FabError, match="no checkpoint"):
        _run(Toy(), full, SerialExecutor(), tmp_path / "missing.pkl", resume=True)


def test_guards_interrupt_rescoring_and_pareto(tmp_path: Path) -> None:
    settings = SearchSettings(method="ga", generations=3, population=8, seed=2, rescore_top=2)

    def stop(gen, best, history):
        if gen == 2:
            raise KeyboardInterrupt

    interrupted = _run(Toy(), settings, SerialExecutor(), tmp_path / "i.pkl", on_generation=stop)
    assert interrupted.interrupted and interrupted.generations == 2 and interrupted.evaluations == 16
    assert interrupted.best.evaluation.score == min(r.evaluation.ranked_score for r in interrupted.records)

    result = _run(Toy(), settings, SerialExecutor(), tmp_path / "g.pkl", pareto_keys=("f1", "f2"))
    outside = sum(1 for r in result.records if 1 + int(r.genome[0] * 19) > 12)
    assert result.guards[G.OUT_OF_DOMAIN] == outside > 0
    assert all(r.evaluation.ranked_score > 100 for r in result.records if r.evaluation.guards)
    front = pareto_front(result.records, ("f1", "f2"))
    pts = [(r.evaluation.objectives["f1"], r.evaluation.objectives["f2"]) for r in front]
    clean = [
        (r.evaluation.objectives["f1"], r.evaluation.objectives["f2"])
        for r in result.records
        if not r.evaluation.guards
    ]
    assert len(pts) >= 2 and len(clean) > len(pts)  # a real front, and designs left off it
    assert all(r.evaluation.guards == () for r in front)
    assert all(not (a[0] <= b[0] and a[1] <= b[1] and a != b) for a in pts for b in pts)  # none dominates another
    # Every clean design off the front is dominated by (or equal to) a design on it.
    assert all(any(a[0] <= c[0] and a[1] <= c[1] for a in pts) for c in clean)
    assert [(p["f1"], p["f2"]) for p in result.pareto] == pts  # what the summary reports

    sensitive = _run(Toy(sensitive=True), settings, SerialExecutor(), tmp_path / "s.pkl")
    # Every round's top 2 moved; records of a GA elite met again share its verdict.
    assert len(sensitive.rescored) == 2 * RESCORE_ROUNDS
    assert all(item["flagged"] for item in sensitive.rescored)
    assert sensitive.guards[G.UNSTABLE] >= 2 * RESCORE_ROUNDS
    assert G.UNSTABLE in sensitive.records[0].evaluation.guards or sensitive.best.evaluation.guards == ()


def test_rescoring_goes_down_the_ranking_until_the_best_holds(tmp_path: Path) -> None:
    settings = SearchSettings(method="ga", generations=3, population=8, seed=2, rescore_top=1)
    plain = _run(Toy(), settings, SerialExecutor(), tmp_path / "p.pkl")
    coarse = sorted({r.evaluation.score for r in plain.records if not r.evaluation.guards})
    # Only the best design is an artefact of the coarse resolution: it is demoted and the runner-up, re-scored
    # in a second round, is reported.
    cut = 0.5 * (coarse[0] + coarse[1])
    result = _run(Toy(sensitive=True, sensitive_below=cut), settings, SerialExecutor(), tmp_path / "c.pkl")
    assert [item["flagged"] for item in result.rescored] == [True, False]
    assert result.best.evaluation.score == coarse[1] and result.best.evaluation.guards == ()


def _small_gear(**kw) -> GearProblem:
    base = dict(
        material=get_material("Steel1045"),
        spacing=0.3,
        fine_spacing=0.25,
        roll_steps=300,
        fine_roll_steps=400,
        mesh_samples=12,
        relax_steps=250,
        relax_tolerance=0.05,
    )
    return GearProblem(**{**base, **kw})


def _involute_genome(angle: float = 20.0, c3: float = 0.0) -> np.ndarray:
    return genome_of(CutterProgram(math.tan(math.radians(angle)), 0.0, c3, 0.38, 1.25, 1.0, 0.03))


def test_straight_cutter_generates_the_involute() -> None:
    """Rolled against the blank, a straight-sided cutter leaves the exact involute (to the scallops)."""
    from cad_plugins.involute import tooth_geometry

    gear = generate(
        CutterProgram(math.tan(math.radians(20)), 0, 0, 0.38, 1.25, 1.0, 0.0), 2.0, 20, 600, whole=False
    )
    geo = tooth_geometry(2.0, 20)
    radii = np.linspace(geo.form_radius + 0.01, geo.tip_radius - 1e-3, 200)
    err = (half_thickness(gear, radii) - geo.flank_angle(radii)) * radii
    assert np.abs(err).max() < 2e-5  # mm; scallops between 600 cutter positions


def test_gear_objective_prefers_the_involute_and_guards_a_detached_tooth() -> None:
    problem = _small_gear()
    good = problem.evaluate(_involute_genome(20.0))
    bad = problem.evaluate(_involute_genome(20.0, c3=0.06))  # a bulged cutter flank
    assert not good.guards and not bad.guards
    assert good.metrics["unloaded_transmission_error_rad"] < 2e-6
    assert (
        bad.metrics["unloaded_transmission_error_rad"] > 50 * good.metrics["unloaded_transmission_error_rad"]
    )
    assert good.score < bad.score
    assert 10 < good.metrics["root_stress_mpa"] < 300

    # The same tooth with a band cut through it: the tooth above is loose.
    prof = problem.profile(_involute_genome(20.0))
    h = prof.half_angle.copy()
    h[(prof.radii > 20.0) & (prof.radii < 20.4)] = 0.0
    detached = problem.evaluate_profile(ToothProfile(prof.module, prof.teeth, prof.radii, h))
    assert G.DETACHED in detached.guards and detached.ranked_score > 100

    # A pointed tooth: steep flanks and a tall blank leave a tip thinner than the physics pitch.
    pointed = problem.evaluate(
        genome_of(CutterProgram(math.tan(math.radians(32)), 0, 0, 0.2, 1.25, 1.3, 0.2))
    )
    assert G.THIN in pointed.guards


def test_the_strength_load_patch_is_on_the_working_flank_of_tooth_zero_only() -> None:
    """The design load acts on tooth 0's working flank below its tip, never on the neighbouring tooth's tip
    (which lies past the flank, at a negative angular gap), at the search pitch and at a fine one."""
    from fab.morph.gear_strength import _sector

    problem = _small_gear()
    prof = problem.profile(_involute_genome(20.0))
    for spacing in (0.3 * prof.module, 0.08 * prof.module):
        sector = _sector(prof, get_material("Steel1045"), 20.0, 10.0, spacing)
        rho, ang = sector.rho[sector.patch], sector.ang[sector.patch]
        assert sector.patch.sum() >= 2
        assert np.all(ang <= prof.h(rho) + 1e-12)  # inside tooth 0: not past its working flank
        assert np.all((prof.h(rho) - ang) * rho < 2.0 * spacing)  # on the flank


def test_reference_pair_is_measured_like_the_grown_gear() -> None:
    from fab.morph.gear_report import fit_involute, reference_profile

    problem = _small_gear(roll_steps=800)
    ref = reference_profile(problem)
    grown = problem.profile(_involute_genome(20.0))
    te_ref = max(m.te_loaded_pp for m in problem.meshes(ref))
    te_grown = max(m.te_loaded_pp for m in problem.meshes(grown))
    assert te_grown == pytest.approx(te_ref, rel=0.1)
    fit = fit_involute(grown, 19.0, 21.9)
    assert fit.pressure_angle_deg == pytest.approx(20.0, abs=0.05)
    assert fit.max_deviation_mm < 1e-3


def _cli_app() -> typer.Typer:
    from fab.morph.command import register

    app = typer.Typer()

    @app.callback()
    def main() -> None:
        pass

    register(app)
    return app


def test_tiny_morph_run_through_the_cli(tmp_path: Path) -> None:
    job = tmp_path / "job.toml"
    job.write_text(
        "[morph]\n"
        'problem = "gear"\noutput = "out"\ngenerations = 2\npopulation = 4\nseed = 3\nworkers = 1\n'
        "spacing = 0.3\nfine_spacing = 0.25\nroll_steps = 200\nfine_roll_steps = 300\nmesh_samples = 8\n"
        "relax_steps = 200\nrelax_tolerance = 0.05\nrescore_top = 1\n"
        'files = ["csv", "outline_dxf", "dxf", "nc", "stl"]\n'
    )
    result = CliRunner().invoke(_cli_app(), ["morph", str(job), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    for key in (
        "generations",
        "evaluations",
        "seconds",
        "best",
        "guards",
        "outputs",
        "module_mm",
        "teeth",
        "transmission_error_rad",
        "reference_transmission_error_rad",
        "involute_deviation_pct_module",
        "pressure_angle_deg",
    ):
        assert key in summary, key
    assert summary["generations"] == 2 and summary["evaluations"] == 8
    assert set(summary["guards"]) == set(G.ALL_GUARDS)
    for path in summary["outputs"].values():
        assert Path(path).exists(), path
    rows = (tmp_path / "out" / "gear_outline.csv").read_text().splitlines()
    assert rows[0] == "x_mm,y_mm" and len(rows) > 200
    assert len(list((tmp_path / "out" / "generations").glob("gen_*_best.png"))) == 2

    # Resume past the end: nothing new to do, same best.
    again = CliRunner().invoke(_cli_app(), ["morph", str(job), "--json", "--resume"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout.strip().splitlines()[-1])["best"]["genome"] == summary["best"]["genome"]

    bad = tmp_path / "bad.toml"
    bad.write_text('[morph]\nproblem = "gear"\nteeths = 20\n')
    out = CliRunner().invoke(_cli_app(), ["morph", str(bad)])
    assert out.exit_code == 2 and "did you mean 'teeth'" in out.output


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('problem = "cam"', "'problem' must be one of gear"),
        ('problem = "gear"\nteeth = 3', "'teeth' must be a whole number between 6"),
        ('problem = "gear"\nbacklash = [0.3, 0.1]', "'backlash' must be [min, max]"),
        ('problem = "gear"\nmethod = "pso"', "'method' must be one of cma, ga"),
        ('problem = "gear"\nmaterial = "unobtainium"', "'material'"),
    ],
)
def test_morph_table_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    job = tmp_path / "j.toml"
    job.write_text("[morph]\n" + text + "\n")
    with pytest.raises(FabError, match=message.replace("[", r"\[").replace("]", r"\]")):
        read_morph_job(job)


def test_sample_job_reads() -> None:
    job = read_morph_job(Path(__file__).parent.parent / "samples" / "gear_morph" / "job.toml")
    assert job.problem.teeth == 20 and job.settings.method == "cma" and "step" in job.files


# ---- problem 2: the bracket ----------------------------------------------------------------------------
def _tiny_bracket(**kw):
    from fab.materials import get_material
    from fab.morph.bracket import BracketProblem

    base = dict(
        width=24.0,
        height=12.0,
        thickness=3.0,
        pitch=2.0,
        fine_pitch=1.5,
        force=50.0,
        support_depth=2.0,
        pad_depth=2.0,
        pad_height=4.0,
        load_y=6.0,
        hole=(),
        steps=10,
        relax_steps=4000,
        volume_fraction=0.6,
        material=get_material({"name": "PLA"}),
    )
    base.update(kw)
    return BracketProblem(**base)


def test_bracket_develops_a_connected_design_at_the_target_volume() -> None:
    from fab.morph.bracket import GENES, _connected

    problem = _tiny_bracket()
    genome = np.full(len(GENES), 0.5)  # 4 surface-growth steps
    dev = problem.develop(genome)
    lay = problem.layout()
    assert dev.stage > 0 and np.isfinite(dev.compliance) and dev.compliance > dev.full_compliance
    assert int(dev.occupancy.sum()) <= lay.target and _connected(dev.occupancy, lay)
    assert 0 < dev.peak_stretch < 0.1 and np.isfinite(dev.remodelled_compliance)
    assert (dev.occupancy | ~lay.keep_in).all()  # keep-in cells stay
    again = problem.develop(genome)
    assert np.array_equal(again.occupancy, dev.occupancy) and again.compliance == dev.compliance


def test_bracket_remodelling_keeps_the_tissue_and_grows_where_strained() -> None:
    from fab.morph.bracket import RHO_MIN, remodel

    rng = np.random.default_rng(0)
    rho = rng.uniform(0.2, 0.8, (10, 6))
    stim = rng.uniform(0.5, 2.0, rho.shape)
    free = np.ones(rho.shape, dtype=bool)
    free[0] = False
    out = remodel(rho, stim, free, float(rho[free].sum()), 0.1, 0.5)
    assert out[free].sum() == pytest.approx(rho[free].sum(), rel=1e-6)
    assert np.array_equal(out[~free], rho[~free])  # keep-in cells are not remodelled
    assert (np.abs(out - rho) <= 0.1 + 1e-12).all() and out.min() >= RHO_MIN and out.max() <= 1.0
    hi, lo = stim[free] > np.median(stim[free]), stim[free] < np.median(stim[free])
    assert (out - rho)[free][hi].mean() > 0 > (out - rho)[free][lo].mean()  # grows where strained


def test_bracket_solid_design_keeps_the_load_path() -> None:
    from fab.morph.bracket import _connected, solid_design

    problem = _tiny_bracket()
    lay = problem.layout()
    # Dense everywhere but a faint column between the support and the pad: plain ranking would cut it.
    rho = np.where(lay.domain, 0.9, 0.0)
    rho[6] = 0.05
    rho[6, 2:4] = 0.3
    occ = solid_design(rho, lay)
    assert _connected(occ, lay) and int(occ.sum()) == lay.target and (occ | ~lay.keep_in).all()


def test_bracket_surface_growth_moves_material_to_the_stressed_surface() -> None:
    from fab.morph.bracket import _connected, _prune, surface_growth

    problem = _tiny_bracket()
    lay = problem.layout()
    # A thick horizontal beam from the support to the pad, stressed at its root, idle at its far end.
    occ = lay.keep_in.copy()
    occ[:, 1:5] = True
    stress = np.where(occ, 1.0, 0.0)
    stress[:4] *= 10.0
    grown = surface_growth(occ, stress, lay, 0.2)
    assert int(grown.sum()) == int(occ.sum()) and (grown | ~lay.keep_in).all()
    assert _connected(grown, lay) and np.array_equal(_prune(grown, lay), grown)
    added, removed = grown & ~occ, occ & ~grown
    assert added.any() and removed.any()
    assert np.argwhere(added)[:, 0].mean() < np.argwhere(removed)[:, 0].mean()  # root gains, far end loses


def test_bracket_surface_growth_does_not_cut_a_member() -> None:
    from fab.morph.bracket import _connected, surface_growth

    problem = _tiny_bracket()
    lay = problem.layout()
    occ = lay.keep_in.copy()
    occ[:, 2:4] = True  # a 2-cell beam: no cell of it can go
    grown = surface_growth(occ, np.where(occ, 1.0, 0.0), lay, 0.5)
    assert _connected(grown, lay) and int(grown.sum()) == int(occ.sum())


def test_bracket_keep_out_hole_stays_empty() -> None:
    problem = _tiny_bracket(hole=(12.0, 6.0, 2.5), steps=8)
    dev = problem.develop(np.full(9, 0.3))
    lay = problem.layout()
    assert not (dev.occupancy & ~lay.domain).any() and (~lay.domain).sum() > 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('problem = "bracket"\nvolume_fraction = 1.5', "'volume_fraction' must be between"),
        ('problem = "bracket"\nhole = [1, 2]', "'hole' must be [cx, cy, r]"),
        ('problem = "bracket"\nteeth = 20', "unknown key 'teeth' for a bracket job"),
        ('problem = "bracket"\nfine_pitch = 3.0', "'fine_pitch' must be between"),
        ('problem = "bracket"\nhole = [1.5, 15, 20]', "'hole' cuts the pad off the support"),
        ('problem = "bracket"\nstrength_weight = -1', "'strength_weight' must be between"),
    ],
)
def test_bracket_keys_are_checked(tmp_path: Path, text: str, message: str) -> None:
    job = tmp_path / "j.toml"
    job.write_text("[morph]\n" + text + "\n")
    with pytest.raises(FabError, match=message.replace("[", r"\[").replace("]", r"\]")):
        read_morph_job(job)
    out = CliRunner().invoke(_cli_app(), ["morph", str(job)])
    assert out.exit_code == 2 and len(out.output.strip().splitlines()) == 1


def test_tiny_bracket_run_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fab.morph.bracket as bracket

    # Every design of this tiny domain is under 2 pitches wide somewhere; with the thin-feature guard lifted
    # (workers = 1 evaluates in this process) the clean ones make a stiffness-strength front to check.
    monkeypatch.setattr(bracket, "THIN_LIMIT", 1.0)
    job = tmp_path / "job.toml"
    job.write_text(
        "[morph]\n"
        'problem = "bracket"\noutput = "out"\ngenerations = 1\npopulation = 4\nseed = 2\nworkers = 1\n'
        "width = 24.0\nheight = 12.0\nthickness = 3.0\npitch = 2.0\nfine_pitch = 2.0\nforce = 50.0\n"
        "support_depth = 2.0\npad_depth = 2.0\npad_height = 4.0\nload_y = 6.0\nhole = []\nsteps = 10\n"
        "volume_fraction = 0.6\n"
        "relax_steps = 3000\nrescore_top = 1\n"
    )
    result = CliRunner().invoke(_cli_app(), ["morph", str(job), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("generations", "evaluations", "seconds", "best", "guards", "outputs"):
        assert key in summary, key
    assert summary["compliance_nmm"] > 0 and 0 < summary["volume_fraction"] <= 0.61
    assert "failure_load_n" in summary and summary["first_break_load_n"] > 0 and summary["peak_stretch"] > 0
    # The stiffness-strength front: not empty, every point carries both objectives, none dominates another.
    from fab.morph.bracket_job import PARETO_KEYS

    keys = PARETO_KEYS
    assert set(keys) <= set(summary["best"]["objectives"])
    front = summary["pareto"]
    assert front and all(set(keys) <= set(p) and "genome" in p for p in front)
    pts = [tuple(p[k] for k in keys) for p in front]
    assert all(not (a[0] <= b[0] and a[1] <= b[1] and a != b) for a in pts for b in pts)
    for kind in ("bracket_png", "voxels_npz", "stl", "summary"):
        assert Path(summary["outputs"][kind]).exists(), kind
