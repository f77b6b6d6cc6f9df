"""Part import: every sample, parameters, units, CadQuery objects, repair, and every bad input."""

from __future__ import annotations

import warnings
from pathlib import Path

import cadquery as cq
import numpy as np
import pytest
import trimesh

from fab.errors import FabError
from fab.part import load_part

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


@pytest.mark.parametrize("name", ["bracket.py", "spur_gear.py", "plate_with_hole.step", "fillet_block.py"])
def test_cad_samples_are_watertight_and_match_brep_volume(name: str) -> None:
    part = load_part(SAMPLES / name)
    assert part.watertight and part.open_edges == 0
    assert part.brep_volume_mm3 is not None
    assert part.mesh.volume == pytest.approx(part.brep_volume_mm3, rel=0.005)
    assert len(part.source_sha256) == 64


def test_mesh_sample() -> None:
    part = load_part(SAMPLES / "hook.stl")
    assert part.watertight and part.brep_volume_mm3 is None and part.volume_mm3 > 1000


def test_script_parameters_override() -> None:
    default = load_part(SAMPLES / "bracket.py")
    longer = load_part(SAMPLES / "bracket.py", params={"length": 80.0})
    assert default.bbox_mm[1, 0] == pytest.approx(60.0)
    assert longer.bbox_mm[1, 0] == pytest.approx(80.0)
    with pytest.raises(FabError, match="has no parameter lenght"):
        load_part(SAMPLES / "bracket.py", params={"lenght": 80.0})


def test_script_with_result_variable_only(tmp_path: Path) -> None:
    script = tmp_path / "cube.py"
    script.write_text("import cadquery as cq\nsize = 4.0\nresult = cq.Workplane().box(size, size, size)\n")
    part = load_part(script, params={"size": 5.0})
    assert part.volume_mm3 == pytest.approx(125.0)


def test_cadquery_objects_and_units(box_stl: Path) -> None:
    workplane = cq.Workplane().box(10, 20, 30)
    assert load_part(workplane).volume_mm3 == pytest.approx(6000.0)
    assert load_part(workplane.val()).volume_mm3 == pytest.approx(6000.0)
    assert load_part(workplane, units="cm").volume_mm3 == pytest.approx(6000.0 * 1000)
    metres = load_part(box_stl, units="m")
    assert metres.bbox_mm[1, 0] - metres.bbox_mm[0, 0] == pytest.approx(20_000.0)
    inches = load_part(box_stl, units="in")
    assert inches.volume_mm3 == pytest.approx(1000.0 * 25.4**3)


def test_tessellation_tolerance_is_in_millimetres() -> None:
    cylinder = cq.Workplane().circle(50.0).extrude(10.0)
    coarse = load_part(cylinder, tolerance_mm=0.5, angular_tolerance_rad=1.0)
    fine = load_part(cylinder, tolerance_mm=0.005, angular_tolerance_rad=1.0)
    exact = np.pi * 50.0**2 * 10.0
    # A chordal tolerance t loses at most about t x perimeter x height of volume.
    assert exact - coarse.mesh.volume <= 0.5 * 2 * np.pi * 50.0 * 10.0
    assert exact - fine.mesh.volume <= 0.005 * 2 * np.pi * 50.0 * 10.0
    assert fine.triangles > coarse.triangles


def test_repair_merges_vertices_and_drops_degenerate_faces(tmp_path: Path) -> None:
    box = trimesh.creation.box(extents=(2.0, 2.0, 2.0))
    soup = box.vertices[box.faces].reshape(-1, 3)  # every triangle with its own vertices
    faces = np.arange(len(soup)).reshape(-1, 3)
    faces = np.vstack([faces, [[0, 0, 1]]])  # plus a degenerate triangle
    path = tmp_path / "soup.obj"
    trimesh.Trimesh(soup, faces, process=False).export(path)
    part = load_part(path)
    assert part.watertight and part.triangles == 12
    assert part.repairs["vertices_merged"] > 0 and part.repairs["faces_dropped"] >= 1


def test_open_mesh_warns(tmp_path: Path) -> None:
    box = trimesh.creation.box(extents=(2.0, 2.0, 2.0))
    path = tmp_path / "open.stl"
    trimesh.Trimesh(box.vertices, box.faces[:-1], process=False).export(path)
    with pytest.warns(UserWarning, match="not watertight"):
        part = load_part(path)
    assert not part.watertight and part.open_edges == 3


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("unknown_extension", "unknown part format '.xyz'"),
        ("raising_script", "failed: ValueError: boom in script"),
        ("no_result_script", "defines no result"),
        ("bad_step", "cannot read STEP file"),
        ("empty_mesh", "empty"),
        ("nan_mesh", "NaN or infinite"),
        ("zero_volume", "zero volume|flat"),
    ],
)
def test_bad_inputs(case: str, message: str, bad_inputs: dict[str, Path]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(FabError, match=message):
            load_part(bad_inputs[case])


def test_missing_file_and_bad_units(tmp_path: Path, box_stl: Path) -> None:
    with pytest.raises(FabError, match="not found"):
        load_part(tmp_path / "missing.step")
    with pytest.raises(FabError, match="unknown unit"):
        load_part(box_stl, units="cubits")
    with pytest.raises(FabError, match="own units"):
        load_part(SAMPLES / "plate_with_hole.step", units="in")
