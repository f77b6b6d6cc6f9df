"""The failure test: the loads are multiplied by a factor until a crack cuts the part.

Where Newton applies (physics/newton.py: dead loads and supports), one pass along the load path
(``physics.newton.trace``): the service load, load control to the first bond break, then control of the loads'
work-conjugate displacement with bonds breaking between converged increments, past the peak until the load
falls below 0.9 of it (``newton.DROP``), a crack runs faster round after round at a load below 0.97 of it
(``newton.RUNNING_PAST_PEAK``, ``RUNNING_FALL``) or a crack cuts the loaded region off. ``failure_load_n`` = the
peak factor x the total service force, ``safety_factor`` = the peak factor, ``curve`` the load-displacement points with the peak marked.
Elsewhere (indenters, contact) the old way with dynamic relaxation: the factor is bracketed by doubling (or
halving when the service load already fails), then bisected, each try from the last state that held. Failed:
the loaded particles are cut off from every support, or the part runs away (see fab.equilibrium).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from fab.equilibrium import (
    BALANCE,
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
# A traced failure test builds the load path's Galerkin coarse level before its service solve (False: after it).
GALERKIN_FIRST = True


def failure_test(
    sim, model, loads: Loads, test: TestSpec, max_steps: int, progress: Progress, notes: list[str]
):
    """The failure load: traced in one pass by Newton where it applies, else bracketed and bisected."""
    from fab import equilibrium as eq
    from physics import newton

    if eq.NEWTON and newton.supports(sim):
        out = traced_failure_test(sim, model, loads, test, max_steps, progress, notes)
        if out is not None:
            return out
    return bisection_failure_test(sim, model, loads, test, max_steps, progress, notes)


def traced_failure_test(
    sim, model, loads: Loads, test: TestSpec, max_steps: int, progress: Progress, notes: list[str]
):
    """One pass along the load path (physics.newton.trace); None when Newton finds no equilibrium at the
    service load with every bond intact (the caller falls back to bisection with dynamic relaxation)."""
    from physics import newton, relaxation

    force = float(np.linalg.norm(loads.force_n))
    loads.scale(1.0)
    unloaded = save_state(sim)

    def callback(step: int, residual: float) -> bool:
        progress.update("service load", 0.0, f"iteration {step}, residual {residual:.1e}/{test.tolerance:.0e}, "
                        f"balance {relaxation.imbalance(sim):.1e}/{BALANCE:.0e}")  # fmt: skip
        return progress.observe(sim, step, residual, "service load") is not None

    # The load path's Galerkin coarse level, built about the unloaded state, preconditions the service solve too
    # (the multigrid K-cycle took three times its products there).
    solver = newton.newton_for(sim)
    solver.pattern = newton.Pattern(sim)
    built = solver.coarse_level() if GALERKIN_FIRST else 0
    res = newton.solve(sim, tolerance=test.tolerance, callback=callback, balance=BALANCE)
    if res is None or res["failed"] or res["stopped"]:
        restore_state(sim, unloaded)
        return None
    intact = save_state(sim)
    broken_before = int(np.bitwise_count(sim.bits).sum())  # pre-cracks count as broken already
    steps = res["steps"] + built
    # The service load's own result, bonds breaking as in a static test (from the intact equilibrium).
    ok, more, reason = equilibrium(
        sim, max_steps, test.tolerance, progress, "service load", lambda: watch_static(sim, model)
    )
    steps += more
    service = state_fields(sim, model)
    if not ok or int(np.bitwise_count(sim.bits).sum()) < broken_before:
        notes.append("bonds break at the service load" + ("" if ok else f": {reason or 'no equilibrium'}"))
    restore_state(sim, intact)
    loads.scale(1.0)
    start = time.perf_counter()
    iterations = [0]

    def report(event: dict) -> None:
        load = f" ({event['factor'] * force:.4g} N)" if force > 0 else ""
        progress.update(
            "failure",
            min(1.0, event["factor"] / max(test.max_factor, 1.0)),
            f"load x{event['factor']:.4g}{load}, w {event['w_mm']:.4g} mm, iteration {event['iteration']}, "
            f"residual {event['residual']:.1e}, broken {event['broken']} bonds, {time.perf_counter() - start:.0f} s",
        )
        iterations[0] += 1  # the live view: cracks as they grow, pause, stop (raises LiveStopped)
        progress.observe(sim, iterations[0], event["residual"], f"failure: load x{event['factor']:.4g}")

    path = newton.trace(
        sim,
        tolerance=test.tolerance,
        balance=BALANCE,
        max_factor=test.max_factor,
        watch=lambda: watch_static(sim, model),
        progress=report,
        on_point=lambda p: progress.path_point(sim, p["w_m"] / MM, p["factor"], force),
    )
    steps += path.evaluations
    total_bonds = max(int(sim.initial_bond_count.sum()) // 2, 1)
    curve = [
        {
            "factor": p["factor"],
            "load_n": p["factor"] * force if force > 0 else None,
            "displacement_mm": p["w_m"] / MM,
            "broken_bond_fraction": p["broken"] / total_bonds,
            "peak": i == path.peak_index,
            "failed": bool(path.failed and i == len(path.curve) - 1),
        }
        for i, p in enumerate(path.curve)
    ]
    fields_ = state_fields(sim, model)
    if not path.failed or path.peak_factor is None:
        notes.append(f"no failure found: {path.reason}")
        extra = {"curve": curve, "failure_load_factor": None}
        return True, steps, {**fields_, **service_values(service)}, extra
    factor = path.peak_factor
    notes.append(
        f"failure at {factor:.4g} x the service load, the peak of the load-displacement curve "
        f"({len(curve)} points, {path.iterations} Newton iterations); then {path.reason}"
    )
    extra = {
        "curve": curve,
        "failure_load_factor": factor,
        "safety_factor": factor,
        "failure_load_n": factor * force if force > 0 else None,
        "failure_torque_nm": factor * loads.torque_nm if loads.torque_nm > 0 else None,
    }
    return path.converged, steps, {**fields_, **service_values(service)}, extra


def bisection_failure_test(
    sim, model, loads: Loads, test: TestSpec, max_steps: int, progress: Progress, notes: list[str]
):
    """Bracket the failure load factor by doubling (or halving), then bisect; state restored between tries.
    The fallback for what Newton cannot do (indenters, contact): each try relaxes dynamically."""
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
                "failed": bool(failed),
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
