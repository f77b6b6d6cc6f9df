"""Printing follows the material (issue 18): the G-code's temperatures and fan come from what the part is made
of (``--material``, the job's ``[material]``, the plugin's ``material=``), a filament TOML overrides them, and
the printer profile holds only the machine."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import trimesh
from typer.testing import CliRunner

from exporters.errors import ExportError
from exporters.printers import BUILTIN_DIR, load_printer, profile_from_dict
from fab.cli import app
from fab.errors import FabError
from fab.export import export
from fab.materials import PRINTABLE, print_settings


def temperatures(gcode: Path) -> dict[str, list[int]]:
    text = gcode.read_text()
    return {code: [int(float(v)) for v in re.findall(rf"^{code} S([\d.]+)", text, re.M)] for code in ("M104", "M109", "M140", "M190", "M106")}


@pytest.fixture
def box(tmp_path: Path) -> Path:
    path = tmp_path / "box.stl"
    trimesh.creation.box(extents=(10.0, 10.0, 2.0)).export(path)
    return path


def test_a_petg_part_carries_petg_temperatures(box: Path, tmp_path: Path) -> None:
    summary = export(box, gcode=tmp_path / "petg.gcode", material="PETG", quiet=True)
    t = temperatures(tmp_path / "petg.gcode")
    assert t["M109"][0] == 230 and t["M190"][0] == 85  # first layer, waited for
    assert 240 in t["M104"] and 90 in t["M140"]  # from layer 2
    assert t["M106"] == [round(2.55 * 50)]
    assert "; filament = PETG" in (tmp_path / "petg.gcode").read_text()
    assert summary["outputs"]["gcode"]["filament"] == "PETG"
    pla = export(box, gcode=tmp_path / "pla.gcode", quiet=True)  # no material: PLA, said in the file
    assert pla["outputs"]["gcode"]["filament"] == "PLA" and 215 in temperatures(tmp_path / "pla.gcode")["M104"]
    # the filament's density weighs the spool
    ratio = summary["outputs"]["gcode"]["filament_g"] / pla["outputs"]["gcode"]["filament_g"]
    assert ratio == pytest.approx(1270 / 1240, rel=1e-6)


def test_every_printable_material_has_its_settings() -> None:
    assert {"PLA", "PETG", "ABS", "PA12"} <= set(PRINTABLE)
    for name in PRINTABLE:
        settings = print_settings(name)
        assert 180 <= settings["nozzle_temp"] <= 300 and settings["source"]
    with pytest.raises(FabError, match="not an FDM filament.*--filament"):
        print_settings("aluminium")


def test_a_filament_toml_overrides_the_material(box: Path, tmp_path: Path) -> None:
    spool = tmp_path / "spool.toml"
    spool.write_text('name = "Brand X PETG"\nnozzle_temp = 245\nbed_temp = 80\nfan_percent = 30\ndensity = 1.27\n')
    result = CliRunner().invoke(
        app, ["export", str(box), "--gcode", str(tmp_path / "x.gcode"), "--material", "PETG", "--filament", str(spool)]
    )
    assert result.exit_code == 0, result.output
    t = temperatures(tmp_path / "x.gcode")
    assert t["M109"][0] == 245 and t["M190"][0] == 80 and t["M106"] == [round(2.55 * 30)]
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "hot"\nnozzle_temp = 2450\nbed_temp = 80\nfan_percent = 30\ndensity = 1.27\n')
    result = CliRunner().invoke(app, ["export", str(box), "--gcode", str(tmp_path / "y.gcode"), "--filament", str(bad)])
    assert result.exit_code == 2 and "nozzle_temp" in result.output and not (tmp_path / "y.gcode").exists()
    result = CliRunner().invoke(app, ["export", str(box), "--gcode", str(tmp_path / "z.gcode"), "--material", "glass"])
    assert result.exit_code == 2 and "not an FDM filament" in result.output


def test_the_printer_profile_holds_only_the_machine() -> None:
    for path in BUILTIN_DIR.glob("*.toml"):
        assert set(tomllib.loads(path.read_text())["filament"]) == {"diameter"}, path
        assert load_printer(path.stem).filament == "PLA"  # until a material is given
    with pytest.raises(ExportError, match="belongs to the filament"):
        profile_from_dict({"machine": {"bed_x": 200, "bed_y": 200, "max_z": 200}, "filament": {"nozzle_temp": 240}})


def test_a_job_prints_in_its_material(box: Path, tmp_path: Path) -> None:
    job = tmp_path / "job.toml"
    job.write_text(
        f'[part]\nsource = "{box.name}"\n[voxels]\npitch = 1\n[material]\nname = "ABS"\n[export]\ngcode = "abs.gcode"\n'
    )
    result = CliRunner().invoke(app, ["run", str(job)])
    assert result.exit_code == 0, result.output
    t = temperatures(tmp_path / "abs.gcode")
    assert t["M109"][0] == 255 and t["M190"][0] == 100 and t["M106"] == []  # ABS: cooling off
