"""Newton-Krylov quasi-static solver and load-path tracing with bond breaking (failure tests).

Static equilibrium R(u, lam) = F(u) + lam q = 0 on the free particles: F the real law's bond force density
(float32 kernels), q the external load density of the simulation's own conditions (dead loads: Force, Torque;
held sets: Fixed, Displacement, whose prescribed values are scaled by lam too). Each Newton iteration solves
K du = R, K = -dR/du the tangent stiffness about the current state, by flexible preconditioned conjugate
gradients:

- K v is the directional derivative of the real law, (F(u) - F(u + h v)) / h, evaluated on buffers of its own
  with every bond kept (FD_STEP lattice spacings at the largest component of h v: far above the float32
  resolution of u, ~1e-7 of a spacing at mm displacements, and small enough that the truncation error stays near
  1e-4 of the product), so large rotations are in the tangent and not left to the outer iteration;
- the preconditioner is physics/multigrid.py's K-cycle with its finest level replaced by this tangent (smoothing
  about the current state, with its cracks); the coarse levels stay the intact, linear hierarchy about u = 0
  (cheap, and CG only needs them to be roughly right); bodies too small for multigrid use Chebyshev smoothing
  alone;
- inexact Newton (Eisenstat-Walker forcing terms) with a secant line search on the out-of-balance force.

Bonds never break inside a solve (every evaluation restores the bond bits); ``trace`` breaks them between
converged increments and re-equilibrates, so a failure test follows one load path: load control up to the first
break (its load predicted from the largest bond stretch), then control of the load's work-conjugate
displacement w (the load-weighted mean displacement of the loaded particles along the load) by a bordered
Newton system for (u, lam), which passes the peak and follows the falling branch. The peak is refined by
returning to the last converged increment before it with a quarter of the step (never from zero).

Precision: the out-of-balance force of the float32 kernels is resolved to about 1e-4 of the bond forces; that
floor is what STALL_SLACK in physics/relaxation.py accepts. ``solve`` reports ``stalled`` like the multigrid
solver when it stops improving within it.

What Newton does not do (callers fall back to adaptive dynamic relaxation, physics/relaxation.py): contact laws,
indenters, prescribed velocities or rotations (displacement-dependent or time-dependent loads), bodies with no
held particle (no unique equilibrium), and snap-back in w (the trace stops at the increment that no longer
converges and reports the peak it found).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from physics import integrators, relaxation
from physics.conditions import Displacement, Fixed, Force, Torque

FD_STEP = 3e-4  # directional derivatives: the largest displacement of h v, in lattice spacings
MAX_NEWTON = 12  # Newton iterations per solve before it counts as failed (load stepping takes over)
MAX_KRYLOV = 40  # CG iterations per linear solve
ETA_MAX = 1e-2  # loosest forcing term: bending modes are the last CG resolves, so a loose solve barely moves them
ETA_MIN = 1e-4  # about the float32 resolution of the directional derivatives
STALL_ITERATIONS = 3  # iterations in a row without a 10 % gain in score: stalled (or failed)
CHEB_STEPS = 4  # Chebyshev smoothing as the whole preconditioner of bodies too small for multigrid
SUPPORTED = (Fixed, Displacement, Force, Torque)


def supports(sim) -> bool:
    """True when Newton applies: dead loads and held sets only, at least one held and one free particle, no
    contact law."""
    if getattr(sim.law, "contact", False):
        return False
    if not all(isinstance(c, SUPPORTED) for c in sim.conditions):
        return False
    return bool(sim.free.any() and not sim.free.all())


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.einsum("ij,ij->", a, b))


class Tangent:
    """K v about a state (``at``) by a forward difference of the real law, on buffers of its own, every bond of
    that state kept. Also the finest level of the multigrid preconditioner (``smooth`` as multigrid.Level)."""

    def __init__(self, sim, inv_d: np.ndarray | None = None, lmax: float | None = None) -> None:
        n = sim.body.count
        ncells = int(np.prod(sim.body.lattice.padded_shape))
        self.body = sim.body
        self.law = sim.law
        self.u = np.zeros((n, 3))
        self.force = np.zeros((n, 3))
        self.ux = np.zeros(ncells, dtype=np.float32)
        self.uy = np.zeros(ncells, dtype=np.float32)
        self.uz = np.zeros(ncells, dtype=np.float32)
        self.min_stretch = np.zeros(n, dtype=np.float32)
        self.newly_broken = np.zeros(n, dtype=np.int32)
        self.bits = sim.bits.copy()
        self.count = n
        self.free = sim.free[:, None]
        if inv_d is None:
            inv_d = np.where(self.free, 1.0 / sim.law.relaxation_stiffness(sim.body)[:, None], 0.0)
        self.inv_d = inv_d
        self.lmax = lmax
        self.amplitude = FD_STEP * sim.body.lattice.spacing
        self.u0 = np.zeros((n, 3))
        self.f0 = np.zeros((n, 3))
        self.products = 0

    def at(self, sim) -> None:
        """Linearise about the simulation's current state (its u, bond bits, and bond forces in sim.internal)."""
        self.u0[:] = sim.u
        self.f0[:] = sim.internal
        self.bits[:] = sim.bits
        self._bits = sim.bits.copy()

    def apply(self, v: np.ndarray) -> np.ndarray:
        top = float(np.abs(v).max())
        if top == 0.0:
            return np.zeros_like(v)
        h = self.amplitude / top
        np.multiply(v, h, out=self.u)
        self.u += self.u0
        integrators.to_grid(self.u, self.body.lattice.cells, self.ux, self.uy, self.uz)
        self.law.compute(self)
        self.bits[:] = self._bits  # nothing breaks inside a solve
        self.products += 1
        return np.where(self.free, self.f0 - self.force, 0.0) * (1.0 / h)

    # Chebyshev smoothing exactly as the multigrid levels do it.
    def smooth(self, r: np.ndarray, steps: int):
        from physics import multigrid as mg

        return mg.Level.smooth(self, r, steps)

    def estimate_lmax(self, seed: int = 0, steps: int = 10) -> None:
        from physics import multigrid as mg

        mg.Level.estimate_lmax(self, seed, steps)


