"""The bracket as a morph problem (fab/morph/problems.py): its [morph] keys, and the best design's files and
failure test.

The problem itself (layout, development, scoring) is fab/morph/bracket.py. Lengths in mm, forces in N.
"""

from __future__ import annotations

import math
import time
from typing import Any

from fab.morph.config import Keys, MorphJob, material
from fab.morph.search import SearchResult
from fab.progress import stderr_console

# The trade-off reported as a Pareto front (both minimised): stiffness vs strength (compliance vs peak stretch).
PARETO_KEYS = ("compliance_nmm", "peak_stretch")
# Finest design grid the job may ask for (cells over the domain at fine_pitch).
MAX_FINE_CELLS = 250_000
KEYS = {
    "width": 60.0,
    "height": 30.0,
    "thickness": 5.0,
    "pitch": 1.5,
    "fine_pitch": 1.0,
    "force": 100.0,
    "material": "PLA",
    "volume_fraction": 0.4,
    "support_depth": 3.0,
    "pad_depth": 3.0,
    "pad_height": 6.0,
    "load_y": 15.0,
    "hole": [30.0, 15.0, 4.0],
    "steps": 30,
    "relax_steps": 20000,
    "relax_tolerance": 1e-3,
    "noise_seed": 0,
    "strength_weight": 1.0,
}


def read(k: Keys, table: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The BracketProblem of the [morph] table (no options beyond it)."""
    from fab.morph.bracket import BracketProblem

    d = KEYS
    width = k.number("width", d["width"], 1.0, 1e4)
    height = k.number("height", d["height"], 1.0, 1e4)
    pitch = k.number("pitch", d["pitch"], 1e-3, min(width, height) / 4)
    fine_pitch = k.number("fine_pitch", d["fine_pitch"], 1e-3, pitch)
    cells = (width / fine_pitch) * (height / fine_pitch)
    if cells > MAX_FINE_CELLS:
        raise k.fail(
            "fine_pitch", f"gives {cells:,.0f} cells over {width:g} x {height:g} mm: at most {MAX_FINE_CELLS:,}"
        )
    hole = table.get("hole", d["hole"])
    ok = isinstance(hole, list) and len(hole) in (0, 3)
    ok = ok and all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in hole)
    if not ok or (hole and hole[2] <= 0):
        raise k.fail("hole", f"must be [cx, cy, r] in mm with r > 0, or [] for none, got {hole!r}")
    seed = k.whole("noise_seed", d["noise_seed"], 0)
    problem = BracketProblem(
        width=width,
        height=height,
        thickness=k.number("thickness", d["thickness"], 1e-3),
        pitch=pitch,
        fine_pitch=fine_pitch,
        force=k.number("force", d["force"], 1e-9),
        material=material(k, table.get("material", d["material"])),
        volume_fraction=k.number("volume_fraction", d["volume_fraction"], 0.05, 0.95),
        support_depth=k.number("support_depth", d["support_depth"], pitch, width / 2),
        pad_depth=k.number("pad_depth", d["pad_depth"], pitch, width / 2),
        pad_height=k.number("pad_height", d["pad_height"], pitch, height),
        load_y=k.number("load_y", d["load_y"], 0.0, height),
        hole=tuple(float(v) for v in hole),
        steps=k.whole("steps", d["steps"], 8),
        relax_steps=k.whole("relax_steps", d["relax_steps"], 50),
        relax_tolerance=k.number("relax_tolerance", d["relax_tolerance"], 1e-6, 0.5),
        noise_seed=seed,
        strength_weight=k.number("strength_weight", d["strength_weight"], 0.0, 10.0),
    )
    lay = problem.layout()
    if lay.target <= int(lay.keep_in.sum()):
        raise k.fail("volume_fraction", "leaves no cells beyond the support and the pad: raise it")
    if not problem.connectable():
        raise k.fail("hole", "cuts the pad off the support: move or shrink it")
    return problem, {}


def outputs(mj: MorphJob, result: SearchResult, quiet: bool) -> dict[str, Any]:
    """The best bracket at the fine pitch: PNG, voxel grid (.npz), STL (extruded by the thickness) and a
    ``fab.stress`` failure test of it."""
    from fab.errors import FabError
    from fab.export import export
    from fab.morph.bracket import bracket_png, design_grid, failure_test

    t0 = time.perf_counter()
    problem, out = mj.problem, mj.output
    lay = problem.layout(fine=True)
    dev = problem.develop(result.best.genome, fine=True)
    ev = problem.evaluate_design(dev, fine=True)
    bracket_png(
        problem,
        dev.occupancy,
        lay,
        out / "bracket.png",
        f"grown bracket: compliance {dev.compliance:.4g} N mm",
    )
    grid = design_grid(problem, dev.occupancy, lay.pitch)
    grid.save(out / "bracket_voxels.npz")
    export(grid, stl=out / "bracket.stl", quiet=True)
    failure_load, failure_note = None, ""
    try:
        report = failure_test(problem, dev.occupancy, lay.pitch)
        failure_load = report.failure_load_n
        failure_note = next((n for n in report.notes if n.startswith(("failure between", "no failure"))), "")
    except FabError as exc:
        failure_note = f"failure test not run: {exc}"
    if not quiet:
        shown = "none found" if failure_load is None else f"{failure_load:.4g} N"
        stderr_console.print(
            f"bracket files and failure test ({shown}) in {time.perf_counter() - t0:.1f} s", highlight=False
        )
    return {
        "compliance_nmm": dev.compliance,
        "full_domain_compliance_nmm": dev.full_compliance,
        "volume_fraction": ev.metrics["volume_fraction"],
        "peak_stretch": dev.peak_stretch,
        "first_break_load_n": ev.metrics["first_break_load_n"],
        "fine_guards": list(ev.guards),
        "failure_load_n": failure_load,
        "service_load_n": problem.force,
        "failure_note": failure_note,
        "pitch_mm": lay.pitch,
        "outputs": {
            **mj.search_outputs(),
            "bracket_png": str(out / "bracket.png"),
            "voxels_npz": str(out / "bracket_voxels.npz"),
            "stl": str(out / "bracket.stl"),
        },
    }


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """What `fab morph` prints for a bracket beside the search's own lines."""
    failure = summary["failure_load_n"]
    return [
        f"compliance {summary['compliance_nmm']:.4g} N mm (full domain "
        f"{summary['full_domain_compliance_nmm']:.4g}), volume fraction {summary['volume_fraction']:.3f}, "
        f"peak bond stretch {summary['peak_stretch']:.3e}",
        (
            f"failure test: {failure:.4g} N"
            if failure is not None
            else summary["failure_note"] or "failure test: no result"
        )
        + f" (service load {summary['service_load_n']:g} N, first bond break estimated at "
        f"{summary['first_break_load_n']:.4g} N)",
    ]
