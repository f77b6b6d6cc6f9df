"""The sample parts: each imports watertight, matches its B-rep volume, takes parameters and runs as a script."""

from __future__ import annotations

import math
import runpy
import sys
from pathlib import Path

import cadquery as cq
import numpy as np
import pytest
import trimesh

from exporters.assembly import check_assembly, read_assembly
from fab.errors import FabError
from fab.part import file_sha256, load_part

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
CAD_SAMPLES = ["bracket.py", "spur_gear.py", "fillet_block.py", "plate_with_hole.step"]


@pytest.mark.parametrize("name", CAD_SAMPLES)
def test_cad_samples_are_watertight_and_match_brep_volume(name: str) -> None:
    part = load_part(SAMPLES / name)
    assert part.watertight and part.open_edges == 0
    assert part.brep_volume_mm3 is not None
    assert part.mesh.volume == pytest.approx(part.brep_volume_mm3, rel=0.005)
    assert part.source_sha256 == file_sha256(SAMPLES / name)
    assert len(part.mesh.split(only_watertight=False)) == 1  # one body


def test_bracket_volume_and_parameters() -> None:
    part = load_part(SAMPLES / "bracket.py")
    length, width, height, t, d, r, rc = 60.0, 30.0, 40.0, 5.0, 6.0, 4.0, 5.0
    corner = (1 - math.pi / 4) * rc**2 * t  # what rounding one free corner removes
    expected = (
        length * width * t + t * width * (height - t) + (1 - math.pi / 4) * r**2 * width - 4 * corner
    ) - 4 * math.pi * d**2 / 4 * t
    assert part.brep_volume_mm3 == pytest.approx(expected, rel=1e-9)
    assert part.bbox_mm == pytest.approx(np.array([[0, -15, 0], [60, 15, 40]]))
    longer = load_part(SAMPLES / "bracket.py", params={"length": 80, "height": "50"})
    assert longer.bbox_mm[1].tolist() == pytest.approx([80, 15, 50])
    assert longer.brep_volume_mm3 == pytest.approx(expected + 20 * width * t + 10 * width * t, rel=1e-9)
    with pytest.raises(
        FabError, match=r"bracket.py failed: ValueError: hole_diameter 20.0 must be less than"
    ):
        load_part(SAMPLES / "bracket.py", params={"hole_diameter": 20})
    with pytest.raises(FabError, match="bracket.py has no parameter lenght"):
        load_part(SAMPLES / "bracket.py", params={"lenght": 80})


def test_spur_gear_parameters() -> None:
    part = load_part(SAMPLES / "spur_gear.py", params={"teeth": "12", "width": 4})
    # Tip diameter m (z + 2) = 28 mm; the B-rep's bounding box touches the tip circle only at tooth tips.
    assert part.bbox_mm[1, 2] - part.bbox_mm[0, 2] == pytest.approx(4.0)
    assert part.bbox_mm[1, 0] == pytest.approx(14.0, abs=0.01)
    assert np.linalg.norm(part.mesh.vertices[:, :2], axis=1).max() == pytest.approx(14.0, abs=1e-6)
    with pytest.raises(FabError, match="parameter teeth must be an integer"):
        load_part(SAMPLES / "spur_gear.py", params={"teeth": 12.5})


def test_fillet_block_is_about_30k_triangles() -> None:
    block = runpy.run_path(str(SAMPLES / "fillet_block.py"))["result"]
    for tolerance in (0.01, 0.02):
        part = load_part(block, tolerance_mm=tolerance)
        assert 25_000 <= part.triangles <= 35_000 and part.watertight


def test_plate_step_matches_its_generator() -> None:
    generator = runpy.run_path(str(SAMPLES / "make_plate_step.py"))
    part = load_part(SAMPLES / "plate_with_hole.step")
    assert part.brep_volume_mm3 == pytest.approx(generator["plate"].val().Volume(), rel=1e-9)
    assert part.brep_volume_mm3 == pytest.approx(100 * 40 * 6 - math.pi * 10**2 * 6, rel=1e-9)
    assert part.bbox_mm == pytest.approx(np.array([[-50, -20, -3], [50, 20, 3]]))


