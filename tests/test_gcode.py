"""FDM slicer, G-code writer and printer profiles (exporters.slicer / gcode / printers)."""

from __future__ import annotations

import math

import manifold3d
import numpy as np
import pytest
import trimesh
from gcodeparser import parse_gcode_lines

from exporters.errors import ExportError
from exporters.gcode import _plan_time, export_gcode
from exporters.printers import builtin_printers, load_printer
from exporters.slicer import hatch, rings_to_region, slice_mesh


def _plate_with_hole() -> trimesh.Trimesh:
    """30 x 20 x 3 mm plate with a 6 mm through hole at its centre (volume = 1800 - 27 pi)."""
    plate = manifold3d.Manifold.cube((30.0, 20.0, 3.0), center=True)
    hole = manifold3d.Manifold.cylinder(10.0, 3.0, 3.0, 96, center=True)
    m = (plate - hole).to_mesh()
    return trimesh.Trimesh(np.asarray(m.vert_properties)[:, :3], np.asarray(m.tri_verts))


def _moves(path) -> list:
    lines = parse_gcode_lines(path.read_text())
    return [g for g in lines if g.command in (("G", 0), ("G", 1))]


@pytest.fixture(scope="module")
def mk3s():
    return load_printer("prusa_mk3s")


def test_builtin_profiles_load():
    names = builtin_printers()
    assert {"prusa_mk3s", "ender3"} <= set(names)
    ender = load_printer("ender3")
    assert (ender.bed_x, ender.bed_y) == (220.0, 220.0)
    assert load_printer().name == "prusa_mk3s"
    assert math.isclose(ender.filament_area_mm2, math.pi * 0.875**2)


def test_full_infill_volume_layers_and_bed(tmp_path, mk3s):
    mesh = trimesh.creation.box((20.0, 10.0, 5.0))
    out = tmp_path / "box.gcode"
    s = export_gcode(mesh, out, mk3s, infill=1.0)
    assert s.layers == 25  # 5 mm / 0.2 mm
    assert abs(s.extruded_volume_mm3 / mesh.volume - 1.0) < 0.03
    moves = _moves(out)
    xs = [g.params["X"] for g in moves if "X" in g.params]
    ys = [g.params["Y"] for g in moves if "Y" in g.params]
    zs = [g.params["Z"] for g in moves if "Z" in g.params]
    assert 0 <= min(xs) and max(xs) <= mk3s.bed_x and 0 <= min(ys) and max(ys) <= mk3s.bed_y
    assert 0 < min(zs) and max(zs) <= mk3s.max_z
    # the part is centred on the bed and dropped to z=0: its first layer is at the first-layer height
    assert s.bbox_mm[0][2] == 0.0 and math.isclose(s.bbox_mm[1][2], 5.0)
    assert math.isclose((s.bbox_mm[0][0] + s.bbox_mm[1][0]) / 2, mk3s.bed_x / 2, abs_tol=0.01)
    # E in the file (relative, after the start block) adds up to the summary's filament length
    text = out.read_text()
    body = text[text.index(";LAYER_CHANGE") : text.index("; end")]
    e = sum(g.params.get("E", 0.0) for g in parse_gcode_lines(body) if g.command == ("G", 1))
    assert math.isclose(e + mk3s.retract_length, s.filament_mm, rel_tol=1e-5)  # ends retracted
    head = text[:400]
    assert "estimated printing time" in head and "filament used [g]" in head
    assert s.print_time_s > 0 and s.filament_g == pytest.approx(s.extruded_volume_mm3 * 1.24e-3)


def test_hole_stays_empty_and_volume(tmp_path, mk3s):
    mesh = _plate_with_hole()
    out = tmp_path / "holed.gcode"
    s = export_gcode(mesh, out, mk3s, infill=1.0, layer_height=0.15)
    assert s.layers == 20
    assert abs(s.extruded_volume_mm3 / mesh.volume - 1.0) < 0.03
    tp = slice_mesh(mesh, mk3s, infill=1.0, layer_height=0.15)
    centre = np.array([mk3s.bed_x / 2, mk3s.bed_y / 2])
    for layer in tp.layers:
        for path in layer.paths:
            # no bead centreline comes closer to the hole axis than its radius
            assert np.hypot(*(path.points - centre).T).min() > 3.0 - 1e-6


