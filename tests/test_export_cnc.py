"""CNC / laser profile G-code: compensation, holes inside, depth passes, tabs, bad tools; tool profiles."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import shapely
import trimesh
from pygcode import Line
from shapely.geometry import LineString, Point, Polygon, box

from exporters.cnc import cnc_gcode, toolpaths, write_cnc
from exporters.errors import ExportError
from exporters.outline import outline_from_mesh, outline_from_polygon, outline_from_voxels
from exporters.tools import Tool, list_tools, load_tool


def _cog(teeth: int = 12) -> Polygon:
    """A square-toothed cog, root radius 25 mm, teeth 4 mm high (12 teeth: gaps 6.5 mm wide at the root)."""
    th = np.linspace(0, 2 * np.pi, 40 * teeth, endpoint=False)
    r = 25 + 4 * (np.sin(teeth * th) > 0)
    return Polygon(np.column_stack([r * np.cos(th), r * np.sin(th)]))


def _gear_blank() -> Polygon:
    """The 12-tooth cog with a bore and an off-centre rectangular hole."""
    cog = _cog(12)
    return cog.difference(Point(0, 0).buffer(5)).difference(box(10, -3, 16, 3))


def _cuts(gcode: str, beam: bool) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[float]]:
    """Parse with pygcode; return cutting segments (XY start, XY end) and the Z of each cutting move."""
    pos = np.zeros(3)
    on, segments, depths = False, [], []
    for text in gcode.splitlines():
        for g in Line(text).block.gcodes:
            name = type(g).__name__
            if name in ("GCodeStartSpindleCW", "GCodeStartSpindleCCW"):
                on = True
            elif name == "GCodeStopSpindle":
                on = False
            elif name in ("GCodeRapidMove", "GCodeLinearMove"):
                new = pos.copy()
                for axis, letter in enumerate("XYZ"):
                    if letter in g.params:
                        new[axis] = g.params[letter].value
                cutting = on if beam else new[2] < 0 and pos[2] < 0
                if name == "GCodeLinearMove" and cutting and not np.allclose(pos[:2], new[:2]):
                    segments.append((pos[:2], new[:2]))
                    depths.append(new[2])
                pos = new
            else:
                assert name.startswith("GCode"), name
    return segments, depths


@pytest.mark.parametrize("flavor", ["grbl", "linuxcnc"])
def test_endmill_profile(tmp_path, flavor):
    part = _gear_blank()
    outline = outline_from_polygon(part, 6.0)
    tool = load_tool("endmill-3.175-wood")
    summary = write_cnc(outline, tmp_path / "gear.nc", tool=tool, flavor=flavor)
    text = (tmp_path / "gear.nc").read_text()
    assert max(len(line) for line in text.splitlines()) < 80  # GRBL's line buffer
    segments, depths = _cuts(text, beam=False)
    r = tool.radius_mm
    dist = np.array([LineString(s).distance(part) for s in segments])
    assert dist.min() >= r * (1 - 2e-3)
    # the contours themselves hug the part at one radius (lead-ins and lead-outs are farther away)
    mids = np.array([(a + b) / 2 for a, b in segments])
    on_contour = np.abs(shapely.distance(shapely.points(mids), part.boundary) - r) < 0.01
    assert on_contour.mean() > 0.9
    # holes are cut inside their hole, the outside outside the part's shell
    for ring in part.interiors:
        hole = Polygon(ring)
        assert sum(hole.contains(Point(m)) for m in mids) > 10
    assert all(
        not Polygon(part.exterior).contains(Point(m))
        or any(Polygon(h).contains(Point(m)) for h in part.interiors)
        for m in mids
    )
    # depth passes: equal steps no deeper than the profile's, reaching the full thickness
    levels = sorted(set(np.round(depths, 6)))
    assert min(levels) == pytest.approx(-6.0)
    assert summary["pass_depths_mm"] == pytest.approx([-1.5, -3.0, -4.5, -6.0])
    # tabs: on the last pass the outside contour rises to the tab top in four places
    assert -5.0 in levels and summary["tabs_per_outside"] == 4
    assert summary["holes"] == 2 and summary["outsides"] == 1


def test_laser_profile_and_kerf():
    part = _gear_blank()
    tool = load_tool("laser-co2-3mm-plywood")
    text, summary = cnc_gcode(outline_from_polygon(part, 3.0), tool=tool, flavor="grbl", tabs=0)
    assert "M4 S800" in text and " Z" not in text.split("M4", 1)[1]
    segments, _ = _cuts(text, beam=True)
    dist = np.array([LineString(s).distance(part) for s in segments])
    assert dist.min() >= 0.1 * (1 - 2e-3) and np.median(dist) == pytest.approx(0.1, abs=1e-3)
    assert summary["passes"] == 1 and summary["cut_length_mm"] > part.length


def test_nested_part_is_cut_before_the_hole_around_it():
    frame = box(0, 0, 60, 60).difference(box(10, 10, 50, 50))
    washer = Point(30, 30).buffer(12).difference(Point(30, 30).buffer(4))
    paths = toolpaths(outline_from_polygon(shapely.MultiPolygon([frame, washer]), 3.0), "endmill-3.175-wood")
    order = [(c.kind, round(Polygon(c.path).centroid.x), round(Polygon(c.path).area)) for c in paths]
    assert [k for k, *_ in order] == ["hole", "outside", "hole", "outside"]
    assert order[0][2] < order[1][2] < order[2][2] < order[3][2]  # bore, washer, frame window, frame


def test_bad_tools_name_the_feature():
    plate = box(0, 0, 40, 20).difference(Point(10, 10).buffer(1.2))
    with pytest.raises(
        ExportError, match=r"hole 1 of the part at \(10.00, 10.00\) mm is about 2.40 mm across"
    ):
        cnc_gcode(outline_from_polygon(plate, 3.0), "endmill-3.175-wood")
    with pytest.raises(
        ExportError, match="gap or inner corner near .* narrower than the tool endmill-6-wood"
    ):
        cnc_gcode(outline_from_polygon(_cog(16), 6.0), "endmill-6-wood")  # 4.9 mm gaps
    two = shapely.MultiPolygon([box(0, 0, 10, 10), box(11, 0, 20, 10)])
    with pytest.raises(ExportError, match="closer"):
        cnc_gcode(outline_from_polygon(two, 3.0), "endmill-3.175-wood")
    with pytest.raises(ExportError, match="flavor"):
        cnc_gcode(outline_from_polygon(box(0, 0, 10, 10), 3.0), flavor="fanuc")
    with pytest.raises(ExportError, match="unknown tool"):
        load_tool("spoon")
    with pytest.raises(ExportError, match="diameter_mm"):
        dataclasses.replace(load_tool("endmill-6-wood"), diameter_mm=-1.0)


def test_tool_profiles(tmp_path):
    assert {"endmill-3.175-wood", "endmill-3.175-aluminium", "laser-co2-3mm-plywood"} <= set(list_tools())
    for name in list_tools():
        assert isinstance(load_tool(name), Tool)
    custom = tmp_path / "mine.toml"
    custom.write_text(
        'kind = "endmill"\ndiameter_mm = 2.0\nfeed_mm_min = 800\nplunge_mm_min = 200\n'
        "spindle_rpm = 12000\ndepth_per_pass_mm = 1.0\n"
    )
    assert load_tool(custom).name == "mine"
    custom.write_text('kind = "endmill"\ndiameter = 2.0\n')
    with pytest.raises(ExportError, match="unknown tool field"):
        load_tool(custom)


def test_outline_sources_agree():
    ring = trimesh.creation.annulus(r_min=4.0, r_max=12.0, height=4.0, sections=128)
    from_mesh = outline_from_mesh(ring)
    assert from_mesh.thickness_mm == pytest.approx(4.0)
    assert len(from_mesh.polygons.geoms) == 1 and len(from_mesh.polygons.geoms[0].interiors) == 1
    assert from_mesh.area_mm2 == pytest.approx(np.pi * (144 - 16), rel=0.01)
    occ = np.zeros((12, 10, 4), dtype=bool)
    occ[1:11, 1:9, :] = True
    occ[4:6, 4:6, :] = False
    vox = outline_from_voxels(occ, 2.0, (0.0, 0.0, 0.0))
    assert vox.area_mm2 == pytest.approx((80 - 4) * 4.0) and vox.thickness_mm == pytest.approx(8.0)
    assert vox.bounds == pytest.approx((1.0, 1.0, 21.0, 17.0))
    # a voxelized washer: the smoothed outline follows the circles the staircase approximates
    x, y = np.mgrid[:80, :80] - 39.5
    r = np.hypot(x, y)
    washer = np.repeat(((r < 36) & (r > 10))[:, :, None], 4, axis=2)
    smooth = outline_from_voxels(washer, 0.5, (0.0, 0.0, 0.0), smooth=True)
    assert smooth.area_mm2 == pytest.approx(washer[:, :, 0].sum() * 0.25, rel=0.005)
    centre = Point(39.5 * 0.5, 39.5 * 0.5)
    radii = shapely.distance(shapely.points(shapely.get_coordinates(smooth.polygons)), centre)
    dev = np.minimum(np.abs(radii - 18.0), np.abs(radii - 5.0))
    assert dev.max() < 0.25 and np.sqrt(np.mean(dev**2)) < 0.1  # within half a voxel of the true circles
    assert cnc_gcode(smooth, "waterjet-abrasive")[1]["holes"] == 1
    with pytest.raises(ExportError, match="empty"):
        outline_from_voxels(np.zeros((3, 3, 3), dtype=bool), 1.0, (0, 0, 0))
    with pytest.raises(ExportError, match="thickness"):
        outline_from_polygon(box(0, 0, 1, 1), 0.0)


def test_a_generated_gear_with_a_dense_outline_cuts_with_a_laser_kerf():
    """The grown gear of docs/morphogenesis.md: 70k outline points from the cutter's sweep. The offset's
    shortcuts on such an outline come 0.25 um inside the kerf radius, which must not refuse the part."""
    from fab.morph.gear_cutter import CutterProgram, generate

    program = CutterProgram(math.tan(math.radians(14.05)), -0.0016, 0.0038, 0.084, 1.05, 0.94, 0.05)
    gear = generate(program, 2.0, 20, roll_steps=2000).gear.difference(Point(0, 0).buffer(4.0, quad_segs=64))
    outline = outline_from_polygon(gear, 10.0)
    paths = toolpaths(outline, "laser-co2-3mm-plywood")
    r = 0.1
    coarse = gear.simplify(1e-4)  # moves the outline by <= 0.1 um; GEOS distances to 70k points are slow
    for c in paths:
        d = shapely.distance(shapely.points(c.path[::5]), coarse)
        assert d.min() > r - 1e-3 - 1e-4  # never into the part by more than 1 um
        assert d.max() < r * 1.05  # the offset hugs the outline: one kerf radius away everywhere
