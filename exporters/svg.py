"""SVG drawing of a flat part's outline, 1 user unit = 1 mm, for laser cutters and vinyl/plotter tools.

The document is sized in mm (``width="..mm"``) with a matching ``viewBox``; y is flipped so the drawing
looks as seen from +z. Each part is one ``<path>`` (exterior plus holes, ``fill-rule="evenodd"``) drawn
as a hairline cut stroke (0.1 mm, red, no fill), the convention most laser software reads as "cut".
"""

from __future__ import annotations

import os

import numpy as np

from exporters.atomic import atomic_open
from exporters.errors import ExportError
from exporters.outline import Outline

MARGIN_MM = 1.0


def _ring_d(coords: np.ndarray, top: float) -> str:
    pts = np.asarray(coords)[:-1, :2]
    words = [f"{x:.4f},{top - y:.4f}" for x, y in pts]
    return "M" + " L".join(words) + " Z"


def outline_svg(outline: Outline, stroke: str = "#ff0000", stroke_width_mm: float = 0.1) -> str:
    """SVG text of the outline (see the module docstring)."""
    if not isinstance(outline, Outline):
        raise ExportError(f"expected an Outline, got {type(outline).__name__}")
    x0, y0, x1, y1 = outline.bounds
    width, height = x1 - x0 + 2 * MARGIN_MM, y1 - y0 + 2 * MARGIN_MM
    top = y1 + MARGIN_MM  # svg y = top - part y
    paths = []
    for poly in outline.polygons.geoms:
        d = " ".join(_ring_d(r.coords, top) for r in [poly.exterior, *poly.interiors])
        paths.append(
            f'  <path d="{d}" fill="none" fill-rule="evenodd" stroke="{stroke}" '
            f'stroke-width="{stroke_width_mm}"/>'
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{width:.4f}mm" height="{height:.4f}mm" '
        f'viewBox="{x0 - MARGIN_MM:.4f} 0 {width:.4f} {height:.4f}">\n'
        f"  <title>bits2atoms outline, thickness {outline.thickness_mm:g} mm</title>\n"
        + "\n".join(paths)
        + "\n</svg>\n"
    )


def write_svg(outline: Outline, path: str | os.PathLike[str]) -> None:
    """Write the outline (mm) as an SVG drawing sized in millimetres."""
    text = outline_svg(outline)
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def export(outline: Outline, path: str | os.PathLike[str]) -> dict:
    """The exporter entry point (exporters/__init__.py)."""
    write_svg(outline, path)
    return {"thickness_mm": outline.thickness_mm}