def test_sparse_infill_patterns(tmp_path, mk3s):
    mesh = trimesh.creation.box((30.0, 30.0, 6.0))
    full = mesh.volume
    rect = export_gcode(mesh, tmp_path / "r.gcode", mk3s, infill=0.2, infill_pattern="rectilinear")
    grid = export_gcode(mesh, tmp_path / "g.gcode", mk3s, infill=0.2, infill_pattern="grid")
    empty = export_gcode(mesh, tmp_path / "e.gcode", mk3s, infill=0.0)
    assert empty.extruded_volume_mm3 < rect.extruded_volume_mm3 < full
    assert abs(grid.extruded_volume_mm3 / rect.extruded_volume_mm3 - 1.0) < 0.08
    tp = slice_mesh(mesh, mk3s, infill=0.2, top_layers=3, bottom_layers=2)
    roles = [{p.role for p in layer.paths} for layer in tp.layers]
    assert "infill" not in roles[0] and "infill" not in roles[1] and "infill" in roles[2]
    assert "top_solid_infill" in roles[-1] and "infill" not in roles[-3] and "infill" in roles[-4]


def test_deterministic(tmp_path, mk3s):
    mesh = _plate_with_hole()
    export_gcode(mesh, tmp_path / "a.gcode", mk3s, infill=0.3)
    export_gcode(mesh, tmp_path / "b.gcode", mk3s, infill=0.3)
    assert (tmp_path / "a.gcode").read_bytes() == (tmp_path / "b.gcode").read_bytes()


def test_hatch_and_region_even_odd():
    outer = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], float)
    hole = np.array([[3, 3], [3, 7], [7, 7], [7, 3]], float)
    island = np.array([[4, 4], [6, 4], [6, 6], [4, 6]], float)
    region = rings_to_region([outer, hole, island])
    assert math.isclose(region.area, 100 - 16 + 4)
    segs = hatch(region, 0.0, 0.5)  # horizontal lines clipped even-odd
    covered = np.hypot(*(segs[:, 1] - segs[:, 0]).T).sum() * 0.5
    assert math.isclose(covered, region.area, rel_tol=1e-9)


def test_planner_matches_trapezoid():
    # 100 mm at 50 mm/s, 1000 mm/s^2, from rest to rest (jerk 0): L/v + v/a
    one = np.array([100.0]), np.zeros(1), np.zeros(1), np.ones(1), np.array([50.0]), np.array([1000.0])
    assert math.isclose(_plan_time(*one, 0.0), 2.05, rel_tol=1e-9)
    # too short to cruise: a triangle profile, 2 sqrt(L / a)
    short = np.array([1.0]), np.zeros(1), np.zeros(1), np.ones(1), np.array([200.0]), np.array([1000.0])
    assert math.isclose(_plan_time(*short, 0.0), 2 * math.sqrt(1.0 / 1000.0), rel_tol=1e-9)
    # two collinear moves join at full speed: same time as one move of the summed length
    two = (np.array([50.0, 50.0]), np.zeros(2), np.zeros(2), np.ones(2), np.full(2, 50.0), np.full(2, 1000.0))
    assert math.isclose(_plan_time(*two, 0.0), 2.05, rel_tol=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(layer_height=0.5), "larger than the nozzle"),
        (dict(infill=1.5), "infill must be between 0 and 1"),
        (dict(infill=-0.1), "infill must be between 0 and 1"),
        (dict(infill_pattern="gyroid"), "unknown infill pattern"),
        (dict(perimeters=-1), "perimeters must be"),
        (dict(speed=3), "unknown slicer setting"),
    ],
)
def test_bad_settings(tmp_path, mk3s, kwargs, message):
    out = tmp_path / "bad.gcode"
    with pytest.raises(ExportError, match=message):
        export_gcode(trimesh.creation.box((5, 5, 5)), out, mk3s, **kwargs)
    assert not out.exists()


def test_part_larger_than_bed(tmp_path, mk3s):
    out = tmp_path / "big.gcode"
    with pytest.raises(ExportError, match=r"260\.00 mm along x, 10\.00 mm more"):
        export_gcode(trimesh.creation.box((260.0, 10.0, 5.0)), out, mk3s)
    with pytest.raises(ExportError, match="along z"):
        export_gcode(trimesh.creation.box((10.0, 10.0, 300.0)), out, "ender3")
    assert not out.exists()


