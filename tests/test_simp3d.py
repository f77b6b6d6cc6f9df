"""benchmarks/simp3d.py, the 3D SIMP reference of issue 13, on tiny grids (CalculiX checks skip without ccx)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import simp3d as S  # noqa: E402
import voxel_fe as V  # noqa: E402
from simp import threshold  # noqa: E402


def test_h8_stiffness_is_symmetric_and_rigid_motions_cost_nothing() -> None:
    ke = S.h8_stiffness(1.0, 0.3, 2.0)
    assert np.allclose(ke, ke.T)
    xyz = 2.0 * np.array(S.CORNERS, dtype=float)
    modes = [np.tile(np.eye(3)[d], 8) for d in range(3)]
    modes.append(np.column_stack([-xyz[:, 1], xyz[:, 0], 0 * xyz[:, 0]]).ravel())  # rotation about z
    for m in modes:
        assert np.abs(ke @ m).max() < 1e-12
    eig = np.linalg.eigvalsh(ke)
    assert (eig > -1e-12).all() and (eig > 1e-9).sum() == 18  # 24 dofs less 6 rigid-body modes


def _case(nx=10, ny=3, nz=3):
    dom = np.ones((nx, ny, nz), dtype=bool)
    fixed = np.zeros_like(dom)
    fixed[0] = True
    pad = np.zeros_like(dom)
    pad[-1, :, 0] = True
    return dom, fixed, pad


@pytest.mark.skipif(V.ccx_path() is None, reason="CalculiX (ccx) not installed (make peers)")
def test_h8_model_equals_calculix_c3d8_on_an_l_shaped_design() -> None:
    """SIMP's own finite elements are CalculiX's C3D8 (full integration): the same compliance to 1e-6."""
    dom, fixed, pad = _case()
    occ = dom.copy()
    occ[3:8, :, 1:] = False  # a notch: an L-shaped, partly thin design
    case = [(pad, (0.0, 0.3, -1.0))]
    ours = S.compliance(occ, fixed, case, 1.5, 2000.0, 0.3)
    vf = np.zeros(occ.shape + (3,))
    vf[pad] = np.array([0.0, 0.3, -1.0]) / pad.sum()
    fe = V.solve(occ, 1.5, youngs_modulus=2e9, poisson_ratio=0.3, fixed=fixed, voxel_forces=vf, element="C3D8")
    assert ours == pytest.approx(fe.compliance_nmm, rel=1e-5)


def test_cantilever_converges_to_a_lighter_stiff_design_at_the_volume() -> None:
    dom, fixed, pad = _case(12, 4, 3)
    keep = fixed | pad  # held and loaded cells stay solid (as the refinement's keep-in)
    cells = 0.4 * dom.size
    two = [[(pad, (0.0, 0.0, -1.0))], [(pad, (0.0, 1.0, 0.0))]]  # two load cases, summed
    res = S.simp3d(dom, keep, fixed, two, cells, 1.0, max_iterations=40)
    assert res.density[keep].min() == 1.0
    assert res.density.sum() == pytest.approx(cells, rel=2e-3)
    assert res.history[-1] < 0.6 * res.history[0]  # from the uniform grey start
    assert res.change < 0.2 or res.iterations == 40
    design = threshold(res.density, dom, keep, int(cells))
    assert design.sum() == int(cells) and design[keep].all()
    # The 0/1 design is stiffer per unit volume than the same volume spread evenly (what OC is for).
    solid = sum(S.compliance(design, fixed, c, 1.0, 1.0, 0.3) for c in two)
    assert solid < res.history[0]


def test_weights_weigh_the_load_cases() -> None:
    """bench_refine weighs each case by 1 / the whole domain's compliance (the stiffness goal's objective)."""
    dom, fixed, pad = _case(8, 3, 3)
    two = [[(pad, (0.0, 0.0, -1.0))], [(pad, (0.0, 1.0, 0.0))]]
    plain = S.simp3d(dom, fixed | pad, fixed, two, 0.5 * dom.size, 1.0, max_iterations=1)
    double = S.simp3d(dom, fixed | pad, fixed, two, 0.5 * dom.size, 1.0, max_iterations=1, weights=(2.0, 2.0))
    assert double.history[0] == pytest.approx(2.0 * plain.history[0], rel=1e-9)
    first = S.simp3d(dom, fixed | pad, fixed, two, 0.5 * dom.size, 1.0, max_iterations=1, weights=(1.0, 1e-6))
    alone = S.simp3d(dom, fixed | pad, fixed, two[:1], 0.5 * dom.size, 1.0, max_iterations=1)
    assert first.history[0] == pytest.approx(alone.history[0], rel=1e-4)
    with pytest.raises(ValueError, match="weights"):
        S.simp3d(dom, fixed | pad, fixed, two, 0.5 * dom.size, 1.0, max_iterations=1, weights=(1.0,))


def test_projection_is_a_smoothed_step_with_its_derivative() -> None:
    xt = np.linspace(0.0, 1.0, 11)
    same, one = S.project(xt, 0.0)
    assert np.array_equal(same, xt) and (one == 1.0).all()
    xp, dxp = S.project(xt, 32.0)
    assert xp[0] == pytest.approx(0.0, abs=1e-12) and xp[-1] == pytest.approx(1.0, abs=1e-12)
    assert xp[5] == pytest.approx(0.5) and ((xp[:5] < 0.01) & (xp[6:] > 0.99)).all()
    h = 1e-6
    fd = (S.project(xt + h, 32.0)[0] - S.project(xt - h, 32.0)[0]) / (2 * h)
    assert np.allclose(dxp, fd, rtol=1e-5, atol=1e-8)


def test_continuation_and_projection_reach_a_black_and_white_design_by_the_rule() -> None:
    """bench_refine's settings (penalty 1 -> 3, beta 1 -> 32, move 0.1 then 0.05, the objective's rule; shorter
    stages) on a tiny cantilever: stopped by the rule, not the cap, at the volume, no grey left (top3d's plain
    settings leave most cells grey here), about as stiff once thresholded (a 3-cell beam leaves no room to gain)."""
    dom, fixed, pad = _case(10, 3, 3)
    keep = fixed | pad
    cells = 0.4 * dom.size
    case = [[(pad, (0.0, 0.0, -1.0))]]
    plain = S.simp3d(dom, keep, fixed, case, cells, 1.0, max_iterations=150)
    best = S.simp3d(dom, keep, fixed, case, cells, 1.0, rmin=1.5, penal_start=1.0, penal_step=0.5, beta_max=32.0,
                    move=0.1, stage_iterations=10, final_move=0.05, objective_tolerance=1e-3, solver_tolerance=1e-6,
                    max_iterations=150)  # fmt: skip
    assert best.converged and best.iterations < 150 and best.penal == 3.0 and best.beta == 32.0
    assert best.grey < 0.02 and plain.grey > 0.5
    assert best.density.sum() == pytest.approx(cells, rel=1e-2)
    solid = [S.compliance(threshold(r.density, dom, keep, int(cells)), fixed, case[0], 1.0, 1.0, 0.3)
             for r in (plain, best)]  # fmt: skip
    assert solid[1] <= 1.05 * solid[0]
    assert best.solver_stats["solves"] == best.iterations and best.solver_stats["direct"] == 0
