"""Exporters are registered by name (exporters/__init__.py): every registered kind is exportable alone, by flag,
by suffix (-o) and from a job's [export] table; a toy exporter is one module plus one registration line; fab run
reports every file it wrote."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import ezdxf
import pytest
import trimesh
from typer.testing import CliRunner

import exporters
from exporters import EXPORTERS, Exporter, register_exporter
from fab.cli import app
from fab.export import export
from fab.job import load_job

runner = CliRunner()


@pytest.fixture
def plate_stl(tmp_path: Path) -> Path:
    path = tmp_path / "plate.stl"
    trimesh.creation.box(extents=(20.0, 10.0, 3.0)).export(path)
    return path


@pytest.mark.parametrize("kind", ["dxf", "svg"])
def test_an_outline_alone_is_something_to_export(plate_stl, tmp_path, kind):
    """`fab export PART --dxf a.dxf` (or --svg alone) used to fail "nothing to export"."""
    target = tmp_path / f"a.{kind}"
    result = runner.invoke(app, ["export", str(plate_stl), f"--{kind}", str(target), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["outputs"][kind]["thickness_mm"] == pytest.approx(3.0)
    assert target.stat().st_size > 0
    if kind == "dxf":
        assert len(ezdxf.readfile(target).modelspace().query("LWPOLYLINE")) == 1


def test_nothing_to_export_lists_every_registered_kind(plate_stl):
    result = runner.invoke(app, ["export", str(plate_stl)])
    assert result.exit_code == 2
    assert all(f"--{name}" in result.output for name in EXPORTERS)


def test_a_job_with_only_drawings_exports_them(plate_stl, tmp_path):
    job = tmp_path / "job.toml"
    job.write_text(
        f'[part]\nsource = "{plate_stl}"\n[voxels]\npitch = 1.0\n[material]\nname = "PLA"\n'
        '[export]\ndxf = "out/plate.dxf"\nsvg = "out/plate.svg"\n'
    )
    result = runner.invoke(app, ["run", str(job), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert set(summary["exports"]) == {"dxf", "svg"}
    assert (tmp_path / "out/plate.dxf").is_file() and (tmp_path / "out/plate.svg").is_file()


def test_fab_run_reports_every_format_beside_stl_and_3mf(plate_stl, tmp_path):
    """With STL and 3MF both asked for, the summary kept only the 3MF's figures."""
    job = tmp_path / "job.toml"
    job.write_text(
        f'[part]\nsource = "{plate_stl}"\n[voxels]\npitch = 1.0\n[material]\nname = "PLA"\n'
        '[export]\nstl = "p.stl"\nthreemf = "p.3mf"\nvox = "p.vox"\nnc = "p.nc"\n'
    )
    result = runner.invoke(app, ["run", str(job), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert set(summary["exports"]) == {"stl", "threemf", "vox", "cnc"}
    assert summary["exports"]["stl"]["triangles"] == summary["exports"]["threemf"]["triangles"] == 12
    assert summary["exports"]["vox"]["voxels"] == 600
    assert set(summary["outputs"]) == {"stl", "threemf", "vox", "cnc"}


def test_output_picks_the_exporter_by_suffix(plate_stl, tmp_path):
    result = runner.invoke(
        app, ["export", str(plate_stl), "-o", str(tmp_path / "p.vox"), "-o", str(tmp_path / "p.dxf"),
              "--pitch", "1", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout)["outputs"]) == {"vox", "dxf"}
    bad = runner.invoke(app, ["export", str(plate_stl), "-o", str(tmp_path / "p.xyz")])
    assert bad.exit_code == 2 and "no exporter writes .xyz" in bad.output


TOY = '''\
"""A toy exporter: the voxel centres as text, one "x y z" line each (mm)."""
import numpy as np


def export(grid, path):
    ijk = np.argwhere(grid.occupancy)
    xyz = grid.origin + ijk * grid.pitch
    np.savetxt(path, xyz, fmt="%.4f")
    return {"points": len(xyz)}
'''


@pytest.fixture
def toy_exporter(tmp_path, monkeypatch):
    """The toy module, written outside the repository, plus its one registration line."""
    (tmp_path / "toy_points.py").write_text(TOY)
    monkeypatch.syspath_prepend(str(tmp_path))
    register_exporter(Exporter("points", "grid", "toy_points", "Voxel centres as text.", (".xyz",)))
    yield
    exporters.EXPORTERS.pop("points")
    sys.modules.pop("toy_points", None)


def test_a_toy_exporter_is_one_module_and_one_line(toy_exporter, plate_stl, tmp_path):
    summary = export(plate_stl, points=tmp_path / "a.xyz", pitch=1.0, quiet=True)
    assert summary["outputs"]["points"]["points"] == 600
    assert len((tmp_path / "a.xyz").read_text().splitlines()) == 600
    result = runner.invoke(app, ["export", str(plate_stl), "-o", str(tmp_path / "b.xyz"), "--pitch", "1"])
    assert result.exit_code == 0, result.output
    job = tmp_path / "job.toml"
    job.write_text(
        f'[part]\nsource = "{plate_stl}"\n[voxels]\npitch = 1.0\n[material]\nname = "PLA"\n'
        '[export]\npoints = "c.xyz"\n'
    )
    assert load_job(job).export.files() == {"points": tmp_path / "c.xyz"}
    result = runner.invoke(app, ["run", str(job), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["exports"]["points"]["points"] == 600
