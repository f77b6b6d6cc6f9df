"""Voxelizer: exactness on analytic shapes, the tie rule, non-watertight fallback, sizing, limits, file format."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import trimesh

from fab.errors import FabError
from fab.voxels import VoxelGrid, estimate_grid, voxelize


def centres(grid: VoxelGrid) -> np.ndarray:
    return grid.origin + np.indices(grid.shape).reshape(3, -1).T * grid.pitch


def inside_convex(mesh: trimesh.Trimesh, points: np.ndarray) -> np.ndarray:
    """Reference for a convex mesh: inside every face plane (exact but for points on the surface)."""
    normals, anchors = mesh.face_normals, mesh.triangles[:, 0]
    offsets = np.einsum("fi,fi->f", anchors, normals)
    return np.all(points @ normals.T < offsets, axis=1)


def winding_reference(mesh: trimesh.Trimesh, points: np.ndarray) -> np.ndarray:
    """Reference for any closed mesh: the solid-angle winding number, in numpy (independent of the kernels)."""
    out = np.empty(len(points))
    for start in range(0, len(points), 512):
        d = mesh.triangles[None, :, :, :] - points[start : start + 512, None, None, :]
        a, b, c = d[:, :, 0], d[:, :, 1], d[:, :, 2]
        la, lb, lc = (np.linalg.norm(v, axis=-1) for v in (a, b, c))
        det = np.einsum("pfi,pfi->pf", a, np.cross(b, c))
        dot = la * lb * lc + np.einsum("pfi,pfi->pf", a, b) * lc
        dot += np.einsum("pfi,pfi->pf", b, c) * la + np.einsum("pfi,pfi->pf", c, a) * lb
        out[start : start + 512] = np.arctan2(det, dot).sum(axis=1) / (2 * np.pi)
    return np.abs(out) > 0.5


def test_box_is_exact_and_centred() -> None:
    grid = voxelize(trimesh.creation.box(extents=(20.0, 10.0, 5.0)), pitch=0.5)
    assert grid.count == 40 * 20 * 10
    assert grid.shape == (42, 22, 12)  # one empty layer of padding around the part
    assert not grid.occupancy[0].any() and not grid.occupancy[-1].any()
    assert grid.meta["method"] == "parity" and grid.meta["open_faces"] == 0
    assert max(abs(d) for d in grid.meta["phase_voxels"]) < 0.01  # already matched: (almost) centred


def boxes_union(
    boxes: list[tuple[tuple[float, float, float], tuple[float, float, float]]],
) -> trimesh.Trimesh:
    parts = [trimesh.creation.box(bounds=np.array(b)) for b in boxes]
    return trimesh.boolean.union(parts, engine="manifold")


def test_centres_exactly_on_faces_edges_and_vertices_follow_the_tie_rule() -> None:
    # The grid is centred on the part's bounding box, so with integer extents (pitch 1) the centres sit on the
    # half-integers: every interior face, edge and vertex below lies exactly on voxel centres. The tie rule is a
    # symbolic perturbation of each centre towards +x, +y, +z, so the result must equal the analytic test at
    # centre + (d, d, d): shared edges neither double-counted nor missed, no ragged faces.
    boxes = [
        ((0.0, 0.0, 0.0), (9.0, 9.0, 4.0)),
        ((2.5, 1.5, 0.0), (6.5, 9.0, 7.0)),
        ((0.0, 0.0, 0.0), (4.5, 5.5, 5.5)),
    ]
    mesh = boxes_union(boxes)
    assert mesh.is_watertight
    grid = voxelize(mesh, pitch=1.0, match_volume=False)  # the centred grid, to put centres on the faces
    points = centres(grid)
    assert np.isin(points % 1.0, 0.5).all()  # centres really are on the half-integers
    shifted = points + 1e-6
    expected = np.zeros(len(points), dtype=bool)
    for lo, hi in boxes:
        expected |= np.all((shifted > lo) & (shifted < hi), axis=1)
    assert np.array_equal(grid.occupancy.ravel(), expected)


def test_centres_on_a_finely_triangulated_step_face() -> None:
    # A step face at x = 6.5 (on centres) triangulated with irrational vertex coordinates: every column must
    # end on the same voxel (barycentric rounding must not make the face ragged).
    rot = trimesh.transformations.rotation_matrix(np.pi / 2, [0, 1, 0])
    big = trimesh.creation.cylinder(radius=4.0, height=6.5, sections=101, transform=rot)
    big.apply_translation([3.25, 0, 0])
    small = trimesh.creation.cylinder(radius=2.0, height=6.5, sections=101, transform=rot)
    small.apply_translation([9.75, 0, 0])
    mesh = trimesh.boolean.union([big, small], engine="manifold")
    grid = voxelize(mesh, pitch=1.0, match_volume=False)
    assert np.array_equal(grid.occupancy.ravel(), winding_reference(mesh, centres(grid) + 1e-6))
    step = int(np.flatnonzero(np.isclose(grid.origin[0] + np.arange(grid.shape[0]), 6.5))[0])
    annulus = grid.occupancy[step - 1] & ~grid.occupancy[step]
    assert annulus.sum() > 20 and not (grid.occupancy[step + 1 :] & annulus).any()


def test_sphere_matches_reference_and_converges() -> None:
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=5.0)
    grid = voxelize(sphere, pitch=0.4)
    assert np.array_equal(grid.occupancy.ravel(), inside_convex(sphere, centres(grid)))
    errors = [
        abs(voxelize(sphere, pitch=p, match_volume=False).volume_mm3 / sphere.volume - 1)
        for p in (1.0, 0.5, 0.25, 0.1)
    ]
    assert errors[3] < 0.002 and errors[3] < errors[2] < errors[0]
    # Matching the lattice phase to the volume: within 0.05 % at only 20 voxels across (centred: 1 %).
    matched = voxelize(sphere, pitch=0.5)
    assert abs(matched.volume_mm3 / sphere.volume - 1) < 5e-4 and matched.meta["phase_voxels"] != [0.0] * 3
    assert np.array_equal(matched.occupancy.ravel(), inside_convex(sphere, centres(matched)))


def test_phase_matching_fixes_planar_faces_off_phase() -> None:
    # An L of boxes with a cylinder boss: its inner faces land off-phase on the centred lattice, which then misses
    # the volume by a fraction of a voxel times their area. The shifted lattice must never be worse, must be much
    # better here, keep the padding empty and stay exact for its own centres.
    boxes = boxes_union([((0.0, 0.0, 0.0), (12.0, 10.0, 3.3)), ((0.0, 0.0, 0.0), (4.3, 10.0, 11.0))])
    boss = trimesh.creation.cylinder(radius=2.0, height=6.0, sections=64)
    boss.apply_translation([8.5, 5.0, 5.0])
    mesh = trimesh.boolean.union([boxes, boss], engine="manifold")
    for pitch in (0.5, 0.3, 0.25):
        centred = voxelize(mesh, pitch=pitch, match_volume=False)
        matched = voxelize(mesh, pitch=pitch)
        assert abs(matched.volume_mm3 / mesh.volume - 1) <= abs(centred.volume_mm3 / mesh.volume - 1)
    assert abs(centred.volume_mm3 / mesh.volume - 1) > 0.005  # pitch 0.25: no shift found a better count
    matched = voxelize(mesh, pitch=0.5)
    assert abs(voxelize(mesh, pitch=0.5, match_volume=False).volume_mm3 / mesh.volume - 1) > 0.03
    assert abs(matched.volume_mm3 / mesh.volume - 1) < 0.003
    assert all(abs(d) < 0.5 for d in matched.meta["phase_voxels"])
    assert not matched.occupancy[[0, -1]].any() and not matched.occupancy[:, [0, -1]].any()
    assert not matched.occupancy[:, :, [0, -1]].any()
    assert np.array_equal(matched.occupancy.ravel(), winding_reference(mesh, centres(matched)))


def test_torus_hole_stays_empty() -> None:
    torus = trimesh.creation.torus(major_radius=6.0, minor_radius=2.0, major_sections=32, minor_sections=12)
    grid = voxelize(torus, pitch=0.75)
    assert np.array_equal(grid.occupancy.ravel(), winding_reference(torus, centres(grid)))
    centre = np.round((np.zeros(3) - grid.origin) / grid.pitch).astype(int)
    assert not grid.occupancy[tuple(centre)]


def holed_copy(mesh: trimesh.Trimesh, fraction: float, seed: int) -> trimesh.Trimesh:
    rng = np.random.default_rng(seed)
    keep = np.ones(len(mesh.faces), dtype=bool)
    keep[rng.choice(len(mesh.faces), size=max(1, int(len(mesh.faces) * fraction)), replace=False)] = False
    return trimesh.Trimesh(mesh.vertices, mesh.faces[keep], process=False)


@pytest.mark.parametrize("seed", [1, 2])
def test_open_mesh_warns_and_fallback_is_close(seed: int) -> None:
    torus = trimesh.creation.torus(major_radius=6.0, minor_radius=2.5, major_sections=64, minor_sections=32)
    exact = voxelize(torus, pitch=0.2, match_volume=False)  # the same lattice as the robust path
    holed = holed_copy(torus, 0.005, seed)
    with pytest.warns(UserWarning, match=r"not watertight \(\d+ of \d+ faces are open\)"):
        grid = voxelize(holed, pitch=0.2)
    assert grid.meta["method"] == "robust" and grid.meta["open_faces"] >= 3 * 10
    assert grid.meta["winding_checked"] == grid.meta["disputed_voxels"]
    wrong = np.count_nonzero(grid.occupancy != exact.occupancy)
    assert wrong <= 0.001 * exact.count
    # Plain parity along x would be far off: every ray through a hole flips a whole run of voxels.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parity_only = voxelize(holed, pitch=0.2, robust=False)
    assert np.count_nonzero(parity_only.occupancy != exact.occupancy) > 10 * max(wrong, 1)


def test_open_mesh_wound_inside_out_is_still_filled() -> None:
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=5.0)
    holed = holed_copy(sphere, 0.02, 3)
    holed.faces = holed.faces[:, ::-1]
    with pytest.warns(UserWarning, match="not watertight"):
        grid = voxelize(holed, pitch=0.5)
    exact = voxelize(sphere, pitch=0.5, match_volume=False)
    assert np.count_nonzero(grid.occupancy != exact.occupancy) <= 0.002 * exact.count


def test_robust_equals_exact_on_watertight_mesh() -> None:
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=5.0)
    assert np.array_equal(
        voxelize(sphere, pitch=0.5, robust=True).occupancy,
        voxelize(sphere, pitch=0.5, match_volume=False).occupancy,
    )


def test_count_sizing_hits_the_target() -> None:
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=5.0)
    for target in (1_000, 20_000, 77_777):
        grid = voxelize(sphere, count=target)
        assert abs(grid.count - target) <= 0.01 * target
    assert (
        voxelize(trimesh.creation.box(extents=(10.0, 10.0, 0.5)), count=1).count == 1
    )  # thinner than a guess


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pitch": 0.0}, "pitch must be a positive"),
        ({"pitch": -1.0}, "pitch must be a positive"),
        ({"pitch": float("nan")}, "pitch must be a positive"),
        ({"pitch": 1e-4}, "over the memory limit"),
        ({"count": 0}, "at least 1"),
        (
            {"count": 10**12},
            r"--count 1000000000000 needs a pitch of about 0.001 mm: .* over the memory limit",
        ),
        ({"count": -5}, "at least 1"),
        ({"pitch": float("inf")}, "pitch must be a positive"),
        ({}, "exactly one"),
        ({"pitch": 1.0, "count": 10}, "exactly one"),
    ],
)
def test_bad_sizes_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(FabError, match=message):
        voxelize(trimesh.creation.box(extents=(10.0, 10.0, 10.0)), **kwargs)


def test_no_centre_inside_is_refused() -> None:
    ring = trimesh.creation.torus(major_radius=6.0, minor_radius=1.0)
    with pytest.raises(FabError, match="no voxel centre falls inside"):
        voxelize(ring, pitch=40.0)  # the only centre sits in the ring's hole


def test_memory_message_names_size_and_limit() -> None:
    with pytest.raises(FabError) as info:
        voxelize(trimesh.creation.box(extents=(10.0, 10.0, 10.0)), pitch=0.05, memory_limit_mb=1.0)
    text = str(info.value)
    assert "202 x 202 x 202" in text and "memory limit of 1 MB" in text
    assert estimate_grid(np.array([[0, 0, 0], [10, 10, 10]]), 0.05)[0] == (202, 202, 202)


def test_bad_meshes_are_refused() -> None:
    with pytest.raises(FabError, match="empty"):
        voxelize(trimesh.Trimesh(), pitch=1.0)
    box = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    vertices = box.vertices.copy()
    vertices[0, 0] = np.inf
    with pytest.raises(FabError, match="NaN or infinite"):
        voxelize(trimesh.Trimesh(vertices, box.faces, process=False), pitch=0.1)
    flat = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2]], process=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(FabError, match="flat"):
            voxelize(flat, pitch=0.1)


def test_save_load_round_trip_is_bit_identical(tmp_path) -> None:
    grid = voxelize(
        trimesh.creation.icosphere(radius=3.0), pitch=0.3, material_id=2, materials=("PLA", "x", "steel")
    )
    grid.source_sha256 = "ab" * 32
    path = grid.save(tmp_path / "g.npz")
    again = VoxelGrid.load(path)
    assert np.array_equal(again.occupancy, grid.occupancy)
    assert np.array_equal(again.material_ids, grid.material_ids)
    assert again.pitch == grid.pitch and np.array_equal(again.origin, grid.origin)
    assert again.materials == grid.materials and again.source_sha256 == grid.source_sha256
    assert sorted(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_load_refuses_foreign_files(tmp_path) -> None:
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(FabError, match="cannot read voxel grid"):
        VoxelGrid.load(tmp_path / "other.npz")
    with pytest.raises(FabError, match="not found"):
        VoxelGrid.load(tmp_path / "missing.npz")


def test_deterministic() -> None:
    mesh = trimesh.creation.icosphere(subdivisions=3, radius=4.0)
    assert np.array_equal(voxelize(mesh, pitch=0.3).occupancy, voxelize(mesh, pitch=0.3).occupancy)


def _full_scan_crossings(tri: np.ndarray, j: int, nz: int) -> tuple[list[int], list[float]]:
    """Reference for the rasterizer: every column of the triangle's bounding box tested with the plain tie rule."""

    def edge(au, av, bu, bv, pu, pv):
        if au < bu or (au == bu and av < bv):
            return (bu - au) * (pv - av) - (bv - av) * (pu - au)
        return -((au - bu) * (pv - bv) - (av - bv) * (pu - bu))

    def owns(au, av, bu, bv):
        return bv - av < 0.0 if bv != av else bu - au > 0.0

    (x0, u0, v0), (x1, u1, v1), (x2, u2, v2) = (tuple(float(c) for c in p) for p in tri)
    area = edge(u0, v0, u1, v1, u2, v2)
    if area == 0.0:
        return [], []
    if area < 0.0:
        x1, u1, v1, x2, u2, v2 = x2, u2, v2, x1, u1, v1
        area = -area
    ks, xs = [], []
    for k in range(max(0, int(np.ceil(min(v0, v1, v2)))), min(nz - 1, int(np.floor(max(v0, v1, v2)))) + 1):
        pu, pv = float(j), float(k)
        w = (edge(u1, v1, u2, v2, pu, pv), edge(u2, v2, u0, v0, pu, pv), edge(u0, v0, u1, v1, pu, pv))
        ends = ((u1, v1, u2, v2), (u2, v2, u0, v0), (u0, v0, u1, v1))
        if min(w) < 0.0 or any(wi == 0.0 and not owns(*e) for wi, e in zip(w, ends, strict=True)):
            continue
        ks.append(k)
        xs.append((w[0] * x0 + w[1] * x1 + w[2] * x2) / area)
    return ks, xs


