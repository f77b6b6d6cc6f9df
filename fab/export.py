"""``fab export``: write fabrication and viewer files for a part or a saved voxel grid.

Input is anything ``fab convert`` imports (CadQuery script, STEP, mesh) or a voxel grid saved as ``.npz``.
Mesh outputs (STL/3MF, FDM G-code, CNC profile) use the part's own B-rep tessellation when the input is a part
(geometry unchanged), or a smooth volume-preserving surface of the grid when the input is a voxel grid.
Voxel outputs (assembly plan, .vox, .binvox, .vti) need a grid: the saved one, or the part voxelized at
``pitch`` mm (or about ``count`` voxels). All lengths in mm.
"""

from __future__ import annotations

import os
from dataclasses import asdict
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
    stl: str | os.PathLike[str] | None = None,
    gcode: str | os.PathLike[str] | None = None,
    cnc: str | os.PathLike[str] | None = None,
    dxf: str | os.PathLike[str] | None = None,
    svg: str | os.PathLike[str] | None = None,
    assembly: str | os.PathLike[str] | None = None,
    vox: str | os.PathLike[str] | None = None,
    binvox: str | os.PathLike[str] | None = None,
    vtk: str | os.PathLike[str] | None = None,
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
) -> dict:
    """Write every requested file; return a summary (``outputs`` maps each kind to its path and figures).

    ``source`` may also be an imported :class:`fab.part.Part`; ``grid`` an already voxelized grid of it (so a
    pipeline does not import or voxelize twice); ``timer`` a shared stage timer.
    """
    requested = {
        k: v
        for k, v in dict(
            stl=stl, gcode=gcode, cnc=cnc, assembly=assembly, vox=vox, binvox=binvox, vtk=vtk
        ).items()
        if v is not None
    }
    if not requested:
        raise FabError(
            "nothing to export: give at least one of --stl, --gcode, --cnc, --dxf, --svg, --assembly, --vox, --binvox, --vtk"
        )
    timer = timer or StageTimer(quiet=quiet)
    src = _Source(source, pitch, count, units, params, tolerance_mm, timer, grid)
    outputs: dict[str, dict] = {}

    if stl is not None:
        from exporters.stl import write_3mf, write_stl

        with timer.stage("stl", f"writing {stl}"):
            mesh = src.mesh()
            (write_3mf if str(stl).lower().endswith(".3mf") else write_stl)(mesh, stl)
        outputs["stl"] = {
            "path": str(stl),
            "triangles": int(len(mesh.faces)),
            "volume_mm3": float(mesh.volume),
            "watertight": bool(mesh.is_watertight),
        }
    if gcode is not None:
        from exporters.gcode import export_gcode

        with timer.stage("gcode", f"slicing into {gcode}"):
            summary = export_gcode(src.mesh(), gcode, printer, **(slicer_settings or {}))
        outputs["gcode"] = asdict(summary)
    if cnc is not None or dxf is not None or svg is not None:
        from exporters.outline import outline_from_mesh, outline_from_voxels

        with timer.stage("outline", "extracting the flat outline"):
            if src.is_grid:
                grid = src.grid("--cnc/--dxf/--svg")
                # Follow the part's curves (within half a voxel) rather than the voxel steps.
                outline = outline_from_voxels(grid.occupancy, grid.pitch, grid.origin, smooth=True)
            else:
                outline = outline_from_mesh(src.mesh())
    if cnc is not None:
        from exporters.cnc import write_cnc

        with timer.stage("cnc", f"writing {cnc}"):
            options = {"flavor": flavor, "tabs": tabs}
            if tool is not None:
                options["tool"] = tool
            outputs["cnc"] = {"path": str(cnc), **write_cnc(outline, cnc, **options)}
    if dxf is not None:
        from exporters.dxf import write_dxf

        with timer.stage("dxf", f"writing {dxf}"):
            write_dxf(outline, dxf)
        outputs["dxf"] = {"path": str(dxf), "thickness_mm": outline.thickness_mm}
    if svg is not None:
        from exporters.svg import write_svg

        with timer.stage("svg", f"writing {svg}"):
            write_svg(outline, svg)
        outputs["svg"] = {"path": str(svg), "thickness_mm": outline.thickness_mm}
    if assembly is not None:
        from exporters.assembly import export_assembly

        grid = src.grid("--assembly")
        options = (
            {} if placement_rate_per_hour is None else {"placement_rate_per_hour": placement_rate_per_hour}
        )
        with timer.stage("assembly", f"planning the assembly into {assembly}"):
            plan = export_assembly(
                grid.occupancy,
                grid.pitch,
                grid.origin,
                assembly,
                material_ids=grid.material_ids,
                materials=grid.materials,
                **options,
            )
        outputs["assembly"] = {"path": str(assembly), **plan.get("summary", {})}
    if vox is not None:
        from exporters.vox import write_vox

        grid = src.grid("--vox")
        with timer.stage("vox", f"writing {vox}"):
            write_vox(grid.occupancy, vox, material_ids=grid.material_ids)
        outputs["vox"] = {"path": str(vox), "voxels": grid.count}
    if binvox is not None:
        from exporters.binvox import write_binvox

        grid = src.grid("--binvox")
        with timer.stage("binvox", f"writing {binvox}"):
            write_binvox(grid.occupancy, grid.pitch, grid.origin, binvox)
        outputs["binvox"] = {"path": str(binvox), "voxels": grid.count}
    if vtk is not None:
        from exporters.vtk import write_vti

        grid = src.grid("--vtk")
        with timer.stage("vtk", f"writing {vtk}"):
            write_vti(grid.occupancy, grid.pitch, grid.origin, vtk)
        outputs["vtk"] = {"path": str(vtk), "voxels": grid.count}
    return {
        "source": "<voxel grid>" if isinstance(source, VoxelGrid) else str(getattr(source, "source", source)),
        "outputs": outputs,
        "timing_s": timer.timings(),
    }
