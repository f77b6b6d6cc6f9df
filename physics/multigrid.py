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
  flexible CG iterations on the next level preconditioned the same way, the correction prolonged (trilinear from
  the coarse particle centres that exist) and smoothed again; the coarsest level (under 8 x MIN_COARSE
  particles) is solved directly, its stiffness assembled by probing and factored once (Cholesky). Coarse levels
  are re-discretised peridynamics, not Galerkin products, so the outer CG (which picks each step length) is
  what makes them safe: a stationary V-cycle overshot and diverged with too little smoothing.

The outer iteration is flexible PCG on the real law's out-of-balance force (residual, convergence, callback as
in ADR), so the answer is the one ADR converges to. The copy's K is linear about the undeformed state, and the
real law is not: a bracket whose tip turns by 1e-2 rad gets a spurious theta^2/2 compression from K (5e-5,
as large as the real strains in places), which made the CG, stepping by K, stall at 2e-2 and then diverge. So
K only proposes each step: its length is the exact line minimum of the secant of the real law along the
direction (one extra evaluation of the law per iteration). Bonds breaking during a solve, or iterations that
stop improving short of STALL_SLACK x the targets, hand the solve to plain ADR from where it stands, so failure
tests follow the same physics; within STALL_SLACK it reports ``stalled`` (the float32 force evaluation
resolves the out-of-balance force to about 1e-4 of the bond forces).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
from numba import njit
from threadpoolctl import ThreadpoolController

from physics import balance as bal
from physics import integrators
from physics.body import Body
from physics.laws.base import grid_dtype

MIN_COARSE = 100  # coarsen while the next level keeps at least about this many particles: the coarsest level
# (under 8 x MIN_COARSE particles) is solved directly (dense Cholesky of its assembled stiffness)
MAX_LEVELS = 6
# A coarsest level is factored from a dense (3n x 3n) float64 assembly: past this many particles the hierarchy is
# refused (None: the caller's Newton-Krylov or relaxation goes on without it) rather than allocated. A coarsening
# stopped early (a coarse lattice the law cannot stand on) could leave a level of thousands of particles (13,000
# would take 12 GB); coarsest levels stay under 8 x MIN_COARSE otherwise.
MAX_DIRECT = 30 * MIN_COARSE
BANDED_MAX = 0.25  # a direct level's factor is banded where its bandwidth is at most this share of its dofs
SMOOTH = 3  # Chebyshev steps before and after each coarse correction
CHEB_RATIO = 20.0  # the smoother damps the band [lmax / CHEB_RATIO, lmax] of D^-1 K
LMAX_SAFETY = 1.1  # the Lanczos estimate approaches the top eigenvalue from below
POWER_STEPS = 15  # Lanczos steps on the coarse levels; the finest level (the costly one) takes FINE_POWER_STEPS
FINE_POWER_STEPS = 10  # and keeps the next level's estimate if that is higher (the same law and horizon in spacings)
PROBE = 1e-3  # K v is read off the bond forces at displacements of PROBE lattice spacings at most ...
FINE_PROBE = (
    1e-5  # ... FINE_PROBE on the finest level (the real law: stretches far below any breaking stretch)
)
INNER_ITERATIONS = 2  # CG iterations on each coarse level per visit (K-cycle)
STALL_FACTOR = 0.9  # an outer iteration that does not bring the score below this fraction of its best so far
STALL_CYCLES = 3  # ... this many times in a row: stalled (within STALL_SLACK) or handed to plain ADR

class SolverSlot:
    """A solver kept on its simulation (in ``sim.__dict__`` under ``name``), with the mapping calls the callers use
    (get, item assignment, pop). A solver holds its simulation, so a weak-keyed dictionary's value kept its key
    alive: every simulation that ever had a solver stayed in memory, and a design search's worker, thousands of
    developments' simulations later, grew to 12 GB and was killed by the kernel. Kept on the simulation, the two
    go together."""

    def __init__(self, name: str) -> None:
        self.name = name

    def get(self, sim, default=None):
        return sim.__dict__.get(self.name, default)

    def __setitem__(self, sim, solver) -> None:
        sim.__dict__[self.name] = solver

    def pop(self, sim, default=None):
        return sim.__dict__.pop(self.name, default)


