"""The FE reference helpers of benchmarks/bench_stress.py: C3D10 ordering, face weights, deck and .dat parser,
and (when gmsh and CalculiX are installed) a small cantilever against Timoshenko beam theory."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import fe_reference as fe  # noqa: E402


def _one_tet() -> tuple[np.ndarray, np.ndarray]:
    """A unit right tetrahedron with its six mid-side nodes, mids listed in a scrambled order."""
    corners = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=float)
    mids = np.array([0.5 * (corners[a] + corners[b]) for a, b in fe.C3D10_EDGES])
    nodes = np.vstack([corners, mids])
    scrambled = np.array([[0, 1, 2, 3, 4 + 5, 4 + 3, 4 + 0, 4 + 4, 4 + 2, 4 + 1]])
    return nodes, scrambled


def test_mid_side_nodes_are_put_in_c3d10_order() -> None:
    nodes, conn = _one_tet()
    out = fe._to_c3d10(nodes, conn)
    assert out[0].tolist() == list(range(10))


def test_inverted_tet_is_flipped_with_its_mid_nodes() -> None:
    nodes, _ = _one_tet()
    conn = np.array([[0, 2, 1, 3, 4, 5, 6, 7, 8, 9]])  # corners 1 and 2 swapped: negative volume
    out = fe._to_c3d10(nodes, conn)
    assert fe._tet_volumes(nodes, out)[0] > 0
    for k, (a, b) in enumerate(fe.C3D10_EDGES):
        np.testing.assert_allclose(nodes[out[0, 4 + k]], 0.5 * (nodes[out[0, a]] + nodes[out[0, b]]))


def test_face_weights_are_area_shares_on_mid_side_nodes() -> None:
    nodes, conn = _one_tet()
    elements = fe._to_c3d10(nodes, conn)
    w, area = fe.face_weights(nodes, elements, "<Z")  # the face z = 0: corners 0, 1, 2
    assert area == pytest.approx(0.5)
    assert w.sum() == pytest.approx(1.0)
    assert np.allclose(w[:4], 0.0)  # quadratic triangle: corner shape functions integrate to zero
    assert sorted(np.flatnonzero(w).tolist()) == [4, 5, 6]  # mids of edges 01, 12, 20
    assert np.allclose(w[[4, 5, 6]], 1.0 / 3.0)


def test_dat_parser_reads_the_last_displacement_block(tmp_path: Path) -> None:
    dat = tmp_path / "job.dat"
    dat.write_text(
        "\n displacements (vx,vy,vz) for set NALL and time  0.5000000E+00\n\n"
        "         1  1.000000E+00  0.000000E+00  0.000000E+00\n"
        "         2  1.000000E+00  0.000000E+00  0.000000E+00\n"
        "\n displacements (vx,vy,vz) for set NALL and time  0.1000000E+01\n\n"
        "         2 -2.500000E-03  1.000000E-04  3.000000E+00\n"
        "         1  1.000000E-05 -2.000000E-05  0.000000E+00\n"
    )
    u = fe.read_dat_displacements(dat, 2)
    np.testing.assert_allclose(u, [[1e-5, -2e-5, 0.0], [-2.5e-3, 1e-4, 3.0]])
    with pytest.raises(fe.FEError, match="missing"):
        fe.read_dat_displacements(dat, 3)


def test_deck_has_every_node_element_and_load(tmp_path: Path) -> None:
    nodes, conn = _one_tet()
    mesh = fe.TetMesh(nodes=nodes, elements=fe._to_c3d10(nodes, conn), size_mm=1.0, seconds=0.0)
    fixed = np.zeros(10, dtype=bool)
    fixed[[0, 1, 2]] = True
    loads = np.zeros((10, 3))
    loads[3, 2] = -5.0
    fe.write_deck(tmp_path / "a.inp", mesh, 3500.0, 0.3, fixed, loads)
    text = (tmp_path / "a.inp").read_text()
    assert "*ELEMENT, TYPE=C3D10, ELSET=EALL\n1,1,2,3,4,5,6,7,\n8,9,10\n" in text
    assert "*NSET, NSET=FIX\n1,2,3\n" in text
    assert "*CLOAD\n4,3,-5\n" in text
    assert "*ELASTIC\n3500,0.3\n" in text


@pytest.mark.skipif(
    fe.ccx_path() is None or importlib.util.find_spec("gmsh") is None, reason="needs gmsh and CalculiX (ccx)"
)
def test_small_cantilever_matches_timoshenko(tmp_path: Path) -> None:
    step = fe.write_step(fe.bar_shape(40.0, 4.0, 4.0), tmp_path / "bar.step")
    mesh = fe.tet10_mesh(step, 2.0)
    assert mesh.volume_mm3 == pytest.approx(640.0, rel=1e-9)
    sol = fe.solve_static(mesh, 3.5e9, 0.3, fix="<X", load=">X", force_n=(0.0, 0.0, -1.0))
    np.testing.assert_allclose(sol.reaction_n, [0.0, 0.0, -1.0], atol=1e-12)
    beam = fe.timoshenko_tip_mm(1.0, 40.0, 4.0, 4.0, 3.5e9, 0.3)
    # A clamped 3D face is slightly stiffer than the beam's root; second-order tets are converged to ~1 %.
    assert -sol.face_mean_mm[2] / beam == pytest.approx(0.985, abs=0.02)
    assert sol.max_displacement_mm >= -sol.face_mean_mm[2]


def test_displacement_at_interpolates_quadratic_fields_exactly() -> None:
    """FE |u| is read at our particle centres through the C3D10 shape functions: a quadratic field is exact
    inside two tets sharing a face; a point outside the mesh is NaN."""
    nodes, _ = _one_tet()
    mirrored = nodes * np.array([1.0, 1.0, -1.0])  # the tet below z = 0, sharing the face z = 0
    allnodes = np.vstack([nodes, mirrored])
    conn = np.array([list(range(10)), [10, 11, 13, 12, 10 + 6, 10 + 5, 10 + 4, 10 + 7, 10 + 9, 10 + 8]])
    conn[1, :4] = [10, 11, 12, 13]
    conn = fe._to_c3d10(allnodes, conn)

    def field(x: np.ndarray) -> np.ndarray:
        return np.column_stack([x[:, 0] ** 2 - x[:, 1] * x[:, 2], 2 * x[:, 1] * x[:, 0], x[:, 2] + 0.5])

    mesh = fe.TetMesh(allnodes, conn, 1.0, 0.0)
    sol = fe.FESolution(mesh, field(allnodes), np.zeros(3), 0.0, np.zeros(3), 0.0)
    rng = np.random.default_rng(0)
    lam = rng.dirichlet(np.ones(4), 20)
    pts = np.vstack([lam @ nodes[:4], lam @ mirrored[:4]])
    np.testing.assert_allclose(fe.displacement_at(sol, pts), field(pts), atol=1e-12)
    assert np.isnan(fe.displacement_at(sol, np.array([[1.0, 1.0, 1.0]]))).all()
