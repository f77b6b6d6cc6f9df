"""Write one evaluated design out now (the live view's "promote"): its figures, its picture and the files
that make it, in ``OUTPUT/promoted/design_NNNN/``.

Gear: the outline DXF, the flat part's DXF and an extruded STL (``gear_report.write_fabrication``).
Bracket and part (a refinement's search): the developed design's voxel grid (.npz) and STL at the search pitch. Every file is written to a
temporary name and renamed; a format an exporter refuses is skipped with its one-line reason.
"""

from __future__ import annotations

import json
from typing import Any

from exporters.atomic import atomic_open
from fab.morph.config import MorphJob
from fab.morph.run import json_safe
from fab.morph.search import Record


def promote(mj: MorphJob, record: Record, index: int) -> dict[str, Any]:
    """Write ``record`` (the ``index``-th evaluated design) out; returns what was written."""
    from fab.errors import user_errors

    folder = mj.output / "promoted" / f"design_{index:04d}"
    folder.mkdir(parents=True, exist_ok=True)
    ev = record.evaluation
    files: dict[str, str] = {}
    errors: dict[str, str] = {}
    png = folder / "design.png"
    mj.problem.snapshot(record.genome, png, f"design {index} (generation {record.generation})")
    files["png"] = str(png)
    try:
        if mj.problem_name == "gear":
            from fab.morph.gear_report import gear_outline, write_fabrication

            polygon = gear_outline(mj.problem, record.genome)
            files.update(
                write_fabrication(
                    polygon,
                    folder,
                    "gear",
                    mj.problem.face_width,
                    mj.bore,
                    mj.printer,
                    mj.tool,
                    ("outline_dxf", "dxf", "stl"),
                    errors,
                )
            )
        elif mj.problem_name in ("bracket", "part"):
            from fab.export import export

            lay = mj.problem.layout(fine=False)
            dev = mj.problem.develop(record.genome, fine=False)
            if mj.problem_name == "bracket":
                from fab.morph.bracket import design_grid

                grid = design_grid(mj.problem, dev.occupancy, lay.pitch)
            else:
                from fab.voxels import VoxelGrid

                grid = VoxelGrid(dev.occupancy, lay.pitch, lay.origin)
            voxels, stl = folder / f"{mj.problem_name}_voxels.npz", folder / f"{mj.problem_name}.stl"
            grid.save(voxels)
            export(grid, stl=stl, quiet=True)
            files.update(voxels_npz=str(voxels), stl=str(stl))
    except user_errors() as exc:
        errors["files"] = str(exc)
    info = {
        "design": index,
        "generation": record.generation,
        "score": ev.score,
        "guards": list(ev.guards),
        "objectives": ev.objectives,
        "metrics": ev.metrics,
        "genome": [float(x) for x in record.genome],
        "files": files,
        "file_errors": errors,
    }
    with atomic_open(folder / "design.json", "w") as fh:
        json.dump(json_safe(info), fh, indent=2)
    files["json"] = str(folder / "design.json")
    return json_safe({k: info[k] for k in ("design", "generation", "score", "guards", "files", "file_errors")})


__all__ = ["promote"]