_SOLVERS = SolverSlot("_multigrid_solver")


_BLAS: ThreadpoolController | None = None


def _one_blas_thread():
    """A context of one BLAS thread for the coarsest level's dense factor and solves, from a controller made once:
    threadpool_limits rescans the loaded libraries on every call (0.5 ms, a quarter of a solve at 1,800 dofs)."""
    global _BLAS
    if _BLAS is None:
        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")


@dataclasses.dataclass
class Transfer:
    """Prolongation from a coarse level to the level above it: fine particle i takes sum_k w[i, k] e[idx[i, k]]."""

    idx: np.ndarray  # (n_fine, 8) int64 coarse particle ids
    w: np.ndarray  # (n_fine, 8) weights, each row sums to 1
    volume_ratio: float  # fine over coarse particle volume

    def prolong(self, e: np.ndarray) -> np.ndarray:
        return _prolong(self.w, self.idx, np.ascontiguousarray(e, dtype=np.float64))

    def restrict(self, f: np.ndarray, n_coarse: int) -> np.ndarray:
        """Force density on the coarse particles carrying the same total force as ``f`` on the fine ones."""
        return _restrict(self.w, self.idx, np.ascontiguousarray(f, dtype=np.float64), n_coarse, self.volume_ratio)


# The transfers' gather and scatter, one loop each (numpy's e[idx] gather and per-component bincounts made a
# preconditioner application's transfers cost about as much as a float32 evaluation of the law at 38,400
# particles); the scatter adds in the order bincount did (fine particle, then child slot).
@njit(cache=True)
def _prolong(w: np.ndarray, idx: np.ndarray, e: np.ndarray) -> np.ndarray:
    out = np.zeros((w.shape[0], 3))
    for i in range(w.shape[0]):
        for k in range(w.shape[1]):
            wk = w[i, k]
            j = idx[i, k]
            for c in range(3):
                out[i, c] += wk * e[j, c]
    return out


@njit(cache=True)
def _restrict(w: np.ndarray, idx: np.ndarray, f: np.ndarray, n_coarse: int, ratio: float) -> np.ndarray:
    out = np.zeros((n_coarse, 3))
    for i in range(w.shape[0]):
        for k in range(w.shape[1]):
            wk = w[i, k]
            j = idx[i, k]
            for c in range(3):
                out[j, c] += wk * f[i, c]
    for j in range(n_coarse):
        for c in range(3):
            out[j, c] *= ratio
    return out


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


class Probe:
    """What a law's compute() reads and writes (displacements, bond bits, forces; physics/laws/__init__.py), on
    buffers of its own: on the finest level the simulation's own law, already set up on the body (setting up a
    copy costs as much again: LPS at 200k particles, 12 s), with a copy of its bond bits (at FINE_PROBE no bond
    breaks); on the coarse levels an unbreakable copy of the law set up on the coarse body."""

    breaking = False  # a linear probe: the law may skip its limit test (physics/laws/__init__.py)

    def __init__(self, body: Body, law, bits: np.ndarray) -> None:
        n = body.count
        ncells = int(np.prod(body.lattice.padded_shape))
        self.body = body
        self.law = law
        self.u = np.zeros((n, 3))
        self.force = np.zeros((n, 3))
        real = grid_dtype(law)  # the law's float type: float32, or float64 on the float64 path
        self.ux = np.zeros(ncells, dtype=real)
        self.uy = np.zeros(ncells, dtype=real)
        self.uz = np.zeros(ncells, dtype=real)
        self.min_stretch = np.zeros(n, dtype=real)
        self.newly_broken = np.zeros(n, dtype=np.int32)
        self.bits = bits.copy()

    @classmethod
    def of(cls, sim) -> Probe:
        """The simulation's own law on buffers of its own."""
        return cls(sim.body, sim.law, sim.bits)

    @classmethod
    def fresh(cls, body: Body, law) -> Probe:
        """``law`` (not yet set up) set up on ``body``, intact."""
        law.setup(body)
        return cls(body, law, law.initial_bonds(body))