def test_row_rasterizer_keeps_exactly_the_columns_of_a_full_scan() -> None:
    # The kernels narrow each row to the columns inside all three edges before testing them; that narrowing must
    # keep exactly the columns a test of the whole bounding box keeps, for slivers, ties and tiny triangles too.
    from fab.voxelize_kernels import _row_crossings

    rng = np.random.default_rng(3)
    nz = 24
    corners = rng.uniform(-2.0, 26.0, size=(150, 3, 3))
    on_lattice = rng.integers(0, 24, size=(150, 3, 3)).astype(np.float64)  # vertices and edges on centres
    base = rng.uniform(0.0, 24.0, size=(150, 1, 3))
    slivers = base + np.array([0.0, 1.0, 1.0 + 1e-13])[None, :, None] * rng.uniform(-20, 20, size=(150, 1, 3))
    slivers[:, 2] += rng.normal(scale=1e-12, size=(150, 3))  # nearly collinear: angles of ~1e-13 rad
    tiny = base + rng.uniform(-0.3, 0.3, size=(150, 3, 3))
    tri = np.ascontiguousarray(np.concatenate([corners, on_lattice, slivers, tiny]))
    ks, xs = np.empty(nz, dtype=np.int64), np.empty(nz, dtype=np.float64)
    rows = 0
    for t in range(len(tri)):
        for j in range(int(np.ceil(tri[t, :, 1].min())), int(np.floor(tri[t, :, 1].max())) + 1):
            n, _ = _row_crossings(tri, t, float(j), nz, ks, xs)
            want_k, want_x = _full_scan_crossings(tri[t], j, nz)
            assert ks[:n].tolist() == want_k and xs[:n].tolist() == want_x, (t, j)
            rows += n > 0
    assert rows > 1000  # the comparison saw plenty of covered rows