def test_empty_mesh(tmp_path):
    with pytest.raises(ExportError, match="empty"):
        export_gcode(trimesh.Trimesh(), tmp_path / "e.gcode")
    assert not (tmp_path / "e.gcode").exists()


def test_profile_errors_and_custom_file(tmp_path):
    with pytest.raises(ExportError, match="unknown printer 'nope'"):
        load_printer("nope")
    bad = tmp_path / "bad.toml"
    bad.write_text("[machine\n")
    with pytest.raises(ExportError, match="invalid TOML"):
        load_printer(bad)
    typo = tmp_path / "typo.toml"
    typo.write_text("[machine]\nbed_x = 100\nbed_y = 100\nmax_z = 100\nnozle = 0.4\n")
    with pytest.raises(ExportError, match="unknown key 'nozle'"):
        load_printer(typo)
    neg = tmp_path / "neg.toml"
    neg.write_text("[machine]\nbed_x = 100\nbed_y = -1\nmax_z = 100\n")
    with pytest.raises(ExportError, match="bed_y must be a positive"):
        load_printer(neg)
    mini = tmp_path / "mini.toml"
    mini.write_text(
        'name = "mini"\n[machine]\nbed_x = 180\nbed_y = 180\nmax_z = 180\n[speed]\ninfill = 100\n'
    )
    p = load_printer(mini)
    assert p.name == "mini" and p.speed_infill == 100 and p.nozzle_diameter == 0.4
    s = export_gcode(trimesh.creation.box((10, 10, 2)), tmp_path / "m.gcode", p)
    assert s.layers == 10


def test_open_mesh_sections_close_with_a_chord(tmp_path, mk3s):
    box = trimesh.creation.box((10.0, 10.0, 10.0))
    side = np.flatnonzero(box.face_normals[:, 0] > 0.5)  # drop the +x wall: every section is an open chain
    open_box = trimesh.Trimesh(box.vertices, np.delete(box.faces, side, axis=0))
    s = export_gcode(open_box, tmp_path / "open.gcode", mk3s, infill=1.0)
    assert s.layers == 50 and abs(s.extruded_volume_mm3 / 1000.0 - 1.0) < 0.03


def test_too_small_part(tmp_path, mk3s):
    with pytest.raises(ExportError, match="too small or thin"):
        export_gcode(trimesh.creation.icosphere(2, radius=0.1), tmp_path / "t.gcode", mk3s)


def test_retract_on_layer_change_is_optional(tmp_path):
    path = tmp_path / "quiet.toml"
    path.write_text("[machine]\nbed_x = 180\nbed_y = 180\nmax_z = 180\n[retraction]\nlayer_change = false\n")
    box = trimesh.creation.box((10, 10, 2))
    quiet = export_gcode(box, tmp_path / "q.gcode", load_printer(path))
    loud = export_gcode(box, tmp_path / "l.gcode", "prusa_mk3s")
    assert quiet.retractions < loud.retractions
    path.write_text("[machine]\nbed_x = 180\nbed_y = 180\nmax_z = 180\n[retraction]\nlayer_change = 1\n")
    with pytest.raises(ExportError, match="layer_change must be true or false"):
        load_printer(path)


def test_unwritable_path(tmp_path, mk3s):
    target = tmp_path / "adir.gcode"
    target.mkdir()
    with pytest.raises(ExportError, match="cannot write G-code"):
        export_gcode(trimesh.creation.box((5, 5, 5)), target, mk3s)


def test_start_sets_absolute_coordinates_before_relative_extrusion(tmp_path, mk3s):
    """G90 after M83 resets E to absolute on Smoothieware-style firmware: the header emits G90, then M83."""
    path = tmp_path / "p.gcode"
    export_gcode(trimesh.creation.box(extents=(10.0, 10.0, 1.0)), path, mk3s)
    lines = [line.split(";")[0].strip() for line in path.read_text().splitlines()]
    last_g90 = max(i for i, line in enumerate(lines) if line == "G90")
    last_m83 = max(i for i, line in enumerate(lines) if line == "M83")
    assert last_g90 < last_m83  # and nothing switches E back: the body is relative extrusion throughout
    assert not any(line in ("G91", "M82") for line in lines[last_m83:])
