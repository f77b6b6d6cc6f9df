"""The gear as a morph problem (fab/morph/problems.py): its [morph] keys, its report and fabrication files.

The problem itself (profile, meshing, scoring) is fab/morph/gear.py; the report (reference involute pair, involute
fit, transmission error curves, tooth strength) and the files (DXF, CNC, STL, G-code, STEP) are written here for
the best design. Lengths in mm, torques in N m.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from fab.morph import plots
from fab.morph.config import Keys, MorphJob, material
from fab.morph.search import SearchResult
from fab.progress import stderr_console

# The trade-off reported as a Pareto front (both minimised): smooth action vs root stress.
PARETO_KEYS = ("te_rad", "root_stress_mpa")
KEYS = {
    "module": 2.0,
    "teeth": 20,
    "face_width": 10.0,
    "torque": 20.0,
    "material": "Steel1045",
    "centre_error": 0.03,
    "backlash": [0.02, 0.25],
    "min_contact_ratio": 1.2,
    "te_scale": 1e-4,
    "strength_weight": 1.0,
    "spacing": 0.125,
    "fine_spacing": 0.08,
    "roll_steps": 800,
    "fine_roll_steps": 2000,
    "mesh_samples": 32,
    "relax_steps": 3000,
    "relax_tolerance": 1e-2,
    "strength_gate": 3.0,
    "gated_stress_ratio": 0.2,
    "bore": 8.0,
    "printer": None,
    "tool": "laser-co2-3mm-plywood",
    "files": ["csv", "outline_dxf", "dxf", "nc", "stl", "gcode", "step"],
}


def read(k: Keys, table: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The GearProblem of the [morph] table and the job's file options (bore, printer, tool, files)."""
    from fab.morph.gear import GearProblem

    band = table.get("backlash", KEYS["backlash"])
    ok = isinstance(band, list) and len(band) == 2
    ok = ok and all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in band)
    if not ok or not 0 <= band[0] < band[1]:
        raise k.fail("backlash", f"must be [min, max] in mm with 0 <= min < max, got {band!r}")
    problem = GearProblem(
        module=k.number("module", 2.0, 0.05, 100.0),
        teeth=k.whole("teeth", 20, 6, 400),
        face_width=k.number("face_width", 10.0, 1e-3),
        torque=k.number("torque", 20.0, 1e-9),
        material=material(k, table.get("material", KEYS["material"])),
        centre_error=k.number("centre_error", 0.03, 0.0, 0.5),
        backlash_min=float(band[0]),
        backlash_max=float(band[1]),
        min_contact_ratio=k.number("min_contact_ratio", 1.2, 1.0, 3.0),
        te_scale=k.number("te_scale", 1e-4, 1e-12),
        strength_weight=k.number("strength_weight", 1.0, 0.0),
        spacing=k.number("spacing", 0.125, 0.02, 0.5),
        fine_spacing=k.number("fine_spacing", 0.08, 0.01, 0.5),
        roll_steps=k.whole("roll_steps", 800, 50),
        fine_roll_steps=k.whole("fine_roll_steps", 2000, 50),
        mesh_samples=k.whole("mesh_samples", 32, 4),
        relax_steps=k.whole("relax_steps", 3000, 50),
        relax_tolerance=k.number("relax_tolerance", 1e-2, 1e-5, 0.5),
        strength_gate=k.number("strength_gate", 3.0, 0.0),
        gated_stress_ratio=k.number("gated_stress_ratio", 0.2, 0.0),
    )
    bore = k.number("bore", 8.0, 0.0)
    printer = table.get("printer")
    if printer is not None and (not isinstance(printer, str) or not printer.strip()):
        raise k.fail("printer", f"must be a printer name or TOML path, got {printer!r}")
    tool = table.get("tool", KEYS["tool"])
    if not isinstance(tool, str) or not tool.strip():
        raise k.fail("tool", f"must be a CNC tool name or TOML path, got {tool!r}")
    files = table.get("files", KEYS["files"])
    known = KEYS["files"]
    if not isinstance(files, list) or not all(isinstance(f, str) and f in known for f in files):
        raise k.fail("files", f"must be a list of {', '.join(known)}, got {files!r}")
    return problem, {"bore": bore, "printer": printer, "tool": tool, "files": tuple(files)}


