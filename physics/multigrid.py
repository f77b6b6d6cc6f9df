"""Geometric multigrid for static solves of large bodies (used by physics.relaxation.relax).

Plain dynamic relaxation needs iterations that grow with the body's size in lattice spacings (bending: tens of
thousands at 200k particles), and its lightly damped oscillation can meet the residual tolerance far from
equilibrium. Static problems without fracture are nearly linear, so this solver runs conjugate gradients:

- coarse levels re-make the body on a lattice of twice the pitch (2x2x2 cells, 2x2 in 2D; a coarse cell is
  filled when any child is, so no thin wall is lost), with an unbreakable copy of the law re-calibrated for that
  pitch (same horizon in spacings) and a particle held when any of its children is held;
- K v, the stiffness times a displacement, is read off the bond forces of an unbreakable copy of the law at a
  small multiple of v (the laws are linear at small strains);
- the preconditioner is a K-cycle: Chebyshev smoothing in D^-1 K (D the ADR diagonal stiffness, its top
  eigenvalue by power iteration), the residual restricted (transpose of the prolongation, as force density), two
  flexible CG iterations on the next level preconditioned the same way (Jacobi CG on the coarsest), the
  correction prolonged (trilinear from the coarse particle centres that exist) and smoothed again. Coarse levels
  are re-discretised peridynamics, not Galerkin products, so the outer CG (which picks each step length) is
  what makes them safe: a stationary V-cycle overshot and diverged with too little smoothing.

The finest level evaluates the real law and conditions at every outer iteration (residual, convergence, the
callback), so the answer is the one ADR converges to. Bonds breaking during a solve, or an outer iteration that
stalls (the float32 state resolves the out-of-balance force to about 1e-4 of the bond forces), hand the solve
to plain ADR from where it stands, so failure tests follow the same physics.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Callable

import numpy as np

from physics import integrators, relaxation
from physics.body import Body

MIN_COARSE = 500  # coarsen while the next level keeps at least about this many particles
MAX_LEVELS = 6
SMOOTH = 3  # Chebyshev steps before and after each coarse correction
CHEB_RATIO = 20.0  # the smoother damps the band [lmax / CHEB_RATIO, lmax] of D^-1 K
LMAX_SAFETY = 1.1  # power iteration undershoots the top eigenvalue
POWER_STEPS = 15
PROBE = 1e-3  # K v is read off the bond forces at displacements of PROBE lattice spacings at most
INNER_ITERATIONS = 2  # CG iterations on each coarse level per visit (K-cycle)
COARSEST_ITERATIONS = 200  # Jacobi-preconditioned CG on the coarsest level ...
COARSEST_REDUCTION = 1e-2  # ... until its residual dropped this much
STALL_FACTOR = 0.9  # an iteration that does not bring the residual below this fraction of its best so far
STALL_CYCLES = 8  # ... this many times in a row hands the solve to plain ADR

_SOLVERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def elastic_copy(law):
    """A fresh, unbreakable copy of ``law`` (same parameters) to set up on another body; None if the law's
    parameters are tied to one lattice (an explicit micromodulus, the LAMMPS variant) or it is not a dataclass."""
    if not dataclasses.is_dataclass(law):
        return None
    names = {f.name for f in dataclasses.fields(law) if f.init}
    if (
        getattr(law, "micromodulus", None) is not None
        or getattr(law, "variant", "calibrated") != "calibrated"
    ):
        return None
    changes = {
        k: v
        for k, v in (("fracture_energy", None), ("critical_stretch", None), ("contact", False))
        if k in names
    }
    return dataclasses.replace(law, **changes)


@dataclasses.dataclass
class Transfer:
    """Prolongation from a coarse level to the level above it: fine particle i takes sum_k w[i, k] e[idx[i, k]]."""

    idx: np.ndarray  # (n_fine, 8) int64 coarse particle ids
    w: np.ndarray  # (n_fine, 8) weights, each row sums to 1
    volume_ratio: float  # fine over coarse particle volume

    def prolong(self, e: np.ndarray) -> np.ndarray:
        return np.einsum("ik,ikc->ic", self.w, e[self.idx])

    def restrict(self, f: np.ndarray, n_coarse: int) -> np.ndarray:
        """Force density on the coarse particles carrying the same total force as ``f`` on the fine ones."""
        out = np.empty((n_coarse, 3))
        flat = self.idx.ravel()
        for c in range(3):
            out[:, c] = np.bincount(flat, (self.w * f[:, c : c + 1]).ravel(), minlength=n_coarse)
        return out * self.volume_ratio


def coarsen(body: Body, held: np.ndarray) -> tuple[Body, np.ndarray, Transfer]:
    """The body on a lattice of twice the pitch, its held mask and the prolongation onto ``body``."""
    lat = body.lattice
    d = lat.dimension
    factor = np.array([2, 2, 2 if d == 3 else 1])
    ijk = lat.ijk
    shape = np.array(lat.padded_shape) - 2 * np.array([lat.pad, lat.pad, lat.pad if d == 3 else 0])
    cshape = -(-shape // factor)
    occ = np.zeros(cshape, dtype=bool)
    parent = ijk // factor
    occ[tuple(parent.T)] = True
    origin = lat.origin + 0.5 * (factor - 1) * lat.spacing
    cbody = Body.from_occupancy(
        occ if d == 3 else occ[:, :, 0],
        2.0 * lat.spacing,
        body.density,
        origin=origin,
        horizon_cells=lat.horizon_cells,
        thickness=body.thickness if d == 2 else None,
    )
    clat = cbody.lattice
    table = clat.cell_to_particle
    cpads = np.array([clat.pad, clat.pad, clat.pad if d == 3 else 0])
    strides = np.array([clat.padded_shape[1] * clat.padded_shape[2], clat.padded_shape[2], 1])
    # Fine centre i*dx sits at (i - 1/2)/2 coarse spacings from coarse centre 0 (2D: z is not coarsened).
    q = np.where(factor == 2, (ijk - 0.5) / 2.0, ijk.astype(np.float64))
    base = np.floor(q).astype(np.int64)
    t = q - base
    n = body.count
    idx = np.zeros((n, 8), dtype=np.int64)
    w = np.zeros((n, 8))
    for k in range(8):
        corner = np.array([(k >> 2) & 1, (k >> 1) & 1, k & 1])
        c = base + corner
        weight = np.prod(np.where(corner == 1, t, 1.0 - t), axis=1)
        inside = np.all((c >= 0) & (c < cshape), axis=1)
        pid = np.full(n, -1, dtype=np.int64)
        flat = (np.where(inside[:, None], c, 0) + cpads) @ strides
        pid[inside] = table[flat[inside]]
        ok = pid >= 0
        idx[:, k] = np.where(ok, pid, 0)
        w[:, k] = np.where(ok, weight, 0.0)
    # The parent cell is always filled and always has weight >= (3/4)^d, so every row has a positive sum.
    w /= w.sum(axis=1, keepdims=True)
    pflat = (parent + cpads) @ strides
    cheld = np.zeros(cbody.count, dtype=bool)
    cheld[table[pflat[held]]] = True
    return cbody, cheld, Transfer(idx, w, body.particle_volume / cbody.particle_volume)


class Level:
    """One level: an unbreakable copy of the law on this level's body (the linear operator K) and the smoother."""

    def __init__(self, body: Body, law, free: np.ndarray) -> None:
        from physics.simulation import Simulation

        self.op = Simulation(body, law, [])
        self.free = free[:, None]
        self.inv_d = np.where(self.free, 1.0 / law.relaxation_stiffness(body)[:, None], 0.0)
        self.amplitude = PROBE * body.lattice.spacing
        self.lmax = 1.0
        self.count = body.count

    def apply(self, v: np.ndarray) -> np.ndarray:
        """K v (force density, N/m^3, on free particles) from the law's bond forces at a small multiple of v."""
        op = self.op
        top = float(np.abs(v).max())
        if top == 0.0:
            return np.zeros_like(v)
        scale = self.amplitude / top
        np.multiply(v, scale, out=op.u)
        integrators.to_grid(op.u, op.body.lattice.cells, op.ux, op.uy, op.uz)
        op.law.compute(op)
        return np.where(self.free, op.force, 0.0) * (-1.0 / scale)

    def estimate_lmax(self, seed: int) -> None:
        """Top eigenvalue of D^-1 K by power iteration (LMAX_SAFETY above it: power iteration undershoots)."""
        v = np.random.default_rng(seed).standard_normal((self.count, 3)) * self.free
        lam = 1.0
        for _ in range(POWER_STEPS):
            kv = self.inv_d * self.apply(v)
            lam = float((v * kv).sum() / max(float((v * v).sum()), 1e-300))
            v = kv / max(float(np.abs(kv).max()), 1e-300)
        self.lmax = LMAX_SAFETY * lam

    def smooth(self, r: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
        """Chebyshev iteration on K z = r from z = 0 damping [lmax / CHEB_RATIO, lmax] of D^-1 K: (z, r - K z)."""
        hi = self.lmax
        lo = hi / CHEB_RATIO
        theta, delta = 0.5 * (hi + lo), 0.5 * (hi - lo)
        sigma = theta / delta
        rho = 1.0 / sigma
        d = self.inv_d * r / theta
        z = np.zeros_like(r)
        for k in range(steps):
            z += d
            r = r - self.apply(d)
            if k == steps - 1:
                break
            rho_new = 1.0 / (2.0 * sigma - rho)
            d = rho_new * rho * d + (2.0 * rho_new / delta) * self.inv_d * r
            rho = rho_new
        return z, r


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.einsum("ij,ij->", a, b))


