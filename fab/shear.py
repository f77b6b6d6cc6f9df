"""The shear test: a prescribed offset of the loaded region applied in increments.

The reaction along the offset gives the shear stiffness (first increment, N/mm) and strength (peak force, N,
before it falls to ``SHEARED_THROUGH`` of the peak or a crack cuts the part).
"""

from __future__ import annotations

import numpy as np

from fab.equilibrium import Progress, equilibrium, separated, state_fields, watch_static
from fab.errors import FabError
from fab.job import Job, TestSpec
from fab.model import Loads, bind_base

# The part has sheared through when the reaction falls below this share of its peak.
SHEARED_THROUGH = 0.5


def shear_test(sim, model, job: Job, test: TestSpec, max_steps: int, progress: Progress, notes: list[str]):
    """Apply the displacement loads in increments; stiffness from the first, strength = peak reaction."""
    index = next(i for i, ld in enumerate(job.load) if ld.kind == "displacement")
    direction = np.asarray(job.load[index].vector, dtype=float)
    offset_mm = float(np.linalg.norm(direction))
    if offset_mm == 0:
        raise FabError("the shear displacement is zero: give the largest offset to apply, in mm")
    direction /= offset_mm
    name = f"load{index + 1}"
    curve: list[dict[str, float]] = []
    peak, total_steps, converged = 0.0, 0, True
    stiffness = None
    n = test.increments
    loads = Loads(sim.conditions, [], np.zeros(3), 0.0)
    bind_base(loads)
    for k in range(1, n + 1):
        loads.scale(k / n)
        ok, steps, reason = equilibrium(
            sim, max_steps, test.tolerance, progress, f"shear {k}/{n}", lambda: watch_static(sim, model)
        )
        total_steps += steps
        # Force the driver exerts on the part along the shear direction.
        force = float(sim.reaction(name) @ direction)
        delta = offset_mm * k / n
        curve.append({"displacement_mm": delta, "force_n": force, "converged": bool(ok)})
        if k == 1:
            stiffness = force / delta
        peak = max(peak, force)
        if reason is not None or separated(sim, model) or (peak > 0 and force < SHEARED_THROUGH * peak):
            notes.append(f"sheared through at {delta:.4g} mm (increment {k} of {n})")
            break
        converged = converged and ok
    else:
        if curve and curve[-1]["force_n"] >= peak:
            notes.append(
                f"the force still rises at the largest offset {offset_mm:g} mm: the shear strength is at least "
                f"{peak:.4g} N (give a larger displacement to find it)"
            )
            peak_value = None
        else:
            peak_value = peak
        extra = {"curve": curve, "shear_stiffness_n_per_mm": stiffness, "shear_strength_n": peak_value}
        return converged, total_steps, state_fields(sim, model), extra
    extra = {"curve": curve, "shear_stiffness_n_per_mm": stiffness, "shear_strength_n": peak}
    return converged, total_steps, state_fields(sim, model), extra
