"""``fab export``: write fabrication and viewer files for a part or a saved voxel grid.

Input is anything ``fab convert`` imports (CadQuery script, STEP, mesh) or a voxel grid saved as ``.npz``.
Mesh outputs (STL/3MF, FDM G-code, CNC profile) use the part's own B-rep tessellation when the input is a part
(geometry unchanged), or a smooth volume-preserving surface of the grid when the input is a voxel grid.
Voxel outputs (assembly plan, .vox, .binvox, .vti) need a grid: the saved one, or the part voxelized at
``pitch`` mm (or about ``count`` voxels). All lengths in mm.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fab.errors import FabError
from fab.progress import StageTimer
from fab.voxels import VoxelGrid

if TYPE_CHECKING:
    from fab.part import Part


class _Source:
    """Lazily provides the input as a mesh and as a voxel grid."""

    def __init__(
        self, source, pitch, count, units, params, tolerance_mm, timer: StageTimer, grid=None
    ) -> None:
        from fab.part import Part

        self.source, self.pitch, self.count = source, pitch, count
        self.units, self.params, self.tolerance_mm = units, params, tolerance_mm
        self.timer = timer
        self._part = source if isinstance(source, Part) else None
        self._grid = grid
        self._mesh = None
        self.is_grid = isinstance(source, VoxelGrid) or (
            self._part is None and Path(str(source)).suffix.lower() == ".npz"
        )
        if self.is_grid:
            self._grid = source if isinstance(source, VoxelGrid) else VoxelGrid.load(source)

    def part(self):
        if self._part is None:
            from fab.part import load_part

            with self.timer.stage("import", f"importing {self.source}"):
                self._part = load_part(
                    self.source, params=self.params, units=self.units, tolerance_mm=self.tolerance_mm
                )
        return self._part

    def grid(self, what: str) -> VoxelGrid:
        if self._grid is None:
            if (self.pitch is None) == (self.count is None):
                raise FabError(f"{what} is made from voxels: give exactly one of --pitch (mm) or --count")
            from fab.voxels import voxelize

            part = self.part()
            with self.timer.stage("voxelize", "voxelizing"):
                self._grid = voxelize(
                    part.mesh, pitch=self.pitch, count=self.count, source_sha256=part.source_sha256
                )
        return self._grid

    def mesh(self):
        if self._mesh is None:
            if self.is_grid:
                from exporters.stl import mesh_from_voxels

                grid = self._grid
                with self.timer.stage("surface", "meshing the voxel grid"):
                    self._mesh = mesh_from_voxels(grid.occupancy, grid.pitch, grid.origin)
            else:
                self._mesh = self.part().mesh
        return self._mesh


def export(
    source: str | os.PathLike[str] | VoxelGrid | Part,
    *,
    pitch: float | None = None,
    count: int | None = None,
    units: str = "mm",
    params: dict[str, Any] | None = None,
    tolerance_mm: float = 0.01,
    printer: str | os.PathLike[str] | None = None,
    slicer_settings: dict[str, Any] | None = None,
    tool: str | os.PathLike[str] | None = None,
    flavor: str = "grbl",
    tabs: int | None = None,
    placement_rate_per_hour: float | None = None,
    grid: VoxelGrid | None = None,
    timer: StageTimer | None = None,
    quiet: bool = False,
    **files: str | os.PathLike[str] | None,
) -> dict:
    """Write every requested file; return a summary (``outputs`` maps each kind to its path and figures).

    ``files``: one path per exporter by its registered name (exporters/__init__.py: ``stl``, ``gcode``, ``cnc``,
    ``dxf``, ``svg``, ``assembly``, ``vox``, ``binvox``, ``vtk``, ...). ``source`` may also be an imported
    :class:`fab.part.Part`; ``grid`` an already voxelized grid of it (so a pipeline does not import or voxelize
    twice); ``timer`` a shared stage timer.
    """
    from exporters import EXPORTERS

    unknown = sorted(set(files) - set(EXPORTERS))
    if unknown:
        raise FabError(f"unknown export kind(s) {', '.join(unknown)}: known {', '.join(EXPORTERS)}")
    requested = {name: files[name] for name in EXPORTERS if files.get(name) is not None}
    if not requested:
        raise FabError(
            "nothing to export: give at least one of " + ", ".join(f"--{name}" for name in EXPORTERS)
        )
    timer = timer or StageTimer(quiet=quiet)
    src = _Source(source, pitch, count, units, params, tolerance_mm, timer, grid)
    options = dict(
        printer=printer,
        slicer_settings=slicer_settings,
        tool=tool,
        flavor=flavor,
        tabs=tabs,
        placement_rate_per_hour=placement_rate_per_hour,
    )
    outline = None
    outputs: dict[str, dict] = {}
    for name, path in requested.items():
        exporter = EXPORTERS[name]
        if exporter.needs == "mesh":
            data = src.mesh()
        elif exporter.needs == "outline":
            if outline is None:
                outline = _outline(src, requested, timer)
            data = outline
        else:
            data = src.grid(f"--{name}")
        with timer.stage(name, f"writing {path}"):
            figures = exporter.write(data, path, options)
        outputs[name] = {"path": str(path), **figures}
    return {
        "source": "<voxel grid>" if isinstance(source, VoxelGrid) else str(getattr(source, "source", source)),
        "outputs": outputs,
        "timing_s": timer.timings(),
    }


def _outline(src: _Source, requested: dict, timer: StageTimer):
    """The flat part's outline, once for every outline exporter."""
    from exporters import EXPORTERS
    from exporters.outline import outline_from_mesh, outline_from_voxels

    with timer.stage("outline", "extracting the flat outline"):
        if src.is_grid:
            which = "/".join(f"--{k}" for k in requested if EXPORTERS[k].needs == "outline")
            grid = src.grid(which)
            # Follow the part's curves (within half a voxel) rather than the voxel steps.
            return outline_from_voxels(grid.occupancy, grid.pitch, grid.origin, smooth=True)
        return outline_from_mesh(src.mesh())
