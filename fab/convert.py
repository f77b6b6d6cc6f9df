"""``fab convert``: import a part, voxelize it, save the grid, summarize."""

from __future__ import annotations

import os
from pathlib import Path

from fab.part import load_part
from fab.progress import StageTimer
from fab.voxels import voxelize


def default_output(source: str | os.PathLike[str]) -> Path:
    """``part.step`` -> ``part.voxels.npz`` in the current directory."""
    return Path(Path(source).stem + ".voxels.npz")


def convert(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    *,
    pitch: float | None = None,
    count: int | None = None,
    units: str = "mm",
    params: dict | None = None,
    tolerance_mm: float = 0.01,
    memory_limit_mb: float | None = None,
    quiet: bool = False,
) -> dict:
    """Import ``source``, voxelize it at ``pitch`` mm (or about ``count`` voxels), save the grid as ``.npz``.

    Returns the summary printed by ``fab convert --json``.
    """
    from fab.outputs import check_output_paths

    target = Path(output) if output is not None else default_output(source)
    check_output_paths({"output": target})
    timer = StageTimer(quiet=quiet)
    with timer.stage("import", f"importing {source}"):
        part = load_part(source, params=params, units=units, tolerance_mm=tolerance_mm)
    options = {} if memory_limit_mb is None else {"memory_limit_mb": memory_limit_mb}
    with timer.stage("voxelize", "voxelizing"):
        grid = voxelize(part.mesh, pitch=pitch, count=count, source_sha256=part.source_sha256, **options)
    with timer.stage("save", f"saving {target}"):
        written = grid.save(target)
    part_volume = part.volume_mm3
    return {
        "part": {
            "source": str(source),
            "volume_mm3": part_volume,
            "brep_volume_mm3": part.brep_volume_mm3,
            "bbox_mm": part.bbox_mm.tolist(),
            "triangles": part.triangles,
            "watertight": part.watertight,
            "open_edges": part.open_edges,
        },
        "voxels": {
            "shape": list(grid.shape),
            "pitch_mm": grid.pitch,
            "origin_mm": grid.origin.tolist(),
            "count": grid.count,
            "volume_mm3": grid.volume_mm3,
            "volume_error_pct": 100.0 * (grid.volume_mm3 - part_volume) / part_volume,
            "method": grid.meta.get("method", "parity"),
        },
        "outputs": [str(written)],
        "timing_s": timer.timings(),
    }
