"""SIMP topology optimization, the reference for issue 6 problem 2 (benchmarks only, never imported by fab/).

A standard 2D plane-stress compliance minimisation (Bendsoe & Sigmund; Andreassen et al. 2011, "Efficient
topology optimization in MATLAB using 88 lines of code"): bilinear Q4 elements on the cell grid, modified SIMP
interpolation E = E0 (EMIN + x^p (1 - EMIN)) with the void stiffness a fixed share EMIN = 1e-9 of E0 (so the
result does not depend on the units of E0), a density or sensitivity filter of radius ``rmin`` (mm, linear cone
weights, as top88's ``ft`` = 2 or 1), and the optimality-criteria update with a move limit. Keep-in cells are held
solid and keep-out cells void throughout; the volume constraint counts the design domain only. The result is
thresholded to a 0/1 design of exactly the requested number of cells (keep-in cells always in), so it can be
compared cell for cell with a grown design.

``mbb_88`` runs the 88-line code's own problem (the half MBB beam, unit load, E0 = 1, nu = 0.3) through the same
optimiser, to check it against the published compliance before it serves as a yardstick (tests/test_simp.py;
benchmarks/bench_morph_bracket.py prints it).

Node (i, j) sits at (i p, j p); cell (i, j) spans [i p, (i + 1) p] x [j p, (j + 1) p], nodes counter-clockwise
from its lower-left corner. Lengths mm, forces N, E in N/mm^2: the compliance comes out in N mm.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

EMIN = 1e-9  # void stiffness as a share of E0 (top88: Emin = 1e-9 with E0 = 1)
# Andreassen et al. 2011, fig. 3: the half MBB beam, 60 x 20, volfrac 0.5, penal 3, rmin 2.4 (0.04 times the
# domain width, the paper's choice for its figures), compliance of the last iteration with each filter.
PUBLISHED_MBB = {"sensitivity": 216.81, "density": 233.71}
PUBLISHED_MBB_RMIN = 2.4


@dataclass(frozen=True)
class SimpResult:
    density: np.ndarray  # (nx, ny) filtered physical densities in [0, 1]
    design: np.ndarray  # (nx, ny) bool, thresholded to the requested cell count
    compliance: float  # N mm of the grey design (SIMP model), at the last iteration's analysis (as top88 prints)
    design_compliance: float  # N mm of the 0/1 design (same FE model, void cells at EMIN E0)
    iterations: int
    change: float  # largest design-variable change of the last iteration
    grey: float  # share of domain cells with 0.1 < x < 0.9 at the end
    filter: str = "density"
    penal: float = 3.0
    rmin_cells: float = 1.5


def q4_stiffness(youngs_modulus: float, poisson_ratio: float, pitch: float, thickness: float) -> np.ndarray:
    """(8, 8) plane-stress stiffness of a square bilinear element (2 x 2 Gauss), dofs (u0, v0, u1, v1, ...)."""
    e, nu = youngs_modulus, poisson_ratio
    d = e / (1 - nu * nu) * np.array([[1, nu, 0], [nu, 1, 0], [0, 0, (1 - nu) / 2]])
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=float)
    k = np.zeros((8, 8))
    g = 1 / np.sqrt(3)
    for xi in (-g, g):
        for eta in (-g, g):
            # Shape function derivatives in the natural frame, then in mm (Jacobian p / 2 on both axes).
            dn = 0.25 * np.array(
                [corners[:, 0] * (1 + corners[:, 1] * eta), corners[:, 1] * (1 + corners[:, 0] * xi)]
            )
            dn *= 2 / pitch
            b = np.zeros((3, 8))
            b[0, 0::2] = dn[0]
            b[1, 1::2] = dn[1]
            b[2, 0::2] = dn[1]
            b[2, 1::2] = dn[0]
            k += b.T @ d @ b * (pitch / 2) ** 2 * thickness
    return k


def _dofs(nx: int, ny: int) -> np.ndarray:
    """(nx * ny, 8) global dofs of each cell (C order over (i, j)), node id = i (ny + 1) + j."""
    i, j = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    i, j = i.ravel(), j.ravel()
    nodes = np.stack(
        [i * (ny + 1) + j, (i + 1) * (ny + 1) + j, (i + 1) * (ny + 1) + j + 1, i * (ny + 1) + j + 1], 1
    )
    return np.stack([2 * nodes, 2 * nodes + 1], axis=2).reshape(-1, 8)


def _filter(nx: int, ny: int, rmin_cells: float) -> tuple[sp.csr_matrix, np.ndarray]:
    """Filter weights H (cone max(0, rmin - distance) over cells within ceil(rmin) - 1, as top88) and row sums."""
    r = int(np.ceil(rmin_cells)) - 1
    rows, cols, vals = [], [], []
    idx = np.arange(nx * ny).reshape(nx, ny)
    for di in range(-r, r + 1):
        for dj in range(-r, r + 1):
            w = rmin_cells - np.hypot(di, dj)
            if w <= 0:
                continue
            a = idx[max(0, -di) : nx - max(0, di), max(0, -dj) : ny - max(0, dj)]
            b = idx[max(0, di) : nx - max(0, -di), max(0, dj) : ny - max(0, -dj)]
            rows.append(a.ravel())
            cols.append(b.ravel())
            vals.append(np.full(a.size, w))
    h = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(nx * ny,) * 2
    )
    return h, np.asarray(h.sum(axis=1)).ravel()


def _optimise(
    domain: np.ndarray,
    keep_in: np.ndarray,
    ke: np.ndarray,
    f: np.ndarray,
    fixed: np.ndarray,
    cells: float,
    penal: float,
    rmin_cells: float,
    filter: str,
    move: float,
    max_iterations: int,
    tolerance: float,
) -> tuple[np.ndarray, np.ndarray, float, int, float, Callable[[np.ndarray], float]]:
    """Optimality-criteria SIMP on the (nx, ny) cell grid: physical densities, design variables, compliance at
    the last analysis, iterations, last change, and a function giving the compliance of any density field.

    Keeps top88's steps: modified SIMP with EMIN, sensitivities -p x^(p-1) (1 - EMIN) u_e^T k_e u_e, the chosen
    filter (sensitivity: H (x dc) / Hs / max(1e-3, x); density: the chain rule through x~ = H x / Hs), a
    bisection on the Lagrange multiplier until (l2 - l1) / (l1 + l2) <= 1e-3, and the stop on the largest
    change of a design variable."""
    if filter not in ("density", "sensitivity"):
        raise ValueError(f"filter must be 'density' or 'sensitivity', got {filter!r}")
    nx, ny = domain.shape
    dom = domain.astype(bool).ravel()
    keep = (keep_in.astype(bool) & domain.astype(bool)).ravel()
    edof = _dofs(nx, ny)
    ndof = 2 * (nx + 1) * (ny + 1)
    rows = np.repeat(edof, 8, axis=1).ravel()
    cols = np.tile(edof, (1, 8)).ravel()
    free = np.setdiff1d(np.arange(ndof), fixed)
    h, hs = _filter(nx, ny, rmin_cells)
    target = float(cells)

    def physical(x: np.ndarray) -> np.ndarray:
        xp = (h @ x) / hs if filter == "density" else x.copy()
        xp[keep] = 1.0
        xp[~dom] = 0.0
        return xp

    def solve(xp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scale = EMIN + xp**penal * (1.0 - EMIN)  # a share of E0: ke already holds E0
        k = sp.csr_matrix(((ke.ravel()[None, :] * scale[:, None]).ravel(), (rows, cols)), shape=(ndof, ndof))
        u = np.zeros(ndof)
        u[free] = spsolve(k[free][:, free].tocsc(), f[free])
        return u, np.einsum("ij,jk,ik->i", u[edof], ke, u[edof])

    x = np.where(dom, target / dom.sum(), 0.0)
    x[keep] = 1.0
    xp = physical(x)
    change, it, c = 1.0, 0, float("nan")
    while change > tolerance and it < max_iterations:
        it += 1
        u, ce = solve(xp)
        c = float(f @ u)
        dc = -penal * xp ** (penal - 1) * (1.0 - EMIN) * ce
        dv = np.ones(nx * ny)
        if filter == "density":
            dc = np.asarray(h.T @ (dc / hs)).ravel()
            dv = np.asarray(h.T @ (dv / hs)).ravel()
        else:
            dc = np.asarray(h @ (x * dc)).ravel() / hs / np.maximum(1e-3, x)
        lo, hi = 0.0, 1e9
        while (hi - lo) / (hi + lo) > 1e-3:
            mid = 0.5 * (lo + hi)
            cand = np.clip(
                x * np.sqrt(np.maximum(-dc, 0) / dv / mid), np.maximum(0, x - move), np.minimum(1, x + move)
            )
            cand[~dom] = 0.0
            if physical(cand)[dom].sum() > target:
                lo = mid
            else:
                hi = mid
        change = float(np.abs(cand - x).max())
        x = cand
        xp = physical(x)

    def compliance(field: np.ndarray) -> float:
        return float(f @ solve(field.ravel().astype(float))[0])

    return xp, x, c, it, change, compliance


def simp(
    domain: np.ndarray,
    keep_in: np.ndarray,
    support: np.ndarray,
    pad: np.ndarray,
    pitch: float,
    force: float,
    cells: int,
    *,
    youngs_modulus: float = 1.0,
    poisson_ratio: float = 0.3,
    thickness: float = 1.0,
    penal: float = 3.0,
    rmin: float | None = None,
    filter: str = "density",
    move: float = 0.2,
    max_iterations: int = 300,
    tolerance: float = 0.005,
) -> SimpResult:
    """Minimise the compliance of the cell grid ``domain`` (nx, ny) at ``cells`` solid cells.

    ``support`` cells have every node held; ``force`` N acts in -y, shared evenly by the ``pad`` cells and
    equally by each one's four nodes. ``rmin`` (mm) defaults to 2 pitches. Lengths mm, E in N/mm^2 (the
    optimised layout does not depend on E; the compliances scale with 1/E).
    """
    nx, ny = domain.shape
    domain = domain.astype(bool)
    keep_in = keep_in.astype(bool) & domain
    rmin_cells = (rmin if rmin is not None else 2.0 * pitch) / pitch
    ke = q4_stiffness(youngs_modulus, poisson_ratio, pitch, thickness)
    edof = _dofs(nx, ny)
    fixed = np.unique(edof[support.ravel()])
    f = np.zeros(2 * (nx + 1) * (ny + 1))
    pad_cells = np.flatnonzero(pad.ravel())
    np.add.at(f, edof[pad_cells][:, 1::2].ravel(), -force / (4 * len(pad_cells)))
    xp, _, c, it, change, compliance = _optimise(
        domain, keep_in, ke, f, fixed, cells, penal, rmin_cells, filter, move, max_iterations, tolerance
    )
    density = xp.reshape(nx, ny)
    design = threshold(density, domain, keep_in, cells)
    inner = (density > 0.1) & (density < 0.9) & domain
    return SimpResult(
        density, design, c, compliance(design), it, change, float(inner.sum() / domain.sum()), filter, penal,
        rmin_cells,
    )  # fmt: skip


def mbb_88(
    nelx: int = 60,
    nely: int = 20,
    volfrac: float = 0.5,
    penal: float = 3.0,
    rmin: float = PUBLISHED_MBB_RMIN,
    filter: str = "sensitivity",
    max_iterations: int = 1000,
) -> SimpResult:
    """top88(nelx, nely, volfrac, penal, rmin, ft) on its own problem: the half MBB beam, symmetry (x held) along
    the left edge, a roller (y held) under the bottom right corner, a unit load down at the top left corner; unit
    square elements, E0 = 1, nu = 0.3, move 0.2, stop when no design variable changes by more than 0.01.
    ``compliance`` is the figure top88 prints at its last iteration; ``design`` thresholds at volfrac."""
    domain = np.ones((nelx, nely), dtype=bool)
    node = np.arange((nelx + 1) * (nely + 1)).reshape(nelx + 1, nely + 1)  # node (i, j) at x = i, y = j
    fixed = np.union1d(2 * node[0, :], [2 * node[nelx, 0] + 1])
    f = np.zeros(2 * (nelx + 1) * (nely + 1))
    f[2 * node[0, nely] + 1] = -1.0
    ke = q4_stiffness(1.0, 0.3, 1.0, 1.0)
    cells = volfrac * nelx * nely
    xp, _, c, it, change, compliance = _optimise(
        domain, domain & False, ke, f, fixed, cells, penal, rmin, filter, 0.2, max_iterations, 0.01
    )
    density = xp.reshape(nelx, nely)
    design = threshold(density, domain, domain & False, int(round(cells)))
    inner = (density > 0.1) & (density < 0.9)
    return SimpResult(
        density, design, c, compliance(design), it, change, float(inner.mean()), filter, penal, rmin
    )


def threshold(density: np.ndarray, domain: np.ndarray, keep_in: np.ndarray, cells: int) -> np.ndarray:
    """The ``cells`` densest domain cells (keep-in cells first), ties by cell index."""
    score = np.where(domain, density, -np.inf)
    score = np.where(keep_in & domain, np.inf, score)
    order = np.argsort(-score.ravel(), kind="stable")[:cells]
    out = np.zeros(density.size, dtype=bool)
    out[order] = True
    return out.reshape(density.shape) & domain
