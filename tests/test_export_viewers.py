"""Viewer formats: MagicaVoxel .vox (tiled above 256), binvox (read back by trimesh), VTK vti/vtu/pvd."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import pyvista as pv
import trimesh

from exporters.binvox import write_binvox
from exporters.errors import ExportError
from exporters.vox import write_vox
from exporters.vtk import write_pvd, write_vti, write_vtu


def _read_vox(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Tiny .vox parser: the voxels of every model placed by its nTRN translation, as (ijk, colour)."""
    assert data[:4] == b"VOX " and struct.unpack("<i", data[4:8])[0] == 150
    pos = 8 + 12  # MAIN header
    sizes, models, translations = [], [], []

    def read_dict(buf, p):
        n = struct.unpack_from("<i", buf, p)[0]
        p += 4
        out = {}
        for _ in range(n):
            ln = struct.unpack_from("<i", buf, p)[0]
            key = buf[p + 4 : p + 4 + ln].decode()
            p += 4 + ln
            ln = struct.unpack_from("<i", buf, p)[0]
            out[key] = buf[p + 4 : p + 4 + ln].decode()
            p += 4 + ln
        return out, p

    while pos < len(data):
        tag = data[pos : pos + 4]
        n_content, n_children = struct.unpack_from("<ii", data, pos + 4)
        content = data[pos + 12 : pos + 12 + n_content]
        pos += 12 + n_content + n_children
        if tag == b"SIZE":
            sizes.append(struct.unpack("<iii", content))
        elif tag == b"XYZI":
            n = struct.unpack_from("<i", content)[0]
            models.append(np.frombuffer(content[4 : 4 + 4 * n], dtype=np.uint8).reshape(n, 4))
        elif tag == b"nTRN":
            _, p = read_dict(content, 4)
            p += 16
            frame, _ = read_dict(content, p)
            if "_t" in frame:
                translations.append([int(v) for v in frame["_t"].split()])
    assert len(sizes) == len(models) == len(translations)
    ijk, col = [], []
    for size, xyzi, t in zip(sizes, models, translations, strict=True):
        offset = np.array(t) - np.array(size) // 2
        ijk.append(xyzi[:, :3].astype(np.int64) + offset)
        col.append(xyzi[:, 3])
    return np.concatenate(ijk), np.concatenate(col)


@pytest.mark.parametrize("shape", [(5, 4, 3), (300, 3, 2)])
def test_vox_round_trip(tmp_path, shape):
    rng = np.random.default_rng(0)
    occ = rng.random(shape) < 0.4
    mids = rng.integers(0, 3, shape).astype(np.uint8)
    path = tmp_path / "part.vox"
    write_vox(occ, path, material_ids=mids)
    ijk, col = _read_vox(path.read_bytes())
    back = np.zeros(shape, dtype=bool)
    back[ijk[:, 0], ijk[:, 1], ijk[:, 2]] = True
    np.testing.assert_array_equal(back, occ)
    np.testing.assert_array_equal(col, mids[ijk[:, 0], ijk[:, 1], ijk[:, 2]] + 1)
    with pytest.raises(ExportError, match="empty"):
        write_vox(np.zeros((2, 2, 2), dtype=bool), tmp_path / "empty.vox")
    assert not (tmp_path / "empty.vox").exists()


def test_binvox_read_by_trimesh(tmp_path):
    rng = np.random.default_rng(1)
    occ = rng.random((30, 20, 40)) < 0.5  # non-cubic: padding to 40^3 makes empty runs longer than 255
    occ[:, :, 30:] = True
    path = tmp_path / "part.binvox"
    write_binvox(occ, 0.5, (1.0, 2.0, 3.0), path)
    with open(path, "rb") as fh:
        vg = trimesh.exchange.binvox.load_binvox(fh)
    dense = np.asarray(vg.matrix)
    np.testing.assert_array_equal(dense[:30, :20, :40], occ)
    assert dense.sum() == occ.sum()
    # binvox's own convention: centre of voxel i = translate + (i + 0.5) * scale / d; trimesh reads
    # translate as the first centre and scale / (d - 1) as spacing, so it sees the lower corner here.
    np.testing.assert_allclose(vg.transform[:3, 3], (0.75, 1.75, 2.75), atol=1e-9)
    np.testing.assert_allclose(np.diag(vg.transform)[:3], 0.5 * 40 / 39, rtol=1e-6)


def test_vti_round_trip(tmp_path):
    occ = np.zeros((4, 3, 2), dtype=bool)
    occ[1, 2, 1] = True
    damage = np.arange(24, dtype=np.float64).reshape(4, 3, 2)
    path = tmp_path / "grid.vti"
    write_vti(occ, 0.5, (1.0, 2.0, 3.0), path, cell_data={"damage": damage})
    image = pv.read(path)
    assert image.dimensions == (5, 4, 3)
    np.testing.assert_allclose(image.origin, (0.75, 1.75, 2.75))
    cell = image.find_closest_cell((1.0 + 0.5, 2.0 + 1.0, 3.0 + 0.5))
    assert image.cell_data["occupancy"][cell] == 1 and image.cell_data["occupancy"].sum() == 1
    assert image.cell_data["damage"][cell] == damage[1, 2, 1]
    with pytest.raises(ExportError, match="damage"):
        write_vti(occ, 0.5, (0, 0, 0), tmp_path / "x.vti", cell_data={"damage": damage[:2]})


def test_vtu_and_pvd_series(tmp_path):
    pts = np.random.default_rng(2).random((50, 3)) * 10
    entries = []
    for step in range(3):
        path = tmp_path / "frames" / f"step{step}.vtu"
        write_vtu(
            pts,
            path,
            {
                "displacement_mm": np.full((50, 3), step * 0.1),
                "damage": np.linspace(0, 1, 50),
                "von_mises_pa": np.ones(50) * 1e6,
                "fragment_id": np.arange(50, dtype=np.int32) % 4,
                "broken": np.arange(50) % 2 == 0,
            },
        )
        entries.append((step * 1e-6, path))
    pvd = tmp_path / "series.pvd"
    write_pvd(entries, pvd)
    root = ET.parse(pvd).getroot()
    files = [d.get("file") for d in root.iter("DataSet")]
    assert files == ["frames/step0.vtu", "frames/step1.vtu", "frames/step2.vtu"]
    reader = pv.get_reader(pvd)
    assert len(reader.time_values) == 3
    reader.set_active_time_value(reader.time_values[2])
    grid = reader.read()[0]
    assert grid.n_points == 50 and grid.n_cells == 50
    np.testing.assert_allclose(grid.point_data["displacement_mm"], 0.2)
    np.testing.assert_array_equal(grid.point_data["fragment_id"], np.arange(50) % 4)
    np.testing.assert_array_equal(grid.point_data["broken"], np.arange(50) % 2 == 0)
    with pytest.raises(ExportError, match="rows"):
        write_vtu(pts, tmp_path / "bad.vtu", {"damage": np.ones(3)})
    with pytest.raises(ExportError, match="NaN"):
        write_vtu(np.full((2, 3), np.nan), tmp_path / "nan.vtu")
    with pytest.raises(ExportError, match=".vtu"):
        write_vtu(pts, tmp_path / "bad.vtk")
