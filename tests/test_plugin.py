"""The CadQuery plugin methods (cad_plugins.workplane): voxelize, export_*, stress_test on cq.Workplane."""

from __future__ import annotations

import math
import sys
import types
from pathlib import Path

import cadquery as cq
import numpy as np
import pytest
import trimesh
from gcodeparser import parse_gcode_lines
from pygcode import Line

import cad_plugins
from exporters.assembly import check_assembly, read_assembly
from exporters.errors import ExportError
from fab.errors import FabError
from fab.part import load_part
from fab.voxels import VoxelGrid, voxelize

METHODS = ("voxelize", "stress_test", "morph", "export_stl", "export_gcode", "export_cnc", "export_assembly")


@pytest.fixture
def plate() -> cq.Workplane:
    """20 x 10 x 4 mm plate on z = 0..4 with a 3 mm through hole at the centre."""
    return cq.Workplane("XY").box(20, 10, 4, centered=(True, True, False)).faces(">Z").workplane().hole(3)


PLATE_VOLUME = 20 * 10 * 4 - math.pi * 1.5**2 * 4


def test_methods_are_attached_on_import() -> None:
    assert cad_plugins.part_shape is not None
    for name in METHODS:
        assert callable(getattr(cq.Workplane, name)), name
    assert callable(cq.Workplane.spur_gear)  # the gear plugin is still there


def test_part_shape_takes_the_stack_or_the_chain(plate: cq.Workplane) -> None:
    assert cad_plugins.part_shape(plate).Volume() == pytest.approx(PLATE_VOLUME, rel=1e-9)
    # A face selection has no solid on its stack: the solid in the chain stands for the part.
    assert cad_plugins.part_shape(plate.faces(">Z")).Volume() == pytest.approx(PLATE_VOLUME, rel=1e-9)
    two = cq.Workplane("XY").pushPoints([(0, 0), (30, 0)]).box(5, 5, 5, combine=False)
    assert cad_plugins.part_shape(two).Volume() == pytest.approx(250.0, rel=1e-9)
    with pytest.raises(FabError, match="holds no solid"):
        cad_plugins.part_shape(cq.Workplane("XY").rect(5, 5))


def test_export_stl_is_watertight_and_chainable(plate: cq.Workplane, tmp_path: Path) -> None:
    summary: dict = {}
    out = plate.export_stl(tmp_path / "plate.stl", summary=summary).export_stl(tmp_path / "plate.3mf")
    assert out is plate
    mesh = trimesh.load(tmp_path / "plate.stl")
    assert mesh.is_watertight and mesh.volume == pytest.approx(PLATE_VOLUME, rel=2e-3)
    assert summary["stl"]["watertight"] and summary["stl"]["triangles"] == len(mesh.faces)
    three = trimesh.load(tmp_path / "plate.3mf", force="mesh")
    assert three.volume == pytest.approx(PLATE_VOLUME, rel=2e-3)
    # A finer tolerance gives more triangles around the hole (at 0.01 mm the angular limit decides).
    fine: dict = {}
    plate.export_stl(tmp_path / "fine.stl", tolerance=0.001, summary=fine)
    assert fine["stl"]["triangles"] > summary["stl"]["triangles"]


def test_export_gcode_parses_and_takes_printer_options(plate: cq.Workplane, tmp_path: Path) -> None:
    summary: dict = {}
    path = tmp_path / "plate.gcode"
    assert plate.export_gcode(path, printer="ender3", layer_height=0.2, infill=0.3, summary=summary) is plate
    lines = parse_gcode_lines(path.read_text())
    z, printed_z = 0.0, set()  # heights at which filament is laid down
    for g in lines:
        if g.command in (("G", 0), ("G", 1)):
            z = g.params.get("Z", z)
            if g.command == ("G", 1) and g.params.get("E", 0.0) > 0 and ("X" in g.params or "Y" in g.params):
                printed_z.add(round(z, 3))
    assert summary["gcode"]["layers"] == 20  # the start G-code's purge line may add its own height
    assert {round(0.2 * k, 3) for k in range(1, 21)} <= printed_z
    assert max(printed_z) == pytest.approx(4.0, abs=0.01) and summary["gcode"]["print_time_s"] > 0
    finer: dict = {}
    plate.export_gcode(tmp_path / "fine.gcode", printer="ender3", layer_height=0.1, infill=0.3, summary=finer)
    assert finer["gcode"]["layers"] == 1 + 38  # the first layer keeps the printer's 0.2 mm
    bad = tmp_path / "bad.gcode"
    with pytest.raises(ExportError, match="unknown slicer setting.*infil"):
        plate.export_gcode(bad, infil=0.3)
    with pytest.raises(ExportError, match="unknown printer"):
        plate.export_gcode(bad, printer="no-such-printer")
    assert not bad.exists()