@dataclass
class Pattern:
    """The simulation's loads as a pattern scaled by a load factor: force and torque densities and prescribed
    displacements at factor 1 are the values the conditions had when the pattern was taken."""

    sim: object
    base: list = field(default_factory=list)
    q: np.ndarray | None = None  # external force density at factor 1 (N/m^3), free particles
    factor: float = 1.0

    def __post_init__(self) -> None:
        sim = self.sim
        for cond in sim.conditions:
            if isinstance(cond, Force | Torque):
                self.base.append((cond, "density", np.array(cond.density, dtype=float)))
            elif isinstance(cond, Displacement):
                self.base.append((cond, "vec", np.array(cond.vec, dtype=float)))
        saved = sim.force.copy()
        sim.force[:] = 0.0
        for cond in sim.conditions:
            cond.load(sim, float("inf"))
        self.q = np.where(sim.free[:, None], sim.force, 0.0)
        sim.force[:] = saved
        self.weight = float(np.abs(self.q).sum())
        self.moves = any(isinstance(c, Displacement) and np.any(c.vec != 0) for c in sim.conditions)

    def scale(self, factor: float) -> None:
        self.factor = float(factor)
        for cond, attr, value in self.base:
            setattr(cond, attr, value * factor)

    def work_displacement(self, u: np.ndarray) -> float:
        """w (m): the load-weighted mean displacement of the loaded particles along their load (q.u / sum |q|)."""
        return _dot(self.q, u) / self.weight if self.weight > 0 else 0.0


