"""3D SIMP topology optimization on a voxel domain, the reference of issue 13 (benchmarks only, never imported by fab/).

The 3D counterpart of benchmarks/simp.py (Liu & Tovar 2014, "An efficient 3D topology optimization code written
in Matlab", top3d): trilinear 8-node hexahedra (2 x 2 x 2 Gauss), one per voxel of the design domain, modified
SIMP E = E0 (EMIN + x^p (1 - EMIN)), a density filter of radius ``rmin`` (mm, linear cone weights over the
domain's cells), and the optimality-criteria update with a move limit. Only the domain's voxels are meshed
(cells outside it, keep-out included, hold no element at all), so an L-shaped design space costs nothing outside
the L. Several load cases: the objective is the sum of their compliances (each case solved on its own), as the
refinement must hold each. Keep-in cells are solid throughout; the volume constraint counts the domain's cells.
The field's refinements as options (Ferrari & Sigmund 2020, top99neo; Wang, Lazarov & Sigmund 2011): continuation
of the penalty, a smoothed Heaviside projection of the filtered densities with beta continuation (the volume
constraint on the projected densities), a stop on the objective's relative change as well as on the change.

Solves: conjugate gradients preconditioned by pyamg's smoothed aggregation (rigid-body near-null space, SuperLU
on the coarsest level), one hierarchy per iteration shared by the load cases, warm-started from the last
iteration's displacements, relative residual 1e-8 by default; a direct solve where CG does not converge, and
without pyamg. Run with OPENBLAS_NUM_THREADS=1 on a shared machine (bench_refine.py sets it).

Conventions as benchmarks/voxel_fe.py, so a design can be judged there cell for cell: voxel (i, j, k) spans
origin + [i, i + 1] x [j, j + 1] x [k, k + 1] * pitch; ``fixed`` voxels have all 8 nodes held; a load's force is
shared evenly by its voxels and each voxel's share equally by its 8 nodes. Lengths mm, forces N, E in N/mm^2:
compliances in N mm.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

EMIN = 1e-9  # void stiffness as a share of E0 (top3d: Emin = 1e-9 with E0 = 1)
CORNERS = ((0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0), (0, 0, 1), (1, 0, 1), (1, 1, 1), (0, 1, 1))  # C3D8 order


@dataclass(frozen=True)
class Simp3DResult:
    density: np.ndarray  # (nx, ny, nz) physical densities (filtered, projected), 0 outside the domain
    compliance: float  # N mm, the (weighted) sum over the load cases, grey design (SIMP model), last analysis
    history: tuple[float, ...]  # compliance per iteration
    iterations: int
    change: float  # largest design-variable change of the last iteration
    grey: float  # share of domain cells with 0.1 < x < 0.9 at the end
    seconds: float
    solver: str
    solver_stats: dict  # solves, AMG setups, CG iterations
    penal: float  # at the end (continuation)
    beta: float  # the projection's sharpness at the end, 0: none
    converged: bool  # stopped by its rule at its last stage, not by max_iterations


def h8_stiffness(youngs_modulus: float, poisson_ratio: float, pitch: float) -> np.ndarray:
    """(24, 24) stiffness of a cube ``pitch`` wide (2 x 2 x 2 Gauss), dofs (u0, v0, w0, u1, ...) in CORNERS order."""
    e, nu = youngs_modulus, poisson_ratio
    lam, mu = e * nu / ((1 + nu) * (1 - 2 * nu)), e / (2 * (1 + nu))
    d = np.zeros((6, 6))
    d[:3, :3] = lam
    d[np.arange(3), np.arange(3)] = lam + 2 * mu
    d[np.arange(3, 6), np.arange(3, 6)] = mu
    s = 2.0 * np.array(CORNERS, dtype=float) - 1.0  # natural coordinates of the nodes
    g = 1 / np.sqrt(3)
    k = np.zeros((24, 24))
    for xi in (-g, g):
        for eta in (-g, g):
            for zeta in (-g, g):
                p = np.array([xi, eta, zeta])
                dn = np.empty((3, 8))
                for a in range(3):
                    b, c = (a + 1) % 3, (a + 2) % 3
                    dn[a] = 0.125 * s[:, a] * (1 + s[:, b] * p[b]) * (1 + s[:, c] * p[c])
                dn *= 2 / pitch
                bm = np.zeros((6, 24))
                for a in range(3):
                    bm[a, a::3] = dn[a]
                bm[3, 0::3], bm[3, 1::3] = dn[1], dn[0]  # gamma_xy
                bm[4, 1::3], bm[4, 2::3] = dn[2], dn[1]  # gamma_yz
                bm[5, 0::3], bm[5, 2::3] = dn[2], dn[0]  # gamma_xz
                k += bm.T @ d @ bm * (pitch / 2) ** 3
    return k


class VoxelMesh:
    """The domain's voxels as hexahedra: element e is the e-th domain voxel (C order), nodes shared."""

    def __init__(self, domain: np.ndarray) -> None:
        dom = np.asarray(domain, dtype=bool)
        if dom.ndim != 3 or not dom.any():
            raise ValueError("the domain must be a non-empty 3D bool array")
        self.domain = dom
        self.cells = np.argwhere(dom)
        nshape = tuple(np.array(dom.shape) + 1)
        used = np.zeros(nshape, dtype=bool)
        nx, ny, nz = dom.shape
        for a, b, c in CORNERS:
            used[a : a + nx, b : b + ny, c : c + nz] |= dom
        self.node_id = np.full(nshape, -1, dtype=np.int64)
        self.node_id[used] = np.arange(int(used.sum()))
        self.nodes = int(used.sum())
        v = self.cells
        self.enodes = np.stack([self.node_id[v[:, 0] + a, v[:, 1] + b, v[:, 2] + c] for a, b, c in CORNERS], 1)
        self.edof = (3 * self.enodes[:, :, None] + np.arange(3)).reshape(-1, 24)
        self.cell_index = np.full(dom.shape, -1, dtype=np.int64)
        self.cell_index[dom] = np.arange(len(v))

    def dofs_of(self, cells: np.ndarray) -> np.ndarray:
        """Every dof of the nodes of the (grid mask) ``cells`` inside the domain."""
        e = self.cell_index[np.asarray(cells, dtype=bool) & self.domain]
        return np.unique(self.edof[e])

    def load_vector(self, loads: Sequence[tuple[np.ndarray, Sequence[float]]]) -> np.ndarray:
        """Nodal forces of ``(cells, total force N)`` pairs: each force shared by its domain cells, then by their
        8 nodes."""
        f = np.zeros(3 * self.nodes)
        for cells, force in loads:
            e = self.cell_index[np.asarray(cells, dtype=bool) & self.domain]
            if e.size == 0:
                raise ValueError("a load has no cell in the domain")
            share = np.asarray(force, dtype=float) / (8 * e.size)
            for d in range(3):
                np.add.at(f, 3 * self.enodes[e].ravel() + d, share[d])
        return f

    def density_filter(self, rmin_cells: float) -> sp.csr_matrix:
        """Row-normalised cone weights max(0, rmin - distance) between domain cells (top3d's H / Hs)."""
        r = int(np.ceil(rmin_cells)) - 1
        idx = self.cell_index
        shape = np.array(idx.shape)
        rows, cols, vals = [], [], []
        for off in np.ndindex(2 * r + 1, 2 * r + 1, 2 * r + 1):
            o = np.array(off) - r
            w = rmin_cells - float(np.sqrt((o**2).sum()))
            if w <= 0:
                continue
            lo, hi = np.maximum(0, -o), shape - np.maximum(0, o)
            a = idx[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
            b = idx[lo[0] + o[0] : hi[0] + o[0], lo[1] + o[1] : hi[1] + o[1], lo[2] + o[2] : hi[2] + o[2]]
            ok = (a >= 0) & (b >= 0)
            rows.append(a[ok])
            cols.append(b[ok])
            vals.append(np.full(int(ok.sum()), w))
        n = len(self.cells)
        h = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
        return sp.diags(1.0 / np.asarray(h.sum(axis=1)).ravel()) @ h


def _rigid_modes(mesh: VoxelMesh, free: np.ndarray) -> np.ndarray:
    xyz = np.argwhere(mesh.node_id >= 0).astype(float)
    xyz -= xyz.mean(axis=0)
    b = np.zeros((3 * mesh.nodes, 6))
    for d in range(3):
        b[d::3, d] = 1.0
    x, y, z = xyz.T
    b[0::3, 3], b[1::3, 3] = -y, x
    b[1::3, 4], b[2::3, 4] = -z, y
    b[0::3, 5], b[2::3, 5] = z, -x
    return b[free]


def make_solver(mesh: VoxelMesh, ke: np.ndarray, fixed_dofs: np.ndarray, tolerance: float = 1e-8):
    """``solve(scale, forces, guess=None) -> displacements``: the stiffness with element e scaled by ``scale[e]``,
    solved for each right-hand side (rows of ``forces``), held dofs zero, relative residual ``tolerance``.
    Conjugate gradients preconditioned by pyamg's smoothed aggregation (else a direct solve), the hierarchy built
    for each matrix (one kept from an earlier design is no preconditioner where cells went void since: CG
    stalled); ``guess``: the previous displacements, CG's warm start. Where CG does not converge (a nearly cut-off
    design on the way), a direct solve (counted in ``solve.stats``)."""
    ndof = 3 * mesh.nodes
    free = np.setdiff1d(np.arange(ndof), fixed_dofs)
    nfree = len(free)
    index = np.full(ndof, -1, dtype=np.int64)
    index[free] = np.arange(nfree)
    rows = index[np.repeat(mesh.edof, 24, axis=1)].ravel()
    cols = index[np.tile(mesh.edof, (1, 24))].ravel()
    kept = (rows >= 0) & (cols >= 0)
    # The free-dof matrix's CSR pattern once; each solve only sums the scaled element entries into it.
    keys, slot = np.unique(rows[kept] * nfree + cols[kept], return_inverse=True)
    indptr = np.searchsorted(keys // nfree, np.arange(nfree + 1)).astype(np.int64)
    indices = (keys % nfree).astype(np.int64)
    try:
        import pyamg
        from pyamg.krylov import cg
    except ImportError:
        pyamg = None
    modes = _rigid_modes(mesh, free) if pyamg is not None else None
    stats = {"solves": 0, "setups": 0, "cg_iterations": 0, "direct": 0}

    def solve(scale: np.ndarray, forces: np.ndarray, guess: np.ndarray | None = None) -> np.ndarray:
        data = np.bincount(slot, weights=(ke.ravel()[None, :] * scale[:, None]).ravel()[kept], minlength=len(keys))
        kf = sp.csr_matrix((data, indices, indptr), shape=(nfree, nfree))
        u = np.zeros((len(forces), ndof))
        if pyamg is None:
            from scipy.sparse.linalg import splu

            lu = splu(kf.tocsc())
            for c, f in enumerate(forces):
                u[c, free] = lu.solve(f[free])
            return u
        ml = pyamg.smoothed_aggregation_solver(kf, B=modes, symmetry="symmetric", coarse_solver="splu")
        stats["setups"] += 1
        for c, f in enumerate(forces):
            x0 = None if guess is None else guess[c, free]
            if x0 is not None and np.linalg.norm(f[free] - kf @ x0) >= np.linalg.norm(f[free]):
                x0 = None  # no better than zero (cells gone void since leave floppy nodes far off): a cold start
            res: list[float] = []
            x, _ = cg(kf, f[free], x0=x0, tol=tolerance, maxiter=1000, M=ml.aspreconditioner(cycle="V"),
                      residuals=res)  # fmt: skip
            n = len(res) - 1
            stats["solves"] += 1
            stats["cg_iterations"] += n
            relative = np.linalg.norm(f[free] - kf @ x) / max(np.linalg.norm(f[free]), 1e-300)
            if relative > 10 * tolerance:  # a nearly cut-off design (SIMP passes through some): a direct solve
                from scipy.sparse.linalg import spsolve

                x = spsolve(kf.tocsc(), f[free])
                stats["direct"] += 1
                relative = np.linalg.norm(f[free] - kf @ x) / max(np.linalg.norm(f[free]), 1e-300)
                if not relative <= 10 * tolerance:
                    raise RuntimeError(f"AMG-CG and a direct solve failed: residual {relative:.2e}")
            u[c, free] = x
        return u

    solve.method = "direct (SuperLU)" if pyamg is None else "CG + smoothed-aggregation AMG (pyamg)"
    solve.stats = stats
    return solve


def project(xt: np.ndarray, beta: float, eta: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """The smoothed Heaviside projection of filtered densities (Wang, Lazarov & Sigmund 2011) and its derivative;
    ``beta`` 0: none (identity)."""
    if beta <= 0:
        return xt, np.ones_like(xt)
    a, b = np.tanh(beta * eta), np.tanh(beta * (1.0 - eta))
    t = np.tanh(beta * (xt - eta))
    return (a + t) / (a + b), beta * (1.0 - t * t) / (a + b)


def simp3d(
    domain: np.ndarray,
    keep_in: np.ndarray,
    fixed: np.ndarray,
    cases: Sequence[Sequence[tuple[np.ndarray, Sequence[float]]]],
    cells: float,
    pitch: float,
    *,
    youngs_modulus: float = 1.0,
    poisson_ratio: float = 0.3,
    penal: float = 3.0,
    penal_start: float | None = None,
    penal_step: float = 0.25,
    beta_max: float = 0.0,
    beta_start: float = 1.0,
    eta: float = 0.5,
    rmin: float | None = None,
    move: float = 0.2,
    final_move: float | None = None,
    max_iterations: int = 200,
    stage_iterations: int = 25,
    tolerance: float = 0.01,
    objective_tolerance: float = 0.0,
    window: int = 10,
    solver_tolerance: float = 1e-8,
    weights: Sequence[float] | None = None,
    progress: Callable[[int, float, float], None] | None = None,
) -> Simp3DResult:
    """Minimise the (weighted) summed compliance of the load ``cases`` (each a list of (cells mask, total force
    N)) over the voxel ``domain`` at ``cells`` solid cells (keep-in counted). ``fixed``: held cells.

    top3d's defaults (penalty 3, ``rmin`` 1.5 pitches, no projection, stop when no design variable moves by more
    than ``tolerance``, 0.01) unless told otherwise; the field's refinements, as in Ferrari & Sigmund's top99neo:
    ``penal_start`` (e.g. 1): continuation of the penalty, raised by ``penal_step`` at each stage up to ``penal``;
    ``beta_max`` > 0: the filtered densities projected by a smoothed Heaviside (threshold ``eta``), beta from
    ``beta_start`` doubled at each stage up to ``beta_max`` (the volume constraint on the projected, physical
    densities). A stage ends after ``stage_iterations`` or as soon as its change falls below ``tolerance``; the
    run stops at the last stage by the rule (change <= ``tolerance``, or, with ``objective_tolerance`` > 0, the
    objective within that relative spread over the last ``window`` iterations) or at ``max_iterations``.
    ``rmin`` mm: the density filter's radius. ``weights``: the objective is sum_c w_c C_c (default all 1;
    bench_refine gives 1 / the whole domain's compliance of each case). ``solver_tolerance``: CG's relative
    residual (warm-started from the last displacements).
    ``progress(iteration, objective, change)``."""
    import time

    t0 = time.perf_counter()
    mesh = VoxelMesh(domain)
    keep = np.asarray(keep_in, dtype=bool)[mesh.domain]
    n = len(mesh.cells)
    if not 0 < cells <= n:
        raise ValueError(f"cells must be in (0, {n}], got {cells}")
    ke = h8_stiffness(youngs_modulus, poisson_ratio, pitch)
    fixed_dofs = mesh.dofs_of(fixed)
    if fixed_dofs.size == 0:
        raise ValueError("no support: 'fixed' holds no domain cell")
    forces = np.stack([mesh.load_vector(case) for case in cases])
    w = np.ones(len(cases)) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != (len(cases),) or not (w > 0).all():
        raise ValueError(f"weights: one positive weight a load case, got {weights!r}")
    solve = make_solver(mesh, ke, fixed_dofs, solver_tolerance)
    h = mesh.density_filter((rmin if rmin is not None else 1.5 * pitch) / pitch)
    target = float(cells)
    p = penal if penal_start is None else min(penal_start, penal)
    beta = min(beta_start, beta_max) if beta_max > 0 else 0.0

    def physical(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        xp, dxp = project(h @ x, beta, eta)
        xp[keep] = 1.0
        return xp, dxp

    x = np.full(n, target / n)
    xp, dxp = physical(x)
    change, it, stage_it, c, history, u, converged = 1.0, 0, 0, float("nan"), [], None, False
    while it < max_iterations:
        it += 1
        stage_it += 1
        u = solve(EMIN + xp**p * (1.0 - EMIN), forces, guess=u)
        ce = sum(wc * np.einsum("ij,jk,ik->i", uc[mesh.edof], ke, uc[mesh.edof]) for wc, uc in zip(w, u, strict=True))
        c = float(sum(wc * (f @ uc) for wc, f, uc in zip(w, forces, u, strict=True)))
        history.append(c)
        dc = -p * xp ** (p - 1) * (1.0 - EMIN) * ce * dxp
        dc[keep] = 0.0  # held solid: the filter's chain rule must not move their neighbours for them
        dc = np.asarray(h.T @ dc).ravel()
        dv = np.asarray(h.T @ np.where(keep, 0.0, dxp)).ravel() + 1e-12
        last = p >= penal and (beta_max <= 0 or beta >= beta_max)
        step = final_move if last and final_move is not None else move
        lo, hi = 0.0, 1e9
        while (hi - lo) / (hi + lo) > 1e-4:
            mid = 0.5 * (lo + hi)
            cand = np.clip(
                x * np.sqrt(np.maximum(-dc, 0) / dv / mid), np.maximum(0, x - step), np.minimum(1, x + step)
            )
            if physical(cand)[0].sum() > target:
                lo = mid
            else:
                hi = mid
        change = float(np.abs(cand - x).max())
        x = cand
        recent = history[-window:]
        flat = objective_tolerance > 0 and stage_it >= window and (max(recent) - min(recent)) <= (
            objective_tolerance * abs(recent[-1]))
        if progress is not None:
            progress(it, c, change)
        if last and (change <= tolerance or flat):
            converged = True
            xp, dxp = physical(x)
            break
        if not last and (change <= tolerance or stage_it >= stage_iterations):
            p = min(p + penal_step, penal)
            beta = min(2 * beta, beta_max) if beta_max > 0 else 0.0
            stage_it = 0
        xp, dxp = physical(x)
    density = np.zeros(mesh.domain.shape)
    density[mesh.domain] = xp
    grey = float(((xp > 0.1) & (xp < 0.9)).mean())
    return Simp3DResult(density, c, tuple(history), it, change, grey, time.perf_counter() - t0, solve.method,
                        dict(solve.stats), p, beta, converged)  # fmt: skip


def compliance(
    occupancy: np.ndarray,
    fixed: np.ndarray,
    case: Sequence[tuple[np.ndarray, Sequence[float]]],
    pitch: float,
    youngs_modulus: float,
    poisson_ratio: float,
) -> float:
    """N mm: the H8 model's compliance of a 0/1 design (only its voxels meshed) under one load case."""
    mesh = VoxelMesh(occupancy)
    ke = h8_stiffness(youngs_modulus, poisson_ratio, pitch)
    f = mesh.load_vector(case)
    u = make_solver(mesh, ke, mesh.dofs_of(fixed))(np.ones(len(mesh.cells)), f[None])[0]
    return float(f @ u)


def cantilever(nx: int = 24, ny: int = 8, nz: int = 4, volfrac: float = 0.3, **kw) -> Simp3DResult:
    """A cantilever after top3d's default problem: the cells of its x = 0 layer held, 1 N down (-z) shared by the
    cells along the bottom edge of its free end (x = nx - 1, z = 0); unit cubes, E0 = 1, nu = 0.3."""
    dom = np.ones((nx, ny, nz), dtype=bool)
    fixed = np.zeros_like(dom)
    fixed[0] = True
    pad = np.zeros_like(dom)
    pad[-1, :, 0] = True
    return simp3d(dom, dom & False, fixed, [[(pad, (0.0, 0.0, -1.0))]], volfrac * dom.size, 1.0, **kw)
