"""Fabrication and viewer file writers, one module each, registered by name (``fab export --NAME``, a job's
``[export]`` table, ``fab.export.export(NAME=path)``).

An exporter is a module here (or anywhere importable) with

    def export(source, path, **options) -> dict      # the figures reported for the file written

where ``source`` is what ``needs`` names: "mesh" (a trimesh.Trimesh in mm: the part's own surface, or a smooth
surface of a voxel grid), "outline" (exporters.outline.Outline: the flat part's outline) or "grid" (a voxel grid:
``occupancy``, ``pitch`` mm, ``origin``, ``material_ids``, ``materials``, ``count``). ``options`` are the ones the
entry lists, passed only when given. Adding one is the module plus one ``register_exporter`` line below.
Exporters write atomically (exporters/atomic.py) and raise exporters.errors.ExportError on bad input.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

NEEDS = ("mesh", "outline", "grid")


@dataclass(frozen=True)
class Exporter:
    name: str  # fab export --NAME and export(NAME=path)
    needs: str  # "mesh", "outline" or "grid"
    module: str  # the module whose export(source, path, **options) writes the file
    help: str
    suffixes: tuple[str, ...] = ()  # file suffixes that pick this exporter (fab export -o FILE)
    options: tuple[str, ...] = ()  # keyword options it takes
    job_key: str = ""  # its key in a job's [export] table (default: name)

    def write(self, source: Any, path, options: dict[str, Any]) -> dict:
        """Write ``path`` from ``source`` with the options this exporter takes; its figures."""
        given = {k: v for k, v in options.items() if k in self.options and v is not None}
        return importlib.import_module(self.module).export(source, path, **given)


EXPORTERS: dict[str, Exporter] = {}


def register_exporter(exporter: Exporter) -> Exporter:
    if exporter.needs not in NEEDS:
        raise ValueError(f"exporter {exporter.name!r}: needs must be one of {', '.join(NEEDS)}")
    EXPORTERS[exporter.name] = exporter
    return exporter


def exporter_for(path) -> Exporter | None:
    """The exporter whose suffixes match ``path`` (the first registered), or None."""
    name = str(path).lower()
    for exporter in EXPORTERS.values():
        if any(name.endswith(s) for s in exporter.suffixes):
            return exporter
    return None


# Mesh outputs first, then the outline, then voxel outputs (the order files are written in).
register_exporter(Exporter("stl", "mesh", "exporters.stl", "STL (or .3mf) to write.", (".stl", ".3mf")))
register_exporter(Exporter("gcode", "mesh", "exporters.gcode", "FDM G-code to write (Marlin).", (".gcode",),
                           ("printer", "slicer_settings")))  # fmt: skip
register_exporter(Exporter("cnc", "outline", "exporters.cnc", "CNC/laser profile-cutting G-code to write (flat parts).",
                           (".nc", ".ngc", ".tap"), ("tool", "flavor", "tabs"), job_key="nc"))  # fmt: skip
register_exporter(Exporter("dxf", "outline", "exporters.dxf", "DXF of the flat outline to write.", (".dxf",)))
register_exporter(Exporter("svg", "outline", "exporters.svg", "SVG of the flat outline to write.", (".svg",)))
register_exporter(Exporter("assembly", "grid", "exporters.assembly", "Voxel assembly plan (JSON) to write.",
                           (".json",), ("placement_rate_per_hour", "material")))  # fmt: skip
register_exporter(Exporter("vox", "grid", "exporters.vox", "MagicaVoxel .vox to write.", (".vox",)))
register_exporter(Exporter("binvox", "grid", "exporters.binvox", ".binvox to write.", (".binvox",)))
register_exporter(Exporter("vtk", "grid", "exporters.vtk", "VTK image (.vti) of the voxel grid to write.", (".vti",)))