class Newton:
    """Newton-Krylov equilibrium of one simulation (its law, conditions and current bond state)."""

    def __init__(self, sim) -> None:
        from physics import multigrid as mg

        self.sim = sim
        self.pattern = Pattern(sim)
        base = mg.solver_for(sim) if sim.body.count >= 8 * mg.MIN_COARSE else None
        if base is not None:
            fine = base.levels[0]
            self.tangent = Tangent(sim, fine.inv_d, fine.lmax)
            self.mg = mg.Solver(sim, [self.tangent, *base.levels[1:]], base.transfers)
        else:
            self.tangent = Tangent(sim)
            self.mg = None
        self.evaluations = 0
        self.iterations = 0

    # ---- evaluations ------------------------------------------------------------------------------------
    def residual(self) -> np.ndarray:
        """Out-of-balance force density at sim.u and the pattern's factor; bonds kept (bits restored)."""
        sim = self.sim
        bits = sim.bits.copy()
        r = relaxation.out_of_balance(sim)
        sim.bits[:] = bits
        self.evaluations += 1
        return r

    def break_bonds(self) -> int:
        """Evaluate with breaking on at the current state: bonds over their limit break; returns how many."""
        sim = self.sim
        before = int(np.bitwise_count(sim.bits).sum())
        relaxation.out_of_balance(sim)
        self.evaluations += 1
        return (before - int(np.bitwise_count(sim.bits).sum())) // 2

    # ---- linear algebra -----------------------------------------------------------------------------------
    def precondition(self, r: np.ndarray) -> np.ndarray:
        if self.mg is not None:
            return self.mg.precondition(0, r)
        return self.tangent.smooth(r, CHEB_STEPS)[0]

    def krylov(self, b: np.ndarray, eta: float) -> tuple[np.ndarray, int]:
        """Flexible PCG on K x = b to |b - K x| <= eta |b| (stops at negative curvature): (x, iterations)."""
        x = np.zeros_like(b)
        r = b.copy()
        norm_b = np.sqrt(_dot(b, b))
        if norm_b == 0:
            return x, 0
        z = self.precondition(r)
        p = z.copy()
        rz = _dot(r, z)
        for it in range(1, MAX_KRYLOV + 1):
            q = self.tangent.apply(p)
            pq = _dot(p, q)
            if not pq > 0:
                if it == 1:
                    x = p * (rz / max(abs(pq), 1e-300)) if pq != 0 else p
                return x, it
            a = rz / pq
            x += a * p
            r -= a * q
            if np.sqrt(_dot(r, r)) <= eta * norm_b:
                return x, it
            z_new = self.precondition(r)
            beta = max(0.0, _dot(r, z_new - z) / rz)
            z = z_new
            rz = _dot(r, z)
            p = z + beta * p
        return x, MAX_KRYLOV

    def prepare(self) -> None:
        """Tangent about the current state (needs sim.internal of that state: call after ``residual``)."""
        self.tangent.at(self.sim)
        if self.tangent.lmax is None:
            self.tangent.estimate_lmax()

    # ---- solves -------------------------------------------------------------------------------------------
    def solve(
        self,
        tolerance: float = 2e-3,
        balance: float | None = None,
        max_iterations: int = MAX_NEWTON,
        callback: Callable[[int, float], bool] | None = None,
        control: float | None = None,
    ) -> dict:
        """Newton iterations from sim.u to relax's criterion (relaxation.score below 1).

        ``control`` None: load control at the pattern's factor. A value w: displacement control, the factor is
        an unknown and the load's work-conjugate displacement is held at w (bordered system). Returns relax's
        dict plus "iterations" (Newton) and "factor"; ``failed`` True when the line search cannot reduce the
        out-of-balance force (no equilibrium nearby)."""
        sim = self.sim
        pat = self.pattern
        sim.dt = 1.0
        start_evals = self.evaluations
        free = sim.free[:, None]
        r = self.residual()
        residual = relaxation.residual_of(sim, r)
        best, flat = np.inf, 0
        norm_prev = None
        eta = ETA_MAX
        unit = None
        it = 0
        while True:
            score = relaxation.score(sim, residual, tolerance, balance)
            gap = 0.0 if control is None else abs(control - pat.work_displacement(sim.u))
            done = score < 1.0 and gap <= 1e-3 * max(abs(control or 0.0), 1e-30)
            info = {"steps": self.evaluations - start_evals, "iterations": it, "factor": pat.factor,
                    "failed": False, "score": score}  # fmt: skip
            if done:
                return {**relaxation.result(info["steps"], residual, True), **info, "score": score}
            if callback is not None and callback(it, residual):
                return {**relaxation.result(info["steps"], residual, False, stopped=True), **info}
            flat = flat + 1 if score > 0.9 * best else 0
            best = min(best, score)
            # Near the targets, a few iterations without gain are the float32 floor: stalled, as multigrid.
            near = best <= relaxation.STALL_SLACK and gap <= 1e-2 * max(abs(control or 0.0), 1e-30)
            if near and flat >= STALL_ITERATIONS:
                return {**relaxation.result(info["steps"], residual, False, stalled=True, score=best), **info}
            if it >= max_iterations:
                return {**relaxation.result(info["steps"], residual, False, score=best), **info, "failed": True}
            it += 1
            self.iterations += 1
            norm = np.sqrt(_dot(r, r))
            if norm_prev is not None:  # Eisenstat-Walker (choice 2)
                eta = min(ETA_MAX, max(ETA_MIN, 0.9 * (norm / norm_prev) ** 2))
            norm_prev = norm
            self.prepare()
            du, _ = self.krylov(r, eta)
            if control is not None:
                # Bordered step: K du - dlam q = r with q.du / sum|q| = w - w(u): du = b + dlam a, K a = q.
                if unit is None:
                    unit, _ = self.krylov(pat.q, 0.05)
                ca = pat.work_displacement(unit)
                dlam = (control - pat.work_displacement(sim.u) - pat.work_displacement(du)) / ca
                du = du + dlam * unit
                pat.scale(pat.factor + dlam)
            du = np.where(free, du, 0.0)
            # Line search on the energy's slope along du, g(a) = du . R(u + a du) (R = -grad E): the force norm
            # is no merit function here (a bent beam's rotation puts theta^2 / 2 into the linear step's
            # residual, far above where it started, while the energy falls).
            g0 = _dot(du, r)
            sim.u += du
            r1 = self.residual()
            g1 = _dot(du, r1)
            if g0 > 0 and g1 < -0.5 * g0:
                a = g0 / (g0 - g1)  # the secant's zero of the slope, in (0, 2/3)
                sim.u += (a - 1.0) * du
                r1 = self.residual()
            if not np.isfinite(sim.u).all():
                raise relaxation.diverged(self.evaluations)
            r = r1
            residual = relaxation.residual_of(sim, r)


