"""SIMP topology optimization, the reference for issue 6 problem 2 (benchmarks only, never imported by fab/).

A standard 2D plane-stress compliance minimisation (Bendsoe & Sigmund; Andreassen et al. 2011, "Efficient
topology optimization in MATLAB using 88 lines of code"): bilinear Q4 elements on the cell grid, modified SIMP
interpolation E = Emin + x^p (E0 - Emin), a density filter of radius ``rmin`` (mm, linear cone weights), and the
optimality-criteria update with a move limit. Keep-in cells are held solid and keep-out cells void throughout;
the volume constraint counts the design domain only. The result is thresholded to a 0/1 design of exactly the
requested number of cells (keep-in cells always in), so it can be compared cell for cell with a grown design.

Node (i, j) sits at (i p, j p); cell (i, j) spans [i p, (i + 1) p] x [j p, (j + 1) p], nodes counter-clockwise
from its lower-left corner. Lengths mm, forces N, E in N/mm^2: the compliance comes out in N mm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve


@dataclass(frozen=True)
class SimpResult:
    density: np.ndarray  # (nx, ny) filtered physical densities in [0, 1]
    design: np.ndarray  # (nx, ny) bool, thresholded to the requested cell count
    compliance: float  # N mm of the grey design (SIMP model)
    design_compliance: float  # N mm of the 0/1 design (same FE model, void cells at Emin)
    iterations: int
    change: float  # largest density change of the last iteration
    grey: float  # share of domain cells with 0.1 < x < 0.9 at the end


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
    """Density filter weights H (cone of radius ``rmin_cells``) and their row sums."""
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
    move: float = 0.2,
    max_iterations: int = 300,
    tolerance: float = 0.005,
) -> SimpResult:
    """Minimise the compliance of the cell grid ``domain`` (nx, ny) at ``cells`` solid cells.

    ``support`` cells have every node held; ``force`` N acts in -y, shared evenly by the ``pad`` cells and
    equally by each one's four nodes. ``rmin`` (mm) defaults to 2 pitches.
    """
    nx, ny = domain.shape
    domain = domain.astype(bool)
    keep_in = keep_in.astype(bool) & domain
    void = ~domain
    rmin_cells = (rmin if rmin is not None else 2.0 * pitch) / pitch
    ke = q4_stiffness(youngs_modulus, poisson_ratio, pitch, thickness)
    edof = _dofs(nx, ny)
    ndof = 2 * (nx + 1) * (ny + 1)
    rows = np.repeat(edof, 8, axis=1).ravel()
    cols = np.tile(edof, (1, 8)).ravel()
    fixed = np.unique(edof[support.ravel()])
    free = np.setdiff1d(np.arange(ndof), fixed)
    f = np.zeros(ndof)
    pad_cells = np.flatnonzero(pad.ravel())
    np.add.at(f, edof[pad_cells][:, 1::2].ravel(), -force / (4 * len(pad_cells)))
    h, hs = _filter(nx, ny, rmin_cells)
    emin = 1e-9 * youngs_modulus
    vf = cells / float(domain.sum())
    dom = domain.ravel()

    def physical(x: np.ndarray) -> np.ndarray:
        xp = (h @ x) / hs
        xp[keep_in.ravel()] = 1.0
        xp[void.ravel()] = 0.0
        return xp

    def solve(xp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        e = emin + xp**penal * (youngs_modulus - emin) / youngs_modulus
        k = sp.csr_matrix(((ke.ravel()[None, :] * e[:, None]).ravel(), (rows, cols)), shape=(ndof, ndof))
        u = np.zeros(ndof)
        u[free] = spsolve(k[free][:, free].tocsc(), f[free])
        ce = np.einsum("ij,jk,ik->i", u[edof], ke, u[edof])
        return u, ce

    x = np.where(dom, vf, 0.0)
    x[keep_in.ravel()] = 1.0
    xp = physical(x)
    change, it, c = 1.0, 0, np.inf
    while change > tolerance and it < max_iterations:
        it += 1
        u, ce = solve(xp)
        c = float(f @ u)
        dc = -penal * xp ** (penal - 1) * (youngs_modulus - emin) / youngs_modulus * ce
        dv = np.ones(nx * ny)
        # Chain rule through the density filter.
        dc = np.asarray(h.T @ (dc / hs)).ravel()
        dv = np.asarray(h.T @ (dv / hs)).ravel()
        lo, hi = 0.0, 1e9
        while hi - lo > 1e-4 * (hi + lo) and hi > 1e-30:
            mid = 0.5 * (lo + hi)
            cand = np.clip(
                x * np.sqrt(np.maximum(-dc, 0) / dv / mid), np.maximum(0, x - move), np.minimum(1, x + move)
            )
            cand[~dom] = 0.0
            if physical(cand)[dom].sum() > vf * dom.sum():
                lo = mid
            else:
                hi = mid
        change = float(np.abs(cand - x).max())
        x = cand
        xp = physical(x)
    density = xp.reshape(nx, ny)
    design = threshold(density, domain, keep_in, cells)
    u, _ = solve(design.ravel().astype(float))
    inner = (density > 0.1) & (density < 0.9) & domain
    return SimpResult(density, design, c, float(f @ u), it, change, float(inner.sum() / domain.sum()))


def threshold(density: np.ndarray, domain: np.ndarray, keep_in: np.ndarray, cells: int) -> np.ndarray:
    """The ``cells`` densest domain cells (keep-in cells first), ties by cell index."""
    score = np.where(domain, density, -np.inf)
    score = np.where(keep_in & domain, np.inf, score)
    order = np.argsort(-score.ravel(), kind="stable")[:cells]
    out = np.zeros(density.size, dtype=bool)
    out[order] = True
    return out.reshape(density.shape) & domain
