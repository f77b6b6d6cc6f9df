"""Voxelizer: exactness on analytic shapes, the tie rule, non-watertight fallback, sizing, limits, file format."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import trimesh

from fab.errors import FabError
from fab.voxels import VoxelGrid, estimate_grid, voxelize


def brute_force_inside(mesh: trimesh.Trimesh, grid: VoxelGrid) -> np.ndarray:
    """Reference occupancy: trimesh's ray-based containment of every voxel centre."""
    i, j, k = np.indices(grid.shape).reshape(3, -1)
    centres = grid.origin + np.column_stack([i, j, k]) * grid.pitch
    return mesh.contains(centres).reshape(grid.shape)


def test_box_is_exact_and_centred() -> None:
    grid = voxelize(trimesh.creation.box(extents=(20.0, 10.0, 5.0)), pitch=0.5)
    assert grid.count == 40 * 20 * 10
    assert grid.shape == (42, 22, 12)  # one empty layer of padding around the part
    assert not grid.occupancy[0].any() and not grid.occupancy[-1].any()


def test_centres_exactly_on_faces_edges_and_vertices_are_counted_once() -> None:
    # Faces at integer multiples of the pitch put voxel centres exactly on faces, edges and vertices
    # of the triangulation: the half-open tie rule must still give a consistent, hole-free result.
    mesh = trimesh.creation.box(extents=(4.0, 4.0, 4.0))
    mesh.apply_translation([0.25, 0.25, 0.25])
    grid = voxelize(mesh, pitch=0.5)
    filled = grid.indices()
    counts = [len(np.unique(filled[:, a])) for a in range(3)]
    assert grid.count == np.prod(counts)  # a solid block, no stray voxel or hole
    assert counts[0] in (8, 9)


def test_sphere_matches_brute_force_and_converges() -> None:
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=5.0)
    grid = voxelize(sphere, pitch=0.4)
    assert np.array_equal(grid.occupancy, brute_force_inside(sphere, grid))
    errors = [abs(voxelize(sphere, pitch=p).volume_mm3 / sphere.volume - 1) for p in (1.0, 0.5, 0.25)]
    assert errors[2] < 0.005 and errors[2] < errors[0]


def test_torus_hole_stays_empty() -> None:
    torus = trimesh.creation.torus(major_radius=6.0, minor_radius=2.0, major_sections=48, minor_sections=24)
    grid = voxelize(torus, pitch=0.5)
    assert np.array_equal(grid.occupancy, brute_force_inside(torus, grid))
    centre = np.round((np.zeros(3) - grid.origin) / grid.pitch).astype(int)
    assert not grid.occupancy[tuple(centre)]


def test_open_mesh_warns_and_fallback_is_close() -> None:
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=5.0)
    exact = voxelize(sphere, pitch=0.25)
    rng = np.random.default_rng(1)
    keep = np.ones(len(sphere.faces), dtype=bool)
    keep[rng.choice(len(sphere.faces), size=len(sphere.faces) // 200, replace=False)] = False
    holed = trimesh.Trimesh(sphere.vertices, sphere.faces[keep], process=False)
    with pytest.warns(UserWarning, match=r"not watertight \(\d+ of \d+ faces are open\)"):
        grid = voxelize(holed, pitch=0.25)
    assert grid.meta["method"] == "robust" and grid.meta["open_faces"] > 0
    wrong = np.count_nonzero(grid.occupancy != exact.occupancy)
    assert wrong <= 0.001 * exact.count


def test_robust_equals_exact_on_watertight_mesh() -> None:
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=5.0)
    assert np.array_equal(
        voxelize(sphere, pitch=0.5, robust=True).occupancy, voxelize(sphere, pitch=0.5).occupancy
    )


def test_count_sizing_hits_the_target() -> None:
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=5.0)
    for target in (1_000, 20_000):
        grid = voxelize(sphere, count=target)
        assert abs(grid.count - target) <= 0.03 * target


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pitch": 0.0}, "pitch must be a positive"),
        ({"pitch": -1.0}, "pitch must be a positive"),
        ({"pitch": float("nan")}, "pitch must be a positive"),
        ({"pitch": 1e-4}, "over the memory limit"),
        ({"count": 0}, "at least 1"),
        ({"count": 10**12}, "over the memory limit"),
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