def test_export_cnc_cuts_the_outline(plate: cq.Workplane, tmp_path: Path) -> None:
    summary: dict = {}
    out = plate.export_cnc(
        tmp_path / "plate.nc",
        tool="laser-co2-3mm-plywood",
        dxf=tmp_path / "plate.dxf",
        svg=tmp_path / "plate.svg",
        summary=summary,
    )
    assert out is plate
    text = (tmp_path / "plate.nc").read_text()
    for line in text.splitlines():
        Line(line)  # every line parses
    assert summary["cnc"]["holes"] == 1 and summary["cnc"]["outsides"] == 1
    # The laser's kerf is small: the cut is about the outline, 60 mm around plus the 3 mm hole.
    assert summary["cnc"]["cut_length_mm"] == pytest.approx(60 + 3 * math.pi, rel=0.03)
    assert summary["dxf"]["thickness_mm"] == pytest.approx(4.0)
    assert (tmp_path / "plate.dxf").stat().st_size > 0 and "<svg" in (tmp_path / "plate.svg").read_text()
    with pytest.raises(ExportError, match="hole"):  # a 6 mm end mill does not fit the 3 mm hole
        plate.export_cnc(tmp_path / "no.nc", tool="endmill-6-wood")
    assert not (tmp_path / "no.nc").exists()


def test_export_assembly_plan_is_buildable(plate: cq.Workplane, tmp_path: Path) -> None:
    summary: dict = {}
    path = tmp_path / "plate.json"
    assert plate.export_assembly(path, pitch=1.0, summary=summary) is plate
    plan = read_assembly(path)
    assert check_assembly(plan) == []
    grid = plate.voxelize(1.0)
    assert summary["assembly"]["placements"] == grid.count and summary["assembly"]["layers"] == 4
    with pytest.raises(FabError, match="give exactly one of --pitch"):
        plate.export_assembly(tmp_path / "none.json")
    assert not (tmp_path / "none.json").exists()


def test_voxelize_matches_the_pipeline(plate: cq.Workplane) -> None:
    grid = plate.voxelize(0.5)
    assert isinstance(grid, VoxelGrid)
    reference = voxelize(load_part(plate, tolerance_mm=0.01).mesh, pitch=0.5)
    assert np.array_equal(grid.occupancy, reference.occupancy)
    assert grid.count * 0.5**3 == pytest.approx(PLATE_VOLUME, rel=0.01)
    about = plate.voxelize(count=2000)
    assert abs(about.count - 2000) <= 0.05 * 2000
    with pytest.raises(FabError, match="exactly one of pitch"):
        plate.voxelize()
    with pytest.raises(FabError, match="pitch"):
        plate.voxelize(-1.0)


def test_stress_loads_translate_to_load_flags() -> None:
    assert cad_plugins.stress_loads(">X", force=(0, 0, -200)) == (">X:force=0.0,0.0,-200.0",)
    assert cad_plugins.stress_loads([">X:2", "<Z"], torque=[1, 0, 0]) == (
        ">X:2:torque=1.0,0.0,0.0",
        "<Z:torque=1.0,0.0,0.0",
    )
    both = cad_plugins.stress_loads(">Y", force=(1, 0, 0), displacement=(0, 0.1, 0))
    assert both == (">Y:force=1.0,0.0,0.0", ">Y:displacement=0.0,0.1,0.0")
    assert cad_plugins.stress_loads(">X: force = 0,0,-5") == (">X: force = 0,0,-5",)  # flag syntax as is
    with pytest.raises(FabError, match="carries nothing: give force"):
        cad_plugins.stress_loads(">X")
    with pytest.raises(FabError, match="force must be 3 numbers"):
        cad_plugins.stress_loads(">X", force=(0, -200))
    with pytest.raises(FabError, match="load must be a region"):
        cad_plugins.stress_loads([])


