"""``fab convert`` end to end through the console script: JSON summary, files, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fab.voxels import VoxelGrid


def run_fab(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fab.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_convert_json_summary_and_saved_grid(box_stl: Path, tmp_path: Path) -> None:
    out = tmp_path / "box.npz"
    result = run_fab("convert", str(box_stl), "--pitch", "0.5", "-o", str(out), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)  # stdout holds exactly one JSON object
    assert summary["part"]["watertight"] is True
    assert summary["part"]["volume_mm3"] == pytest.approx(1000.0, rel=1e-9)
    assert summary["part"]["triangles"] == 12
    assert summary["voxels"]["pitch_mm"] == 0.5
    assert summary["voxels"]["count"] == 40 * 20 * 10
    assert summary["voxels"]["volume_mm3"] == pytest.approx(1000.0)
    assert set(summary["timing_s"]) >= {"import", "voxelize", "save", "total"}
    grid = VoxelGrid.load(out)
    assert grid.count == summary["voxels"]["count"]
    assert list(grid.shape) == summary["voxels"]["shape"]
    assert (grid.bbox_mm[0] < [-10.0, -5.0, -2.5]).all() and (grid.bbox_mm[1] > [10.0, 5.0, 2.5]).all()


def test_convert_human_summary(box_stl: Path, tmp_path: Path) -> None:
    result = run_fab("convert", str(box_stl), "--count", "1000", "-o", str(tmp_path / "b.npz"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "voxel volume" in result.stdout and "watertight" in result.stdout


@pytest.mark.parametrize(
    "case",
    [
        "unknown_extension",
        "raising_script",
        "no_result_script",
        "bad_step",
        "empty_mesh",
        "nan_mesh",
        "zero_volume",
    ],
)
def test_bad_files_get_one_line_error(case: str, bad_inputs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "never.npz"
    result = run_fab("convert", str(bad_inputs[case]), "--pitch", "0.5", "-o", str(out), cwd=tmp_path)
    assert result.returncode == 2, (case, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()
    assert not list(tmp_path.glob(".never*")), "a temporary file was left behind"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--pitch", "0"], "pitch"),
        (["--pitch", "-1"], "pitch"),
        (["--pitch", "0.0001"], "memory"),
        (["--count", "0"], "count"),
        (["--count", "100000000000"], "memory"),
        (["--pitch", "1", "--count", "10"], "--pitch"),
        (["--pitch", "1", "--units", "furlong"], "unit"),
    ],
)
def test_bad_sizes_get_one_line_error(args: list[str], needle: str, box_stl: Path, tmp_path: Path) -> None:
    out = tmp_path / "never.npz"
    result = run_fab("convert", str(box_stl), *args, "-o", str(out), cwd=tmp_path)
    assert result.returncode == 2, (args, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0].lower() + lines[0], result.stderr
    assert not out.exists()


def test_missing_file(tmp_path: Path) -> None:
    result = run_fab("convert", str(tmp_path / "nope.step"), "--pitch", "1", cwd=tmp_path)
    assert result.returncode == 2
    assert "not found" in result.stderr.lower() or "no such" in result.stderr.lower()
    assert "Traceback" not in result.stderr
