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
Newton system for (u, lam), which passes the peak and follows the falling branch; each increment starts from
the tangent predictor (u + dlam a, a = K^-1 q of the last bordered solve, which the increment's own solve keeps).
The peak is refined by returning to the last converged increment before it with a quarter of the step (never
from zero).

Precision: the out-of-balance force of the float32 kernels is resolved to about 1e-4 of the bond forces; that
floor is what STALL_SLACK in physics/relaxation.py accepts. ``solve`` reports ``stalled`` like the multigrid
solver when it stops improving within it. A float64 law (fab's failure tests) keeps every residual, CG's own
products, the line search and every convergence and breaking test in float64, and takes the preconditioner's
products (smoothing, the coarse correction's product, the Galerkin level's probes) and a settle round's loose
step from its float32 twin (MIXED_PRECISION, FAST_KRYLOV_ETA): float32's forward differences resolve the rough
modes a smoother works on, not the smooth ones (a bent cantilever's K a = q read 25 x off).

What Newton does not do (callers fall back to adaptive dynamic relaxation, physics/relaxation.py): contact laws,
indenters, prescribed velocities or rotations (displacement-dependent or time-dependent loads), bodies with no
held particle (no unique equilibrium), and snap-back in w (the trace stops at the increment that no longer
converges and reports the peak it found).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numba import njit, prange

from physics import balance, integrators, relaxation
from physics.conditions import Displacement, Fixed, Force, Torque
from physics.laws.base import grid_dtype
from physics.multigrid import SolverSlot

FD_STEP = 3e-4  # directional derivatives: the largest displacement of h v, in lattice spacings
MAX_NEWTON = 12  # Newton iterations per solve before it counts as failed (load stepping takes over)
MAX_KRYLOV = 40  # CG iterations per linear solve
ETA_MAX = 1e-2  # loosest forcing term: bending modes are the last CG resolves, so a loose solve barely moves them
ETA_MIN = 1e-4  # about the float32 resolution of the directional derivatives
STALL_ITERATIONS = 3  # iterations in a row without a 10 % gain in score: stalled (or failed)
CHEB_STEPS = 4  # Chebyshev smoothing as the whole preconditioner of bodies too small for multigrid
SUPPORTED = (Fixed, Displacement, Force, Torque)
TICK_SECONDS = 0.1  # Newton.tick: at most this often (wall clock) inside a Newton iteration
GALERKIN_DOFS = 3000  # a failure test's coarse level, R K P of the tangent, dense: at most this many dofs ...
GALERKIN_PROBES = 1200  # ... assembled in at most this many tangent products (a settle round takes 300-800)
GALERKIN_SMOOTH = 1  # Chebyshev steps a side on the finest level above it (more cost products, not iterations)
FAST_FD_STEP = 3e-3  # the float32 twin's forward differences: coarser (its rounding of u is ~1e-7 of a spacing)
MIXED_PRECISION = True
FAST_KRYLOV_ETA = 0.1  # ... and CG's own products too in a linear solve this loose (a settle round's step)  # a float64 law's preconditioner products (smoothing, Galerkin probes) in float32: below
REUSE_EVALUATIONS = True  # an evaluation at the very state of the last one is not repeated (Newton._unchanged)
GALERKIN_STALE = 2.0  # rebuilt (cracks have grown) when a linear solve takes this many times its first ones' CG
# iterations, once the products since the last build are twice the build's


def supports(sim) -> bool:
    """True when Newton applies: dead loads and held sets only, at least one held and one free particle, no
    contact law."""
    law = sim.law
    if getattr(law, "contact", False) or getattr(law, "rotational", False):
        return False
    if not getattr(law, "linear_near_reference", True):  # a short-range contact of its own
        return False
    if not all(isinstance(c, SUPPORTED) for c in sim.conditions):
        return False
    return bool(sim.free.any() and not sim.free.all())


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.einsum("ij,ij->", a, b))


class Tangent:
    """K v about a state (``at``) by a forward difference of the real law, on buffers of its own, every bond of
    that state kept. Also the finest level of the multigrid preconditioner (``smooth`` as multigrid.Level)."""

    breaking = False  # its bits are restored after every product: the law may skip its limit test (laws/__init__)

    def __init__(self, sim, inv_d: np.ndarray | None = None, lmax: float | None = None, law=None) -> None:
        n = sim.body.count
        ncells = int(np.prod(sim.body.lattice.padded_shape))
        self.body = sim.body
        self.law = sim.law if law is None else law
        self.u = np.zeros((n, 3))
        self.force = np.zeros((n, 3))
        real = grid_dtype(self.law)  # the law's float type: float32, or float64 on the float64 path
        self.ux = np.zeros(ncells, dtype=real)
        self.uy = np.zeros(ncells, dtype=real)
        self.uz = np.zeros(ncells, dtype=real)
        self.min_stretch = np.zeros(n, dtype=real)
        self.newly_broken = np.zeros(n, dtype=np.int32)
        self.bits = sim.bits.copy()
        self.count = n
        self.free = sim.free[:, None]
        self._free = np.ascontiguousarray(sim.free, dtype=np.bool_)
        if inv_d is None:
            inv_d = np.where(self.free, 1.0 / sim.law.relaxation_stiffness(sim.body)[:, None], 0.0)
        self.inv_d = inv_d
        self.lmax = lmax
        self.amplitude = FD_STEP * sim.body.lattice.spacing
        self.u0 = np.zeros((n, 3))
        self.f0 = np.zeros((n, 3))
        self.products = 0
        self.after: Callable[[], None] | None = None  # called after every product (Newton's tick)
        self.fast: Tangent | None = None  # the preconditioner's float32 twin of a float64 tangent (``at`` moves it)

    def at(self, sim) -> None:
        """Linearise about the simulation's current state (its u, bond bits, and bond forces in sim.internal)."""
        self.u0[:] = sim.u
        self.f0[:] = sim.internal
        self.bits[:] = sim.bits
        self._bits = sim.bits.copy()
        if self.fast is not None:
            self.fast.about(sim)

    def about(self, sim) -> None:
        """Linearise about the simulation's state with this tangent's own law (a twin in another float type):
        its bond forces there evaluated once (a product's worth), on this tangent's buffers, so that the forward
        differences compare forces of one float type and one rounding of u."""
        self.u0[:] = sim.u
        self.bits[:] = sim.bits
        self._bits = sim.bits.copy()
        self.u[:] = sim.u
        integrators.to_grid(self.u, self.body.lattice.cells, self.ux, self.uy, self.uz)
        self.law.compute(self)
        self.bits[:] = self._bits
        self.f0[:] = self.force
        self.products += 1

    def apply(self, v: np.ndarray) -> np.ndarray:
        top = _max_abs(v)
        if top == 0.0:
            return np.zeros_like(v)
        h = self.amplitude / top
        _perturbed(self.u0, v, h, self.u)  # u0 + h v
        integrators.to_grid(self.u, self.body.lattice.cells, self.ux, self.uy, self.uz)
        self.law.compute(self)
        self.bits[:] = self._bits  # nothing breaks inside a solve
        self.products += 1
        if self.after is not None:
            self.after()
        return _difference(self.f0, self.force, self._free, 1.0 / h)

    # Chebyshev smoothing exactly as the multigrid levels do it.
    def smooth(self, r: np.ndarray, steps: int, residual: bool = True):
        from physics import multigrid as mg

        return mg.Level.smooth(self, r, steps, residual)

    def estimate_lmax(self, seed: int = 0, steps: int = 10) -> None:
        from physics import multigrid as mg

        mg.Level.estimate_lmax(self, seed, steps)


# A product's own array passes, one loop each (numpy's temporaries took about as long as a float32 evaluation's
# finishing pass at 38,400 particles); the same arithmetic as v * h + u0 and (f0 - f) * (1 / h).
@njit(cache=True)
def _max_abs(v: np.ndarray) -> float:
    top = 0.0
    for i in range(v.shape[0]):
        for k in range(3):
            top = max(top, abs(v[i, k]))
    return top


@njit(cache=True)
def _perturbed(u0: np.ndarray, v: np.ndarray, h: float, out: np.ndarray) -> None:
    for i in range(v.shape[0]):
        for k in range(3):
            out[i, k] = v[i, k] * h + u0[i, k]


@njit(cache=True)
def _difference(f0: np.ndarray, f: np.ndarray, free: np.ndarray, inv_h: float) -> np.ndarray:
    out = np.zeros_like(f0)
    for i in range(f0.shape[0]):
        if free[i]:
            for k in range(3):
                out[i, k] = (f0[i, k] - f[i, k]) * inv_h
    return out


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

    def __init__(self, sim, tick: Callable[[dict], bool] | None = None) -> None:
        from physics import multigrid as mg

        self.sim = sim
        self.pattern = Pattern(sim)
        # ``tick`` (see below) looks inside the preconditioner's build too (where["building"] True; a stop
        # asked there is left to the solve's callback).
        self.tangent = None
        self.tick = tick
        self._ticked = time.perf_counter()
        self._residuals = 0
        self.iterations = 0
        self._krylov = 0
        self._unit: np.ndarray | None = None  # the last displacement-control solve's K a = q (a warm start)
        self._galerkin: dict | None = None  # the Galerkin coarse level's build: products, cost, CG iterations
        self._last: dict | None = None  # the last evaluation on the simulation's buffers and its state
        self.break_passes = 0  # break checks by the law's break-only pass (BREAK_PASS), not counted as evaluations
        # Bonds break as a function of u and the bits alone (not of the last evaluation's stretches, as PMB's
        # LAMMPS variant's limits are): a break check may take the bits the last evaluation at its state broke.
        law = sim.law
        self._reuse_breaks = not (getattr(law, "variant", None) == "lammps" and bool(getattr(law, "alpha", 0)))
        self._kcycle = None  # the multigrid K-cycle the Galerkin level replaced
        self.last_trace: Trace | None = None  # the last load path ``trace`` followed (its evaluations by phase)
        building = None if tick is None else (lambda: self._tick(building=True))
        base = mg.solver_for(sim, building) if sim.body.count >= 8 * mg.MIN_COARSE else None
        if base is not None:
            fine = base.levels[0]
            self.tangent = Tangent(sim, fine.inv_d, fine.lmax)
        else:
            self.tangent = Tangent(sim)
        # MIXED_PRECISION: a float64 law's tangent products inside the preconditioner (Chebyshev smoothing, the
        # coarse correction's product, the Galerkin level's probes, lmax) by the law's float32 twin, 5x cheaper a
        # product at 38,400 LPS particles (benchmarks/bench_kernels.py). Flexible CG takes a preconditioner that
        # is only roughly K^-1; its own products K p, the residuals, the line search and every convergence and
        # breaking test stay in float64 (float32's forward differences lose the smooth modes, ~1e-7 of u against
        # a product's 3e-4 spacings, which is why the whole tangent stays float64).
        twin = None
        if MIXED_PRECISION and grid_dtype(sim.law) != np.float32 and "float32" in getattr(sim.law, "precisions", ()):
            twin = sim.law.twin("float32")
        if twin is not None:
            self.tangent.fast = Tangent(sim, self.tangent.inv_d, self.tangent.lmax, law=twin)
            self.tangent.fast.amplitude = FAST_FD_STEP * sim.body.lattice.spacing
        self.smoother = self.tangent.fast or self.tangent  # the preconditioner's finest level
        self.mg = None if base is None else mg.Solver(sim, [self.smoother, *base.levels[1:]], base.transfers)
        # An observer's look inside a long Newton iteration (an evaluation of the law can take a second on a big
        # body, an iteration dozens): tick(where) is called at most every TICK_SECONDS, between evaluations,
        # with where = {"iteration": Newton iterations so far, "krylov": CG iteration of the linear solve (0
        # outside one), "evaluations": of the law so far, "building": True inside the preconditioner's build,
        # "within": True inside an evaluation (between kernel calls of a body over GROUP_PARTICLES)}.
        # sim.u is the current iterate (a line search's trial state inside one). True asks the
        # solve to stop at its current iterate after the callback has seen it (``solve`` returns "stopped");
        # ``trace`` knows no stop: its observer raises instead.
        for t in {self.tangent, self.smoother}:
            t.after = self._tick
            t.between = self.sim.between
        self._stop = False
        self._ticked = time.perf_counter()  # the solve's first look: after its first callback, as before the build

    @property
    def tick(self) -> Callable[[dict], bool] | None:
        return self._observer

    @tick.setter
    def tick(self, tick: Callable[[dict], bool] | None) -> None:
        # An evaluation of a very large body (over 0.5 s) looks in between its kernel calls too
        # (physics.laws.base.chunk_groups; where["within"] True): the states' ``between``.
        self._observer = tick
        between = None if tick is None else (lambda: self._tick(within=True))
        self.sim.observer = tick  # a solver rebuilt for this simulation (Simulation.set_precision) keeps it
        self.sim.between = between
        for t in {self.tangent, getattr(self, "smoother", None)} - {None}:
            t.between = between

    @property
    def evaluations(self) -> int:
        """Evaluations of the law on the body so far: residuals and tangent products (the preconditioner's
        smoothing included, in float32 where MIXED_PRECISION applies: see ``evaluations32``; its coarse levels
        not)."""
        return self._residuals + self._products()

    @property
    def evaluations32(self) -> int:
        """Of ``evaluations``, those by the float32 twin of a float64 law (MIXED_PRECISION)."""
        return self.tangent.fast.products if self.tangent is not None and self.tangent.fast is not None else 0

    def _products(self) -> int:
        t = self.tangent
        if t is None:
            return 0
        return t.products + (t.fast.products if t.fast is not None else 0)

    def galerkin(self) -> bool:
        """Replace the preconditioner's coarse levels by one: the Galerkin product R K P of the tangent about the
        current state (call after ``prepare``), factored. Worth its GALERKIN_PROBES-odd products where many
        solves follow (a failure test's load path); where the first coarse level is too large to factor densely
        or too costly to probe, nothing changes (False)."""
        from physics import multigrid as mg

        if self.mg is None or len(self.mg.levels) < 2:
            return False
        self._kcycle = kcycle = self._kcycle or self.mg
        fine_reach = int(np.floor(self.sim.body.lattice.horizon_cells + 1e-9)) * self.sim.law.interaction_range
        # The first level small enough to factor densely and cheap enough to probe; below the first coarse level
        # the transfer skips the levels between (measured at 14,364 particles, levels 1,995 / 348: the Galerkin
        # product on the 348, one smoothing step a side, took 8.1 s to 1e-2 where the K-cycle took 17.0 s).
        for k in range(1, len(kcycle.levels)):
            coarse = kcycle.levels[k]
            reach = mg.galerkin_reach(fine_reach, k)
            if 3 * coarse.count <= GALERKIN_DOFS and mg.Level.probes(coarse, reach) <= GALERKIN_PROBES:
                break
        else:
            return False
        transfer = kcycle.transfers[0] if k == 1 else mg.Composite(kcycle.transfers[:k], kcycle.levels[1:k])
        before = self._products()
        try:
            level = mg.Galerkin(self.smoother, transfer, coarse, reach)
        except np.linalg.LinAlgError:  # not positive definite (a cracked-through state): keep what there is
            return False
        self.mg = mg.Solver(self.sim, [self.smoother, level], [transfer], smooth=GALERKIN_SMOOTH)
        self._galerkin = {"at": self._products(), "cost": self._products() - before, "first": [],
                          "stale": False}  # fmt: skip
        return True

    def coarse_level(self) -> int:
        """``galerkin`` about the current state, its tangent taken first (a failure test's service solve and the
        load path after it share it): the evaluations it took."""
        before = self.evaluations
        self.residual()
        self.prepare()
        self.galerkin()
        return self.evaluations - before

    def _watch_galerkin(self, iterations: int) -> None:
        """After a linear solve from zero at the full forcing term (a settle round's loose step is not counted: its
        2-3 iterations made every full solve after a build look stale, and rebuilt it for nothing): mark the
        Galerkin level stale once solves take GALERKIN_STALE times the iterations of the first four after its
        build (the cracks have outgrown it) and it has been used enough to pay for another build."""
        g = self._galerkin
        if g is None:
            return
        if len(g["first"]) < 4:
            g["first"].append(iterations)
            return
        used = self._products() - g["at"]
        if iterations > GALERKIN_STALE * max(np.mean(g["first"]), 1.0) and used > 2 * g["cost"]:
            g["stale"] = True

    # ---- evaluations ------------------------------------------------------------------------------------
    def residual(self) -> np.ndarray:
        """Out-of-balance force density at sim.u and the pattern's factor; bonds kept (bits restored)."""
        sim = self.sim
        if self._unchanged():
            return self._last["r"].copy()
        bits = sim.bits.copy()
        r = relaxation.out_of_balance(sim)
        intact = np.array_equal(sim.bits, bits)  # no bond over its limit here
        broken = None if intact else sim.bits.copy()
        sim.bits[:] = bits
        self._residuals += 1
        self._remember(r, intact, broken)
        self._tick()
        return r

    # REUSE_EVALUATIONS: the last evaluation on the simulation's own buffers, kept with its state (u, bond bits,
    # the loads' values), so that the same state is not evaluated twice: a settle's break check that breaks
    # nothing, the solve after it, and the check after a solve that took no iteration, all at one state.
    def _loads(self) -> tuple:
        return tuple(np.asarray(getattr(c, a)).tobytes() for c, a, _ in self.pattern.base)

    def _remember(self, r: np.ndarray, intact: bool, broken: np.ndarray | None = None) -> None:
        """Keep the evaluation just made (``broken``: the bond bits with those over their limit cleared, where
        some were: a break check at this state takes them instead of evaluating again)."""
        sim = self.sim
        if not REUSE_EVALUATIONS:
            return
        self._last = {"u": sim.u.copy(), "bits": sim.bits.copy(), "loads": self._loads(), "r": r.copy(),
                      "internal": sim.internal.copy(), "force": sim.force.copy(), "intact": intact,
                      "broken": broken, "newly_broken": None if broken is None else sim.newly_broken.copy()}  # fmt: skip

    def _unchanged(self, intact: bool = False) -> bool:
        """True (and sim.internal, sim.force as that evaluation left them) where the last evaluation was at this
        very state (and, with ``intact``, found no bond over its limit)."""
        last, sim = self._last, self.sim
        if last is None or not REUSE_EVALUATIONS or (intact and not last["intact"]):
            return False
        if not (np.array_equal(last["u"], sim.u) and np.array_equal(last["bits"], sim.bits)
                and last["loads"] == self._loads()):  # fmt: skip
            return False
        sim.internal[:] = last["internal"]
        sim.force[:] = last["force"]
        return True

    def _tick(self, building: bool = False, within: bool = False) -> None:
        if self._observer is None or time.perf_counter() - self._ticked < TICK_SECONDS:
            return
        where = {"iteration": self.iterations, "krylov": self._krylov, "evaluations": 0 if building else
                 self.evaluations, "building": building, "within": within}  # fmt: skip
        if self._observer(where) and not building:
            self._stop = True
        self._ticked = time.perf_counter()

    def _residual_fast(self) -> np.ndarray:
        """A settle round's out-of-balance force by the law's float32 twin, linearised about the current state
        on the way (``prepare`` for a step whose products are all the twin's: the float64 tangent is not used).
        sim.internal and sim.force hold the twin's forces afterwards; nothing is remembered for reuse."""
        fast = self.tangent.fast

        def twin(sim) -> np.ndarray:
            fast.about(sim)
            return fast.force

        r = relaxation.out_of_balance(self.sim, twin)
        self._last = None  # sim.internal and sim.force are no longer those of the last float64 evaluation
        self._tick()
        return r

    def break_bonds(self) -> int:
        """Bonds over their limit at the current state break; returns how many. Where the last evaluation was at
        this state, its verdict is taken; else the law's break-only pass (BREAK_PASS) where it has one, else an
        evaluation with breaking on (kept for reuse where nothing broke)."""
        sim = self.sim
        if self._unchanged(intact=True):
            return 0
        before = int(np.bitwise_count(sim.bits).sum())
        if self._reuse_breaks and self._unchanged() and self._last["broken"] is not None:
            # The last evaluation (a solve's residual) was at this very state and found bonds over their limit:
            # the bits it broke are those this evaluation would break (the law is a function of u and the bits).
            sim.bits[:] = self._last["broken"]
            sim.newly_broken[:] = self._last["newly_broken"]
            return (before - int(np.bitwise_count(sim.bits).sum())) // 2
        if BREAK_PASS and self._reuse_breaks and hasattr(sim.law, "break_over_limit"):
            # The bonds over their limit without the forces (a quarter of a float64 evaluation's CPU at 38,400 LPS
            # particles): where some break, an evaluation's forces (of the old bonds) would be thrown away; where
            # none does, the solve after it evaluates the state (as this check would have).
            balance.at_full_load(sim)
            sim.law.break_over_limit(sim)
            self.break_passes += 1
            return (before - int(np.bitwise_count(sim.bits).sum())) // 2
        r = relaxation.out_of_balance(sim)
        self._residuals += 1
        broken = (before - int(np.bitwise_count(sim.bits).sum())) // 2
        if broken == 0:
            self._remember(r, True)
        return broken

    # ---- linear algebra -----------------------------------------------------------------------------------
    def precondition(self, r: np.ndarray) -> np.ndarray:
        if self.mg is not None:
            return self.mg.precondition(0, r)
        return self.smoother.smooth(r, CHEB_STEPS, residual=False)[0]

    def krylov(self, b: np.ndarray, eta: float, x0: np.ndarray | None = None) -> tuple[np.ndarray, int]:
        """Flexible PCG on K x = b to |b - K x| <= eta |b| (stops at negative curvature), from ``x0`` when given
        (one product more): (x, iterations). K p by the preconditioner's float32 twin where eta >=
        FAST_KRYLOV_ETA: a settle round's step, whose right-hand side (the broken bonds' forces) is local; float32's
        forward differences lose smooth modes (a bent cantilever's K a = q: 25 x the product's norm off at 3e-3
        spacings) and stay float64 in every other solve."""
        op = self.smoother if eta >= FAST_KRYLOV_ETA else self.tangent
        norm_b = np.sqrt(_dot(b, b))
        if norm_b == 0:
            return np.zeros_like(b), 0
        if x0 is None:
            x = np.zeros_like(b)
            r = b.copy()
        else:
            x = x0.copy()
            r = b - op.apply(x)
            if np.sqrt(_dot(r, r)) <= eta * norm_b:
                return x, 0
        z = self.precondition(r)
        p = z.copy()
        rz = _dot(r, z)
        if not rz > 0:
            return x, 0
        for it in range(1, MAX_KRYLOV + 1):
            self._krylov = it
            if self._stop:
                return x, it
            q = op.apply(p)
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
            rz_new = _dot(r, z_new)
            if not rz_new > 0:
                # The preconditioner sees nothing left of r (what remains lies where it has no stiffness, e.g. a
                # plane body's out-of-plane components) or is not positive there: stop with what CG has.
                return x, it
            beta = max(0.0, _dot(r, z_new - z) / rz)
            z, rz = z_new, rz_new
            p = z + beta * p
        return x, MAX_KRYLOV

    def prepare(self) -> None:
        """Tangent about the current state (needs sim.internal of that state: call after ``residual``)."""
        self.tangent.at(self.sim)
        if self.smoother.lmax is None:
            self.smoother.estimate_lmax()
            self.tangent.lmax = self.smoother.lmax
        if self._galerkin is not None and self._galerkin["stale"]:
            self._galerkin["stale"] = False
            self.galerkin()  # about this state, with its cracks

    # ---- solves -------------------------------------------------------------------------------------------
    def solve(
        self,
        tolerance: float = 2e-3,
        balance: float | None = None,
        max_iterations: int = MAX_NEWTON,
        callback: Callable[[int, float], bool] | None = None,
        control: float | None = None,
        max_steps: int | None = None,
        eta: float | None = None,
        keep_unit: bool = False,
        last_step: bool = False,
    ) -> dict:
        """Newton iterations from sim.u to relax's criterion (relaxation.score below 1).

        ``control`` None: load control at the pattern's factor. A value w: displacement control, the factor is
        an unknown and the load's work-conjugate displacement is held at w (bordered system). Returns relax's
        dict plus "iterations" (Newton) and "factor"; ``failed`` True when the line search cannot reduce the
        out-of-balance force (no equilibrium nearby). A settle round's inexact step: ``eta`` the forcing term
        (ETA_MAX unless given), ``keep_unit`` the bordered step's K a = q of the last solve as it is,
        ``last_step`` the state after the last allowed iteration left unevaluated (its caller evaluates it)."""
        sim = self.sim
        pat = self.pattern
        sim.dt = 1.0
        start_evals = self.evaluations
        self._stop = False
        free = sim.free[:, None]
        best, flat = np.inf, 0
        norm_prev = None
        eta_first = ETA_MAX if eta is None else eta
        eta = eta_first
        unit = self._unit if keep_unit and self._unit is not None else None
        # ROUND_FLOAT32: a settle round's one loose step (float32 CG, K a = q kept) takes its right-hand side from
        # the float32 twin's linearisation (one evaluation that the step needs anyway) instead of a float64
        # residual of its own; the break check after it and every convergence test stay float64.
        fast_round = (ROUND_FLOAT32 and last_step and max_iterations == 1 and self.tangent.fast is not None
                      and eta_first >= FAST_KRYLOV_ETA and (control is None or unit is not None))  # fmt: skip
        r = self._residual_fast() if fast_round else self.residual()
        residual = relaxation.residual_of(sim, r)
        it = 0
        while True:
            score = relaxation.score(sim, residual, tolerance, balance)
            gap = 0.0 if control is None else abs(control - pat.work_displacement(sim.u))
            done = score < 1.0 and gap <= 1e-3 * max(abs(control or 0.0), 1e-30)
            info = {"steps": self.evaluations - start_evals, "iterations": it, "factor": pat.factor,
                    "failed": False, "score": score}  # fmt: skip
            if done:
                return {**relaxation.result(info["steps"], residual, True), **info, "score": score}
            stop, self._stop = self._stop, False
            if (callback is not None and callback(it, residual)) or stop:
                return {**relaxation.result(info["steps"], residual, False, stopped=True), **info}
            flat = flat + 1 if score > 0.9 * best else 0
            best = min(best, score)
            # Near the targets, a few iterations without gain are the float32 floor: stalled, as multigrid.
            near = best <= relaxation.STALL_SLACK and gap <= 1e-2 * max(abs(control or 0.0), 1e-30)
            if near and flat >= STALL_ITERATIONS:
                return {**relaxation.result(info["steps"], residual, False, stalled=True, score=best), **info}
            if max_steps is not None and info["steps"] >= max_steps:
                return {**relaxation.result(info["steps"], residual, False, score=best), **info}
            if it >= max_iterations:
                return {**relaxation.result(info["steps"], residual, False, score=best), **info, "failed": True}
            it += 1
            self.iterations += 1
            norm = np.sqrt(_dot(r, r))
            if norm_prev is not None:  # Eisenstat-Walker (choice 2)
                eta = min(eta_first, max(ETA_MIN, 0.9 * (norm / norm_prev) ** 2))
            norm_prev = norm
            if not fast_round:
                self.prepare()
            du, cg = self.krylov(r, eta)
            if eta <= ETA_MAX:  # a loose step's few iterations say nothing of the coarse level's age
                self._watch_galerkin(cg)
            self._krylov = 0
            if self._stop:
                continue  # stopped inside the linear solve: sim.u is still the iterate the callback saw
            if control is not None:
                # Bordered step: K du - dlam q = r with q.du / sum|q| = w - w(u): du = b + dlam a, K a = q.
                if unit is None:
                    # K a = q about this state, from the last solve's a (the tangent changes little between
                    # increments and settle rounds; the load's own local response dominates the first CG steps).
                    unit, _ = self.krylov(pat.q, 0.05, self._unit)
                    if self._stop:
                        unit = None
                        continue
                    self._unit = unit
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
            if last_step and control is not None and it >= max_iterations:
                # A settle round's one step: its caller evaluates the new state itself (breaking bonds), so the
                # residual here would be thrown away.
                info = {"steps": self.evaluations - start_evals, "iterations": it, "factor": pat.factor,
                        "failed": True, "score": best}  # fmt: skip
                return {**relaxation.result(info["steps"], residual, False, score=best), **info}
            r1 = self.residual()
            g1 = _dot(du, r1)
            if control is None and g0 > 0 and g1 < -0.5 * g0:
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
    """Static equilibrium at the conditions' full values by Newton-Krylov from the current state; where a full
    step fails, load steps from the unloaded state (``solve_steps``). relax's dict, or None where Newton does
    not apply (see ``supports``)."""
    if not supports(sim):
        return None
    solver = newton_for(sim)
    solver.pattern = pat = Pattern(sim)  # the conditions' values now are factor 1
    res = solver.solve(tolerance, balance, callback=callback, max_steps=max_steps)
    if not res["failed"]:
        return res
    first = sim.u.copy()
    sim.u[:] = 0.0
    pat.scale(0.0)
    res2 = solve_steps(solver, 1.0, tolerance, balance, callback, first=0.5)
    res2["steps"] += res["steps"]
    pat.scale(1.0)
    if res2["converged"] or res2["stopped"]:
        return res2
    # Neither way converged (e.g. a tolerance below the float type's floor): the load steps may have ended at
    # a lower load's equilibrium, even u = 0. Keep whichever state is nearer equilibrium at the full load.
    steps = res2["steps"] + 1
    score = relaxation.score(sim, relaxation.residual_of(sim, solver.residual()), tolerance, balance)
    if score > res["score"]:
        sim.u[:] = first
        solver.residual()  # the kept state's forces, as a solve leaves them
        return {**res, "steps": steps + 1}
    return {**res2, "steps": steps, "score": score}


_SOLVERS = SolverSlot("_newton_solver")  # kept on the simulation (a weak-keyed dict kept every simulation alive)


def newton_for(sim, tick: Callable[[dict], bool] | None = None) -> Newton:
    """The Newton solver of ``sim`` (built once; kept while ``sim`` lives); ``tick``: its Newton.tick, given
    before the build so that the build looks in too."""
    solver = _SOLVERS.get(sim)
    if solver is None:
        solver = Newton(sim, tick if tick is not None else getattr(sim, "observer", None))
        _SOLVERS[sim] = solver
    elif tick is not None:
        solver.tick = tick
    return solver


# ---- failure: the load path with bond breaking --------------------------------------------------------------

# Displacement-control increments, a share of the current w: the first one, the smallest (the peak's resolution
# after refinement) and the largest (grown while the load still rises with little breaking). The failure load
# follows the order bonds break in, so it moves with the step sizes; these are 1/8 of the 0.03 / 0.005 / 0.12 of
# 2026-12-06, the largest steps whose failure load is within about 1 % (1.1 % at most) of the step-converged one
# (halving them again) on every row of bench_failure measured (docs/physics.md: the old steps were up to 8 % off, on the cantilevers).
DW_FIRST = 0.00375
DW_MIN = 0.000625
DW_MAX = 0.015
DROP = 0.9  # past the peak, a load below this share of it means the part has failed (below)
# The failure load is the peak: the test's loads are dead loads times a factor, and past the peak they have no
# equilibrium nearby (the crack runs). A fall of 10 % is past the wiggles of bonds breaking on the way up (1 % on
# the sample bracket, samples/bracket_refine) and ends the trace; following the fall further (to half the peak,
# as before) only traced a crack growing stably at 0.85-0.96 of the peak: the bracket's 15 N case spent 16,000
# of its 19,000 evaluations there after its peak, and the failure load never rose above the first peak again.
MAX_INCREMENTS = 640  # 80 of the old 8x larger steps
MAX_ROUNDS = 60  # break-and-re-equilibrate rounds within one increment
SETTLE_SLACK = 3.0  # rounds inside an increment solve to this multiple of the tolerances (the last one to 1)
CASCADE = 0.95  # a settle round whose load is below this share of the peak carries a running crack: ...
CASCADE_SLACK = 10.0  # ... solved to this multiple of the tolerances ...
CASCADE_ITERATIONS = 2  # ... in at most this many Newton iterations (the state where nothing breaks: fully)
INEXACT_SETTLE = True  # settle rounds re-equilibrate by one inexact Newton step each until none breaks (below)
SETTLE_ETA = 0.1  # ... its forcing term (CG to 1/10 of the broken bonds' out-of-balance force)
DOOMED_ABORT = True  # a settle whose load falls below the last increment's, where a redo follows, stops there
LOOSE_INCREMENT = True  # an increment's own solve to SETTLE_SLACK x the tolerances (its settle's level)
TANGENT_PREDICTOR = True  # an increment starts from the last bordered solve's tangent K^-1 q, which it keeps
RUNNING_PAST_PEAK = 3  # past the peak, a settle whose load is below it ends the trace once its crack runs so (0: never)
RUNNING_FALL = 0.97  # ... below this share of it (past the ~1 % wiggles on the way up: one ran so at 99.8 %)
RUNNING_ROUNDS = 3  # a settle that may be redone stops once its rounds break more bonds this many times in a row
ROUND_FLOAT32 = True  # a settle round's step from the float32 twin's residual (Newton.solve's fast_round)
BREAK_PASS = True  # break checks by the law's break-only pass where it has one (Newton.break_bonds)
KEEP_UNIT = False  # an increment's last solve (at the w of its settle) keeps its K^-1 q (else refreshes it: the next predictor)
# Where an increment broke nothing, the next break's w is predicted from the tangent K^-1 q (each intact bond's
# stretch linearised) and the next increment lands this share of the way short of it: the top of the elastic
# stretch, sampled exactly (where that break starts a running crack, as at a notch, it is the peak). Until
# 2026-12-07 the largest stretch's secant put the step just past it (the crack ran, and the step was redone a
# quarter as large, a dozen times over, to find the top: half of tpb's and sent's evaluations), and after
# cracks the secant overshot the break, breaking past a top it never sampled (3 % of a small cantilever's peak).
LAND_SHORT = 1e-3
LAND_ON_TOP = True  # False: the secant's step just past the next break (until 2026-12-07), to compare


@dataclass
class Trace:
    """The load path of a failure test: ``curve`` points (factor, w in m, broken bonds, bonds broken in the
    increment, converged) in order, the peak (largest factor of an equilibrium with no bond over its limit),
    why it stopped, and how much it cost."""

    curve: list = field(default_factory=list)
    peak_factor: float | None = None
    peak_index: int | None = None
    failed: bool = False
    reason: str = ""
    evaluations: int = 0
    iterations: int = 0
    converged: bool = True
    # Where ``evaluations`` went, by phase (the per-solve breakdown of a failure test's cost): "first break" (load
    # control to it), "increment solves", "settle rounds" (their one-step solves), "break checks", "closing
    # solves" (a settle's state where none breaks, solved), "last solves" (each increment's, to the tolerance),
    # "restores"; and "redone": of all these, the evaluations of increments thrown away (redone or failed).
    phases: dict = field(default_factory=dict)
    # Break checks made by the law's break-only pass (BREAK_PASS: about a quarter of an evaluation each at 38,400
    # LPS particles), not counted in ``evaluations``.
    break_passes: int = 0


def trace(
    sim,
    *,
    tolerance: float = 2e-3,
    balance: float | None = None,
    max_factor: float = 1e3,
    watch: Callable[[], str | None] | None = None,
    progress: Callable[[dict], None] | None = None,
    save: Callable[[], object] | None = None,
    on_point: Callable[[dict], None] | None = None,
) -> Trace:
    """Follow the load path from the current equilibrium (the conditions' values now are factor 1) until the
    part fails; bonds break only between converged states. Load control up to the first break (its factor from
    the largest bond stretch, the law being linear until then), then control of the load's work-conjugate
    displacement w (``Pattern.work_displacement``) with increments DW_FIRST x w, grown where nothing breaks (to
    just short of the next break the tangent predicts: LAND_SHORT, ``next_break``), halved where the load falls
    fast, each from the tangent predictor (TANGENT_PREDICTOR); after each converged
    increment, bonds over their limit break and the
    increment re-equilibrates at the same w until none does (each round by one inexact Newton step, the state
    where none breaks solved fully: see ``settle``). The first increment whose settled load is below the
    previous one is redone from the previous state with a quarter of the step, down to DW_MIN (the peak's
    resolution; its settle stops once its load is below the previous one, or once its crack runs faster round
    after round: ``running``); a crack that runs again after one has been
    followed to DROP ends the trace at once. Failed: ``watch`` returns a reason (cut off, ran away), the load
    falls below DROP x the peak, a settle past the peak (no redo to follow) has its load below RUNNING_FALL x it
    and its crack running faster round after round (RUNNING_PAST_PEAK, ``running``: the cascade DROP would
    follow), or an increment no longer converges past the peak (snap-back).
    ``progress(event)`` gets factor, w_mm, iteration, residual, broken. ``save()`` is called at the peak state (the caller keeps its fields).
    ``on_point(point)`` gets each point of the curve as it is recorded.
    """
    from physics import analysis

    solver = newton_for(sim)
    solver.pattern = pat = Pattern(sim)
    out = solver.last_trace = Trace()  # kept on the solver for a caller that wants its cost by phase
    total0 = int(sim.initial_bond_count.sum())
    evaluations0, iterations0, passes0 = solver.evaluations, solver.iterations, solver.break_passes
    s0 = float(getattr(sim.law, "s00", np.inf))
    state = {"phase": "load", "broken_new": 0, "peak": -np.inf, "cascade": ""}

    def broken_total() -> int:
        return (total0 - int(np.bitwise_count(sim.bits).sum())) // 2

    def callback(it: int, residual: float) -> bool:
        if progress is not None:
            progress({"factor": pat.factor, "w_mm": pat.work_displacement(sim.u) * 1e3, "iteration": it,
                      "residual": residual, "broken": broken_total(), "phase": state["phase"]})  # fmt: skip
        return False

    spent = {"phase": "first break", "at": solver.evaluations}

    def phase(name: str) -> None:
        """Charge the evaluations since the last call to the phase then under way; ``name`` is under way now."""
        now = solver.evaluations
        out.phases[spent["phase"]] = out.phases.get(spent["phase"], 0) + now - spent["at"]
        spent.update(phase=name, at=now)

    def thrown() -> None:
        """The increment under way is thrown away (redone or failed): its evaluations count as redone too."""
        out.phases["redone"] = out.phases.get("redone", 0) + solver.evaluations - spent["increment"]

    def record(converged: bool) -> None:
        out.curve.append({"factor": pat.factor, "w_m": pat.work_displacement(sim.u), "broken": broken_total(),
                          "converged": converged})  # fmt: skip
        if on_point is not None:
            on_point(out.curve[-1])

    def settle(control: float | None, tol_scale: float = 1.0, floor: float | None = None) -> tuple[bool, int]:
        """Break bonds over their limit and re-equilibrate until none breaks: (converged, bonds broken).

        INEXACT_SETTLE: each round re-equilibrates by one Newton step with a loose forcing term (SETTLE_ETA; the
        bordered step's K a = q kept from the last solve) and the next round's bonds break on that nearly
        balanced state; once none breaks, the state is solved to the tolerance and checked again, so the round
        ends, as before, at a converged state with no bond over its limit. A round costs 6-30 evaluations where a
        full solve (ETA_MAX) costs 40-130; the bonds break in a slightly different order (measured: the
        cantilever at 1 mm's failure load within 1 %). Otherwise each round is solved fully, and once the load
        has fallen below CASCADE x the peak at this w (the crack runs on and the rounds only carry it), loosely
        (CASCADE_SLACK x the tolerances, at most CASCADE_ITERATIONS Newton iterations).

        ``floor`` (DOOMED_ABORT): where a load below it means the increment is redone anyway, the settle stops as
        soon as the load is below it with bonds still breaking (state["doomed"]; the load at a fixed w only falls
        as bonds break), instead of following the crack to its end."""

        def solved(scale: float, name: str = "closing solves", **limits) -> bool:
            phase(name)
            res = solver.solve(tolerance * scale, None if balance is None else balance * scale,
                               callback=callback, control=control, **limits)  # fmt: skip
            return bool(res["converged"] or res["stalled"])

        def step() -> None:
            phase("settle rounds")
            solver.solve(tolerance * tol_scale, None if balance is None else balance * tol_scale, callback=callback,
                         control=control, max_iterations=1, eta=SETTLE_ETA, keep_unit=True, last_step=True)  # fmt: skip
            if not np.isfinite(sim.u).all():
                raise relaxation.diverged(solver.evaluations)

        broken = 0
        loose = False
        counts: list[int] = []
        for _ in range(MAX_ROUNDS):
            phase("break checks")
            n = solver.break_bonds()
            if n == 0:
                if not loose:
                    return True, broken
                loose = False
                if not solved(tol_scale):
                    return False, broken
                continue
            broken += n
            counts.append(n)
            state["broken_new"] = broken
            if floor is not None and (pat.factor < floor or running(counts, RUNNING_ROUNDS)):
                state["doomed"] = True
                return True, broken
            if (floor is None and control is not None and pat.factor < RUNNING_FALL * state["peak"]
                    and running(counts, RUNNING_PAST_PEAK)):  # fmt: skip
                # Past the peak (no redo follows), the load below it by more than the wiggles of bonds breaking on
                # the way up and the crack running faster round after round at this w: unstable, the failure;
                # following it down to DROP only repeats the cascade.
                out.failed = True
                out.reason = (f"the crack ran faster round after round at {pat.factor / state['peak']:.1%} of the "
                              "peak load")  # fmt: skip
                state["cascade"] = out.reason
                return True, broken
            if control is not None and pat.factor < CASCADE * state["peak"]:
                if state["cascade"]:
                    # A crack already followed to DROP runs again (a redo of the peak's increment found it): the
                    # redo has found its top, and the cascade would only repeat the one seen.
                    out.failed, out.reason = True, state["cascade"]
                    return True, broken
                loose = True
                if INEXACT_SETTLE:
                    step()
                else:
                    solved(CASCADE_SLACK, "settle rounds", max_iterations=CASCADE_ITERATIONS)  # not converging here is expected
                if not np.isfinite(sim.u).all():
                    raise relaxation.diverged(solver.evaluations)
            elif INEXACT_SETTLE:
                loose = True
                step()
            elif not solved(tol_scale, "settle rounds"):
                return False, broken
            if control is not None and pat.factor < DROP * state["peak"]:
                # The crack runs on at a falling load: failed; no need to follow the cascade to its end.
                out.failed = True
                out.reason = f"the load fell to {pat.factor / state['peak']:.0%} of its peak as the crack ran"
                state["cascade"] = out.reason
                return True, broken
        if watch is not None and broken and (reason := watch()) is not None:
            out.failed, out.reason = True, reason
        return True, broken

    def finish() -> Trace:
        phase("")
        out.phases.pop("", None)
        out.evaluations = solver.evaluations - evaluations0
        out.iterations = solver.iterations - iterations0
        out.break_passes = solver.break_passes - passes0
        return out

    def snapshot():
        return sim.u.copy(), sim.bits.copy(), pat.factor

    def predict(target: float) -> bool:
        """Tangent predictor: u + dlam a, factor + dlam, with a = K^-1 q of the last bordered solve (about the
        last converged state, its cracks in) and dlam taking w to ``target``; False where there is none (or the
        loads include prescribed displacements, which a does not carry)."""
        unit = solver._unit
        if unit is None or pat.moves:
            return False
        ca = pat.work_displacement(unit)
        if not ca > 0:
            return False
        dlam = (target - pat.work_displacement(sim.u)) / ca
        sim.u += dlam * np.where(sim.free[:, None], unit, 0.0)
        pat.scale(pat.factor + dlam)
        return True

    def restore(snap) -> None:
        phase("restores")
        sim.u[:] = snap[0]
        sim.bits[:] = snap[1]
        pat.scale(snap[2])
        solver.residual()  # the law's per-particle state (LPS) follows the bits back

    record(True)
    # ---- load control to the first break (up or down from the current, intact equilibrium) ---------------
    if not np.isfinite(s0):
        out.reason = "bonds never break (no fracture energy or strength)"
        return finish()
    smax = float(analysis.max_bond_stretch(sim).max())
    jump = s0 / smax if smax > 0 else np.inf
    if not jump * pat.factor <= max_factor:
        out.reason = f"no bond breaks up to {max_factor:g} x the service load"
        return finish()
    # Many solves follow: a coarse level that is the tangent's own Galerkin product pays for its probes in the
    # first few (the state here is the service equilibrium, intact or with the part's own cracks), unless the
    # caller built one for the service solve already (``Newton.coarse_level``; rebuilt when it grows stale).
    solver.residual()
    solver.prepare()
    if solver._galerkin is None:
        phase("galerkin")
        solver.galerkin()
        phase("first break")
    service = snapshot()
    first_break = pat.factor * jump * (1.0 + 1e-3)
    pat.scale(first_break)
    sim.u *= jump  # linear until the first break: the scaled state is the predictor
    res = solver.solve(tolerance, balance, callback=callback)
    if res["failed"]:
        restore(service)
        res = solve_steps(solver, first_break, tolerance, balance, callback)
    if not (res["converged"] or res["stalled"]):
        out.converged = False
    record(bool(res["converged"] or res["stalled"]))
    # ---- displacement control ------------------------------------------------------------------------------
    state["phase"] = "displacement"
    w = pat.work_displacement(sim.u)
    if not w > 0:
        out.reason = "the loads do no work on the part's displacement (nothing to control)"
        return finish()
    dw = DW_FIRST * w
    before = snapshot()
    ok, broken = settle(w)
    record(ok)
    peak, peak_state = -np.inf, None
    refined_at = None
    last_factor = pat.factor
    if save is not None and ok:
        peak_state = save()
    peak, out.peak_index = pat.factor, len(out.curve) - 1
    state["peak"] = peak
    fails = 0
    for _ in range(MAX_INCREMENTS):
        if out.failed:
            break
        before = snapshot()
        spent["increment"] = solver.evaluations
        target = w + dw
        keep = TANGENT_PREDICTOR and predict(target)
        if not keep:
            sim.u *= target / w  # proportional predictor
        scale = SETTLE_SLACK if LOOSE_INCREMENT else 1.0
        phase("increment solves")
        res = solver.solve(tolerance * scale, None if balance is None else balance * scale, callback=callback,
                           control=target, keep_unit=keep)  # fmt: skip
        ok = bool(res["converged"] or res["stalled"])
        broken = 0
        redo = refined_at != peak and dw > 2 * DW_MIN * w  # a fall below last_factor is redone
        state["doomed"] = False
        if ok:
            ok, broken = settle(target, SETTLE_SLACK, last_factor if redo and DOOMED_ABORT else None)
            if state["doomed"]:
                thrown()
                restore(before)
                refined_at = peak
                dw = max(DW_MIN * w, 0.25 * dw)
                continue
            if ok and (broken or scale > 1.0) and not out.failed:  # a failed settle's state is kept as it is
                phase("last solves")
                res = solver.solve(tolerance, balance, callback=callback, control=target, keep_unit=KEEP_UNIT)
                ok = bool(res["converged"] or res["stalled"])
        if not ok and broken and watch is not None and (reason := watch()) is not None:
            out.failed, out.reason = True, reason  # cut through: the solve has no equilibrium to find
            break
        if not ok:
            thrown()
            restore(before)
            fails += 1
            if fails > 2 or dw <= DW_MIN * w:
                out.failed = True
                out.converged = bool(np.isfinite(peak))
                out.reason = out.reason or "no equilibrium past this point (the crack runs unstably: snap-back)"
                break
            dw *= 0.25
            continue
        fails = 0
        factor = pat.factor
        if factor < last_factor and refined_at != peak and dw > 2 * DW_MIN * w:
            # A fall after a new peak: redo from the previous state with a quarter of the step (once per
            # peak) to find the top.
            thrown()
            restore(before)
            out.failed, out.reason = False, ""
            refined_at = peak
            dw = max(DW_MIN * w, 0.25 * dw)
            continue
        w = target
        record(not out.failed)
        if factor > peak:
            peak, out.peak_index = factor, len(out.curve) - 1
            state["peak"] = peak
            if save is not None:
                peak_state = save()
        if out.failed:
            break
        if factor < DROP * peak:
            out.failed = True
            out.reason = f"the load fell to {factor / peak:.0%} of its peak"
            break
        if factor > max_factor and not broken:
            break
        # Step control: grow while the load rises by at least half the elastic share of the step (little
        # breaking), shrink where it falls.
        rise = (factor - last_factor) / max(last_factor, 1e-300)
        if factor < last_factor:
            dw = max(DW_MIN * w, 0.5 * dw)
        elif rise > 0.5 * dw / max(w - dw, 1e-300):
            dw = min(DW_MAX * w, 1.5 * dw)
        if broken == 0 and factor >= last_factor:
            # Nothing broke: the path is elastic up to the next break. Land just short of it (LAND_SHORT) where
            # the tangent predicts it; the next increment breaks it. Without a tangent (prescribed displacements),
            # the largest stretch's secant predicts it, as for the first break, and the step goes just past it.
            unit = solver._unit
            ca = pat.work_displacement(unit) if unit is not None and not pat.moves else 0.0
            dlam = next_break(sim, unit, s0) if ca > 0 and LAND_ON_TOP else np.inf
            if np.isfinite(dlam):
                dw = max(dw, ca * dlam * (1.0 - LAND_SHORT))
            else:
                smax = float(analysis.max_bond_stretch(sim).max())
                if smax > 0:
                    dw = max(dw, w * (s0 / smax * (1.0 + 1e-3) - 1.0))
        last_factor = factor
    else:
        out.reason = out.reason or f"stopped after {MAX_INCREMENTS} increments"
    out.peak_factor = peak if np.isfinite(peak) else None
    out.peak_state = peak_state
    return finish()


def running(counts: list[int], rounds: int) -> bool:
    """A settle's crack runs at its w: the bonds its rounds broke (``counts``, in order) grew ``rounds`` rounds in
    a row, to at least twice their fewest. A settle that would be redone once its load falls below the last
    increment's stops there (RUNNING_ROUNDS): at 38,400 particles such a settle took up to 33 rounds of a crack
    running ever faster before its load fell that far."""
    if rounds <= 0 or len(counts) <= rounds:
        return False
    tail = counts[-rounds - 1 :]
    return all(b > a for a, b in zip(tail, tail[1:], strict=False)) and counts[-1] >= 2 * min(counts)


def next_break(sim, unit: np.ndarray, s0: float) -> float:
    """The smallest load-factor change at which an intact bond reaches stretch s0 along the displacement ``unit``
    per unit factor (each bond's stretch linearised about the current state: ds = y . (a_j - a_i) / (|y| |xi|)
    per unit); inf where no intact bond lengthens along it."""
    lat = sim.body.lattice
    out = np.empty(sim.body.count)
    _next_breaks(lat.cells.astype(np.int64), lat.cell_to_particle, lat.flat_offset.astype(np.int64),
                 np.ascontiguousarray(lat.stencil * lat.spacing, dtype=np.float64),
                 np.ascontiguousarray(sim.bits, dtype=np.uint32), np.ascontiguousarray(sim.u, dtype=np.float64),
                 np.ascontiguousarray(unit, dtype=np.float64), float(s0), out)  # fmt: skip
    return float(out.min(initial=np.inf))


@njit(cache=True, parallel=True)
def _next_breaks(cells, table, offsets, xi, bits, u, unit, s0, out):  # pragma: no cover - numba
    """out[i]: the smallest (s0 - s) / (ds/dlam) over particle i's intact bonds to j > i (each bond once) that
    lengthen along ``unit``; inf where none does."""
    for i in prange(cells.shape[0]):
        best = np.inf
        for b in range(offsets.shape[0]):
            j = table[cells[i] + offsets[b]]
            if j <= i or (bits[b >> 5, i] >> np.uint32(b & 31)) & np.uint32(1) == 0:
                continue
            y0 = xi[b, 0] + u[j, 0] - u[i, 0]
            y1 = xi[b, 1] + u[j, 1] - u[i, 1]
            y2 = xi[b, 2] + u[j, 2] - u[i, 2]
            r = np.sqrt(y0 * y0 + y1 * y1 + y2 * y2)
            length = np.sqrt(xi[b, 0] ** 2 + xi[b, 1] ** 2 + xi[b, 2] ** 2)
            rate = (y0 * (unit[j, 0] - unit[i, 0]) + y1 * (unit[j, 1] - unit[i, 1])
                    + y2 * (unit[j, 2] - unit[i, 2])) / (r * length)  # fmt: skip
            if rate > 0.0:
                best = min(best, max(s0 - (r - length) / length, 0.0) / rate)
        out[i] = best


def solve_steps(solver: Newton, target: float, tolerance: float, balance: float | None, callback,
                first: float = 1.0) -> dict:  # fmt: skip
    """Load control from the current equilibrium (at the pattern's factor) to factor ``target``: a step of
    ``first`` x the way there, halved where it fails (from the last equilibrium), grown where it converges;
    intermediate steps solve to 10x the tolerances."""
    pat, sim = solver.pattern, solver.sim
    lam = pat.factor
    span = target - lam
    step = first * span
    steps = 0
    while True:
        nxt = target if abs(target - (lam + step)) < 1e-9 * abs(span) or abs(step) >= abs(target - lam) else lam + step
        last = nxt == target
        saved = sim.u.copy()
        if lam != 0:
            sim.u *= nxt / lam  # proportional predictor
        pat.scale(nxt)
        res = solver.solve(tolerance if last else 10 * tolerance, balance if last else None, callback=callback)
        steps += res["steps"]
        res["steps"] = steps
        if res["failed"] or res["stopped"]:
            sim.u[:] = saved
            pat.scale(lam)
            step *= 0.5
            if res["stopped"] or abs(step) < abs(span) / 64:
                return res
            continue
        lam = nxt
        if last:
            return res
        step *= 1.5


def static(
    sim,
    tolerance: float = 2e-3,
    balance: float | None = None,
    callback: Callable[[int, float], bool] | None = None,
    max_rounds: int = MAX_ROUNDS,
    max_steps: int | None = None,
) -> dict | None:
    """A static test's equilibrium: ``solve``, then bonds over their limit break and the state re-equilibrates
    at the same loads until none breaks (at most ``max_rounds``; ``callback`` returning True stops it, e.g. a
    crack cutting the part). relax's dict plus "broken" (bonds broken), or None where Newton does not apply."""
    res = solve(sim, max_steps=max_steps or 10**9, tolerance=tolerance, callback=callback, balance=balance)
    if res is None or res["failed"] or res["stopped"] or not (res["converged"] or res["stalled"]):
        return res
    solver = newton_for(sim)
    steps, broken = res["steps"], 0
    for _ in range(max_rounds):
        n = solver.break_bonds()
        if n == 0:
            break
        broken += n
        left = None if max_steps is None else max(1, max_steps - steps)
        res = solver.solve(tolerance, balance, callback=callback, max_steps=left)
        steps += res["steps"]
        if res["failed"] or res["stopped"] or not (res["converged"] or res["stalled"]):
            break
    res["steps"] = steps
    res["broken"] = broken
    return res