def test_stress_test_passes_the_part_and_flags_to_fab_stress(
    plate: cq.Workplane, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The method is a thin translation: check what it hands to fab.stress.stress_test."""
    calls = []

    def fake_stress_test(part, **kwargs):  # noqa: ANN001, ANN003, ANN202
        calls.append((part, kwargs))
        return "report"

    monkeypatch.setitem(sys.modules, "fab.stress", types.SimpleNamespace(stress_test=fake_stress_test))
    out = plate.faces(">Z").stress_test(
        material={"name": "PLA"}, pitch=1.0, fix="<X", load=">X", force=(0, 0, -50), steps=10
    )
    assert out == "report"
    part, kwargs = calls[0]
    assert isinstance(part, cq.Shape) and part.Volume() == pytest.approx(PLATE_VOLUME, rel=1e-9)
    assert kwargs == {
        "material": {"name": "PLA"},
        "pitch": 1.0,
        "fix": ("<X",),
        "load": (">X:force=0.0,0.0,-50.0",),
        "test": "static",
        "steps": 10,
    }
    plate.stress_test("steel", 0.5, ["<X", "<Y"], ">Z", test="failure", displacement=(0, 0, -0.2))
    assert calls[1][1]["fix"] == ("<X", "<Y") and calls[1][1]["test"] == "failure"
    assert calls[1][1]["load"] == (">Z:displacement=0.0,0.0,-0.2",)
    with pytest.raises(FabError, match="fix must be a region"):
        plate.stress_test(fix=[], force=(0, 0, -1))


def test_morph_builds_the_grown_gear_on_the_workplane(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The method is the search plus gear_from_profile: fake the search's answer with the standard rack
    cutter (20 degrees, tip radius 0.38 m, dedendum 1.25 m, addendum 1 m), which cuts an involute gear."""
    import fab.morph.run
    from fab.morph.gear_cutter import CutterProgram, genome_of

    jobs = []
    standard = genome_of(CutterProgram(math.tan(math.radians(20)), 0.0, 0.0, 0.38, 1.25, 1.0, 0.0))

    def fake_run_morph(job, **kwargs):  # noqa: ANN001, ANN003, ANN202
        jobs.append((job, kwargs))
        return {"best": {"genome": standard.tolist(), "score": 1.0}}

    monkeypatch.setattr(fab.morph.run, "run_morph", fake_run_morph)
    monkeypatch.chdir(tmp_path)
    summary: dict = {}
    grown = cq.Workplane("XY").morph(
        "gear", module=2.0, teeth=16, face_width=5.0, bore=6.0, material="PLA", generations=2, summary=summary
    )
    job, kwargs = jobs[0]
    assert job.problem.teeth == 16 and job.problem.face_width == 5.0 and job.bore == 6.0
    assert job.settings.generations == 2 and job.output == tmp_path / "out" / "morph"
    assert kwargs == {"resume": False, "scheduler": None, "quiet": True}
    assert summary["best"]["score"] == 1.0
    involute = cq.Workplane("XY").spur_gear(2.0, 16, 5.0, bore=6.0).val()
    assert grown.val().Volume() == pytest.approx(involute.Volume(), rel=0.01)
    box = grown.val().BoundingBox()
    assert (box.zmin, box.zmax) == pytest.approx((0.0, 5.0)) and box.xmax == pytest.approx(18.0, abs=0.05)
    # Placed like spur_gear: one gear per stack point, unioned with the solid in the chain.
    two = cq.Workplane("XY").pushPoints([(0, 0), (50, 0)]).morph("gear", module=2.0, teeth=16, face_width=5.0)
    assert len(two.val().Solids()) == 2
    with pytest.raises(FabError, match=r"Workplane.morph: \[morph\] 'teeth' must be a whole number"):
        cq.Workplane("XY").morph("gear", teeth=3.5)


def test_stress_test_runs_the_particle_engine() -> None:
    """A real run: a 20 x 4 x 4 mm PLA bar pulled by 100 N along its axis."""
    bar = cq.Workplane("XY").box(20, 4, 4, centered=(False, True, False))
    report = bar.stress_test("PLA", pitch=1.0, fix="<X", load=">X", force=(100, 0, 0))
    result = report.as_dict()["result"]
    for name in (
        "max_displacement_mm",
        "max_von_mises_pa",
        "reaction_force_n",
        "broken_bond_fraction",
        "fragments",
        "failure_load_n",
        "safety_factor",
    ):
        assert getattr(report, name) == result[name], name  # named like fab simulate --json's result
    assert report.reaction_force_n[0] == pytest.approx(-100.0, rel=0.02)  # the support balances the pull
    # Stretch F L / (E A) between the held and the pulled layers (about 18 mm apart), E = 3.5 GPa.
    assert report.max_displacement_mm == pytest.approx(100 * 18 / (3500 * 16), rel=0.3)
    assert report.fragments == 1 and report.broken_bond_fraction == 0
    assert "static test of 320 particles" in report.summary()
