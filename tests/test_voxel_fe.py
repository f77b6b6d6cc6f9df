"""benchmarks/voxel_fe.py, the CalculiX judge of voxel designs (skipped where ccx is not installed)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import voxel_fe as V  # noqa: E402

needs_ccx = pytest.mark.skipif(V.ccx_path() is None, reason="CalculiX (ccx) not installed (make peers)")
E, NU = 200e9, 0.3


def _cantilever(nx: int = 40, n: int = 4, force: float = 10.0):
    occ = np.ones((nx, n, n), dtype=bool)
    fixed = np.zeros((nx + 1, n + 1, n + 1), dtype=bool)
    fixed[0] = True  # the end face's nodes
    nodal = np.zeros((nx + 1, n + 1, n + 1, 3))
    nodal[nx, :, :, 2] = -force / (n + 1) ** 2  # the tip face, shared evenly
    return occ, fixed, nodal


@needs_ccx
def test_cantilever_matches_timoshenko_and_balances() -> None:
    occ, fixed, nodal = _cantilever()
    res = V.solve(occ, 0.5, youngs_modulus=E, poisson_ratio=NU, fixed=fixed, nodal_forces=nodal)
    length, h, f = 20.0, 2.0, 10.0  # mm, N
    e = E / 1e6
    beam = f * (length**3 / (3 * e * h**4 / 12) + length / (5 / 6 * e / (2 * (1 + NU)) * h * h))
    tip = -res.displacement_at(np.argwhere(nodal[..., 2] != 0))[:, 2].mean()
    assert tip == pytest.approx(beam, rel=0.04)  # C3D8I, 4 elements deep, a fully clamped end
    assert res.compliance_nmm == pytest.approx(f * tip, rel=1e-6)
    np.testing.assert_allclose(res.reaction_n, [0.0, 0.0, f], atol=1e-6)
    sigma = f * length * (h / 2) / (h**4 / 12)  # N/mm^2 at the root; the clamp's corners concentrate it
    assert 0.8 * sigma < res.max_von_mises_pa / 1e6 < 2.0 * sigma
    assert res.elements == occ.size and res.detached_voxels == 0


@needs_ccx
def test_extruded_2d_design_voxel_loads_and_units() -> None:
    """A 2D design one layer deep, loaded through voxel forces, pitch (1, 1, 3): compliance scales as 1/E and
    is the same with E in a different number (the deck is in N/mm^2); detached material is counted."""
    occ2 = np.zeros((16, 6), dtype=bool)
    occ2[:, 2:4] = True
    occ2[14:16, 0:6] = True
    occ2[6:8, 5] = True  # a floating island
    occ = V.extrude(occ2, 1)
    fixed = np.zeros_like(occ)
    fixed[0] = True
    vf = np.zeros(occ.shape + (3,))
    vf[15, :, 0, 1] = np.where(occ2[15], -1.0, 0.0)
    a = V.solve(occ, (1.0, 1.0, 3.0), youngs_modulus=E, poisson_ratio=NU, fixed=fixed, voxel_forces=vf)
    b = V.solve(occ, (1.0, 1.0, 3.0), youngs_modulus=2 * E, poisson_ratio=NU, fixed=fixed, voxel_forces=vf)
    assert b.compliance_nmm == pytest.approx(a.compliance_nmm / 2, rel=1e-5)
    assert a.detached_voxels == 2 and a.compliance_nmm > 0


@needs_ccx
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("no_support", "no support"),
        ("empty_voxel_load", "empty voxel"),
        ("floating_load", "do not balance"),
        ("bad_material", "bad material"),
    ],
)
def test_errors_are_errors(change: str, message: str) -> None:
    occ = np.zeros((8, 2, 2), dtype=bool)
    occ[:5] = True
    occ[7] = True  # a piece no support reaches
    fixed = np.zeros_like(occ)
    fixed[0] = True
    vf = np.zeros(occ.shape + (3,))
    vf[4, :, :, 2] = -1.0
    nu = NU
    if change == "no_support":
        fixed[:] = False
    elif change == "empty_voxel_load":
        vf[6, 0, 0, 2] = -1.0
    elif change == "floating_load":
        vf[7, 0, 0, 2] = -1.0
    else:
        nu = 0.5
    with pytest.raises(V.VoxelFEError, match=message):
        V.solve(occ, 1.0, youngs_modulus=E, poisson_ratio=nu, fixed=fixed, voxel_forces=vf)


def test_a_failing_or_missing_ccx_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    occ, fixed, nodal = _cantilever(6, 2)
    monkeypatch.setattr(V, "ccx_path", lambda: "/bin/false")
    with pytest.raises(V.VoxelFEError, match="ccx failed"):
        V.solve(occ, 1.0, youngs_modulus=E, poisson_ratio=NU, fixed=fixed, nodal_forces=nodal)
    monkeypatch.setattr(V, "ccx_path", lambda: None)
    with pytest.raises(V.VoxelFEError, match="not installed"):
        V.solve(occ, 1.0, youngs_modulus=E, poisson_ratio=NU, fixed=fixed, nodal_forces=nodal)