class Solver:
    """The level hierarchy of one simulation: flexible conjugate gradients on the finest level, preconditioned
    by a K-cycle (each coarse level solved by a few preconditioned CG iterations of its own)."""

    def __init__(self, sim, levels: list[Level], transfers: list[Transfer]) -> None:
        self.sim = sim
        self.levels = levels
        self.transfers = transfers

    def precondition(self, l: int, r: np.ndarray) -> np.ndarray:
        """An approximate solution z of K_l z = r."""
        level = self.levels[l]
        if l == len(self.levels) - 1:
            return self.cg(l, r, COARSEST_ITERATIONS, COARSEST_REDUCTION)
        z, r1 = level.smooth(r, SMOOTH)
        transfer = self.transfers[l]
        coarse = self.levels[l + 1]
        rc = transfer.restrict(r1, coarse.count)
        last = l + 1 == len(self.levels) - 1
        zc = self.precondition(l + 1, rc) if last else self.cg(l + 1, rc, INNER_ITERATIONS, 0.0)
        e = np.where(level.free, transfer.prolong(zc), 0.0)
        z += e
        r2 = r1 - level.apply(e)
        z2, _ = level.smooth(r2, SMOOTH)
        return z + z2

    def cg(self, l: int, b: np.ndarray, iterations: int, reduction: float) -> np.ndarray:
        """Flexible preconditioned CG on K_l x = b from x = 0 (Jacobi on the coarsest level)."""
        level = self.levels[l]
        coarsest = l == len(self.levels) - 1
        x = np.zeros_like(b)
        r = b.copy()
        target = reduction * np.sqrt(_dot(b, b))
        z = level.inv_d * r if coarsest else self.precondition(l, r)
        p = z.copy()
        rz = _dot(r, z)
        for _ in range(iterations):
            q = level.apply(p)
            pq = _dot(p, q)
            if not pq > 0:
                break
            a = rz / pq
            x += a * p
            r_new = r - a * q
            if np.sqrt(_dot(r_new, r_new)) <= target:
                break
            z_new = level.inv_d * r_new if coarsest else self.precondition(l, r_new)
            beta = _dot(r_new, z_new - z) / rz
            r, z = r_new, z_new
            rz = _dot(r, z)
            p = z + beta * p
        return x

    def solve(self, max_steps: int, tolerance: float, callback: Callable[[int, float], bool] | None) -> dict:
        """Flexible PCG on the real (nonlinear) out-of-balance force until the residual, as relax measures it,
        is below ``tolerance``; ``steps`` counts evaluations of the real law on the body. See relaxation.relax."""
        sim = self.sim
        fine = self.levels[0]
        bonds = int(np.bitwise_count(sim.bits).sum())
        # A damaged state (a warm start after breaking): the law copies are intact, so ADR it is.
        if bonds != int(sim.initial_bond_count.sum()):
            return relaxation.adr(sim, max_steps, tolerance, callback=callback)
        sim.dt = 1.0
        r = relaxation.out_of_balance(sim)
        steps = 1
        residual = relaxation.residual_of(sim, r)
        z = self.precondition(0, r)
        p = z.copy()
        rz = _dot(r, z)
        best, stalled = residual, 0
        while steps < max_steps and residual >= tolerance:
            q = fine.apply(p)
            pq = _dot(p, q)
            if not pq > 0:
                break
            sim.u += (rz / pq) * p
            r_new = relaxation.out_of_balance(sim)
            steps += 1
            if not np.isfinite(sim.u).all():
                raise relaxation.diverged(steps)
            residual = relaxation.residual_of(sim, r_new)
            if residual < tolerance:
                break
            if callback is not None and callback(steps, residual):
                sim.v[:] = 0.0
                return {"steps": steps, "residual": residual, "converged": False, "stopped": True}
            stalled = stalled + 1 if residual > STALL_FACTOR * best else 0
            best = min(best, residual)
            if stalled >= STALL_CYCLES or int(np.bitwise_count(sim.bits).sum()) != bonds:
                return relaxation.adr(sim, max_steps - steps, tolerance, callback=callback, first_step=steps)
            z_new = self.precondition(0, r_new)
            beta = max(0.0, _dot(r_new, z_new - z) / rz)
            r, z = r_new, z_new
            rz = _dot(r, z)
            p = z + beta * p
        sim.v[:] = 0.0
        if residual >= tolerance and steps < max_steps:
            return relaxation.adr(sim, max_steps - steps, tolerance, callback=callback, first_step=steps)
        return {"steps": steps, "residual": residual, "converged": residual < tolerance, "stopped": False}


