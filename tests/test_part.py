"""Part import: CadQuery scripts and objects, STEP, meshes, units, tessellation, repair and every bad input."""

from __future__ import annotations

import warnings
from pathlib import Path

import cadquery as cq
import numpy as np
import pytest
import trimesh

from fab.errors import FabError
from fab.part import file_sha256, load_part


def _write_script(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_script_with_show_object_and_params(tmp_path: Path) -> None:
    script = _write_script(
        tmp_path,
        "plate.py",
        "import cadquery as cq\nlength = 10.0\ncount = 2\nhollow = False\n"
        "part = cq.Workplane().box(length, 4, 2 * count)\n"
        "if hollow:\n    part = part.faces('>Z').shell(-0.5)\n"
        "show_object(part)\n",
    )
    default = load_part(script)
    assert default.volume_mm3 == pytest.approx(10 * 4 * 4)
    assert default.source == str(script) and default.source_sha256 == file_sha256(script)
    # CLI-style strings are converted to the declared type: "3" -> int 3, "12.5" -> float, "false" -> False.
    changed = load_part(script, params={"length": "12.5", "count": "3", "hollow": "false"})
    assert changed.volume_mm3 == pytest.approx(12.5 * 4 * 6)
    hollow = load_part(script, params={"hollow": "true"})
    assert hollow.volume_mm3 < 0.8 * default.volume_mm3
    with pytest.raises(FabError, match="parameter count must be an integer, got 2.5"):
        load_part(script, params={"count": 2.5})
    with pytest.raises(FabError, match="parameter length must be a number"):
        load_part(script, params={"length": "long"})
    with pytest.raises(FabError, match=r"has no parameter width \(it declares: count, hollow, length\)"):
        load_part(script, params={"width": 3})


def test_script_with_result_variable_only(tmp_path: Path) -> None:
    script = _write_script(
        tmp_path,
        "cube.py",
        "import cadquery as cq\nsize = 4.0\nresult = cq.Workplane().box(size, size, size)\n",
    )
    assert load_part(script).volume_mm3 == pytest.approx(64.0)
    assert load_part(script, params={"size": 5.0}).volume_mm3 == pytest.approx(125.0)


def test_script_with_several_results_is_one_part(tmp_path: Path) -> None:
    script = _write_script(
        tmp_path,
        "two.py",
        "import cadquery as cq\nshow_object(cq.Workplane().box(1, 1, 1))\n"
        "show_object(cq.Workplane().box(1, 1, 1).translate((3, 0, 0)))\n",
    )
    part = load_part(script)
    assert part.volume_mm3 == pytest.approx(2.0) and len(part.mesh.split()) == 2


def test_raising_script_reports_type_message_and_line(tmp_path: Path) -> None:
    script = _write_script(tmp_path, "raises.py", "import cadquery as cq\nx = 1\nraise ValueError('boom')\n")
    with pytest.raises(FabError, match=r"raises.py failed: ValueError: boom \(line 3\)$"):
        load_part(script)
    script = _write_script(tmp_path, "syntax.py", "import cadquery as cq\nx = (\n")
    with pytest.raises(FabError, match="syntax.py:2: syntax error"):
        load_part(script)
    script = _write_script(
        tmp_path,
        "badfillet.py",
        "import cadquery as cq\nresult = cq.Workplane().box(1, 1, 1).edges().fillet(5)\n",
    )
    with pytest.raises(FabError, match=r"badfillet.py failed: .*\(line 2\)"):
        load_part(script)


def test_script_without_solid_is_refused(tmp_path: Path) -> None:
    script = _write_script(
        tmp_path, "sheet.py", "import cadquery as cq\nresult = cq.Workplane().rect(5, 5)\n"
    )
    with pytest.raises(FabError, match="no solid"):
        load_part(script)
    script = _write_script(tmp_path, "number.py", "import cadquery as cq\nresult = 42\n")
    with pytest.raises(FabError, match="is a int, not a CadQuery"):
        load_part(script)


def test_cadquery_objects_and_units(box_stl: Path) -> None:
    workplane = cq.Workplane().box(10, 20, 30)
    part = load_part(workplane)
    assert part.volume_mm3 == pytest.approx(6000.0) and part.brep_volume_mm3 == pytest.approx(6000.0)
    assert part.source == "<cadquery object>" and len(part.source_sha256) == 64
    assert load_part(workplane.val()).volume_mm3 == pytest.approx(6000.0)
    assert load_part(workplane, units="cm").volume_mm3 == pytest.approx(6000.0 * 1000)
    assembly = cq.Assembly().add(workplane).add(workplane, loc=cq.Location((50, 0, 0)))
    together = load_part(assembly)
    assert together.volume_mm3 == pytest.approx(12000.0) and together.bbox_mm[1, 0] == pytest.approx(55.0)
    with pytest.raises(FabError, match="not a CadQuery Workplane"):
        load_part(42)  # type: ignore[arg-type]
    with pytest.raises(FabError, match="parameters apply to CadQuery scripts only"):
        load_part(workplane, params={"x": 1})


def test_mesh_units(box_stl: Path) -> None:
    mm = load_part(box_stl)
    assert mm.bbox_mm[1] - mm.bbox_mm[0] == pytest.approx([20.0, 10.0, 5.0])
    assert mm.brep_volume_mm3 is None and mm.watertight
    metres = load_part(box_stl, units="m")
    assert metres.bbox_mm[1] - metres.bbox_mm[0] == pytest.approx([20_000.0, 10_000.0, 5_000.0])
    inches = load_part(box_stl, units=" IN ")
    assert inches.volume_mm3 == pytest.approx(1000.0 * 25.4**3)


def test_step_round_trip_and_units(tmp_path: Path) -> None:
    path = tmp_path / "cyl.step"
    cq.exporters.export(cq.Workplane().circle(5.0).extrude(8.0), str(path))
    part = load_part(path)
    assert part.brep_volume_mm3 == pytest.approx(np.pi * 25 * 8, rel=1e-9)
    assert part.volume_mm3 == pytest.approx(part.brep_volume_mm3, rel=0.005)
    with pytest.raises(FabError, match="STEP files declare their own length unit"):
        load_part(path, units="in")
    with pytest.raises(FabError, match="parameters apply to CadQuery scripts only, not to .step"):
        load_part(path, params={"x": 1})


def test_tessellation_tolerance_is_in_millimetres() -> None:
    cylinder = cq.Workplane().circle(50.0).extrude(10.0)
    exact = np.pi * 50.0**2 * 10.0
    for tolerance in (0.5, 0.05, 0.005):
        part = load_part(cylinder, tolerance_mm=tolerance, angular_tolerance_rad=1.0)
        # Chords of sag s cut (2/3) s of area per unit of perimeter; OpenCASCADE keeps s between t/2 and t,
        # so the volume lost is about t/3 x side area whatever the part's size (a relative tolerance is not).
        side = 2 * np.pi * 50.0 * 10.0
        assert 0.25 * tolerance * side <= exact - part.mesh.volume <= 0.67 * tolerance * side
        assert abs(part.repairs["mesh_vs_brep_volume_pct"]) < 100 * tolerance * side / exact
    with pytest.raises(FabError, match="tolerance must be a positive number of mm"):
        load_part(cylinder, tolerance_mm=0.0)
    with pytest.raises(FabError, match="angular tolerance"):
        load_part(cylinder, angular_tolerance_rad=float("nan"))


def test_freeform_surfaces_keep_the_tolerance() -> None:
    """A loft is a B-spline surface: its interior needs deflection control, not just its edges."""
    loft = cq.Workplane().circle(10).workplane(offset=20).ellipse(15, 6).loft()
    part = load_part(loft, tolerance_mm=0.01)
    assert part.watertight
    assert part.mesh.volume == pytest.approx(part.brep_volume_mm3, rel=0.002)


def test_repair_merges_vertices_drops_degenerate_faces_and_fixes_winding(tmp_path: Path) -> None:
    box = trimesh.creation.box(extents=(2.0, 2.0, 2.0))
    soup = box.vertices[box.faces].reshape(-1, 3)  # every triangle with its own three vertices
    faces = np.arange(len(soup)).reshape(-1, 3)
    faces[[1, 4]] = faces[[1, 4]][:, ::-1]  # two triangles wound the wrong way
    faces = np.vstack([faces, [[0, 0, 1]], faces[:1]])  # a degenerate triangle and a duplicate
    path = tmp_path / "soup.obj"
    trimesh.Trimesh(soup, faces, process=False).export(path)
    part = load_part(path)
    assert part.watertight and part.triangles == 12 and part.volume_mm3 == pytest.approx(8.0)
    assert part.mesh.volume > 0  # outward normals
    assert part.repairs["vertices_merged"] == 36 - 8
    assert part.repairs["degenerate_faces_dropped"] == 1 and part.repairs["duplicate_faces_dropped"] == 1
    assert part.repairs["faces_flipped"] == 2


def test_inside_out_mesh_is_turned_outward(tmp_path: Path) -> None:
    box = trimesh.creation.box(extents=(1.0, 2.0, 3.0))
    path = tmp_path / "inverted.stl"
    trimesh.Trimesh(box.vertices, box.faces[:, ::-1], process=False).export(path)
    part = load_part(path)
    assert part.mesh.volume == pytest.approx(6.0) and part.repairs["faces_flipped"] == 12


def test_missing_triangle_is_filled_and_open_mesh_warns(tmp_path: Path) -> None:
    box = trimesh.creation.box(extents=(2.0, 2.0, 2.0))
    path = tmp_path / "holed.stl"
    trimesh.Trimesh(box.vertices, box.faces[:-1], process=False).export(path)
    part = load_part(path)
    assert part.watertight and part.repairs["holes_filled"] == 1 and part.volume_mm3 == pytest.approx(8.0)

    cup = trimesh.creation.cylinder(radius=5.0, height=4.0, sections=32)
    top = cup.face_normals[:, 2] > 0.9  # drop the whole lid: a 32-edge hole is not a small defect
    path = tmp_path / "cup.stl"
    trimesh.Trimesh(cup.vertices, cup.faces[~top], process=False).export(path)
    with pytest.warns(UserWarning, match=r"not watertight \(32 open edges\)"):
        part = load_part(path)
    assert not part.watertight and part.open_edges == 32


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("unknown_extension", r"unknown part format '.xyz' for .*part.xyz: use one of"),
        ("raising_script", r"failed: ValueError: boom in script \(line 2\)"),
        ("no_result_script", "defines no result"),
        ("bad_step", "cannot read STEP file broken.step"),
        ("empty_mesh", "empty"),
        ("nan_mesh", "1 vertices have NaN or infinite coordinates"),
        ("zero_volume", "flat sheet: it has zero volume"),
    ],
)
def test_bad_inputs_give_one_line_errors(case: str, message: str, bad_inputs: dict[str, Path]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(FabError, match=message) as caught:
            load_part(bad_inputs[case])
    assert "\n" not in str(caught.value)


def test_more_bad_inputs(tmp_path: Path, box_stl: Path) -> None:
    with pytest.raises(FabError, match="part file not found"):
        load_part(tmp_path / "missing.step")
    with pytest.raises(FabError, match="not a file"):
        load_part(tmp_path)
    with pytest.raises(FabError, match="unknown unit 'cubits'"):
        load_part(box_stl, units="cubits")
    tilted = trimesh.Trimesh([[0, 0, 0], [10, 0, 10], [10, 10, 10], [0, 10, 0]], [[0, 1, 2], [0, 2, 3]])
    tilted.export(tmp_path / "tilted.stl")
    with pytest.raises(FabError, match="flat sheet"):
        load_part(tmp_path / "tilted.stl")
    inf = tmp_path / "inf.obj"
    inf.write_text("v 0 0 0\nv 1 0 0\nv 0 inf 0\nv 0 0 1\nf 1 2 3\nf 1 2 4\nf 1 3 4\nf 2 3 4\n")
    with pytest.raises(FabError, match="NaN or infinite"):
        load_part(inf)
    garbage = tmp_path / "garbage.stl"
    garbage.write_bytes(b"\x00\x01binary nonsense" * 3)
    with pytest.raises(FabError, match="garbage.stl"):
        load_part(garbage)


def test_mesh_that_disagrees_with_the_brep_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tessellation whose volume is off by more than the tolerance explains is reported, not hidden."""
    import fab.part

    wrong = trimesh.creation.box(extents=(10.0, 10.0, 11.0))  # the B-rep below is 10 x 10 x 10
    monkeypatch.setattr(
        fab.part, "_tessellate_mm", lambda *args: (np.asarray(wrong.vertices), np.asarray(wrong.faces))
    )
    with pytest.warns(UserWarning, match="differs from the B-rep volume 1000 mm"):
        part = load_part(cq.Workplane().box(10, 10, 10))
    assert part.brep_volume_mm3 == pytest.approx(1000.0)
    assert part.repairs["mesh_vs_brep_volume_pct"] == pytest.approx(10.0)


def test_step_in_inches_is_read_in_millimetres(tmp_path: Path) -> None:
    from OCP.Interface import Interface_Static
    from OCP.STEPControl import STEPControl_AsIs, STEPControl_Writer

    path = tmp_path / "inch.step"
    writer = STEPControl_Writer()
    previous = Interface_Static.CVal_s("write.step.unit")
    Interface_Static.SetCVal_s("write.step.unit", "INCH")  # global OCC state: restored below
    try:
        writer.Transfer(cq.Workplane().box(25.4, 50.8, 10.0).val().wrapped, STEPControl_AsIs)
        writer.Write(str(path))
    finally:
        Interface_Static.SetCVal_s("write.step.unit", previous)
    assert "0.196850393701" in path.read_text()  # 5 mm written as inches
    part = load_part(path)
    assert part.bbox_mm[1] - part.bbox_mm[0] == pytest.approx([25.4, 50.8, 10.0])


@pytest.mark.parametrize("suffix", [".stl", ".obj", ".ply", ".off", ".3mf"])
def test_every_mesh_format_imports(suffix: str, tmp_path: Path) -> None:
    if suffix == ".3mf":
        pytest.importorskip("lxml")  # trimesh reads and writes 3MF with lxml
    path = tmp_path / f"box{suffix}"
    trimesh.creation.box(extents=(3.0, 4.0, 5.0)).export(path)
    part = load_part(path)
    assert part.watertight and part.volume_mm3 == pytest.approx(60.0)
