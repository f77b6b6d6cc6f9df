"""Parts whose numbers are not millimetres: a warning that names --units, and --units on every command that
imports a part (convert, simulate, export)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trimesh
from typer.testing import CliRunner

from fab.cli import app
from fab.part import load_part

runner = CliRunner()


@pytest.fixture
def metre_stl(tmp_path: Path) -> Path:
    """A 40 x 10 x 10 mm bar written in metres (0.04 across), as CAD tools exporting SI do."""
    path = tmp_path / "bar_m.stl"
    trimesh.creation.box(extents=(0.04, 0.01, 0.01)).export(path)
    return path


def test_a_part_in_metres_read_as_mm_warns_and_suggests_units(metre_stl):
    with pytest.warns(UserWarning, match=r"only 0\.04 mm across read in mm: .*--units m \(40 mm\)"):
        part = load_part(metre_stl)
    assert part.bbox_mm[1, 0] - part.bbox_mm[0, 0] == pytest.approx(0.04)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_part(metre_stl, units="m").bbox_mm[1, 0] == pytest.approx(20.0)


def test_convert_warns_on_stderr(metre_stl, tmp_path):
    result = runner.invoke(app, ["convert", str(metre_stl), "--count", "50", "-o", str(tmp_path / "g.npz")])
    assert result.exit_code == 0
    assert "warning:" in result.stderr and "--units m" in result.stderr


def test_simulate_and_export_take_units(metre_stl, tmp_path):
    result = runner.invoke(
        app, ["simulate", str(metre_stl), "--units", "m", "--pitch", "2.5", "--model", "pmb", "--fix", "<X",
              "--load", ">X:force=0,0,-10", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["voxels"]["count"] == 16 * 4 * 4 and "warning" not in result.stderr
    result = runner.invoke(app, ["export", str(metre_stl), "--units", "m", "--stl", str(tmp_path / "b.stl"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["outputs"]["stl"]["volume_mm3"] == pytest.approx(4000.0)
    bad = runner.invoke(app, ["simulate", str(metre_stl), "--units", "furlong", "--fix", "<X", "--load", ">X:force=1,0,0"])
    assert bad.exit_code == 2 and "--units must be one of" in bad.output