def solve(
    sim,
    max_steps: int = 20000,
    tolerance: float = 2e-3,
    callback: Callable[[int, float], bool] | None = None,
    balance: float | None = None,
) -> dict | None:
    """Static equilibrium at the conditions' full values by Newton-Krylov (load steps halved where a full step
    fails); relax's dict, or None where Newton does not apply (see ``supports``)."""
    if not supports(sim):
        return None
    solver = newton_for(sim)
    solver.pattern = pat = Pattern(sim)  # the conditions' values now are factor 1
    res = solver.solve(tolerance, balance, callback=callback)
    if not res["failed"]:
        return res
    # Load stepping from the unloaded state, halving a step that fails.
    sim.u[:] = 0.0
    lam, step, steps = 0.0, 0.5, res["steps"]
    while lam < 1.0:
        target = min(1.0, lam + step)
        saved = sim.u.copy()
        pat.scale(target)
        last = target == 1.0
        res = solver.solve(tolerance if last else 10 * tolerance, balance if last else None, callback=callback)
        steps += res["steps"]
        if res["failed"]:
            sim.u[:] = saved
            step *= 0.5
            if step < 1.0 / 64:
                pat.scale(1.0)
                break
            continue
        lam = target
        if res["stopped"]:
            break
    pat.scale(1.0)
    res["steps"] = steps
    return res


_SOLVERS: dict = {}


def newton_for(sim) -> Newton:
    """The Newton solver of ``sim`` (built once; kept while ``sim`` lives)."""
    import weakref

    global _SOLVERS
    if not isinstance(_SOLVERS, weakref.WeakKeyDictionary):
        _SOLVERS = weakref.WeakKeyDictionary()
    solver = _SOLVERS.get(sim)
    if solver is None:
        solver = Newton(sim)
        _SOLVERS[sim] = solver
    return solver
