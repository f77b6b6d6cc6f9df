"""Every intermediate state of a voxel-by-voxel build, checked by the voxel-joint law.

A build places voxels one at a time (placement order = particle order here). State p holds voxels 0..p joined
by every joint whose two voxels are placed, the voxels of the ground layer (k == 0) joined to the build plate by
a joint of their own type (the plate is held), under gravity and a placement force on the newest voxel p (the
robot pressing it home). For each state the small-displacement joint model (physics/laws/voxel_joint.py) gives
every joint's utilisation U (1 = breaks); ``check`` returns the largest per state and where it is.

Solvers: ``direct`` (a sparse LU of each state's stiffness: exact, cost grows with the state) and ``incremental``
(the default): conjugate gradients, matrix-free over the active joints (beam joints by their nonzero entries, voxel
by voxel), warm-started from the previous state's solution plus the change an earlier state made one face step
behind, shifted (a voxel with none behind it takes that change at itself; ``_shift_increment``), preconditioned by
two levels: each voxel's 6 x 6 diagonal block (or, with ``smoother="gauss-seidel"``, symmetric block Gauss-Seidel
sweeps in placement order: 40 % fewer iterations, but each about 1.7 x the time here, so more CPU in all), plus the
rigid-body motions of aggregates of 4 x 4 x 4 voxels,
whose stiffness (summed per pair of aggregates as joints activate) is refactored every 32 states and when the
iterations show it has gone stale. Every state is first solved to a screening tolerance and comes with a
bound on how far its exact largest utilisation can be from the screened one (``BuildSequence._bounded``: the
residual's forces carried to the support along a tree of joints give joint forces in equilibrium with the loads,
so by Prager-Synge the exact joint forces are within the complementary energy of those tree forces; no joint
can take more than all of it). A state goes on to the full tolerance (1e-6) unless its utilisation plus its
bound is under the worst so far (less that one's bound) and on one side of the limit: the worst state and its
utilisation are those of a fully solved state, and every screened state is, by its bound, under it. The bound is
loose (100-1,000 x the true error: it lets one joint take the whole error energy), so screening still needs a
residual of about 1e-3 of the loads; it replaces a margin that was checked by measurement only.

Units: SI (m, kg, N); lattice indices ijk with k up.
"""

from __future__ import annotations

import math
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize
from scipy.sparse.linalg import splu
from threadpoolctl import threadpool_limits

from physics import assembly_kernels as kern
from physics.errors import PhysicsError
from physics.laws.voxel_joint import VoxelJoint, factorize

_AXES = np.eye(3, dtype=np.int64)
_FORKED = None  # (sequence, settings, counter) that BuildSequence.check hands its forked runs


def _forked_run(first: int, last: int) -> tuple:
    sequence, settings, counter = _FORKED
    return sequence._check_run(first, last, settings, counter=counter)


@dataclass
class StateCheck:
    """Per state p (0-based, after placing voxel p): the largest joint utilisation, that joint (index into
    ``joints``, -1 when the state has none) and the solver's iterations; plus the joint list (i, j, axis; j = -1
    for a plate joint under voxel i) and the seconds taken. ``exact``: the states solved to the full tolerance (or
    directly); ``bound``: per state, how far its exact largest utilisation can be from ``utilisation`` at most (0
    for a direct solve; ``BuildSequence._bounded``); ``run_cpu_seconds``: the CPU seconds of each run of
    consecutive states (one per worker process)."""

    utilisation: np.ndarray
    worst_joint: np.ndarray
    iterations: np.ndarray
    joints: np.ndarray
    seconds: float
    exact: np.ndarray | None = None
    screen_error: float = 0.0
    bound: np.ndarray | None = None
    run_cpu_seconds: tuple = ()

    @property
    def worst_state(self) -> int:
        return int(np.argmax(self.utilisation))