def test_lattice_occupancy_is_exact_on_any_lattice_and_agrees_with_pyvista() -> None:
    # An exact inside test of the same points must agree with any other exact one: on the voxelizer's own centred
    # lattice, on a shifted lattice with a different spacing per axis (pyvista's kind of grid), cell by cell.
    import pyvista as pv

    from fab.voxels import lattice_occupancy

    torus = trimesh.creation.torus(major_radius=4.0, minor_radius=1.5, major_sections=48, minor_sections=24)
    grid = voxelize(torus, pitch=0.5, match_volume=False)
    assert np.array_equal(lattice_occupancy(torus, grid.origin, grid.pitch, grid.shape), grid.occupancy)
    origin, spacing, shape = np.array([-6.1, -5.93, -1.77]), np.array([0.41, 0.37, 0.29]), (31, 33, 13)
    occ = lattice_occupancy(torus, origin, spacing, shape)
    points = origin + np.indices(shape).reshape(3, -1).T * spacing
    assert occ.any() and np.array_equal(occ.ravel(), winding_reference(torus, points))
    poly = pv.PolyData(torus.vertices, np.column_stack([np.full(len(torus.faces), 3), torus.faces]).ravel())
    ref = pv.ImageData(dimensions=shape, spacing=spacing, origin=origin)
    mask = poly.voxelize_binary_mask(reference_volume=ref).point_data["mask"]
    assert np.array_equal(mask.reshape(shape[::-1]).transpose(2, 1, 0).astype(bool), occ)
    with pytest.raises(FabError, match="spacing"):
        lattice_occupancy(torus, origin, np.array([0.4, 0.0, 0.4]), shape)


@pytest.mark.parametrize("plane", [(1, 1), (1, 3), (2, 4), (3, 3), (2, 5), (1, 11), (3, 4), (1, 13), (2, 7), (3, 5), (4, 6)])
def test_xor_prefix_is_the_running_xor_along_x_and_counts_it(plane: tuple[int, int]) -> None:
    # The parity scan runs a word at a time over the flat grid; planes of under a word, whole words and every
    # misalignment of a plane against the words (ny * nz mod 8) must give numpy's running XOR.
    from fab.voxelize_kernels import xor_prefix

    shape = (7, *plane)
    bits = (np.random.default_rng(sum(plane)).random(shape) < 0.3).astype(np.uint8)
    want = np.bitwise_xor.accumulate(bits, axis=0)
    got = bits.copy()
    assert xor_prefix(got) == np.count_nonzero(want) and np.array_equal(got, want)