class Level:
    """One level: an unbreakable copy of the law on this level's body (the linear operator K) and the smoother;
    on the finest level ``probe`` (the simulation's own law at FINE_PROBE) instead of the copy."""

    def __init__(self, body: Body, law, free: np.ndarray, probe: Probe | None = None) -> None:
        self.op = probe if probe is not None else Probe.fresh(body, law)
        self.free = free[:, None]
        self.inv_d = np.where(self.free, 1.0 / law.relaxation_stiffness(body)[:, None], 0.0)
        self.amplitude = (FINE_PROBE if probe is not None else PROBE) * body.lattice.spacing
        self.lmax = 1.0
        self.count = body.count
        self.after: Callable[[], None] | None = None  # called after every product while the hierarchy is built

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
        if self.after is not None:
            self.after()
        return np.where(self.free, op.force, 0.0) * (-1.0 / scale)

    def probes(self, reach: int) -> int:
        """Products ``factorize(reach)`` takes: three per colour."""
        return 3 * len(np.unique(_colours(self.op.body.lattice.ijk, reach)))

    def factorize(self, reach: int, stencil: np.ndarray | None = None) -> None:
        """Assemble this level's stiffness on its free dofs and factor it (the coarsest level's direct solve).

        Columns are probed a colour at a time: particles that share no row of K take one colour, so one product
        gives the columns of every particle of a colour. Colours: the lattice indices modulo 2 reach + 1 (reach:
        how many cells apart two particles still interact in K), or, given the ``stencil`` of lattice offsets a
        row couples (a bond-based law's bond stencil), a greedy colouring of the body's own particles
        (_stencil_colours: 2-3x fewer products on thin bodies, the same matrix)."""
        import scipy.linalg

        lat = self.op.body.lattice
        d = lat.dimension
        ijk = lat.ijk
        n = self.count
        rows = np.arange(n)
        if stencil is None:
            period = 2 * reach + 1
            pads = np.array([lat.pad, lat.pad, lat.pad if d == 3 else 0])
            shape = np.array(lat.padded_shape) - 2 * pads
            strides = np.array([lat.padded_shape[1] * lat.padded_shape[2], lat.padded_shape[2], 1])
            colour_of = _colours(ijk, reach)
        else:
            colour_of, near = _stencil_colours(ijk, stencil)
        dense = np.zeros((3 * n, 3 * n))
        for colour in np.unique(colour_of):
            members = colour_of == colour
            # The one particle of this colour within reach of each row particle (-1: none).
            col = np.full(n, -1, dtype=np.int64)
            if stencil is None:
                c = np.array([colour // (period * period), (colour // period) % period, colour % period])
                cell = ijk + (c - ijk + reach) % period - reach  # its cell (it may be empty)
                inside = np.all((cell >= 0) & (cell < shape), axis=1)
                col[inside] = lat.cell_to_particle[(cell[inside] + pads) @ strides]
            else:
                m = np.flatnonzero(members)
                reached = near[m]
                col[reached[reached >= 0]] = np.repeat(m, (reached >= 0).sum(axis=1))
            ok = col >= 0
            for k in range(3):
                v = np.zeros((n, 3))
                v[members, k] = 1.0
                kv = self.apply(v)
                for a in range(3):
                    dense[3 * rows[ok] + a, 3 * col[ok] + k] = kv[ok, a]
        # Free particles' in-plane components (a plane body has no stiffness out of its plane).
        dofs = np.flatnonzero((self.free & (np.arange(3) < d)).reshape(-1))
        k_ff = dense[np.ix_(dofs, dofs)]
        k_ff = 0.5 * (k_ff + k_ff.T)  # probing in float32 leaves a tiny asymmetry
        # K couples particles within reach only: in an order of small bandwidth (the lattice's own, or reverse
        # Cuthill-McKee's where that is narrower) a banded factor holds n (b + 1) numbers, not n^2, and a solve
        # reads them once: the Galerkin level of the 38,400-particle cantilever (1,755 dofs, band 170) solves in
        # about a tenth of the CPU of the dense factor's (26 MB, read twice per solve; bench_kernels.py --coarse).
        order, band = _narrow_order(k_ff)
        self.dofs = dofs
        # One BLAS thread: the matrix is small (576 dofs at 62,500 particles: 0.012 s), and OpenBLAS's threads
        # waiting on each other took 1.5 s on a loaded 2-core machine (a pause in the live page too).
        with _one_blas_thread():
            if band <= BANDED_MAX * len(order):
                self.dofs = dofs[order]
                k_ff = k_ff[np.ix_(order, order)]
                ab = np.zeros((band + 1, len(order)))
                for k in range(band + 1):
                    ab[k, : len(order) - k] = np.diagonal(k_ff, -k)
                self.factor = (scipy.linalg.cholesky_banded(ab, lower=True, check_finite=False), True)
                self.banded = True
            else:
                self.factor = scipy.linalg.cho_factor(k_ff)
                self.banded = False

    def direct(self, r: np.ndarray) -> np.ndarray:
        """K z = r on the free dofs by the factor of ``factorize``."""
        import scipy.linalg

        z = np.zeros(3 * self.count)
        # Once per preconditioner application: no finiteness scan (2 of its 7 ms at 1,800 dofs), one BLAS thread
        # (as the factorisation).
        b = r.reshape(-1)[self.dofs]
        with _one_blas_thread():
            if self.banded:
                z[self.dofs] = scipy.linalg.cho_solve_banded(self.factor, b, check_finite=False)
            else:
                z[self.dofs] = scipy.linalg.cho_solve(self.factor, b, check_finite=False)
        return z.reshape(-1, 3)

    def assembled(self) -> np.ndarray:
        """The matrix ``factorize`` assembled and factored, on ``dofs`` in their order (from the factor)."""
        c, lower = self.factor
        if self.banded:
            n = c.shape[1]
            low = np.zeros((n, n))
            for k in range(c.shape[0]):
                low[np.arange(k, n), np.arange(n - k)] = c[k, : n - k]
            return low @ low.T
        c = np.tril(c) if lower else np.triu(c)
        return c @ c.T if lower else c.T @ c

    def estimate_lmax(self, seed: int, steps: int = POWER_STEPS) -> None:
        """Top eigenvalue of D^-1 K by ``steps`` Lanczos steps on the symmetric D^-1/2 K D^-1/2 (LMAX_SAFETY above
        the largest Ritz value, which approaches it from below). Power iteration with as few products left
        thin parts' top eigenvalue 15-20 % short, and Chebyshev smoothing with too low an lmax amplifies the
        top modes: an indefinite preconditioner that stalls conjugate gradients."""
        s = np.sqrt(self.inv_d)
        v = np.random.default_rng(seed).standard_normal((self.count, 3)) * self.free
        norm = float(np.sqrt((v * v).sum()))
        if norm == 0.0:
            return
        v /= norm
        v_prev = np.zeros_like(v)
        alphas: list[float] = []
        betas: list[float] = []
        beta = 0.0
        for _ in range(steps):
            w = s * self.apply(s * v)
            alpha = float((v * w).sum())
            w -= alpha * v + beta * v_prev
            alphas.append(alpha)
            beta = float(np.sqrt((w * w).sum()))
            if beta <= 1e-12 * abs(alpha):
                break
            betas.append(beta)
            v_prev, v = v, w / beta
        m = len(alphas)
        tri = np.diag(alphas) + np.diag(betas[: m - 1], 1) + np.diag(betas[: m - 1], -1)
        self.lmax = LMAX_SAFETY * float(np.linalg.eigvalsh(tri)[-1])

    def smooth(self, r: np.ndarray, steps: int, residual: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """Chebyshev iteration on K z = r from z = 0 damping [lmax / CHEB_RATIO, lmax] of D^-1 K: (z, r - K z);
        ``residual`` False: (z, None), one product fewer (a post-smoothing's residual is not used)."""
        hi = self.lmax
        lo = hi / CHEB_RATIO
        theta, delta = 0.5 * (hi + lo), 0.5 * (hi - lo)
        sigma = theta / delta
        rho = 1.0 / sigma
        d = self.inv_d * r / theta
        z = np.zeros_like(r)
        for k in range(steps):
            z += d
            if k == steps - 1 and not residual:
                return z, None
            r = r - self.apply(d)
            if k == steps - 1:
                break
            rho_new = 1.0 / (2.0 * sigma - rho)
            d = rho_new * rho * d + (2.0 * rho_new / delta) * self.inv_d * r
            rho = rho_new
        return z, r


class Galerkin:
    """A coarse level whose stiffness is the Galerkin product R K P of the level above it (``fine``: anything
    with ``apply`` and ``free``, e.g. Newton's tangent about a cracked state), assembled by probing and factored:
    the direct solve below that level. The re-discretised coarse law (Level) is another material: a coarser
    lattice with its own surface layer and no cracks; on a cantilever at 4,800 particles its correction left CG
    18 iterations to 1e-2 where the Galerkin product leaves 9-10, and with it one smoothing step a side does
    (37 fine products instead of 137)."""

    def __init__(self, fine, transfer: Transfer | Composite, coarse: Level, reach: int) -> None:
        self.op = coarse.op  # the re-discretised level it stands in for: its lattice (the colouring)
        self.count = coarse.count
        self.free = coarse.free
        self._fine, self._transfer = fine, transfer
        Level.factorize(self, reach)

    def apply(self, v: np.ndarray) -> np.ndarray:
        t = self._transfer
        e = np.where(self._fine.free, t.prolong(v), 0.0)
        return np.where(self.free, t.restrict(self._fine.apply(e), self.count), 0.0)

    direct = Level.direct
    assembled = Level.assembled


class Composite:
    """The transfer across several levels at once (the products of their prolongations and restrictions), the
    intermediate levels' held particles masked as the K-cycle masks them."""

    def __init__(self, transfers: list[Transfer], between: list[Level]) -> None:
        self.transfers, self.between = transfers, between

    def prolong(self, e: np.ndarray) -> np.ndarray:
        for t, level in zip(self.transfers[:0:-1], self.between[::-1], strict=True):
            e = np.where(level.free, t.prolong(e), 0.0)
        return self.transfers[0].prolong(e)

    def restrict(self, f: np.ndarray, n_coarse: int) -> np.ndarray:
        for t, level in zip(self.transfers, self.between, strict=False):
            f = np.where(level.free, t.restrict(f, level.count), 0.0)
        return self.transfers[-1].restrict(f, n_coarse)


def galerkin_reach(fine_reach: int, levels: int = 1) -> int:
    """Coarse cells apart two coarse particles still interact in R K P, ``levels`` coarsenings (of 2) below:
    a coarse particle's prolongation reaches fine indices 2^k c - (2^k - 1) .. 2^k c + 2 (2^k - 1), so
    |i - c| <= (fine_reach + 3 (2^k - 1)) / 2^k."""
    f = 2**levels
    return (fine_reach + 3 * (f - 1)) // f


def _colours(ijk: np.ndarray, reach: int) -> np.ndarray:
    """Each particle's colour for probing: its lattice indices modulo 2 reach + 1 (two particles of one colour are
    at least 2 reach + 1 cells apart along some axis, so no row of a K of that reach meets both)."""
    period = 2 * reach + 1
    return (ijk % period) @ np.array([period * period, period, 1])


def _stencil_colours(ijk: np.ndarray, stencil: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Colours for probing a K whose row of a particle couples it to the particles at ``stencil`` (lattice
    offsets) from it: greedily, in particle order, the smallest colour that no particle sharing a row with it
    holds, so that two particles of a colour share no row (as with _colours). Also (n, 1 + len(stencil)) the
    particles each one's column reaches (itself first; -1: an empty cell). The bond stencil's ball holds 123
    cells where _colours' cube of the same reach holds 343: 2-3x fewer colours on a refinement's coarse bodies."""
    offsets = np.vstack([np.zeros((1, 3), dtype=np.int64), np.asarray(stencil, dtype=np.int64)])
    reach = int(np.abs(offsets).max())
    lo = ijk.min(axis=0) - reach
    grid = np.full(ijk.max(axis=0) - lo + reach + 1, -1, dtype=np.int64)
    grid[tuple((ijk - lo).T)] = np.arange(len(ijk))
    q = (ijk - lo)[:, None, :] + offsets[None, :, :]
    near = grid[q[..., 0], q[..., 1], q[..., 2]]
    colour = np.full(len(ijk), -1, dtype=np.int64)
    for p in range(len(ijk)):
        rows = near[p][near[p] >= 0]
        sharing = near[rows].ravel()
        taken = colour[sharing[sharing >= 0]]
        free = np.ones(len(taken) + 1, dtype=bool)
        free[taken[(taken >= 0) & (taken < len(free))]] = False
        colour[p] = int(np.argmax(free))
    return colour, near


def _bandwidth(rows: np.ndarray, cols: np.ndarray, position: np.ndarray) -> int:
    return int(np.abs(position[rows] - position[cols]).max(initial=0))


def _narrow_order(k: np.ndarray) -> tuple[np.ndarray, int]:
    """An order of the rows of the symmetric ``k`` with a small bandwidth and that bandwidth: the given order or
    reverse Cuthill-McKee's, whichever is narrower (the same order where they tie)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import reverse_cuthill_mckee

    n = len(k)
    rows, cols = np.nonzero(k)
    plain = np.arange(n)
    band = _bandwidth(rows, cols, plain)
    rcm = np.asarray(reverse_cuthill_mckee(csr_matrix(k != 0), symmetric_mode=True), dtype=np.int64)
    position = np.empty(n, dtype=np.int64)
    position[rcm] = plain
    other = _bandwidth(rows, cols, position)
    return (rcm, other) if other < band else (plain, band)


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.einsum("ij,ij->", a, b))


class Solver:
    """The level hierarchy of one simulation: flexible conjugate gradients on the finest level, preconditioned
    by a K-cycle (each coarse level solved by a few preconditioned CG iterations of its own)."""

    def __init__(self, sim, levels: list[Level], transfers: list[Transfer], smooth: int = SMOOTH) -> None:
        self.sim = sim
        self.levels = levels
        self.transfers = transfers
        self.smooth = smooth  # Chebyshev steps a side on the finest level (the coarse ones take SMOOTH)

    def precondition(self, l: int, r: np.ndarray) -> np.ndarray:
        """An approximate solution z of K_l z = r."""
        level = self.levels[l]
        if l == len(self.levels) - 1:
            return level.direct(r)
        steps = self.smooth if l == 0 else SMOOTH
        z, r1 = level.smooth(r, steps)
        transfer = self.transfers[l]
        coarse = self.levels[l + 1]
        rc = transfer.restrict(r1, coarse.count)
        last = l + 1 == len(self.levels) - 1
        zc = self.precondition(l + 1, rc) if last else self.cg(l + 1, rc, INNER_ITERATIONS, 0.0)[0]
        e = np.where(level.free, transfer.prolong(zc), 0.0)
        z += e
        r2 = r1 - level.apply(e)
        z2, _ = level.smooth(r2, steps, residual=False)
        return z + z2

    def cg(self, l: int, b: np.ndarray, iterations: int, reduction: float) -> tuple[np.ndarray, int]:
        """Flexible preconditioned CG on K_l x = b from x = 0: (x, products K p taken)."""
        level = self.levels[l]
        x = np.zeros_like(b)
        r = b.copy()
        target = reduction * np.sqrt(_dot(b, b))
        z = self.precondition(l, r)
        p = z.copy()
        rz = _dot(r, z)
        taken = 0
        for _ in range(iterations):
            taken += 1
            q = level.apply(p)
            pq = _dot(p, q)
            if not pq > 0:
                break
            a = rz / pq
            x += a * p
            r_new = r - a * q
            if np.sqrt(_dot(r_new, r_new)) <= target:
                break
            z_new = self.precondition(l, r_new)
            beta = _dot(r_new, z_new - z) / rz
            r, z = r_new, z_new
            rz = _dot(r, z)
            p = z + beta * p
        return x, taken

    def solve(
        self,
        max_steps: int,
        tolerance: float,
        callback: Callable[[int, float], bool] | None,
        balance: float | None = None,
    ) -> dict:
        """Flexible PCG on the real (nonlinear) out-of-balance force until relax's criterion holds (see
        relaxation.relax), or ``handover(steps)`` where plain ADR must go on from this state. ``steps`` counts
        evaluations of the law on the body (two real, one copy per iteration; the preconditioner's are extra)."""
        sim = self.sim
        fine = self.levels[0]
        bonds = int(np.bitwise_count(sim.bits).sum())
        # A damaged state (a warm start after breaking): the law copies are intact, so ADR it is.
        if bonds != int(sim.initial_bond_count.sum()):
            return handover(0)
        sim.dt = 1.0
        r = bal.out_of_balance(sim)
        steps = 1
        residual = bal.residual_of(sim, r)
        best, stalled = np.inf, 0
        z = p = None
        rz = 0.0
        while True:
            score = bal.score(sim, residual, tolerance, balance)
            if score < 1.0:
                return bal.result(steps, residual, True)
            if steps >= max_steps:
                return bal.result(steps, residual, False)
            if callback is not None and callback(steps, residual):
                return bal.result(steps, residual, False, stopped=True)
            stalled = stalled + 1 if score > STALL_FACTOR * best else 0
            best = min(best, score)
            if stalled >= STALL_CYCLES:
                if best <= bal.STALL_SLACK:
                    return bal.result(steps, residual, False, stalled=True, score=best)
                return handover(steps)
            z_new = self.precondition(0, r)
            if p is None:
                p = z_new
            else:
                beta = max(0.0, _dot(r, z_new - z) / rz)
                p = z_new + beta * p
            z = z_new
            rz = _dot(r, z)
            # The copy's K (linear about u = 0) only proposes the step: a tip rotation of 1e-2 already puts
            # spurious theta^2/2 strains in it as large as the real ones in places, so the length comes from the
            # secant of the real law along p (Kp = (r(u) - r(u + a0 p)) / a0).
            q = fine.apply(p)
            pq = _dot(p, q)
            if not pq > 0:
                break
            a0 = rz / pq
            sim.u += a0 * p
            r_trial = bal.out_of_balance(sim)
            kp = (r - r_trial) / a0
            pkp = _dot(p, kp)
            a = rz / pkp if pkp > 0 else a0
            sim.u += (a - a0) * p
            r = bal.out_of_balance(sim)
            steps += 3
            if not np.isfinite(sim.u).all():
                raise bal.diverged(steps)
            if int(np.bitwise_count(sim.bits).sum()) != bonds:
                return handover(steps)
            residual = bal.residual_of(sim, r)
        return handover(steps)


def handover(steps: int) -> dict:
    """What solve returns when plain ADR must take over after ``steps`` evaluations (physics.relaxation.relax
    runs it from the state the multigrid left)."""
    return {"handover": True, "steps": steps}


def solver_for(sim, tick: Callable[[], None] | None = None) -> Solver | None:
    """The multigrid solver of ``sim`` (built once and kept while ``sim`` lives), or None where multigrid does
    not apply: no held particle, a law without an elastic copy, or a body too small to coarsen.

    ``tick()`` (a caller's look inside the build, 1-2 s at 62,500 particles) is called between its steps: after
    each level and each product of the Lanczos estimates and the coarsest level's probing (and inside a product
    of a body over physics.laws.base.GROUP_PARTICLES). It may raise to abandon the build (nothing is cached
    then)."""
    cached = _SOLVERS.get(sim)
    if cached is not None:
        return cached if cached.levels else None
    solver = _build(sim, tick)
    _SOLVERS[sim] = solver if solver is not None else Solver(sim, [], [])
    return solver


def _build(sim, tick: Callable[[], None] | None = None) -> Solver | None:
    observer, tick = tick, tick or (lambda: None)
    if sim.free.all() or not sim.free.any():
        return None
    # A damaged body (pre-cracks) still gets its hierarchy: Newton's preconditioner uses it (coarse levels
    # intact, the finest its own tangent); Solver.solve itself hands damaged states to ADR.
    law = sim.law.elastic_copy()
    if law is None:
        return None
    # The finest level applies the simulation's own law where it adds nothing nonlinear at probe amplitudes
    # (contact does: it acts between unbonded neighbours whatever the strain).
    probe = Probe.of(sim) if sim.law.linear_near_reference else None
    levels = [Level(sim.body, sim.law if probe is not None else law, sim.free, probe)]
    transfers: list[Transfer] = []
    body, held = sim.body, ~sim.free
    while len(levels) < MAX_LEVELS and body.count >= MIN_COARSE * 8:
        cbody, cheld, transfer = coarsen(body, held)
        if cheld.all():
            break
        level = Level(cbody, sim.law.elastic_copy(), ~cheld)
        if not np.isfinite(level.inv_d).all():
            break  # the law cannot stand on this coarse lattice (e.g. a surface correction with too few bonds)
        levels.append(level)
        transfers.append(transfer)
        body, held = cbody, cheld
        tick()
    if len(levels) < 2:
        return None
    for level in levels:
        level.after = tick
        level.op.between = observer  # and inside a product of a very large body (physics.laws.base.chunk_groups)
    for k in range(len(levels) - 2, 0, -1):
        levels[k].estimate_lmax(seed=k)
    levels[0].estimate_lmax(seed=0, steps=FINE_POWER_STEPS)
    if len(levels) > 2:
        levels[0].lmax = max(levels[0].lmax, levels[1].lmax)
    if levels[-1].count > MAX_DIRECT:
        return None
    # K couples particles one horizon apart for bond-based laws, two for state-based ones (the dilatation).
    reach = int(np.floor(sim.body.lattice.horizon_cells + 1e-9)) * sim.law.interaction_range
    try:
        # A bond-based law's row couples the bond stencil only: its greedy colouring (the same matrix).
        stencil = levels[-1].op.body.lattice.stencil if sim.law.interaction_range == 1 else None
        levels[-1].factorize(reach, stencil)
    except np.linalg.LinAlgError:  # not positive definite: a coarse body that can move freely
        return None
    except ValueError:  # non-finite forces on the coarse lattice (seen on a 2-cell-thick LPS plate's): no hierarchy
        return None
    for level in levels:
        level.after = level.op.between = None
    return Solver(sim, levels, transfers)
