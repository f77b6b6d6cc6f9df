"""DXF drawing of a flat part's outline (ezdxf), for laser/waterjet/CNC software that imports DXF.

One closed LWPOLYLINE per ring, in mm (``$INSUNITS`` = millimetres): part boundaries on layer ``OUTLINE``,
holes on layer ``HOLES``. Optionally the tool paths of ``exporters.cnc.toolpaths`` on layer ``TOOLPATH``.
"""

from __future__ import annotations

import os

import ezdxf
import numpy as np
from ezdxf import units

from exporters.atomic import atomic_path
from exporters.errors import ExportError
from exporters.outline import Outline


def outline_document(outline: Outline, toolpaths: list | None = None) -> ezdxf.document.Drawing:
    """An ezdxf document holding the outline (and optional ``exporters.cnc.Contour`` tool paths)."""
    if not isinstance(outline, Outline):
        raise ExportError(f"expected an Outline, got {type(outline).__name__}")
    doc = ezdxf.new("R2010", setup=True)
    doc.units = units.MM
    doc.header["$MEASUREMENT"] = 1  # metric
    doc.layers.add("OUTLINE", color=7)
    doc.layers.add("HOLES", color=1)
    msp = doc.modelspace()
    for poly in outline.polygons.geoms:
        msp.add_lwpolyline(
            np.asarray(poly.exterior.coords)[:-1, :2], close=True, dxfattribs={"layer": "OUTLINE"}
        )
        for ring in poly.interiors:
            msp.add_lwpolyline(np.asarray(ring.coords)[:-1, :2], close=True, dxfattribs={"layer": "HOLES"})
    if toolpaths:
        doc.layers.add("TOOLPATH", color=3)
        for contour in toolpaths:
            msp.add_lwpolyline(contour.path[:-1], close=True, dxfattribs={"layer": "TOOLPATH"})
    return doc


def write_dxf(outline: Outline, path: str | os.PathLike[str], toolpaths: list | None = None) -> None:
    """Write the outline (mm) as DXF R2010; ``toolpaths`` (from ``exporters.cnc.toolpaths``) optional."""
    doc = outline_document(outline, toolpaths)
    with atomic_path(path) as tmp:
        doc.saveas(tmp)


def export(outline: Outline, path: str | os.PathLike[str]) -> dict:
    """The exporter entry point (exporters/__init__.py)."""
    write_dxf(outline, path)
    return {"thickness_mm": outline.thickness_mm}