def test_hook_mesh_sample_matches_its_generator() -> None:
    part = load_part(SAMPLES / "hook.stl")
    assert part.watertight and part.brep_volume_mm3 is None
    assert part.bbox_mm == pytest.approx(np.array([[-8, -3, -15], [27, 3, 66]]))
    generated = runpy.run_path(str(SAMPLES / "make_hook_stl.py"))["hook"]()
    assert part.triangles == len(generated.faces)
    assert part.volume_mm3 == pytest.approx(generated.volume, rel=1e-6)
    inches = load_part(SAMPLES / "hook.stl", units="in")
    assert inches.volume_mm3 == pytest.approx(part.volume_mm3 * 25.4**3, rel=1e-9)
    assert len(trimesh.load(SAMPLES / "hook.stl").faces) < 5000  # stays small


@pytest.mark.parametrize("name", ["bracket.py", "spur_gear.py", "fillet_block.py"])
def test_cad_samples_run_as_plain_python(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "out.step"
    monkeypatch.setattr(sys, "argv", [name, str(target)])
    namespace = runpy.run_path(str(SAMPLES / name), run_name="__main__")
    assert "volume" in capsys.readouterr().out
    assert isinstance(namespace["result"], cq.Workplane)
    assert load_part(target).brep_volume_mm3 == pytest.approx(namespace["result"].val().Volume(), rel=1e-6)


# --- the pipeline samples (CadQuery plugin): run small, check every file they write --------------------


def _valid_png(path: Path) -> None:
    from PIL import Image

    with Image.open(path) as image:
        assert image.format == "PNG" and image.width >= 200 and image.height >= 200
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 20  # a picture, not a blank canvas


def _printed_layers(path: Path) -> int:
    from gcodeparser import parse_gcode_lines

    z, heights = 0.0, set()
    for g in parse_gcode_lines(path.read_text()):
        if g.command in (("G", 0), ("G", 1)):
            z = g.params.get("Z", z)
            if g.command == ("G", 1) and g.params.get("E", 0.0) > 0 and ("X" in g.params or "Y" in g.params):
                heights.add(round(z, 3))
    return len(heights)


def _run_sample(name: str, args: list[str], monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setattr(sys, "argv", [name, *args])
    return runpy.run_path(str(SAMPLES / name), run_name="__main__")


@pytest.mark.parametrize("name", ["bracket_stress.py", "gear_pair.py", "morph_gear.py"])
def test_pipeline_samples_load_as_parts_without_running(
    name: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    """Through cqgi (fab convert, CQ-editor parameters) a sample is only its part: no simulation, no files,
    and nothing on stdout (cqgi prints there about top-level values it cannot take as parameters, such as
    None, which would break ``fab convert --json``)."""
    monkeypatch.chdir(tmp_path)
    part = load_part(SAMPLES / name)
    assert part.watertight and part.mesh.volume == pytest.approx(part.brep_volume_mm3, rel=0.005)
    assert list(tmp_path.iterdir()) == [] and capsys.readouterr().out == ""


def test_bracket_stress_sample(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("BITS2ATOMS_SMALL", "1")  # the environment variable, not --small
    ns = _run_sample("bracket_stress.py", ["--out", str(tmp_path)], monkeypatch)
    out = capsys.readouterr().out
    report, files, figures = ns["outputs"]["report"], ns["outputs"]["files"], ns["outputs"]["figures"]
    assert ns["small"] is False and ns["assembly_pitch"] == 5.0  # the variable selected the small run
    assert report.converged and "NOT CONVERGED" not in out  # the quick run is a real answer, not a capped one
    assert report.summary().splitlines()[0] in out and "robot assembly" in out
    assert report.max_displacement_mm > 0 and report.max_von_mises_pa > 0 and report.fragments == 1
    assert report.reaction_force_n[2] > 0  # the wall holds the bracket up against the downward load
    assert {Path(p).parent for p in files.values()} == {tmp_path}
    _valid_png(Path(files["png"]))
    mesh = trimesh.load(files["stl"])
    assert mesh.is_watertight and mesh.volume == pytest.approx(ns["bracket"].val().Volume(), rel=0.005)
    assert _printed_layers(Path(files["gcode"])) >= figures["gcode"]["layers"] == 200  # 40 mm at 0.2 mm
    plan = read_assembly(files["assembly"])
    assert check_assembly(plan) == [] and figures["assembly"]["placements"] > 0
    # The tutorial's pictures come from these files (docs/make_tutorial_images.py).
    images = runpy.run_path(str(SAMPLES.parent / "docs" / "make_tutorial_images.py"))
    pngs = images["pictures"](tmp_path, tmp_path / "img")
    assert [p.name for p in pngs] == [f"tutorial_{n}.png" for n in ("bracket", "stress", "gcode", "assembly")]
    for png in pngs:
        _valid_png(png)
        assert png.stat().st_size < 100_000  # small enough to commit


def test_gear_pair_sample(tmp_path: Path, monkeypatch, capsys) -> None:
    import ezdxf
    from pygcode import Line

    from cad_plugins import contact_ratio

    ns = _run_sample("gear_pair.py", ["--small", "--out", str(tmp_path)], monkeypatch)
    out = capsys.readouterr().out
    files, report = ns["outputs"]["files"], ns["outputs"]["report"]
    assert f"contact ratio {contact_ratio(2.0, 18, 30):.3f}" in out and "Lewis" in out
    # The held bore carries the tooth load: the reaction balances the tangential force T / r.
    assert report.max_von_mises_pa > 0 and report.reaction_force_n[1] > 0
    _valid_png(Path(files["png"]))
    for gear in ("pinion", "wheel"):
        mesh = trimesh.load(files[f"{gear}_stl"])
        assert mesh.is_watertight
        assert mesh.volume == pytest.approx(ns[gear].val().Volume(), rel=0.005)
    assert trimesh.load(files["wheel_stl"]).centroid[:2] == pytest.approx([48.0, 0.0], abs=0.01)
    assert _printed_layers(Path(files["pinion_gcode"])) >= 15  # 3 mm wide in the small run
    for line in Path(files["wheel_cnc"]).read_text().splitlines():
        Line(line)
    dxf = ezdxf.readfile(files["wheel_dxf"])
    assert len(dxf.modelspace().query("LWPOLYLINE")) == 2  # the outside and the bore
    assert "<path" in Path(files["wheel_svg"]).read_text()


def test_morph_gear_sample(tmp_path: Path, monkeypatch, capsys) -> None:
    import json

    ns = _run_sample("morph_gear.py", ["--small", "--out", str(tmp_path)], monkeypatch)
    out = capsys.readouterr().out
    gear, summary, files = ns["outputs"]["gear"], ns["outputs"]["summary"], ns["outputs"]["files"]
    assert "transmission error" in out and "involute" in out
    assert summary["generations"] == 1 and summary["evaluations"] == 4
    assert (
        json.loads((tmp_path / "morph" / "summary.json").read_text())["best"]["genome"]
        == (summary["best"]["genome"])
    )
    _valid_png(tmp_path / "morph" / "convergence.png")
    # The grown gear is a gear of the asked size: 14 teeth of module 2 with an 8 mm bore, 4 mm wide.
    solid = gear.val()
    box = solid.BoundingBox()
    assert (box.zmin, box.zmax) == pytest.approx((0.0, 4.0), abs=0.01)  # OCC boxes B-splines loosely
    assert 14.0 < box.xmax < 18.0 and solid.Volume() == pytest.approx(ns["involute"].val().Volume(), rel=0.1)
    mesh = trimesh.load(files["stl"])
    assert mesh.is_watertight and mesh.volume == pytest.approx(solid.Volume(), rel=0.005)
    assert _printed_layers(Path(files["gcode"])) >= 15
