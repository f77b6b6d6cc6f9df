"""Assembled voxel lattices: build states checked by physics, fab simulate PLAN.json, the physics planner."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from exporters.assembly import check_assembly, plan_assembly, read_assembly, write_assembly
from fab.cli import app
from fab.errors import FabError
from fab.lattice import check_plan, load_structure, physics_order, simulate_plan
from fab.part_types import get_part_type
from physics import VoxelJoint
from physics.assembly import BuildSequence
from physics.errors import PhysicsError

SNAP = "PLA-20mm-snap"


def run_fab(*args: str, cwd: Path):
    """In-process (a console-script start costs seconds on a busy machine): exit code, stdout, stderr."""
    result = CliRunner().invoke(app, list(args))
    result.returncode = result.exit_code
    return result


def ledge_plan(path: Path, length: int = 6, width: int = 2, part: str = SNAP) -> Path:
    """A wall along y (5 high) and a slab cantilevering from its top along +x."""
    occ = np.zeros((length + 1, width, 5), bool)
    occ[0, :, :] = True
    occ[1:, :, 4] = True
    write_assembly(plan_assembly(occ, 20.0, (10, 10, 10), materials=["PLA"], part_names={0: part}), path)
    return path


def test_build_states_of_a_cantilever_match_statics():
    part = get_part_type(SNAP)
    params = part.law_parameters()
    n = 7
    ijk = np.column_stack([np.arange(n), np.zeros(n, int), np.zeros(n, int)])
    law = VoxelJoint(**params)
    seq = BuildSequence(ijk, np.zeros(n, int), law, np.full(n, part.mass_kg), 0.02, plate=False)
    push = np.array([0.0, 0.0, -3.0])
    for method in ("direct", "incremental"):
        states = seq.check(push, method=method, tolerance=1e-10)
        a, w = 0.02, part.mass_kg * 9.81
        for p in range(1, n):  # voxel 0 is the clamp; the root joint carries everything beyond it
            moment = 3.0 * (p - 0.5) * a + w * sum(k - 0.5 for k in range(1, p + 1)) * a
            shear = 3.0 + p * w
            expected = moment / params["bending_strength"] + shear / params["shear_strength"]
            assert states.utilisation[p] == pytest.approx(expected, rel=1e-6)
            assert states.joints[states.worst_joint[p]].tolist() == [0, 1, 0]


def test_incremental_equals_direct_on_a_ledge(tmp_path):
    path = ledge_plan(tmp_path / "ledge.json", 5, 3)
    direct = check_plan(path, method="direct")
    incremental = check_plan(path)
    assert incremental["worst_state"] == direct["worst_state"]
    assert incremental["worst_utilisation"] == pytest.approx(direct["worst_utilisation"], rel=1e-5)
    # screened states to their tolerance (1e-3 of the loads), the states that may matter to the full one
    np.testing.assert_allclose(incremental["utilisation"], direct["utilisation"], rtol=1e-2, atol=1e-9)


def test_screened_states_cannot_be_the_worst_and_the_solved_ones_are_exact():
    """Every state of a 6 x 6 x 5 block, incremental (screened, two-level PCG) against direct LU solves."""
    ijk = plan_assembly(np.ones((6, 6, 5), bool), 20.0)["placements"][:, 1:4]
    part = get_part_type("PLA-20mm-bolted")
    n = len(ijk)

    def sequence(**kw):
        return BuildSequence(ijk, np.zeros(n, int), VoxelJoint(**part.law_parameters()), np.full(n, part.mass_kg),
                             0.02, **kw)  # fmt: skip

    push = (0.0, 0.0, -5.0)
    direct = sequence().check(push, method="direct")
    for states in (sequence().check(push), sequence(aggregate=2, refresh=1).check(push, margin=0.05)):
        assert states.worst_state == direct.worst_state
        assert states.utilisation[states.worst_state] == pytest.approx(direct.utilisation.max(), rel=1e-5)
        exact = states.exact
        assert 0 < exact.sum() < n  # some states screened, some solved in full
        np.testing.assert_allclose(states.utilisation[exact], direct.utilisation[exact], rtol=1e-5)
        np.testing.assert_allclose(states.utilisation, direct.utilisation, rtol=5e-3)
        assert states.screen_error < 5e-3
        assert (direct.utilisation[~exact] < direct.utilisation.max()).all()
    # two runs of states in two processes, and a sequence checked twice: the same result
    again = sequence()
    again.check(push)
    for states in (sequence().check(push, workers=2), again.check(push)):
        assert states.worst_state == direct.worst_state
        np.testing.assert_allclose(states.utilisation[states.exact], direct.utilisation[states.exact], rtol=1e-5)
        np.testing.assert_allclose(states.utilisation, direct.utilisation, rtol=5e-3)
    # a limit among the states' utilisations: a state is left screened only where its bound puts it on one side of
    # the limit, so the count over it is exact
    limit = float(np.quantile(direct.utilisation, 0.6))
    states = sequence().check(push, limit=limit)
    u, b = states.utilisation[~states.exact], states.bound[~states.exact]
    assert ((u + b < limit) | (u - b > limit)).all()
    assert (states.utilisation > limit).sum() == (direct.utilisation > limit).sum()
    # every state, screened or not, is within its bound of the direct solve; a screened one's bound keeps it under
    # the worst
    for states in (sequence().check(push), sequence().check(push, screen_tolerance=3e-2)):
        assert (np.abs(states.utilisation - direct.utilisation) <= states.bound + 1e-12).all()
        screened = ~states.exact
        assert (states.utilisation[screened] + states.bound[screened] < direct.utilisation.max()).all()
        assert states.worst_state == direct.worst_state


def _rough_solutions(seq: BuildSequence, p: int, push, clamped: int, rng) -> list:
    """The direct solution of state p and that solution disturbed by noise of several sizes, and a few conjugate
    gradient steps from zero: (displacements, exact largest utilisation)."""
    seq._activate(p)
    f = seq._loads(p, np.asarray(push, dtype=float))
    exact = seq._direct(p, f)
    u = seq._utilisation(p, exact)[0]
    out = [exact]
    for size in (1e-6, 1e-3, 1e-1):
        d = exact + size * np.abs(exact).max() * rng.standard_normal(exact.shape)
        d[: 6 * clamped] = 0.0  # the clamp holds
        out.append(d)
    out.append(seq._pcg(p, f, np.zeros_like(exact), 0.3, 3)[0])
    return f, u, out


def test_state_bound_covers_rough_solutions():
    """The a-posteriori bound (the residual carried to the support along a tree of joints, its complementary
    energy, the most one joint can take of it) holds for rough solutions of a block on the plate and of a ledge
    hanging sideways, on the plate and clamped at voxel 0, and falls with the residual."""
    part = get_part_type(SNAP)
    rng = np.random.default_rng(7)
    block = plan_assembly(np.ones((4, 3, 3), bool), 20.0)["placements"][:, 1:4]
    ledge = np.array([[0, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1], [2, 0, 1], [3, 0, 1],
                      [3, 1, 1], [2, 1, 1], [2, 0, 2], [4, 0, 1]])  # fmt: skip
    # a joint whose torsion is 1e-11 of its axial stiffness (the flexibility keeps all but the 6 rigid modes)
    weak = {**part.law_parameters(), "torsion_stiffness": 3.5e-5}
    for ijk, plate, push, params in ((block, True, (0.0, 0.0, -5.0), part.law_parameters()),
                                     (ledge, True, (2.0, -1.0, -8.0), part.law_parameters()),
                                     (ledge, False, (0.0, 3.0, -8.0), part.law_parameters()),
                                     (ledge, True, (1.0, 1.0, -8.0), weak)):  # fmt: skip
        n = len(ijk)
        seq = BuildSequence(ijk, np.zeros(n, int), VoxelJoint(**params), np.full(n, part.mass_kg), 0.02, plate=plate)
        for p in (n // 2, n - 1):
            f, exact_u, solutions = _rough_solutions(seq, p, push, 0 if plate else 1, rng)
            bounds = []
            for d in solutions:
                u, _, b = seq._bounded(p, f, d)
                assert abs(u - exact_u) <= b + 1e-12 * exact_u
                bounds.append(b)
            assert bounds[0] < 1e-7 * exact_u and bounds[1] < bounds[2] < bounds[3]
            assert bounds[3] > 0.1 * exact_u  # the noisy ones: a bound that says something, not zero


def test_compact_product_and_sections_match_the_assembled_state():
    """The state solver's beam product (compact blocks from a table of distinct joints, both orientations of a
    face slot) and its worst-joint kernel (section maps from a table, plate DOFs held) against the assembled sparse
    stiffness and the law's own sections, on a ledge of two part types."""
    ijk = np.array([[0, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1], [2, 0, 1], [3, 0, 1],
                    [3, 1, 1], [2, 1, 1], [2, 0, 2], [4, 0, 1]])  # fmt: skip
    n = len(ijk)
    parts = [get_part_type(SNAP).law_parameters(), get_part_type("PLA-20mm-bolted").law_parameters()]
    law = VoxelJoint(**{key: [parts[0][key], parts[1][key]] for key in parts[0]})
    types = np.arange(n) % 2
    seq = BuildSequence(ijk, types, law, np.full(n, 0.002), 0.02)
    rng = np.random.default_rng(3)
    for p in (n // 2, n - 1):
        seq._activate(p)
        assert seq._beam_only
        x = rng.standard_normal(6 * (p + 1))
        y = np.empty_like(x)
        seq._apply(0, p + 1, x, y)
        expected = seq._matrix(p) @ x
        np.testing.assert_allclose(y, expected, rtol=0, atol=1e-12 * np.abs(expected).max())
        full = np.zeros(6 * (n + 1))
        full[: len(x)] = x
        joints = seq.order[: seq.starts[p + 1]]
        u = law.utilisation(law.sections(full, joints), joints)
        worst, where = seq._utilisation(p, x)
        assert worst == pytest.approx(u.max(), rel=1e-12) and where == joints[np.argmax(u)]


def test_structure_part_types(tmp_path):
    path = ledge_plan(tmp_path / "p.json", 3, 1, part="PLA-voxel")
    s = load_structure(path)  # not a part type: a bonded voxel of the library material at the plan's pitch
    assert s.part_types[0].joint == "bonded" and s.part_types[0].pitch_mm == 20.0
    assert load_structure(path, part_type=SNAP).part_types[0].joint == "snap"
    with pytest.raises(FabError, match="10 mm voxel but the plan's lattice pitch is 20 mm"):
        load_structure(path, part_type="PLA-10mm-bonded")


def test_simulate_plan_static_and_failure(tmp_path):
    path = ledge_plan(tmp_path / "ledge.json", 4, 2)
    summary, report = simulate_plan(path, load=["x > 80:force=0,0,-4"], vtk=tmp_path / "r.vtu")
    weight = report.voxels * get_part_type(SNAP).mass_kg * 9.81
    assert report.reaction_force_n[2] == pytest.approx(4.0 + weight, rel=1e-6)  # float32 internal forces
    assert 0 < report.max_utilisation < 1 and report.first_break_factor > 1
    assert (tmp_path / "r.vtu").is_file() and summary["outputs"]["vtk"].endswith("r.vtu")
    _, fail = simulate_plan(path, load=["x > 80:force=0,0,-4"], test="failure")
    assert fail.failure_load_factor >= fail.first_break_factor and fail.fragments >= 2
    with pytest.raises(FabError, match="velocity"):
        simulate_plan(path, load=["x > 80:velocity=0,0,-4"])


def test_physics_planner_orders_supports_first(tmp_path):
    path = ledge_plan(tmp_path / "ledge.json", 6, 3)
    push = "0,0,-10"
    before = check_plan(path, placement_force=push)
    new, info = physics_order(path, placement_force=push, limit=before["worst_utilisation"] * 0.9)
    assert check_assembly(new) == []
    after = check_plan(new, placement_force=push)
    assert after["worst_utilisation"] <= before["worst_utilisation"] * 0.9 + 1e-9
    assert info["worst_utilisation"] == pytest.approx(after["worst_utilisation"], rel=1e-6)
    with pytest.raises(FabError, match="no order keeps every state under utilisation 0.01"):
        physics_order(path, placement_force=push, limit=0.01)


def test_cli_check_assembly_physics(tmp_path):
    path = ledge_plan(tmp_path / "ledge.json", 6, 3)
    ok = run_fab("check-assembly", str(path), "--physics", "--json", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    out = json.loads(ok.stdout)
    assert out["buildable"] and out["physics"]["worst_utilisation"] < 1
    refused = run_fab("check-assembly", str(path), "--physics", "--placement-force", "0,0,-40", cwd=tmp_path)
    assert refused.returncode == 1
    lines = [x for x in refused.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "overloads a joint" in lines[0]
    safe = tmp_path / "safe.json"
    replanned = run_fab("check-assembly", str(path), "--physics", "--placement-force", "0,0,-20", "--replan",
                        str(safe), cwd=tmp_path)  # fmt: skip
    assert replanned.returncode == 0, replanned.stderr
    assert len(read_assembly(safe)["placements"]) == 6 * 3 + 3 * 5
    bad = run_fab("check-assembly", str(path), "--physics", "--placement-force", "0,-5", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--placement-force" in bad.stderr
    sim = run_fab("simulate", str(path), "--load", "x > 100:force=0,0,-2", "--test", "failure", "--json",
                  cwd=tmp_path)  # fmt: skip
    assert sim.returncode == 0, sim.stderr
    result = json.loads(sim.stdout)["result"]
    assert result["failure_load_n"] == pytest.approx(2.0 * result["failure_load_factor"])
    none = run_fab("simulate", str(path), "--pitch", "2", cwd=tmp_path)
    assert none.returncode == 2 and "apply to a part, not an assembly plan" in none.stderr


def test_an_exported_plan_is_checked_by_physics_without_flags(tmp_path):
    """fab export --assembly names the voxels' material (--material, PLA by default): check-assembly --physics
    makes them bonded solid voxels of it at the plan's pitch, no --part-type needed."""
    from fab.voxels import VoxelGrid

    occ = np.zeros((4, 2, 3), bool)
    occ[0] = True
    occ[:, :, 2] = True
    grid = tmp_path / "ledge.npz"
    VoxelGrid(occ, 20.0, (10.0, 10.0, 10.0)).save(grid)
    for material, plan in ((None, tmp_path / "pla.json"), ("PETG", tmp_path / "petg.json")):
        args = ["export", str(grid), "--assembly", str(plan)] + (["--material", material] if material else [])
        result = run_fab(*args, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        expected = material or "PLA"
        assert read_assembly(plan)["part_types"] == [
            {"id": 0, "material_id": 0, "material": expected, "name": f"{expected}-voxel"}
        ]
        checked = run_fab("check-assembly", str(plan), "--physics", "--json", cwd=tmp_path)
        assert checked.returncode == 0, checked.stderr
        physics = json.loads(checked.stdout)["physics"]
        assert 0 < physics["worst_utilisation"] < 1 and physics["states"] == int(occ.sum())
    structure = load_structure(plan)
    assert structure.part_types[0].material.name == "PETG" and structure.part_types[0].pitch_mm == 20.0


def test_vxa_export_reads_back(tmp_path):
    from exporters.errors import ExportError
    from exporters.vxa import read_vxa, write_vxa

    path = ledge_plan(tmp_path / "ledge.json", 4, 2)
    out = tmp_path / "ledge.vxa"
    result = run_fab("export", str(path), "--vxa", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    ids, pitch, materials = read_vxa(out)
    plan = read_assembly(path)
    expected = np.zeros(tuple(plan["lattice"]["shape"]), dtype=np.int64)
    expected[tuple(plan["placements"][:, 1:4].T)] = 1
    assert pitch == 20.0 and np.array_equal(ids, expected)
    snap = get_part_type(SNAP)
    params = snap.law_parameters()
    assert materials[0].name == SNAP
    assert materials[0].elastic_modulus == pytest.approx(params["axial_stiffness"] / 0.02)
    assert materials[0].density == pytest.approx(snap.mass_kg / 0.02**3)
    vxc = tmp_path / "two.vxc"
    grid = np.zeros((3, 2, 2), dtype=np.int64)
    grid[0, 0, 0], grid[2, 1, 1], grid[1, 0, 1] = 1, 2, 2
    write_vxa(vxc, grid, 5.0, materials * 2)
    assert np.array_equal(read_vxa(vxc)[0], grid)
    with pytest.raises(ExportError, match="material ids"):
        write_vxa(tmp_path / "bad.vxa", grid * 5, 5.0, materials)
    assert not (tmp_path / "bad.vxa").exists()
    wrong = run_fab("export", str(path), "--vxa", str(out), "--stl", str(tmp_path / "x.stl"), cwd=tmp_path)
    assert wrong.returncode == 2 and "no other outputs" in wrong.stderr


def test_simulate_a_voxel_grid_of_parts(tmp_path):
    from fab.voxels import VoxelGrid

    occ = np.zeros((5, 1, 3), bool)
    occ[0, 0, :] = True
    occ[:, 0, 2] = True  # a column and an arm
    path = VoxelGrid(occ, 20.0, np.zeros(3)).save(tmp_path / "arm.npz")
    result = run_fab("simulate", str(path), "--part-type", SNAP, "--load", "x > 70:force=0,0,-1", "--json",
                     cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    weight = 7 * get_part_type(SNAP).mass_kg * 9.81
    assert out["result"]["reaction_force_n"][2] == pytest.approx(1.0 + weight, rel=1e-6)
    assert out["voxels"]["count"] == 7


def test_shifted_warm_start_saves_iterations(monkeypatch: pytest.MonkeyPatch):
    """A row's next state starts from the last change shifted one voxel on: fewer CG iterations, the same states."""
    ijk = plan_assembly(np.ones((8, 8, 4), bool), 20.0)["placements"][:, 1:4]
    part = get_part_type("PLA-20mm-bolted")
    n = len(ijk)

    def run():
        return BuildSequence(ijk, np.zeros(n, int), VoxelJoint(**part.law_parameters()), np.full(n, part.mass_kg),
                             0.02).check((0.0, 0.0, -5.0))  # fmt: skip

    shifted = run()
    monkeypatch.setattr(BuildSequence, "_shift_increment", lambda self, p, previous, x: False)
    plain = run()
    assert shifted.iterations.sum() < 0.93 * plain.iterations.sum()
    assert shifted.worst_state == plain.worst_state
    assert (np.abs(shifted.utilisation - plain.utilisation) <= shifted.bound + plain.bound + 1e-12).all()


def test_shifted_warm_start_kernel_matches_the_generic_path():
    """The beam joints' shifted start (kernels: the source by face slot, its gap) and the generic one (by lattice
    lookup) give the same starting point on every state of a block with a hole, faces without a source included."""
    occ = np.ones((5, 4, 3), bool)
    occ[2, 1:3, 1] = False
    ijk = plan_assembly(occ, 20.0)["placements"][:, 1:4]
    part = get_part_type("PLA-20mm-bolted")
    n = len(ijk)
    seq = BuildSequence(ijk, np.zeros(n, int), VoxelJoint(**part.law_parameters()), np.full(n, part.mass_kg), 0.02)
    seq._prepare_blocks()
    assert seq._beam_only
    rng = np.random.default_rng(3)
    seq._history = {q: rng.normal(size=6 * (q + 1)) for q in range(n)}
    seq._keep = n
    shifted = 0
    for p in range(2, n):
        previous = rng.normal(size=6 * p)
        starts = []
        for beam in (True, False):
            seq._beam_only = beam
            x = np.zeros(6 * (p + 1))
            x[: 6 * p] = previous
            starts.append((seq._shift_increment(p, previous, x), x))
        seq._beam_only = True
        assert starts[0][0] == starts[1][0]
        np.testing.assert_allclose(starts[0][1], starts[1][1], rtol=0, atol=1e-12)
        shifted += starts[0][0]
    assert shifted > n // 2


def test_gauss_seidel_preconditioner_is_the_symmetric_sweep_and_saves_iterations():
    """The state solver's smoother sweeps (forward fused with the CG update and the restriction, backward in place)
    give (D + U)^-1 D (D + L)^-1 r of the assembled state (a ledge of two part types, voxel 0 clamped: its rows
    zero; a 3 x 3 x 3 block, whose middle voxel's block is diagonal: joined on all six faces); on a block the checks
    agree with block-Jacobi's within their bounds, in fewer iterations."""
    from physics import assembly_kernels as kern

    ledge = np.array([[0, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1], [2, 0, 1], [3, 0, 1],
                      [3, 1, 1], [2, 1, 1], [2, 0, 2], [4, 0, 1]])  # fmt: skip
    cube = plan_assembly(np.ones((3, 3, 3), bool), 20.0)["placements"][:, 1:4]
    parts = [get_part_type(SNAP).law_parameters(), get_part_type("PLA-20mm-bolted").law_parameters()]
    law = VoxelJoint(**{key: [parts[0][key], parts[1][key]] for key in parts[0]})
    rng = np.random.default_rng(5)
    for ijk, types, plate in ((ledge, 2, True), (ledge, 2, False), (cube, 1, True)):
        n = len(ijk)
        seq = BuildSequence(ijk, np.arange(n) % types, law, np.full(n, 0.002), 0.02, plate=plate)
        clamped = 0 if plate else 1
        for p in (n // 2, n - 1):
            seq._activate(p)
            seq._refresh_coarse(p)
            nv = p + 1
            K = seq._matrix(p).toarray()
            if not plate:  # the clamped voxel's rows and columns are held
                K = np.pad(K, ((6, 0), (6, 0)))
            D = np.zeros_like(K)
            for v in range(clamped, nv):
                D[6 * v : 6 * v + 6, 6 * v : 6 * v + 6] = K[6 * v : 6 * v + 6, 6 * v : 6 * v + 6]
            r = rng.standard_normal(6 * nv)
            r[: 6 * clamped] = 0.0
            free = slice(6 * clamped, 6 * nv)
            lower, upper = np.tril(K, -1) - np.tril(D, -1), np.triu(K, 1) - np.triu(D, 1)
            expected = np.zeros(6 * nv)
            inner = np.linalg.solve((D + lower)[free, free], r[free])
            expected[free] = np.linalg.solve((D + upper)[free, free], D[free, free] @ inner)
            x, s, q = np.zeros(6 * nv), np.zeros(6 * nv), np.zeros(6 * nv)
            z, c = np.empty(6 * nv), np.empty(seq._coarse_size)
            rr = kern.step_forward_sweep(x, r.copy(), s, q, 0.0, seq._diag_inv, seq._rd, seq._nb, seq._slot_index,
                                         seq._slot_table, seq._agg, seq._lever, seq._coarse_index, nv, clamped, z, c)  # fmt: skip
            rz = kern.backward_sweep(seq._diag_inv, seq._rd, seq._nb, seq._slot_index, seq._slot_table, nv, clamped,
                                     r, z)  # fmt: skip
            np.testing.assert_allclose(z, expected, rtol=0, atol=1e-10 * np.abs(expected).max())
            assert rr == pytest.approx(r @ r) and rz == pytest.approx(r @ expected)
            assert (seq._rd[:nv, 0] > 0).any() == (ijk is cube)  # the block's middle voxels take the diagonal path
    block = plan_assembly(np.ones((6, 6, 5), bool), 20.0)["placements"][:, 1:4]
    part = get_part_type("PLA-20mm-bolted")
    runs = {smoother: BuildSequence(block, np.zeros(len(block), int), VoxelJoint(**part.law_parameters()),
                                    np.full(len(block), part.mass_kg), 0.02, smoother=smoother).check((0.0, 0.0, -5.0))
            for smoother in ("gauss-seidel", "jacobi")}  # fmt: skip
    gs, jacobi = runs["gauss-seidel"], runs["jacobi"]
    assert gs.worst_state == jacobi.worst_state
    assert (np.abs(gs.utilisation - jacobi.utilisation) <= gs.bound + jacobi.bound + 1e-12).all()
    assert gs.iterations.sum() < 0.8 * jacobi.iterations.sum()
    with pytest.raises(PhysicsError, match="smoother must be"):
        BuildSequence(block, np.zeros(len(block), int), VoxelJoint(**part.law_parameters()),
                      np.full(len(block), part.mass_kg), 0.02, smoother="sor")  # fmt: skip