def solver_for(sim) -> Solver | None:
    """The multigrid solver of ``sim`` (built once and kept while ``sim`` lives), or None where multigrid does
    not apply: bonds already broken, no held particle, a law without an elastic copy, or a body too small to
    coarsen."""
    cached = _SOLVERS.get(sim)
    if cached is not None:
        return cached if cached.levels else None
    solver = _build(sim)
    _SOLVERS[sim] = solver if solver is not None else Solver(sim, [], [])
    return solver


def _build(sim) -> Solver | None:
    if sim.free.all() or not sim.free.any():
        return None
    if int(np.bitwise_count(sim.bits).sum()) != int(sim.initial_bond_count.sum()):
        return None
    law = elastic_copy(sim.law)
    if law is None:
        return None
    levels = [Level(sim.body, law, sim.free)]
    transfers: list[Transfer] = []
    body, held = sim.body, ~sim.free
    while len(levels) < MAX_LEVELS and body.count >= MIN_COARSE * 8:
        cbody, cheld, transfer = coarsen(body, held)
        if cheld.all():
            break
        levels.append(Level(cbody, elastic_copy(sim.law), ~cheld))
        transfers.append(transfer)
        body, held = cbody, cheld
    if len(levels) < 2:
        return None
    for k, level in enumerate(levels):
        level.estimate_lmax(seed=k)
    return Solver(sim, levels, transfers)
