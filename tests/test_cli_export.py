"""``fab export`` and ``fab check-assembly`` through the console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import trimesh

from fab.voxels import VoxelGrid, voxelize


def run_fab(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fab.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_export_part_to_mesh_and_voxel_files(box_stl: Path, tmp_path: Path) -> None:
    result = run_fab(
        "export",
        str(box_stl),
        "--stl",
        "out/box.stl",
        "--assembly",
        "out/box.json",
        "--vox",
        "out/box.vox",
        "--binvox",
        "out/box.binvox",
        "--vtk",
        "out/box.vti",
        "--pitch",
        "1",
        "--json",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert set(summary["outputs"]) == {"stl", "assembly", "vox", "binvox", "vtk"}
    stl = trimesh.load(tmp_path / "out/box.stl")
    assert stl.is_watertight and abs(stl.volume - 1000.0) < 1e-6  # the part's own mesh, unchanged
    plan = json.loads((tmp_path / "out/box.json").read_text())
    assert len(plan["placements"]) == 20 * 10 * 5
    ok = run_fab("check-assembly", "out/box.json", cwd=tmp_path)
    assert ok.returncode == 0 and "buildable" in ok.stdout


def test_check_assembly_names_the_first_bad_placement(box_stl: Path, tmp_path: Path) -> None:
    assert (
        run_fab("export", str(box_stl), "--assembly", "plan.json", "--pitch", "1", cwd=tmp_path).returncode
        == 0
    )
    plan = json.loads((tmp_path / "plan.json").read_text())
    placements = plan["placements"]
    placements.reverse()  # top layer first: nothing supports it
    for index, placement in enumerate(placements):
        placement[0] = index  # rows are [index, i, j, k, type]
    (tmp_path / "bad.json").write_text(json.dumps(plan))
    result = run_fab("check-assembly", "bad.json", cwd=tmp_path)
    assert result.returncode == 1
    assert "placement 0" in one_error_line(result)


def test_export_from_saved_grid_makes_a_smooth_watertight_surface(tmp_path: Path) -> None:
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=5.0)
    grid_path = voxelize(sphere, pitch=0.5).save(tmp_path / "sphere.npz")
    result = run_fab("export", str(grid_path), "--stl", "sphere.stl", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    mesh = trimesh.load(tmp_path / "sphere.stl")
    grid = VoxelGrid.load(grid_path)
    assert mesh.is_watertight and abs(mesh.volume / grid.volume_mm3 - 1) < 0.02


def test_export_errors_are_one_line(box_stl: Path, tmp_path: Path) -> None:
    nothing = run_fab("export", str(box_stl), cwd=tmp_path)
    assert nothing.returncode == 2 and "nothing to export" in one_error_line(nothing)
    no_pitch = run_fab("export", str(box_stl), "--assembly", "a.json", cwd=tmp_path)
    assert no_pitch.returncode == 2 and "--pitch" in one_error_line(no_pitch)
    assert not (tmp_path / "a.json").exists()
    empty = VoxelGrid(np.zeros((3, 3, 3), dtype=bool), 1.0, (0, 0, 0)).save(tmp_path / "empty.npz")
    result = run_fab("export", str(empty), "--assembly", "e.json", cwd=tmp_path)
    assert result.returncode == 2 and "empty" in one_error_line(result).lower()
    missing = run_fab("check-assembly", "nope.json", cwd=tmp_path)
    assert missing.returncode == 2 and "not found" in one_error_line(missing)


def test_export_flat_part_to_cnc_dxf_svg(tmp_path: Path) -> None:
    plate = Path(__file__).resolve().parents[1] / "samples" / "plate_with_hole.step"
    result = run_fab(
        "export",
        str(plate),
        "--cnc",
        "plate.nc",
        "--dxf",
        "plate.dxf",
        "--svg",
        "plate.svg",
        "--tool",
        "endmill-3.175-wood",
        "--flavor",
        "linuxcnc",
        "--json",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    outputs = json.loads(result.stdout)["outputs"]
    assert set(outputs) == {"cnc", "dxf", "svg"}
    assert outputs["dxf"]["thickness_mm"] == 6.0
    gcode = (tmp_path / "plate.nc").read_text()
    assert "G1" in gcode and gcode.rstrip().endswith(("M2", "M30", "%"))
    assert (tmp_path / "plate.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
