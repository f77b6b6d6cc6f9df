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
