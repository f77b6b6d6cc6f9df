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

from exporters.atomic import Staging, staged
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
    material: Any = None,
    filament: Any = None,
    tool: str | os.PathLike[str] | None = None,
    flavor: str = "grbl",
    tabs: int | None = None,
    placement_rate_per_hour: float | None = None,
    grid: VoxelGrid | None = None,
    timer: StageTimer | None = None,
    quiet: bool = False,
    staging: Staging | None = None,
    **files: str | os.PathLike[str] | None,
) -> dict:
    """Write every requested file; return a summary (``outputs`` maps each kind to its path and figures).

    ``files``: one path per exporter by its registered name (exporters/__init__.py: ``stl``, ``gcode``, ``cnc``,
    ``dxf``, ``svg``, ``assembly``, ``vox``, ``binvox``, ``vtk``, ...). ``material`` (a built-in name or Material)
    sets the G-code's temperatures and fan, unless a ``filament`` profile (TOML path) is given; PLA's without
    either; it is also the material of an assembly plan's voxels (PLA without one). ``source`` may also be an
    imported :class:`fab.part.Part`; ``grid`` an already voxelized grid of it (so a pipeline does not import or
    voxelize twice); ``timer`` a shared stage timer. Every input is checked
    before the part is imported (:func:`check_export`), and the files are written under temporary names and
    renamed together at the end (into ``staging`` when a bigger command owns them): an error leaves none behind.
    """
    from exporters import EXPORTERS

    profile = check_export(
        files,
        source=source if grid is None else grid,
        pitch=pitch,
        count=count,
        printer=printer,
        slicer_settings=slicer_settings,
        material=material,
        filament=filament,
        tool=tool,
        flavor=flavor,
        tabs=tabs,
    )
    requested = {name: Path(files[name]) for name in EXPORTERS if files.get(name) is not None}
    timer = timer or StageTimer(quiet=quiet)
    src = _Source(source, pitch, count, units, params, tolerance_mm, timer, grid)
    options = dict(
        printer=profile,
        slicer_settings=slicer_settings,
        tool=tool,
        flavor=flavor,
        tabs=tabs,
        placement_rate_per_hour=placement_rate_per_hour,
        # the voxels' material in an assembly plan (its part types), PLA's like the G-code's without one
        material=getattr(material, "name", material) or "PLA",
    )
    outline = None
    outputs: dict[str, dict] = {}
    with staged(staging) as stage:
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
                figures = exporter.write(data, stage.path(path), options)
            outputs[name] = {**figures, "path": str(path)}
            if name == "gcode":
                outputs[name]["filament"] = profile.filament
    return {
        "source": "<voxel grid>" if isinstance(source, VoxelGrid) else str(getattr(source, "source", source)),
        "outputs": outputs,
        "timing_s": timer.timings(),
    }


def check_export(
    files: dict[str, str | os.PathLike[str] | None],
    *,
    source: Any = None,
    pitch: float | None = None,
    count: int | None = None,
    printer: Any = None,
    slicer_settings: dict[str, Any] | None = None,
    material: Any = None,
    filament: Any = None,
    tool: Any = None,
    flavor: str = "grbl",
    tabs: int | None = None,
) -> Any:
    """Check everything an export needs before anything is imported or written: known kinds, at least one
    output, each output's folder writable, the suffixes writers pick a format by, the printer profile, slicer
    settings and filament (G-code), the tool, flavour and tabs (CNC), a pitch or count for voxel outputs of a
    part. Returns the printer profile loaded with the filament (None without G-code): ``filament`` (a filament
    TOML or FilamentProfile) if given, else the print settings of ``material`` (a built-in name or Material),
    else PLA's. Raises FabError / ExportError with one line."""
    from exporters import EXPORTERS
    from fab.outputs import check_output_paths

    unknown = sorted(set(files) - set(EXPORTERS))
    if unknown:
        raise FabError(f"unknown export kind(s) {', '.join(unknown)}: known {', '.join(EXPORTERS)}")
    requested = {name: Path(files[name]) for name in EXPORTERS if files.get(name) is not None}
    if not requested:
        raise FabError("nothing to export: give at least one of " + ", ".join(f"--{name}" for name in EXPORTERS))
    check_output_paths(requested)
    suffixes = {"stl": (".stl", ".3mf"), "vtk": (".vti",)}  # the writers pick their format by these
    for kind, path in requested.items():
        allowed = suffixes.get(kind)
        if allowed and path.suffix.lower() not in allowed:
            raise FabError(f"--{kind} {path}: expected a {' or '.join(allowed)} file name")
    is_grid = isinstance(source, VoxelGrid) or Path(str(source)).suffix.lower() == ".npz"
    voxel_outputs = [k for k in requested if EXPORTERS[k].needs == "grid"]
    if voxel_outputs and not is_grid and (pitch is None) == (count is None):
        raise FabError(f"--{voxel_outputs[0]} is made from voxels: give exactly one of --pitch (mm) or --count")
    profile = None
    if "gcode" in requested:
        from exporters.errors import ExportError
        from exporters.gcode import SLICE_SETTINGS
        from exporters.printers import FilamentProfile, load_filament, load_printer, with_filament
        from exporters.slicer import check_settings
        from fab.materials import print_settings

        if filament is not None:
            loaded = load_filament(filament)
        else:
            loaded = FilamentProfile(**print_settings(material if material is not None else "PLA"))
        profile = with_filament(load_printer(printer), loaded)
        settings = dict(slicer_settings or {})
        unknown = sorted(set(settings) - SLICE_SETTINGS)
        if unknown:
            raise ExportError(
                f"unknown slicer setting(s) {', '.join(unknown)} (known: {', '.join(sorted(SLICE_SETTINGS))})"
            )
        check_settings(profile, **settings)
    if "cnc" in requested:
        from exporters.cnc import FLAVORS
        from exporters.tools import load_tool

        load_tool(tool if tool is not None else "endmill-3.175-wood")
        if flavor not in FLAVORS:
            raise FabError(f"unknown CNC G-code flavor {flavor!r}; choose one of {', '.join(FLAVORS)}")
        if tabs is not None and tabs < 0:
            raise FabError(f"--tabs must be >= 0, got {tabs}")
    return profile


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
