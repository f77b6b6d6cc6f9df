"""DXF and SVG outlines read back into the same polygons (mm)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import ezdxf
import numpy as np
import pytest
import shapely
from shapely.geometry import Point, Polygon, box

from exporters.cnc import toolpaths
from exporters.dxf import write_dxf
from exporters.errors import ExportError
from exporters.outline import outline_from_polygon
from exporters.svg import write_svg


def _plate() -> shapely.MultiPolygon:
    a = box(0, 0, 40, 20).difference(Point(10, 10).buffer(4)).difference(box(25, 5, 35, 15))
    return shapely.MultiPolygon([a, box(50, 0, 60, 10)])


def _even_odd(rings: list[np.ndarray]) -> shapely.Geometry:
    out = Polygon()
    for ring in rings:
        out = out.symmetric_difference(Polygon(ring))
    return out


def test_dxf_round_trip(tmp_path):
    outline = outline_from_polygon(_plate(), 3.0)
    path = tmp_path / "plate.dxf"
    write_dxf(outline, path, toolpaths=toolpaths(outline, "laser-co2-3mm-plywood"))
    doc = ezdxf.readfile(path)
    assert doc.units == ezdxf.units.MM
    msp = doc.modelspace()
    by_layer: dict[str, list[np.ndarray]] = {}
    for e in msp.query("LWPOLYLINE"):
        assert e.closed
        by_layer.setdefault(e.dxf.layer, []).append(np.array([(x, y) for x, y, *_ in e.get_points()]))
    assert len(by_layer["OUTLINE"]) == 2 and len(by_layer["HOLES"]) == 2 and len(by_layer["TOOLPATH"]) == 4
    back = _even_odd(by_layer["OUTLINE"] + by_layer["HOLES"])
    assert back.symmetric_difference(_plate()).area < 1e-6


def test_svg_round_trip(tmp_path):
    outline = outline_from_polygon(_plate(), 3.0)
    path = tmp_path / "plate.svg"
    write_svg(outline, path)
    root = ET.parse(path).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    assert root.get("width").endswith("mm")
    vb = [float(v) for v in root.get("viewBox").split()]
    assert float(root.get("width")[:-2]) == pytest.approx(vb[2])
    top = 20 + 1.0
    rings = []
    for p in root.iter(f"{ns}path"):
        for sub in re.findall(r"M([^Z]*)Z", p.get("d")):
            pts = np.array([[float(v) for v in xy.split(",")] for xy in sub.replace("L", " ").split()])
            rings.append(np.column_stack([pts[:, 0], top - pts[:, 1]]))
    assert len(rings) == 4
    assert _even_odd(rings).symmetric_difference(_plate()).area < 1e-3


def test_bad_outline_argument(tmp_path):
    with pytest.raises(ExportError, match="Outline"):
        write_svg(box(0, 0, 1, 1), tmp_path / "x.svg")
    with pytest.raises(ExportError, match="Outline"):
        write_dxf(box(0, 0, 1, 1), tmp_path / "x.dxf")
    assert list(tmp_path.iterdir()) == []
