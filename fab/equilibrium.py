"""The equilibrium driver: quasi-static solves with progress, failure watching, and the state's result fields.

A solve is converged when the RMS residual is below the test's tolerance (relative to the bond forces) and the
net force and moment on the part are within ``BALANCE`` of its loads and reactions; ``physics.relaxation.relax``
tests both (multigrid or adaptive dynamic relaxation). Fields are returned in mm and Pa.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from fab.model import MM, Model
from fab.progress import stderr_console

# Equilibrium solve: default cap of iterations; seconds between checks for cracks cutting the part.
DEFAULT_MAX_STEPS = 30000
WATCH_SECONDS = 2.0
# A fragment count on a big body is costly: wait this many times its own cost before the next one (~10 %).
WATCH_COST_RATIO = 10.0
# Equilibrium: net force and moment on the part within this fraction of its loads and reactions.
BALANCE = 5e-3
# Stalled solves (float32 resolution at tiny strains): iterations without progress, accepted slack on the targets.
STALL = 2000
STALL_SLACK = 4.0
# A stalled solve: no STALL_GAIN improvement of its best score over the last STALL_WINDOW checks.
STALL_WINDOW = STALL // 20
STALL_GAIN = 0.9
# Static, failure and shear tests solve by Newton-Krylov where it applies (False: dynamic relaxation / multigrid
# everywhere, as before physics/newton.py; tests compare the two).
NEWTON = True
# Progress off a terminal: one plain line on stderr at most this often (seconds).
LINE_SECONDS = 2.0
WORKER_LINE_SECONDS = 10.0  # a worker's lines, several processes at once: fewer
# A free displacement beyond this fraction of the part's size means it ran away (no equilibrium).
RUNAWAY = 0.2


class Progress:
    """A rich progress bar on stderr (or nothing when quiet), and the live view when one watches the run
    (``live``: a :class:`fab.live.simulation.SimulationLive`; it snapshots at a wall-clock interval, pauses the
    solver while the person holds it and asks the solve to stop)."""

    def __init__(self, quiet: bool, live: Any = None, lines: str | None = None) -> None:
        self.quiet = quiet
        self.live = live
        # ``lines``: no bar, a plain line every WORKER_LINE_SECONDS headed by this label (a test in a worker
        # process beside others: bars of several processes on one terminal would overwrite each other).
        self.lines = None if quiet else lines
        self.bar = None
        self.task = None
        self._line = -math.inf  # the first update prints at once
        self.residual: float | None = None  # the last RMS residual a solver reported (relative)

    def observe(self, sim, step: int, residual: float | None, label: str) -> str | None:
        """The live view's look at the state (cheap unless a snapshot is due); a reason to stop, or None."""
        return None if self.live is None else self.live.observe(sim, step, residual, label)

    def settled(self, sim, label: str, converged: bool) -> None:
        """A solve ended: the live view adds its point to the load-displacement curve."""
        if self.live is not None:
            self.live.settled(sim, label, converged)

    def path_point(self, sim, w_mm: float, factor: float, force_n: float) -> None:
        """A failure test's load path recorded a point: the live view plots it (load against w)."""
        if self.live is not None:
            self.live.path_point(sim, w_mm, factor, force_n)

    def __enter__(self) -> Progress:
        if not self.quiet and self.lines is None:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(),
                console=stderr_console,
                transient=True,
            )
            self.bar.__enter__()
            self.task = self.bar.add_task("simulating", total=1.0, info="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def update(self, description: str, fraction: float, info: str = "") -> None:
        if self.lines is not None:
            self._plain_line(f"{self.lines}: {description}: {info}", WORKER_LINE_SECONDS)
        if self.bar is not None:
            self.bar.update(
                self.task, description=description, completed=min(max(fraction, 0.0), 1.0), info=info
            )
            # A bar draws only on a terminal: elsewhere (--json piped, logs) a plain line now and then, so a
            # long solve is never silent.
            if not stderr_console.is_terminal:
                self._plain_line(f"{description}: {info}", LINE_SECONDS)

    def _plain_line(self, text: str, every: float) -> None:
        """``text`` on stderr as a plain line, at most once every ``every`` seconds."""
        now = time.perf_counter()
        if now - self._line >= every:
            self._line = now
            stderr_console.print(text, highlight=False, soft_wrap=True)


def equilibrium(
    sim,
    max_steps: int,
    tolerance: float,
    progress: Progress,
    label: str,
    watch: Callable[[], str | None] | None = None,
    notes: list[str] | None = None,
) -> tuple[bool, int, str | None]:
    """Relax to equilibrium, showing progress and watching for failure: (converged, iterations, stop reason).

    Converged: RMS residual below ``tolerance`` (relative to the bond forces) and global force and moment
    balance within BALANCE. ``watch`` (a fragment count: costly) runs at most every WATCH_SECONDS and stops the
    solve with a reason.
    """
    from physics import relaxation

    reason: list[str | None] = [None]
    balanced = [False]
    stalled: list[float | None] = [None]
    last = [time.perf_counter()]
    best: list[float] = []  # best max(residual/tolerance, imbalance/BALANCE) at each check

    # The solvers test convergence (relax's tolerance and balance) before they call back, so the callback only
    # reports progress, accepts a stall and watches for failure.
    def callback(step: int, residual: float) -> bool:
        progress.residual = residual
        imbalance = relaxation.imbalance(sim)
        progress.update(
            label,
            step / max_steps,
            f"residual {residual:.1e}/{tolerance:.0e}, balance {imbalance:.1e}/{BALANCE:.0e}",
        )
        score = max(residual / tolerance, imbalance / BALANCE)
        best.append(min(score, best[-1]) if best else score)
        # The float32 displacement state bounds how well tiny strains balance: when the solve stops improving
        # (no 10 % gain over the last STALL iterations) within STALL_SLACK of the targets, that is equilibrium.
        window = STALL_WINDOW
        if len(best) > 2 * window and best[-1] > STALL_GAIN * best[-1 - window] and score < STALL_SLACK:
            balanced[0] = True
            stalled[0] = score
            return True
        now = time.perf_counter()
        if watch is not None and now - last[0] > WATCH_SECONDS:
            reason[0] = watch()
            # On big bodies a fragment count takes seconds (a multigrid iteration too): keep it under ~10 % of
            # the solve by waiting ten times its own cost before the next one.
            cost = time.perf_counter() - now
            last[0] = time.perf_counter() + max(0.0, WATCH_COST_RATIO * cost - WATCH_SECONDS)
        if reason[0] is None:
            reason[0] = progress.observe(sim, step, residual, label)
        return reason[0] is not None

    # Newton-Krylov (physics/newton.py) where it applies; adaptive dynamic relaxation (multigrid from
    # relaxation.MULTIGRID_MIN particles) for what it cannot do (indenters, contact, prescribed velocities) or
    # when it finds no equilibrium. Both test relax's tolerance and balance, so they stop alike.
    from physics import newton

    res = (
        newton.static(sim, tolerance, BALANCE, callback, max_steps=max_steps)
        if NEWTON and newton.supports(sim)
        else None
    )
    if res is not None and res["failed"] and reason[0] is None:
        res = None  # Newton found no equilibrium: dynamic relaxation from where it stands
    if res is None:
        res = relaxation.relax(sim, max_steps, tolerance, callback=callback, balance=BALANCE)
    if res.get("residual") is not None:
        progress.residual = float(res["residual"])  # the solve's last, not the last one the callback saw
    if res["converged"]:
        balanced[0] = True
    elif res["stalled"]:
        balanced[0] = True
        stalled[0] = res["score"]
    if watch is not None and reason[0] is None:
        reason[0] = watch()
    progress.settled(sim, label, bool(balanced[0] and reason[0] is None))
    if stalled[0] is not None and notes is not None:
        notes.append(
            f"{label}: balanced to {stalled[0]:.2g}x the tolerances, the resolution of the float32 state at these "
            "small strains"
        )
    return balanced[0] and reason[0] is None, res["steps"], reason[0]


def separated(sim, model: Model) -> bool:
    """True when some loaded particle no longer hangs together with any held particle (cut off by cracks)."""
    if not model.loaded:
        return False
    count, labels = sim.fragments()
    if count == 1:
        return False
    held = np.zeros(model.body.count, dtype=bool)
    for idx in model.fixed:
        held[idx] = True
    for cond in sim.conditions:
        h = cond.held()
        if h is not None:
            held[h] = True
    supported = np.unique(labels[held])
    loaded = np.concatenate(model.loaded)
    return bool(np.isin(labels[loaded], supported, invert=True).any())


def runaway(sim, model: Model) -> bool:
    size = float(np.ptp(model.points_mm, axis=0).max() + model.pitch_mm) * MM
    return bool(np.abs(sim.u).max() > RUNAWAY * size)


def save_state(sim) -> tuple[np.ndarray, np.ndarray]:
    return sim.u.copy(), sim.bits.copy()


def restore_state(sim, state: tuple[np.ndarray, np.ndarray]) -> None:
    sim.u[:] = state[0]
    sim.bits[:] = state[1]
    sim.v[:] = 0.0


def state_fields(sim, model: Model) -> dict[str, Any]:
    """Per-particle output fields (mm, Pa) and the scalar results of the current state."""
    disp = sim.u / MM
    damage = sim.damage()
    vm = sim.von_mises()
    count, labels = sim.fragments()
    # Held and loaded particles carry the boundary's artificial stress: the part's maximum is taken elsewhere.
    interior = np.ones(model.body.count, dtype=bool)
    for idx in (*model.fixed, *model.loaded):
        interior[idx] = False
    for cond in sim.conditions:
        h = cond.held()
        if h is not None:
            interior[h] = False
    vm_max = float(vm[interior].max()) if interior.any() else float(vm.max())
    reaction = np.zeros(3)
    for i in range(1, len(model.fixed) + 1):
        reaction += sim.reaction(f"fix{i}")
    total = int(sim.initial_bond_count.sum())
    broken = total - int(sim._bond_counts().sum())
    return {
        "displacement_mm": disp,
        "damage": damage,
        "von_mises_pa": vm,
        "fragment_id": labels.astype(np.int32),
        "max_displacement_mm": float(np.linalg.norm(disp, axis=1).max()),
        "max_von_mises_pa": vm_max,
        "reaction_force_n": [float(r) for r in reaction],
        "broken_bond_fraction": broken / max(total, 1),
        "fragments": int(count),
    }


def watch_static(sim, model: Model) -> str | None:
    if separated(sim, model):
        return "cracks cut the loaded region off its supports: the part fails under this load"
    if runaway(sim, model):
        return "displacements ran away (no equilibrium): the part fails or is not held"
    return None


def not_converged_note(reason: str | None, steps: int, tolerance: float, residual: float | None = None) -> str:
    """Why a solve stopped short; the report adds what to raise, in the words of the interface in use."""
    if reason is not None:
        return f"no equilibrium after {steps} iterations: {reason}"
    left = "" if residual is None else f"residual {residual:.2g}, "
    return (
        f"did not reach equilibrium within {steps} iterations ({left}tolerance {tolerance:g}); results are the last "
        "iterate"
    )