def outputs(mj: MorphJob, result: SearchResult, quiet: bool) -> dict[str, Any]:
    """The best gear's report, figures and fabrication files."""
    from fab.morph.gear_cutter import CutterProgram
    from fab.morph.gear_report import (
        fit_involute,
        gear_outline,
        reference_backlash,
        reference_profile,
        write_fabrication,
    )

    t0 = time.perf_counter()
    problem, out, genome = mj.problem, mj.output, result.best.genome
    best = problem.profile(genome, fine=True)
    ref = reference_profile(problem)
    best_meshes = problem.meshes(best, fine=True)
    ref_meshes = problem.meshes(ref, fine=True)
    # The flank that can work: from the lowest contact (any centre distance) up to just under the tip.
    lows = [m.contact_radii[0] for m in best_meshes if np.isfinite(m.contact_radii[0])]
    r_lo = min(lows) if lows else best.root_radius + 0.25 * problem.module
    r_hi = best.tip_radius - 0.02 * problem.module
    fit = fit_involute(best, r_lo, r_hi)
    plots.profile_vs_involute(
        fit.radii,
        fit.flank,
        fit.fitted,
        fit.deviation_mm * 1e3,
        out / "profile_vs_involute.png",
        f"flank vs best-fit involute: max {fit.max_deviation_mm * 1e3:.2f} um, "
        f"pressure angle {fit.pressure_angle_deg:.2f} deg",
    )
    curves = {}
    for label, meshes in (("grown", best_meshes), ("involute 20", ref_meshes)):
        for m in meshes:
            off = m.centre_distance - 2 * best.pitch_radius
            curves[f"{label}, a {off:+.3f} mm"] = (m.theta1, m.te_loaded)
    plots.transmission_error(
        curves, out / "transmission_error.png", "loaded transmission error over one pitch"
    )
    files = {
        "profile_vs_involute_png": str(out / "profile_vs_involute.png"),
        "transmission_error_png": str(out / "transmission_error.png"),
    }
    polygon = gear_outline(problem, genome)
    file_errors: dict[str, str] = {}
    files.update(
        write_fabrication(
            polygon, out, "gear", problem.face_width, mj.bore, mj.printer, mj.tool, mj.files, file_errors
        )
    )
    for kind, message in file_errors.items():
        if not quiet:
            stderr_console.print(f"[yellow]warning:[/yellow] {kind} not written: {message}", highlight=False)
    if not quiet:
        stderr_console.print(
            f"gear report and files written in {time.perf_counter() - t0:.1f} s", highlight=False
        )
    te = max(m.te_loaded_pp for m in best_meshes)
    te_ref = max(m.te_loaded_pp for m in ref_meshes)
    # Both teeth through the particle engine at the re-scoring resolution: the strength side of the trade.
    from fab.morph.gear_strength import tooth_strength

    spacing = problem.fine_spacing * problem.module
    stress = [
        tooth_strength(
            p,
            problem.material,
            problem.torque,
            problem.face_width,
            spacing,
            2 * problem.relax_steps,
            problem.relax_tolerance / 5,
        ).root_stress
        / 1e6
        for p in (best, ref)
    ]
    return {
        "module_mm": problem.module,
        "teeth": problem.teeth,
        "transmission_error_rad": te,
        "reference_transmission_error_rad": te_ref,
        "unloaded_transmission_error_rad": max(m.te_unloaded_pp for m in best_meshes),
        "reference_unloaded_transmission_error_rad": max(m.te_unloaded_pp for m in ref_meshes),
        "involute_deviation_pct_module": 100 * fit.max_deviation_mm / problem.module,
        "pressure_angle_deg": fit.pressure_angle_deg,
        "root_stress_mpa": stress[0],
        "reference_root_stress_mpa": stress[1],
        "contact_ratio": min(m.contact_ratio for m in best_meshes),
        "reference_contact_ratio": min(m.contact_ratio for m in ref_meshes),
        "backlash_mm": [min(m.backlash_mm for m in best_meshes), max(m.backlash_mm for m in best_meshes)],
        "reference_backlash_mm": reference_backlash(problem),
        "working_flank_mm": [r_lo, r_hi],
        "cutter": CutterProgram.from_genome(genome).as_dict(),
        "file_errors": file_errors,
        "outputs": {**mj.search_outputs(), **files},
    }


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """What `fab morph` prints for a gear beside the search's own lines."""
    return [
        f"transmission error {summary['transmission_error_rad']:.3e} rad "
        f"(standard 20 deg involute pair: {summary['reference_transmission_error_rad']:.3e} rad)",
        f"flank vs best-fit involute {summary['involute_deviation_pct_module']:.3f} % of the module, "
        f"pressure angle {summary['pressure_angle_deg']:.2f} deg, "
        f"contact ratio {summary['contact_ratio']:.3f}",
    ]
