"""The failure test: the loads are multiplied by a factor until a crack cuts the part.

The factor is bracketed by doubling (or halving when the service load already fails), then bisected;
``failure_load_n`` = factor x the total service force, ``safety_factor`` = factor. Failed: the loaded particles
are cut off from every support, or the part runs away (see fab.equilibrium).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fab.equilibrium import (
    Progress,
    equilibrium,
    restore_state,
    save_state,
    separated,
    state_fields,
    watch_static,
)
from fab.job import TestSpec
from fab.model import MM, Loads

# Bisection steps after the bracket is found (2**-5 of a doubling: about 2 % on the load).
BISECTIONS = 5


def failure_test(
    sim, model, loads: Loads, test: TestSpec, max_steps: int, progress: Progress, notes: list[str]
):
    """Bracket the failure load factor by doubling (or halving), then bisect; state restored between tries."""
    curve: list[dict[str, float]] = []
    total_steps = 0

    def attempt(factor: float, label: str) -> tuple[bool, int]:
        loads.scale(factor)
        ok, steps, reason = equilibrium(
            sim, max_steps, test.tolerance, progress, label, lambda: watch_static(sim, model)
        )
        failed = (not ok) or separated(sim, model)
        curve.append(
            {
                "factor": factor,
                "max_displacement_mm": float(np.abs(sim.u).max() / MM),
                "broken_bond_fraction": float(
                    1.0 - sim._bond_counts().sum() / max(int(sim.initial_bond_count.sum()), 1)
                ),
                "failed": float(failed),
            }
        )
        return failed, steps

    unloaded = save_state(sim)
    service_failed, steps = attempt(1.0, "service load")
    total_steps += steps
    service = state_fields(sim, model)
    lo_state = save_state(sim)
    if service_failed:
        lo, hi, hi_state = 0.0, 1.0, save_state(sim)
        lo_state = unloaded
        factor = 1.0
        while True:
            factor *= 0.5
            if factor < 1.0 / test.max_factor:
                notes.append(f"the part fails even at 1/{test.max_factor:g} of the service load")
                lo = 0.0
                break
            restore_state(sim, lo_state)
            failed, steps = attempt(factor, f"load x{factor:.3g}")
            total_steps += steps
            if failed:
                hi, hi_state = factor, save_state(sim)
            else:
                lo, lo_state = factor, save_state(sim)
                break
    else:
        lo, hi, hi_state = 1.0, None, None
        factor = 1.0
        while hi is None:
            factor *= 2.0
            if factor > test.max_factor:
                break
            restore_state(sim, lo_state)
            failed, steps = attempt(factor, f"load x{factor:.3g}")
            total_steps += steps
            if failed:
                hi, hi_state = factor, save_state(sim)
            else:
                lo, lo_state = factor, save_state(sim)
    if hi is None:
        notes.append(f"no failure up to {test.max_factor:g} x the service load ([test] max_factor)")
        restore_state(sim, lo_state)
        fields_ = state_fields(sim, model)
        extra = {"curve": curve, "failure_load_factor": None}
        return True, total_steps, {**fields_, **service_values(service)}, extra
    for _ in range(BISECTIONS if lo > 0 else 0):
        mid = 0.5 * (lo + hi)
        restore_state(sim, lo_state)
        failed, steps = attempt(mid, f"load x{mid:.3g}")
        total_steps += steps
        if failed:
            hi, hi_state = mid, save_state(sim)
        else:
            lo, lo_state = mid, save_state(sim)
    restore_state(sim, hi_state)
    failed_fields = state_fields(sim, model)
    factor = 0.5 * (lo + hi)
    force = float(np.linalg.norm(loads.force_n))
    extra = {
        "curve": curve,
        "failure_load_factor": factor,
        "safety_factor": factor,
        "failure_load_n": factor * force if force > 0 else None,
        "failure_torque_nm": factor * loads.torque_nm if loads.torque_nm > 0 else None,
    }
    notes.append(f"failure between {lo:.4g} and {hi:.4g} x the service load")
    fields_ = {**failed_fields, **service_values(service)}
    return True, total_steps, fields_, extra


def service_values(service: dict[str, Any]) -> dict[str, Any]:
    """The scalar results at the service load (the arrays stay those of the failed state)."""
    keys = (
        "max_displacement_mm",
        "max_von_mises_pa",
        "reaction_force_n",
        "broken_bond_fraction",
        "fragments",
    )
    return {k: service[k] for k in keys}
