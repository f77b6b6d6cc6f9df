"""STL / 3MF: smooth watertight surfaces of voxel grids, mesh validation, atomic writes."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import trimesh

from exporters.errors import ExportError
from exporters.stl import export_stl_from_voxels, mesh_from_points, mesh_from_voxels, write_3mf, write_stl


def _sphere(n: int = 24, r: float = 8.0) -> np.ndarray:
    x, y, z = np.mgrid[:n, :n, :n] - (n - 1) / 2
    return x**2 + y**2 + z**2 < r**2


def _bracket() -> np.ndarray:
    occ = np.zeros((16, 10, 12), dtype=bool)
    occ[:, :, :3] = True
    occ[:3, :, :] = True
    occ[6:10, 3:7, :] = False  # a through hole in the base
    return occ


@pytest.mark.parametrize("smooth", [True, False])
@pytest.mark.parametrize("make", [_sphere, _bracket])
def test_voxel_surface_round_trips_watertight_with_voxel_volume(tmp_path, make, smooth):
    occ = make()
    pitch, origin = 0.4, np.array([10.0, -5.0, 2.0])
    path = tmp_path / "part.stl"
    write_stl(mesh_from_voxels(occ, pitch, origin, smooth=smooth), path)
    back = trimesh.load(path)
    assert back.is_watertight and back.is_winding_consistent
    assert back.volume > 0  # outward normals
    assert back.volume == pytest.approx(occ.sum() * pitch**3, rel=0.02)
    lo = origin + np.argwhere(occ).min(axis=0) * pitch - pitch / 2
    assert np.all(back.bounds[0] > lo - pitch) and np.all(back.bounds[0] < lo + pitch)


def test_decimate_keeps_it_closed():
    occ = _sphere()
    full = mesh_from_voxels(occ, 0.5, (0, 0, 0))
    small = mesh_from_voxels(occ, 0.5, (0, 0, 0), decimate=0.05)
    assert len(small.faces) < 0.8 * len(full.faces)
    assert small.is_watertight and small.volume == pytest.approx(occ.sum() * 0.125, rel=0.02)


def test_points_surface():
    pts = np.argwhere(_sphere(12, 5.0)) * 0.5 + 3.0
    mesh = mesh_from_points(pts, 0.5)
    assert mesh.is_watertight and mesh.volume == pytest.approx(len(pts) * 0.125, rel=0.02)
    # a deformed field (particles jittered off their sites by up to 0.3 spacing) still closes
    jitter = np.random.default_rng(0).uniform(-0.15, 0.15, pts.shape)
    bent = mesh_from_points(pts + jitter, 0.5)
    assert bent.is_watertight and bent.volume == pytest.approx(len(pts) * 0.125, rel=0.02)
    with pytest.raises(ExportError, match="points"):
        mesh_from_points(np.zeros((0, 3)), 0.5)


def test_3mf_package(tmp_path):
    path = tmp_path / "box.3mf"
    write_3mf(trimesh.creation.box(extents=(20, 10, 5)), path)
    with zipfile.ZipFile(path) as zf:
        model = zf.read("3D/3dmodel.model").decode()
    assert 'unit="millimeter"' in model and model.count("<triangle ") == 12


def test_mesh_repair_and_validation(tmp_path):
    box = trimesh.creation.box(extents=(2, 2, 2))
    # an unmerged tessellation (one vertex triple per face) with inverted normals still writes a closed mesh
    soup = trimesh.Trimesh(
        box.vertices[box.faces[:, ::-1]].reshape(-1, 3), np.arange(36).reshape(-1, 3), process=False
    )
    out = write_stl(soup, tmp_path / "soup.stl")
    assert out.is_watertight and out.volume == pytest.approx(8.0)
    open_mesh = trimesh.Trimesh(box.vertices, box.faces[:-1])
    with pytest.raises(ExportError, match="not watertight"):
        write_stl(open_mesh, tmp_path / "open.stl")
    assert not (tmp_path / "open.stl").exists()
    write_stl(open_mesh, tmp_path / "open.stl", allow_open=True)
    bad = box.copy()
    bad.vertices[0] = np.nan
    with pytest.raises(ExportError, match="NaN"):
        write_stl(bad, tmp_path / "nan.stl")
    with pytest.raises(ExportError, match="empty"):
        mesh_from_voxels(np.zeros((3, 3, 3), dtype=bool), 1.0, (0, 0, 0))
    with pytest.raises(ExportError, match="pitch"):
        mesh_from_voxels(np.ones((3, 3, 3), dtype=bool), 0.0, (0, 0, 0))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_one_call_export_picks_format_by_suffix(tmp_path):
    occ = _bracket()
    stl = export_stl_from_voxels(occ, 0.5, (0, 0, 0), tmp_path / "b.stl")
    assert trimesh.load(tmp_path / "b.stl").volume == pytest.approx(stl.volume, rel=1e-5)
    export_stl_from_voxels(occ, 0.5, (0, 0, 0), tmp_path / "b.3mf", decimate=0.02)
    assert zipfile.is_zipfile(tmp_path / "b.3mf")