class BuildSequence:
    """The joints of a placement sequence and the states it passes through.

    ``ijk`` (n, 3) lattice indices in placement order; ``types`` (n,) part type of each voxel (indices into the
    law's per-type parameters); ``law`` a VoxelJoint (its per-type stiffness and strength are used, not its
    body); ``mass`` (n,) kg per voxel; ``spacing`` m; ``gravity`` m/s^2; ``plate``: join the k == 0 voxels to a
    held build plate (else voxel 0 is clamped). ``aggregate``: the coarse level's aggregate edge in voxels;
    ``refresh``: states between its refactorings; ``smoother``: ``"jacobi"`` (block-Jacobi) or ``"gauss-seidel"``
    (symmetric block sweeps, beam joints only; any other law's joints take block-Jacobi).
    """

    def __init__(
        self,
        ijk: np.ndarray,
        types: np.ndarray,
        law: VoxelJoint,
        mass: np.ndarray,
        spacing: float,
        gravity=(0.0, 0.0, -9.81),
        plate: bool = True,
        aggregate: int = 4,
        refresh: int = 32,
        smoother: str = "jacobi",
    ) -> None:
        ijk = np.asarray(ijk, dtype=np.int64)
        if aggregate < 1 or refresh < 1:
            raise PhysicsError(f"aggregate and refresh must be at least 1, got {aggregate} and {refresh}")
        if smoother not in ("gauss-seidel", "jacobi"):
            raise PhysicsError(f"smoother must be 'gauss-seidel' or 'jacobi', got {smoother!r}")
        self.smoother = smoother
        self.aggregate = int(aggregate)
        self.refresh = int(refresh)
        n = len(ijk)
        if n == 0:
            raise PhysicsError("the build has no voxels")
        self.n = n
        self.ijk = ijk
        self.law = law
        self.mass = np.asarray(mass, dtype=np.float64)
        self.gravity = np.asarray(gravity, dtype=np.float64)
        self.plate = plate
        lo = ijk.min(axis=0)
        shape = ijk.max(axis=0) - lo + 3
        grid = np.full(tuple(shape), -1, dtype=np.int64)
        local = ijk - lo + 1
        grid[tuple(local.T)] = np.arange(n)
        self._grid, self._grid_origin = grid, lo - 1
        self._history: dict[int, np.ndarray] = {}  # the run's last solutions, by state: the shifted warm start
        # as many as fit in about 160 MB (a row's worth: a row start reuses the change of the row before's)
        self._keep = max(2, min(64, int(2e7 // (6 * n))))
        ji, jj, axis = [], [], []
        for a in range(3):
            other = grid[tuple((local + _AXES[a]).T)]
            has = np.flatnonzero(other >= 0)
            ji.append(has)
            jj.append(other[has])
            axis.append(np.full(len(has), a))
        ground = np.flatnonzero(ijk[:, 2] == ijk[:, 2].min()) if plate else np.zeros(0, dtype=np.int64)
        # plate joints: from the (held) plate node n below the voxel, along +z
        ji.append(np.full(len(ground), n))
        jj.append(ground)
        axis.append(np.full(len(ground), 2))
        ji, jj, axis = (np.concatenate(v).astype(np.int64) for v in (ji, jj, axis))
        types = np.asarray(types, dtype=np.int64)
        tt = np.append(types, 0)
        ti = np.where(ji == n, tt[jj], tt[ji])  # a plate joint is the voxel's own joint
        law.bind_joints(ji, jj, axis, ti, tt[jj], spacing)
        # a joint exists from the state its later voxel is placed in (the plate is there from the start)
        self.activation = np.maximum(np.where(ji == n, -1, ji), jj)
        order = np.argsort(self.activation, kind="stable")
        self.order = order
        self.starts = np.searchsorted(self.activation[order], np.arange(n + 1), side="left")
        self.joint_rows = np.column_stack([ji, np.where(ji == n, -1, jj), axis])
        self.joint_rows[ji == n] = np.column_stack([jj[ji == n], np.full(int((ji == n).sum()), -1),
                                                     np.full(int((ji == n).sum()), 2)])  # fmt: skip
        if not plate:
            self.clamped = 0
        # element matrices and DOFs in activation order (plate DOFs 6n.. drop out of every state's system)
        e = order
        self.elements = law.element_matrices(e)
        self.dofs = law.joint_dofs(e)
        # section resultants per joint as a linear map of its 12 DOFs (the law's, one matrix per joint)
        self.section_maps = np.ascontiguousarray(law.section_maps(e))
        self.strength = np.ascontiguousarray(law.strength[e])
        self.voxel_loads = np.zeros((n, 6))
        self.voxel_loads[:, :3] = self.mass[:, None] * self.gravity[None, :]

    def _matrix(self, p: int) -> sp.csc_matrix:
        """Stiffness of state p over the DOFs of voxels 0..p (plate DOFs dropped; voxel 0 clamped without a
        plate)."""
        m = self.starts[p + 1]
        size = 6 * (p + 1)
        K = self.elements[:m]
        d = self.dofs[:m]
        rows = np.broadcast_to(d[:, :, None], K.shape).ravel()
        cols = np.broadcast_to(d[:, None, :], K.shape).ravel()
        keep = (rows < size) & (cols < size)
        A = sp.csc_matrix((K.ravel()[keep], (rows[keep], cols[keep])), shape=(size, size))
        if not self.plate:
            A = A[6:, 6:]
        return A

    def _loads(self, p: int, placement: np.ndarray) -> np.ndarray:
        f = self.voxel_loads[: p + 1].copy()
        f[p, :3] += placement
        return f.ravel()

    def _utilisation(self, p: int, d: np.ndarray) -> tuple[float, int]:
        m = int(self.starts[p + 1])
        if m == 0:
            return 0.0, -1
        if not hasattr(self, "_section_val"):
            self._compress_sections()
        u, k = kern.worst_joint_typed(self._section_i, self._section_j, self._section_kind, self._section_val,
                                      self._section_col, self._section_strength, m, d)  # fmt: skip
        return float(u), int(self.order[k]) if k >= 0 else -1

    def _compress_sections(self) -> None:
        """Each joint as its two voxels (-1: the held plate, whose displacement is zero) and an index into a table
        of the distinct joints (a lattice has few): their section maps (6 x 12) by the nonzero entries of each row
        (a beam's hold 20 of 72) and their inverse strengths, for ``kern.worst_joint_typed``."""
        S = self.section_maps
        m = len(S)
        node_i, node_j = self.dofs[:, 0] // 6, self.dofs[:, 6] // 6
        if not (np.array_equal(self.dofs[:, :6], 6 * node_i[:, None] + np.arange(6))
                and np.array_equal(self.dofs[:, 6:], 6 * node_j[:, None] + np.arange(6))):  # fmt: skip
            raise PhysicsError("internal: a joint's DOFs are not its two voxels' six each")
        rows = np.concatenate([S.reshape(m, 72), 1.0 / self.strength], axis=1)
        table, kind = _unique_rows(rows) if m else (np.zeros((0, 76)), np.zeros(0, int))
        St = table[:, :72].reshape(-1, 6, 12)
        keep = St != 0.0
        width = max(int(keep.sum(axis=2).max(initial=0)), 1)
        first = np.argsort(~keep, axis=2, kind="stable")[:, :, :width]  # the kept entries first, in column order
        kept = np.take_along_axis(keep, first, axis=2)
        self._section_val = np.ascontiguousarray(np.where(kept, np.take_along_axis(St, first, axis=2), 0.0))
        self._section_col = np.ascontiguousarray(np.where(kept, first, 0).astype(np.int32))
        self._section_strength = np.ascontiguousarray(table[:, 72:])
        self._section_kind = np.ascontiguousarray(kind.ravel().astype(np.int32))
        self._section_i = np.ascontiguousarray(np.where(node_i >= self.n, -1, node_i).astype(np.int32))
        self._section_j = np.ascontiguousarray(np.where(node_j >= self.n, -1, node_j).astype(np.int32))

    def check(
        self,
        placement_force=(0.0, 0.0, 0.0),
        *,
        method: str = "incremental",
        tolerance: float = 1e-6,
        screen_tolerance: float | None = 1e-3,
        margin: float = 0.0,
        limit: float | None = None,
        max_iterations: int = 2000,
        workers: int = 1,
        progress: Callable[[int, int], None] | None = None,
        max_seconds: float | None = None,
    ) -> StateCheck:
        """Solve every state p = 0..n-1 (gravity + ``placement_force`` N on voxel p); see the module docstring.

        ``incremental`` solves each state to ``screen_tolerance`` (or tighter where the previous state's bound
        says that is needed) first and goes on, tightening, only while the state may matter: its utilisation plus its bound
        (``StateCheck.bound``) reaches ``1 - margin`` times the largest fully solved one so far less its bound,
        or its bound straddles ``limit``; at ``tolerance`` it is solved in full (``exact``). Every other state is, by its bound,
        under the worst, so the worst state and its utilisation are those of a state solved to ``tolerance``;
        ``screen_error`` is the largest relative difference between a screened and the exact utilisation seen on
        the states that went on (the bound is far wider). ``screen_tolerance=None``: every state to ``tolerance``.
        ``workers`` > 1: the states in as many runs of consecutive states, one process each (forked), of about
        equal work; each run starts cold and screens against its own worst, so the result is the same.
        ``max_seconds``: stop after the state that passes this time (benchmarks); the arrays then end there (with
        workers, at the first run that stopped)."""
        if method not in ("direct", "incremental"):
            raise PhysicsError(f"method must be 'direct' or 'incremental', got {method!r}")
        if not (0.0 <= margin < 1.0):
            raise PhysicsError(f"margin must be in [0, 1), got {margin}")
        if workers < 1:
            raise PhysicsError(f"workers must be at least 1, got {workers}")
        settings = (np.asarray(placement_force, dtype=np.float64).reshape(3), method, tolerance, screen_tolerance,
                    margin, limit, max_iterations, max_seconds)  # fmt: skip
        start = time.perf_counter()
        # the solves' vectors are small for threaded BLAS: on a busy machine its threads cost more than they give
        with threadpool_limits(1, user_api="blas"):
            runs = min(workers, max(1, self.n // 64))
            if runs > 1 and "fork" in multiprocessing.get_all_start_methods():
                if method == "incremental" and not hasattr(self, "_diag"):
                    self._prepare_blocks()  # once, before the runs fork: they share it
                if not hasattr(self, "_section_val"):
                    self._compress_sections()
                parts = self._check_parallel(settings, runs, progress)
            else:
                parts = [self._check_run(0, self.n, settings, progress)]
        kept = []
        for part in parts:  # a run stopped by max_seconds ends the arrays
            kept.append(part)
            if len(part[0]) < part[5]:
                break
        util, worst, iterations, exact = (np.concatenate([part[k] for part in kept]) for k in range(4))
        bound = np.concatenate([part[6] for part in kept])
        screen_error = max(part[4] for part in kept)
        return StateCheck(util, worst, iterations, self.joint_rows, time.perf_counter() - start, exact,
                          screen_error, bound, tuple(part[7] for part in parts))  # fmt: skip

    def _check_parallel(self, settings, runs: int, progress) -> list:
        """The states in ``runs`` runs of consecutive states, one forked process each: a state's work grows as its
        size to the power 1.5 (its iterations grow with it and each pass slows once its vectors leave the cache), so
        run k ends at n (k / runs)^(1 / 2.5). Measured on the 22-edge block with the ends at n sqrt(k / runs) (work
        as the size): the two runs took 41.7 and 59.1 CPU s, which this power fits (1.55) and evens out."""
        global _FORKED
        ends = [int(round(self.n * (k / runs) ** (1.0 / 2.5))) for k in range(runs + 1)]
        bounds = [(ends[k], ends[k + 1]) for k in range(runs) if ends[k + 1] > ends[k]]
        context = multiprocessing.get_context("fork")
        counter = context.Value("q", 0)
        _FORKED = (self, settings, counter)
        try:
            with context.Pool(len(bounds)) as pool:
                job = pool.starmap_async(_forked_run, bounds)
                while not job.ready():
                    job.wait(0.5)
                    if progress is not None:
                        progress(int(counter.value), self.n)
                parts = job.get()
        finally:
            _FORKED = None
        if progress is not None:
            progress(sum(len(part[0]) for part in parts), self.n)
        return parts

    def _check_run(self, first: int, last: int, settings, progress=None, counter=None) -> tuple:
        """States first..last-1 (see ``check``), the first from a cold start: (utilisation, worst joint,
        iterations, exact, screen error, states asked for, bound, the run's CPU seconds)."""
        placement, method, tolerance, screen_tolerance, margin, limit, max_iterations, max_seconds = settings
        start, cpu_start = time.perf_counter(), time.process_time()
        if hasattr(self, "_diag") and self._active_upto >= first:
            self._reset_blocks()  # joints of later states are in the blocks (an earlier check): add them again
        self._history = {}
        count = last - first
        util = np.zeros(count)
        worst = np.full(count, -1, dtype=np.int64)
        iterations = np.zeros(count, dtype=np.int64)
        exact = np.zeros(count, dtype=bool)
        bound = np.zeros(count)
        screen_error = 0.0
        largest = 0.0  # the largest utilisation less its bound over the states solved in full so far
        floor = 1.0 - margin
        per_residual = 0.0
        d = np.zeros(0)
        for p in range(first, last):
            k = p - first
            f = self._loads(p, placement)
            if method == "direct" or p < 8:
                d = self._direct(p, f)
                iterations[k] = 1
                exact[k] = True
                util[k], worst[k] = self._utilisation(p, d)
            elif screen_tolerance is None or screen_tolerance <= tolerance:
                d, iterations[k] = self._incremental(p, f, d, tolerance, max_iterations)
                exact[k] = True
                util[k], worst[k], bound[k] = self._bounded(p, f, d)
            else:
                # the first tolerance aims the bound at 0.8 of the gap under the worst so far that the previous state
                # left (the bound per unit of residual as it was there), no looser than screen_tolerance
                reached = screen_tolerance
                gap = floor * largest - util[k - 1] if k > 0 else 0.0
                if per_residual > 0 and gap > 0:
                    reached = min(screen_tolerance, max(10 * tolerance, 0.8 * gap / per_residual))
                d, iterations[k] = self._incremental(p, f, d, reached, max_iterations)
                util[k], worst[k], bound[k] = self._bounded(p, f, d)
                per_residual = bound[k] / reached
                screened = util[k]
                while reached > tolerance:
                    gap = _undecided(util[k], bound[k], floor * largest, limit, floor)
                    if gap is None:
                        break  # below the worst so far and on one side of the limit, bound included: skipped
                    # the bound falls about as the residual does: aim at half the gap, at least halve the residual
                    reached = max(tolerance, reached * min(0.5, 0.5 * gap / bound[k])) if gap > 0 else tolerance
                    d, more = self._pcg(p, f, d, reached, max_iterations)
                    iterations[k] += more
                    util[k], worst[k], bound[k] = self._bounded(p, f, d)
                if reached <= tolerance:
                    exact[k] = True
                    if util[k] > 0:
                        screen_error = max(screen_error, abs(screened / util[k] - 1.0))
            if p == first and p >= 8 and method == "incremental":
                self._coarse_state = -1  # a cold start's iterations are no measure of the coarse level: refactor
            if exact[k]:
                largest = max(largest, util[k] - bound[k])
            if (k % 64 == 63 or p == last - 1) and (progress is not None or counter is not None):
                if counter is not None:
                    with counter.get_lock():
                        counter.value += 64 if k % 64 == 63 else (k % 64) + 1
                if progress is not None:
                    progress(p + 1, self.n)
            if max_seconds is not None and time.perf_counter() - start > max_seconds:
                util, worst, iterations, exact, bound = (v[: k + 1] for v in (util, worst, iterations, exact, bound))
                break
        return util, worst, iterations, exact, screen_error, count, bound, time.process_time() - cpu_start

    def solve_state(self, p: int, placement_force=(0.0, 0.0, 0.0)) -> tuple[float, int]:
        """State p alone, solved directly (sparse LU): (its largest joint utilisation, that joint (index into
        the joint list), -1 when the state has none). The physics planner's trial and the benchmarks' check."""
        if not 0 <= p < self.n:
            raise PhysicsError(f"state {p} is not one of the build's 0..{self.n - 1}")
        d = self._direct(p, self._loads(p, np.asarray(placement_force, dtype=np.float64).reshape(3)))
        return self._utilisation(p, d)

    def _direct(self, p: int, f: np.ndarray) -> np.ndarray:
        A = self._matrix(p)
        d = np.zeros(6 * (p + 1))
        rhs = f if self.plate else f[6:]
        try:
            x = factorize(A, self.ijk[: p + 1] if self.plate else self.ijk[1 : p + 1])(rhs)
        except RuntimeError:
            raise PhysicsError(
                f"state {p}: the placed voxels are not all joined to the plate (a loose piece)"
            ) from None
        if self.plate:
            d[:] = x
        else:
            d[6:] = x
        return d

    def _incremental(self, p, f, previous, tolerance, max_iterations) -> tuple[np.ndarray, int]:
        """PCG from the previous state's solution, matrix-free over the active joints (numba), two-level
        preconditioned (``_precondition``)."""
        self._activate(p)
        x = np.zeros(6 * (p + 1))
        x[: len(previous)] = previous
        if len(previous) == 6 * p:
            self._history[p - 1] = previous
            self._history.pop(p - 1 - self._keep, None)
        shifted = self._shift_increment(p, previous, x)
        # else the new voxel starts where a joined neighbour moved (rigidly: translation plus rotation x lever)
        for e in self.order[self.starts[p] : self.starts[p + 1]] if not shifted else ():
            q = int(self.law.ji[e] if self.law.jj[e] == p else self.law.jj[e])
            if q < p:
                dq = x[6 * q : 6 * q + 6]
                lever = (self.ijk[p] - self.ijk[q]) * self.law.spacing
                x[6 * p : 6 * p + 3] = dq[:3] + np.cross(dq[3:], lever)
                x[6 * p + 3 : 6 * p + 6] = dq[3:]
                break
        # the coarse level is refactored when the iterations grow by half over those right after its last
        # refactoring (or every ``refresh`` states): it goes stale as voxels join its aggregates
        fresh = self._coarse_state < 0 or p - self._coarse_state >= self.refresh or self._slow
        if fresh:
            self._refresh_coarse(p)
        x, it = self._pcg(p, f, x, tolerance, max_iterations)
        if fresh:
            self._fresh_iterations = max(it, 4)
        self._slow = it > 1.5 * self._fresh_iterations
        return x, it

    def _shift_increment(self, p: int, previous: np.ndarray, x: np.ndarray) -> bool:
        """Where an earlier state q placed its voxel one face step e behind voxel p (q = the voxel at ijk[p] - e) and
        the voxel before it one step behind voxel p - 1 (ijk[q - 1] + e = ijk[p - 1]), state p repeats state q's
        change one step on: the push moved by the same step, a voxel's weight added. So q's change (d_q - d_{q-1})
        is added again, shifted by e, and the new voxel moves from the newest one's motion as q's did from q - 1's.
        A voxel with no voxel of state q - 1 one step back (on the structure's face behind, or placed since) takes
        q's change at itself: away from the push the change is smooth (without it those faces kept 0.9 of the
        starting residual). Of the steps e with such a q kept (``_keep`` states), the one whose voxels without a
        source lie farthest from voxel p (``kern.shift_gap``), then the latest q: mid-row the previous state, near
        a row's start the same voxel of the row before. On the 16-edge block the starting residual is 0.0096 of the
        loads (median) instead of 0.088, 12.9 CG iterations a state instead of 16.4; only the starting point of
        the iterations, the solve and its bound are unchanged. False where no state applies."""
        if p < 2 or len(previous) != 6 * p:
            return False  # a run's cold start
        history = self._history
        best = None
        for a in range(3):
            for sign in (1, -1):
                e = sign * _AXES[a]
                src = self.ijk[p] - e - self._grid_origin
                if (src < 0).any() or (src >= np.array(self._grid.shape)).any():
                    continue
                q = int(self._grid[tuple(src)])
                if not (1 <= q <= p - 1) or q - 1 not in history or q not in history:
                    continue
                if np.array_equal(self.ijk[q - 1] + e, self.ijk[p - 1]):
                    if self._beam_only:
                        gap = kern.shift_gap(self._nb, 2 * a + (1 if sign > 0 else 0), q, p, self.ijk)
                    else:
                        missing = ~self._shift_sources(p, q, e)[1]
                        gap = int(np.abs(self.ijk[:p][missing] - self.ijk[p]).max(axis=1).min(initial=1 << 30))
                    if best is None or (gap, q) > best[:2]:
                        best = (gap, q, a, sign)
        if best is None:
            return False
        _, q, a, sign = best
        newer, older = history[q], history[q - 1]
        if self._beam_only:
            # the voxel one step e back is a face neighbour, in the slot table (kernels.add_shifted)
            kern.add_shifted(self._nb, 2 * a + (1 if sign > 0 else 0), q, p, newer, older, previous, x)
            return True
        index, ok = self._shift_sources(p, q, sign * _AXES[a])
        index = np.where(ok, index, np.arange(p))  # no source: the voxel's own change
        use = index <= q - 1
        change = (newer[: 6 * q] - older[: 6 * q]).reshape(-1, 6)
        x[: 6 * p].reshape(p, 6)[use] += change[index[use]]
        x[6 * p : 6 * p + 6] = previous[6 * (p - 1) : 6 * p] + newer[6 * q : 6 * q + 6] - older[6 * (q - 1) : 6 * q]
        return True

    def _shift_sources(self, p: int, q: int, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For voxels 0..p-1: the voxel one step ``e`` back and whether it is one of voxels 0..q-1."""
        source = self.ijk[:p] - e - self._grid_origin
        inside = ((source >= 0) & (source < np.array(self._grid.shape))).all(axis=1)
        index = np.full(p, -1, dtype=np.int64)
        index[inside] = self._grid[tuple(source[inside].T)]
        return index, (index >= 0) & (index <= q - 1)

    def _pcg(self, p, f, x, tolerance, max_iterations) -> tuple[np.ndarray, int]:
        """Conjugate gradients on state p's stiffness from ``x`` (updated in place) until |r| <= tolerance |f|."""
        clamped = 0 if self.plate else 1
        if self._coarse_state < 0:
            self._refresh_coarse(p)
        nv = p + 1
        m = self._off_starts[p + 1]
        x[: 6 * clamped] = 0.0
        q = np.empty(6 * nv)
        self._apply(m, nv, x, q)
        r = f - q
        r[: 6 * clamped] = 0.0
        target = tolerance * math.sqrt(kern.dot(f[6 * clamped :], f[6 * clamped :]))
        if self._beam_only:
            return self._pcg_fused(nv, clamped, x, r, q, target, max_iterations)
        z = self._precondition(r, nv, clamped)
        s = z.copy()
        rz = kern.dot(r, z)
        rr = kern.dot(r, r)
        it = 0
        while math.sqrt(rr) > target and it < max_iterations:
            self._apply(m, nv, s, q)
            q[: 6 * clamped] = 0.0
            rr = kern.cg_step(x, r, s, q, rz / kern.dot(s, q))
            z = self._precondition(r, nv, clamped)
            rz_new = kern.dot(r, z)
            kern.new_direction(s, z, rz_new / rz)
            rz = rz_new
            it += 1
        return x, it

    def _pcg_fused(self, nv, clamped, x, r, q, target, max_iterations) -> tuple[np.ndarray, int]:
        """``_pcg``'s iterations for beam joints in three passes each (``kern.apply_compact`` with s . q;
        ``kern.step_smooth_dot``: the update, |r|^2, the smoother with its r . z and the restriction;
        ``kern.prolong_direction``: the coarse correction and the new direction, r . z completed by the coarse
        vectors' product) and the coarse solve: the iterates of the loop of separate kernels, fewer passes."""
        z = np.empty(6 * nv)
        s = np.zeros(6 * nv)
        c = np.empty(self._coarse_size)
        agg, lever, index, inv = self._agg, self._lever, self._coarse_index, self._diag_inv
        if self.smoother == "gauss-seidel":
            return self._pcg_sgs(nv, clamped, x, r, q, z, s, c, target, max_iterations)
        rr, rz = kern.step_smooth_dot(x, r, x, q, 0.0, inv, agg, lever, index, nv, clamped, z, c)  # alpha 0
        cc = self._coarse_solve(c)
        rz += kern.dot(c, cc)
        kern.prolong_direction(agg, lever, index, nv, clamped, cc, z, s, 0.0)
        it = 0
        while math.sqrt(rr) > target and it < max_iterations:
            sq = kern.apply_compact(self._dd, self._dc, self._nb, self._slot_index, self._slot_table, nv, clamped, s, q)
            rr, rz_new = kern.step_smooth_dot(x, r, s, q, rz / sq, inv, agg, lever, index, nv, clamped, z, c)
            it += 1
            if math.sqrt(rr) <= target:
                break
            cc = self._coarse_solve(c)
            rz_new += kern.dot(c, cc)
            kern.prolong_direction(agg, lever, index, nv, clamped, cc, z, s, rz_new / rz)
            rz = rz_new
        return x, it

    def _pcg_sgs(self, nv, clamped, x, r, q, z, s, c, target, max_iterations) -> tuple[np.ndarray, int]:
        """``_pcg_fused`` with the symmetric block Gauss-Seidel smoother in the additive two-level preconditioner:
        z = (D + U)^-1 D (D + L)^-1 r + Z E^-1 Z^T r (D, L, U: the state's diagonal blocks and its joints to earlier
        and to later voxels in placement order; symmetric positive definite as D is). A forward sweep fused with the
        CG update and the restriction, the coarse solve, a backward sweep, the prolongation with the new direction.
        On the 22-edge block (10,164 voxels, aggregates of 6^3) 10.7 iterations a state against block-Jacobi's 16.2
        (4^3), but 148.1 CPU s against 139.4 (run side by side): the sweeps wait on the voxel before."""
        agg, lever, index, inv = self._agg, self._lever, self._coarse_index, self._diag_inv
        nb, widx, wtab, rd = self._nb, self._slot_index, self._slot_table, self._rd
        rr = kern.step_forward_sweep(x, r, x, q, 0.0, inv, rd, nb, widx, wtab, agg, lever, index, nv, clamped, z, c)
        cc = self._coarse_solve(c)
        rz = kern.backward_sweep(inv, rd, nb, widx, wtab, nv, clamped, r, z) + kern.dot(c, cc)
        kern.prolong_direction(agg, lever, index, nv, clamped, cc, z, s, 0.0)
        it = 0
        while math.sqrt(rr) > target and it < max_iterations:
            sq = kern.apply_compact(self._dd, self._dc, self._nb, self._slot_index, self._slot_table, nv, clamped, s, q)
            rr = kern.step_forward_sweep(x, r, s, q, rz / sq, inv, rd, nb, widx, wtab, agg, lever, index, nv, clamped, z, c)
            it += 1
            if math.sqrt(rr) <= target:
                break
            cc = self._coarse_solve(c)
            rz_new = kern.backward_sweep(inv, rd, nb, widx, wtab, nv, clamped, r, z) + kern.dot(c, cc)
            kern.prolong_direction(agg, lever, index, nv, clamped, cc, z, s, rz_new / rz)
            rz = rz_new
        return x, it

    def _precondition(self, r: np.ndarray, nv: int, clamped: int) -> np.ndarray:
        """Two-level additive preconditioner: each voxel's 6 x 6 diagonal block inverted (the smoother) plus a
        coarse correction on the rigid-body modes of aggregates of ``aggregate``^3 voxels, whose stiffness Z^T K Z
        is factored every ``refresh`` states (stale in between: still symmetric positive definite, so still a
        valid preconditioner; voxels of aggregates that were empty at the last refresh get the smoother only).
        The coarse level removes the smooth, structure-wide part of the error that block-Jacobi alone takes
        iterations in proportion to the structure's size to remove."""
        z = np.empty_like(r)
        kern.precondition(self._diag_inv, nv, r, z, clamped)
        c = np.zeros(self._coarse_size)
        kern.restrict(self._agg, self._lever, self._coarse_index, nv, clamped, r, c)
        c = self._coarse_solve(c)
        kern.prolong_add(self._agg, self._lever, self._coarse_index, nv, clamped, c, z)
        return z

    def _refresh_coarse(self, p: int) -> None:
        """Factor the coarse stiffness Z^T K Z of state p (aggregates holding a free voxel) from its 6 x 6 blocks per
        pair of joined aggregates, which ``_activate`` sums as joints activate (assembling it from every joint
        again cost 20 times the factorisation at 10,000 voxels)."""
        if self._active_upto != p:
            raise PhysicsError(f"internal: the coarse level of state {p} asked for with joints up to {self._active_upto}")
        clamped = 0 if self.plate else 1
        active = np.zeros(self._agg_count, dtype=bool)
        active[self._agg[clamped : p + 1]] = True
        index = np.full(self._agg_count, -1, dtype=np.int64)
        index[active] = np.arange(int(active.sum()))
        used = np.flatnonzero(active[self._pair_ab[:, 0]] & active[self._pair_ab[:, 1]])
        ca, cb = index[self._pair_ab[used, 0]], index[self._pair_ab[used, 1]]
        rows = np.broadcast_to((6 * ca[:, None] + np.arange(6))[:, :, None], (len(used), 6, 6)).ravel()
        cols = np.broadcast_to((6 * cb[:, None] + np.arange(6))[:, None, :], (len(used), 6, 6)).ravel()
        size = 6 * int(active.sum())
        E = sp.csc_matrix((self._coarse_blocks[used].ravel(), (rows, cols)), shape=(size, size))
        # SuperLU's minimum degree on E + E^T, symmetric (diagonal pivots): at 10,000 voxels (1,260 coarse DOFs) 30 %
        # fewer entries in the factor than a nested-dissection order of the aggregates, each solve (one a CG
        # iteration, a third of its time there) about 30 % faster
        self._coarse_solve = splu(E, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                                  options={"SymmetricMode": True}).solve  # fmt: skip
        self._coarse_index = index
        self._coarse_size = size
        self._coarse_state = p

    def _prepare_blocks(self) -> None:
        """Diagonal blocks (grown as joints activate) and each voxel-voxel joint's off-diagonal block."""
        n = self.n
        K = self.elements
        ji, jj = self.dofs[:, 0] // 6, self.dofs[:, 6] // 6
        pair = (ji < n) & (jj < n)
        self._oi = np.ascontiguousarray(ji[pair])
        self._oj = np.ascontiguousarray(jj[pair])
        self._off = np.ascontiguousarray(K[pair][:, :6, 6:])
        # a beam joint's off-diagonal block holds 10 of its 36 entries (kernels.apply_compact); any other law's
        # blocks go through the dense product
        self._oaxis = np.ascontiguousarray(self.law.axis[self.order][pair].astype(np.int64))
        a = self._oaxis
        b, c = (a + 1) % 3, (a + 2) % 3
        rows = np.stack([a, 3 + a, b, b, 3 + c, 3 + c, c, c, 3 + b, 3 + b], axis=1)
        cols = np.stack([a, 3 + a, b, 3 + c, b, 3 + c, c, 3 + b, c, 3 + b], axis=1)
        picked = np.arange(len(a))[:, None]
        self._beam = np.ascontiguousarray(self._off[picked, rows, cols])
        rest = self._off.copy()
        rest[picked, rows, cols] = 0.0
        # a beam joint's diagonal blocks hold their 6 diagonal entries and two of kernels.BEAM_DIAGONAL_PAIRS
        pattern = np.eye(6, dtype=bool)
        for a, b in kern.BEAM_DIAGONAL_PAIRS:
            pattern[a, b] = pattern[b, a] = True
        self._beam_only = not np.any(rest) and not np.any(K[:, :6, :6][:, ~pattern]) and not np.any(K[:, 6:, 6:][:, ~pattern])
        if self._beam_only:
            # per voxel and face slot (+x, -x, +y, -y, +z, -z): the neighbour and its joint's 10 entries with the
            # voxel as the row (kernels.apply_compact), as an index into a table of the distinct ones; a joint's
            # first voxel is its lower one along its axis
            self._nb = np.full((n, 6), -1, dtype=np.int32)
            slot_w = np.zeros((n, 6, 10))
            step = self.ijk[self._oj] - self.ijk[self._oi]
            if not np.array_equal(step, _AXES[self._oaxis]):
                raise PhysicsError("a joint's voxels are not face neighbours along its axis")
            self._nb[self._oi, 2 * self._oaxis] = self._oj
            self._nb[self._oj, 2 * self._oaxis + 1] = self._oi
            slot_w[self._oi, 2 * self._oaxis] = self._beam
            slot_w[self._oj, 2 * self._oaxis + 1] = self._beam[:, [0, 1, 2, 4, 3, 5, 6, 8, 7, 9]]
            self._slot_table, index = _unique_rows(slot_w.reshape(-1, 10))
            self._slot_index = np.ascontiguousarray(index.reshape(n, 6).astype(np.int32))
        self._prepare_bound()
        counts = np.cumsum(np.concatenate([[0], pair.astype(np.int64)]))
        self._off_starts = counts[self.starts]  # voxel-voxel joints active in states < p
        # aggregates of the coarse level: blocks of aggregate^3 lattice cells, rigid-body modes about their centres
        cell = (self.ijk - self.ijk.min(axis=0)) // self.aggregate
        self._agg_ijk, self._agg = np.unique(cell, axis=0, return_inverse=True)
        self._agg = np.ascontiguousarray(self._agg.ravel().astype(np.int64))
        self._agg_count = len(self._agg_ijk)
        centre = (self._agg_ijk + 0.5) * self.aggregate - 0.5 + self.ijk.min(axis=0)
        self._lever = np.ascontiguousarray((self.ijk - centre[self._agg]) * self.law.spacing)
        # each joint's element in the rigid-body modes of its two voxels' aggregates: Zd^T K Zd, Zd = diag(Z_i, Z_j)
        # with Z_v = [[I, -[lever_v]x], [0, I]] (u = t + w x lever, theta = w); the plate side is never used
        lever = np.vstack([self._lever, np.zeros((1, 3))])
        Zd = np.zeros((len(K), 12, 12))
        Zd[:, np.arange(12), np.arange(12)] = 1.0
        for side, node in ((0, ji), (1, jj)):
            lv = lever[node]
            o = 6 * side
            Zd[:, o + 0, o + 4], Zd[:, o + 0, o + 5] = lv[:, 2], -lv[:, 1]
            Zd[:, o + 1, o + 3], Zd[:, o + 1, o + 5] = -lv[:, 2], lv[:, 0]
            Zd[:, o + 2, o + 3], Zd[:, o + 2, o + 4] = lv[:, 1], -lv[:, 0]
        self._coarse_elements = np.einsum("mji,mjk,mkl->mil", Zd, K, Zd, optimize=True)
        # the coarse matrix as 6 x 6 blocks per (row, column) pair of aggregates: each joint's four blocks (its two
        # voxels' aggregates; the plate and a clamped voxel have none) go to a pair, summed as the joint activates
        owner = np.append(self._agg, -1)
        if not self.plate:
            owner[0] = -1
        ends = (owner[ji], owner[jj])
        a = np.stack([ends[sa] for sa in (0, 0, 1, 1)], axis=1)
        b = np.stack([ends[sb] for sb in (0, 1, 0, 1)], axis=1)
        valid = (a >= 0) & (b >= 0)
        keys, pair = np.unique((a * self._agg_count + b)[valid], return_inverse=True)
        self._pair_of = np.full(a.shape, -1, dtype=np.int64)
        self._pair_of[valid] = pair.ravel()
        self._pair_ab = np.column_stack([keys // self._agg_count, keys % self._agg_count])
        self._reset_blocks()

    def _reset_blocks(self) -> None:
        """No joint active: the diagonal blocks and the coarse level's pair blocks zero (a run's cold start; the
        rest of ``_prepare_blocks`` is the same for every run and is shared by forked runs)."""
        n = self.n
        self._diag = np.zeros((n + 1, 6, 6))
        self._diag_inv = np.zeros((n + 1, 6, 6))
        self._dd = np.zeros((n + 1, 6))
        self._dc = np.zeros((n + 1, 6))
        self._rd = np.zeros((n + 1, 6))
        self._active_upto = -1
        self._coarse_blocks = np.zeros((len(self._pair_ab), 6, 6))
        self._coarse_state = -1
        self._slow = False
        self._fresh_iterations = 0

    def _prepare_bound(self) -> None:
        """The load-path tree and the joints' flexibilities of the bound (``_bounded``): each voxel's tree joint
        goes to the earlier-placed neighbour (or the plate) with the fewest joints to the support, lowest first;
        per distinct joint matrix its flexibility K^+ and, per joint, the utilisation that one unit of
        sqrt(energy) can give it at most (c = sum over N, V, M, T of sqrt(the largest eigenvalue of S K^+ S^T over
        that resultant's rows) / its strength)."""
        n = self.n
        clamped = 0 if self.plate else 1
        ni, nj = self.dofs[:, 0] // 6, self.dofs[:, 6] // 6
        m = len(self.elements)
        distinct, which = _unique_rows(self.elements.reshape(m, -1))
        which = which.ravel()
        # K^+ over the range of each joint matrix: all but its 6 rigid-body modes (a relative cut-off would drop a
        # soft but real mode, a weak torsion say, and the bound with it)
        w, V = np.linalg.eigh(distinct.reshape(-1, 12, 12))
        if (w[:, 6] <= 0).any():
            raise PhysicsError("a joint type has a stiffness of zero (a joint must resist all six motions)")
        self._kplus = np.ascontiguousarray(np.einsum("uik,uk,ujk->uij", V[:, :, 6:], 1.0 / w[:, 6:], V[:, :, 6:]))
        first = np.zeros(len(distinct), dtype=np.int64)
        first[which[::-1]] = np.arange(m)[::-1]
        S = self.section_maps[first]
        M = np.einsum("uij,ujk,ulk->uil", S, self._kplus, S)
        groups = [[0], [1, 2], [4, 5], [3]]  # N, V, M, T: the order of the strengths
        reach = np.stack([np.sqrt(np.maximum(np.linalg.eigvalsh(M[:, g][:, :, g])[:, -1], 0.0)) for g in groups], 1)
        # the sum of the four groups' largest changes lets each take the whole energy at once: Cauchy-Schwarz over
        # the groups (weights found per distinct joint and strength) bounds the sum itself, about 1.9 x tighter
        pairs, pair = _unique_rows(np.column_stack([which, self.strength]))
        c_pair = np.array([_sum_reach(M[int(row[0])], groups, 1.0 / row[1:]) for row in pairs])
        c = np.minimum((reach[which] / self.strength).sum(axis=1), c_pair[pair.ravel()])
        self._bound_c = np.maximum.accumulate(c)  # the largest over the joints of a state: [starts[p + 1] - 1]
        depth = np.full(n + 1, np.iinfo(np.int64).max)
        depth[n] = 0
        if not self.plate:
            depth[0] = 0
        self._tree_parent = np.full(n, -1, dtype=np.int64)
        self._tree_k = np.full(n, -1, dtype=np.int64)
        self._tree_side = np.zeros(n, dtype=np.int64)
        self._tree_offset = np.zeros((n, 3))
        for p in range(clamped, n):
            best = None
            for k in range(self.starts[p], self.starts[p + 1]):
                other, side = (nj[k], 0) if ni[k] == p else (ni[k], 1)
                below = self.ijk[other, 2] if other < n else self.ijk[p, 2] - 1
                key = (depth[other], below)
                if best is None or key < best[0]:
                    best = (key, other, k, side)
            if best is None:
                raise PhysicsError(f"state {p}: the placed voxels are not all joined to the plate (a loose piece)")
            _, other, k, side = best
            depth[p] = depth[other] + 1
            self._tree_parent[p], self._tree_k[p], self._tree_side[p] = other, which[k], side
            self._tree_offset[p] = ((self.ijk[p] - self.ijk[other]) if other < n else np.array([0, 0, 1])) * self.law.spacing
        # each tree joint's flexibility as a 6 x 6 form in the resultant F (force, moment about the voxel's centre)
        # it carries: its end forces are T F (the voxel's end F, the parent's end -F with the moment moved by the
        # offset), so f^T K^+ f = F^T (T^T K^+ T) F
        T = np.zeros((n, 12, 6))
        has = np.flatnonzero(self._tree_k >= 0)
        o, q = 6 * self._tree_side[has], 6 - 6 * self._tree_side[has]
        lv = self._tree_offset[has]
        cross = np.zeros((len(has), 3, 3))
        cross[:, 0, 1], cross[:, 0, 2], cross[:, 1, 2] = -lv[:, 2], lv[:, 1], -lv[:, 0]
        cross[:, 1, 0], cross[:, 2, 0], cross[:, 2, 1] = lv[:, 2], -lv[:, 1], lv[:, 0]
        for a in range(3):
            T[has, o + a, a] = 1.0
            T[has, o + 3 + a, 3 + a] = 1.0
            T[has, q + a, a] = -1.0
            T[has, q + 3 + a, 3 + a] = -1.0
            for b in range(3):
                T[has, q + 3 + a, b] = -cross[:, a, b]
        self._tree_flex = np.zeros((n, 6, 6))
        self._tree_flex[has] = np.einsum("mia,mij,mjb->mab", T[has], self._kplus[self._tree_k[has]], T[has], optimize=True)

    def _bounded(self, p: int, f: np.ndarray, d: np.ndarray) -> tuple[float, int, float]:
        """(largest utilisation of ``d``, its joint, a bound on how far the exact state's largest utilisation can
        be from it). The bound (Prager-Synge): the joint forces of ``d`` plus the tree's forces carrying the
        residual r = f - K d to the support are in equilibrium with the loads, so the exact joint forces are
        within sqrt(E) in energy of those of ``d``, E the tree forces' complementary energy (r^T K^-1 r <= E);
        no joint's energy can exceed the whole, so no utilisation moves by more than c sqrt(E) (c per joint,
        ``_prepare_bound``; U is a sum of norms of linear resultants, so |U(a) - U(b)| <= U'(a - b))."""
        clamped = 0 if self.plate else 1
        nv = p + 1
        q = np.empty(6 * nv)
        self._apply(self._off_starts[p + 1], nv, d, q)
        r = f - q
        r[: 6 * clamped] = 0.0
        energy = kern.tree_energy_reduced(self._tree_parent, self._tree_offset, self._tree_flex, nv, clamped, r)
        u, w = self._utilisation(p, d)
        m = int(self.starts[p + 1])
        return u, w, float(self._bound_c[m - 1]) * math.sqrt(max(energy, 0.0)) if m else 0.0

    def _activate(self, p: int) -> None:
        """Add the diagonal contributions of the joints that activate in states up to p."""
        if not hasattr(self, "_diag"):
            self._prepare_blocks()
        lo, hi = int(self.starts[self._active_upto + 1]), int(self.starts[p + 1])
        self._active_upto = p
        if hi <= lo:
            return
        kern.add_joints(self.elements, self.dofs, lo, hi, self._diag, self._pair_of, self._coarse_elements,
                        self._coarse_blocks)  # fmt: skip
        nodes = np.unique(self.dofs[lo:hi][:, [0, 6]] // 6)
        nodes = nodes[nodes < self.n]
        kern.refresh_blocks(self._diag, nodes, self._diag_inv, self._dd, self._dc, self._rd)

    def _apply(self, m: int, nv: int, x: np.ndarray, y: np.ndarray) -> None:
        """y = K x over voxels 0..nv-1 and the first ``m`` voxel-voxel joints."""
        if self._beam_only:
            # a joint is active when both its voxels are placed
            kern.apply_compact(self._dd, self._dc, self._nb, self._slot_index, self._slot_table, nv, 0, x, y)
        else:
            kern.apply(self._diag, self._off, self._oi, self._oj, m, nv, x, y)


def _unique_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of a float array and each row's index among them, as np.unique(axis=0, return_inverse=True)
    (in another order): grouped by a weighted sum of each row first, then checked row for row (np.unique itself
    where two distinct rows share a sum). np.unique over rows sorts them as records, seconds for 30,000 joints."""
    rows = np.ascontiguousarray(rows, dtype=np.float64)
    if len(rows) == 0:
        return rows.copy(), np.zeros(0, dtype=np.int64)
    weights = 1.0 + np.sqrt(np.arange(2, rows.shape[1] + 2)) % 1.0
    _, first, inverse = np.unique(rows @ weights, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    table = rows[first]
    if not np.array_equal(table[inverse], rows):
        table, inverse = np.unique(rows, axis=0, return_inverse=True)
    return table, inverse.ravel()


def _sum_reach(M: np.ndarray, groups: list, inverse_strength: np.ndarray) -> float:
    """The most that sum_g |S_g e| / s_g (a joint's utilisation change U'(e), g = N, V, M, T) can be per unit of
    sqrt(e^T K e), by Cauchy-Schwarz: for weights w_g > 0 summing to 1, (sum_g a_g)^2 <= sum_g a_g^2 / w_g =
    e^T S^T W S e <= lambda_max(W^1/2 S K^+ S^T W^1/2) e^T K e, W = 1 / (w_g s_g^2) on group g's rows (``M`` =
    S K^+ S^T). Any weights give a bound; Nelder-Mead looks for small ones (within 2 % of the exact largest on the
    built-in part types, where the sum of the groups' own largest is 1.9 x it). Groups of infinite strength drop
    out."""
    live = [k for k in range(len(groups)) if inverse_strength[k] > 0]
    if not live:
        return 0.0
    rows = [groups[k] for k in live]
    scale = np.concatenate([np.full(len(g), inverse_strength[k]) for g, k in zip(rows, live, strict=True)])
    index = np.concatenate(rows)
    Ms = M[np.ix_(index, index)] * np.outer(scale, scale)
    sizes = [len(g) for g in rows]

    def value(t: np.ndarray) -> float:
        w = np.exp(t - t.max())
        w /= w.sum()
        root = np.repeat(1.0 / np.sqrt(w), sizes)
        return float(np.sqrt(max(np.linalg.eigvalsh(Ms * np.outer(root, root))[-1], 0.0)))

    own = np.array([np.sqrt(max(np.linalg.eigvalsh(M[np.ix_(g, g)])[-1], 0.0)) * inverse_strength[k]
                    for g, k in zip(rows, live, strict=True)])  # fmt: skip
    start = np.log(np.maximum(own, 1e-300 + own.max() * 1e-12))
    best = minimize(value, start, method="Nelder-Mead", options={"xatol": 1e-4, "fatol": 1e-10, "maxiter": 2000})
    return min(value(best.x), value(start))


def _undecided(u: float, bound: float, below: float, limit: float | None, floor: float) -> float | None:
    """None when a state of utilisation ``u`` +- ``bound`` is surely under ``below`` (the worst so far) and on one
    side of ``limit`` (under ``floor`` x limit or over it); else how far ``u`` is from the nearest undecided line
    (<= 0: the state may be the worst)."""
    gaps = []
    if u + bound >= below:
        gaps.append(below - u)
    if limit is not None and u + bound >= floor * limit and u - bound <= limit:
        gaps.append(floor * limit - u if u < floor * limit else u - limit)
    return min(gaps) if gaps else None


def worst_summary(check: StateCheck, ijk: np.ndarray) -> dict:
    """The worst state and its worst joint in words-ready numbers."""
    p = check.worst_state
    e = int(check.worst_joint[p])
    i, j, axis = (int(v) for v in check.joints[e]) if e >= 0 else (-1, -1, -1)
    return {
        "state": p,
        "utilisation": float(check.utilisation[p]),
        "joint": {"voxel": i, "neighbour": j, "axis": "xyz"[axis] if axis >= 0 else None,
                  "ijk": [int(v) for v in ijk[i]] if i >= 0 else None},  # fmt: skip
        "seconds": check.seconds,
        "mean_iterations": float(np.mean(check.iterations)) if len(check.iterations) else 0.0,
    }
