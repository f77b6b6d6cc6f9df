"""Problem 2: a plane-stress bracket grown by local rules driven by the particle engine's strain energy.

Domain: a ``width`` x ``height`` mm plate on a square grid of ``pitch`` mm cells, ``thickness`` mm thick.
Keep-in: the bolt side (a band ``support_depth`` mm deep along x = 0, held fixed) and the load pad (a
``pad_depth`` x ``pad_height`` mm block at the right edge, centred at ``load_y``, carrying ``force`` N
downwards). Keep-out: an optional circular ``hole``. The design is an occupancy grid of that domain.

Developmental program (the genome is the rule parameters, never the shape): soft-kill remodelling, after
Huiskes' bone remodelling rule. Every cell of the domain carries a tissue density rho in [RHO_MIN, 1], all
starting equal (the target volume spread evenly; keep-in cells 1). For ``steps`` steps:

1. the tissue spreads its stiffness over a Gaussian neighbourhood of ``radius`` pitches (the density the
   engine sees, so no cell stands alone), and the particle engine (PMB, plane stress, no fracture, warm-started)
   relaxes the whole domain with each bond (rho_i rho_j) ** (penal / 2) as stiff; the exponent rises from 1 to
   ``penal`` over the first ``ramp`` share of the steps;
2. each cell's stimulus is Huiskes' strain energy density per unit density, SED / rho, gathered back over the
   same neighbourhood, times a seeded log-normal noise of amplitude ``noise`` (symmetry breaking), blended
   with the previous step's by ``history``;
3. d rho = rho ((S / k) ** ``damping`` - 1), clipped to +-``rate``: tissue grows where the stimulus beats the
   set point k and resorbs where it falls short. k is one global number, the set point at which the tissue
   in all stays at the target (a shared resource); the rule itself is local.

The result is the spread density's ``target`` densest cells (keep-in first), pruned of features under
2 cells wide and of material cut off from the support, refilled next to material: a 0/1 design. Then
``shape_steps`` steps of surface growth after Mattheck's CAO (``surface_growth``): the 0/1 design is solved
with the LPS engine and the least stressed (von Mises) surface cells move next to the most stressed ones,
the count unchanged, which takes the stress peaks out of the joints (remodelling sees stiffness, not
strength). The final design is solved with the LPS engine (no fracture, tolerance / 5): the score is its
compliance / the full domain's times (its peak bond stretch / the full domain's) ** ``strength_weight``:
stiff and strong, since the peak stretch is where the ``fab.stress`` failure test breaks the first bond.
Guards: pad not connected to the support (``detached_mass``), features thinner than 2 pitches
(``thinner_than_pitch``, over 2 % of the cells), material outside the domain. Lengths here in mm, the
particle engine is fed SI.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from fab.materials import Material
from fab.morph import guards as G
from fab.morph.program import Evaluation

MM = 1e-3
# (name, low, high): genes map linearly from [0, 1].
GENES = (
    ("radius", 0.3, 1.5),  # Gaussian spread of the tissue's stiffness, (coarse) pitches
    ("rate", 0.05, 0.3),  # largest density change per step
    ("damping", 0.3, 1.0),  # response exponent: rho *= (S / k) ** damping
    ("penal", 3.0, 8.0),  # final exponent: a bond is (rho_i rho_j) ** (penal / 2) as stiff
    ("ramp", 0.2, 0.8),  # share of the steps over which the exponent rises from 1 to penal
    ("history", 0.0, 0.6),  # weight of the previous step's stimulus
    ("noise", 0.0, 0.15),  # log-normal symmetry-breaking noise amplitude
    ("shape_steps", 0.0, 8.49),  # surface-growth steps after remodelling (rounded to a whole number)
    ("shape_share", 0.01, 0.08),  # share of the movable surface cells moved per surface-growth step
)
THIN_LIMIT = 0.02  # share of cells under 2 pitches wide that the guard tolerates
COLLAPSED = 20.0  # a design this many times as compliant as the full domain has lost its load path
RHO_MIN = 1e-2  # the least tissue density: stiffness RHO_MIN ** penal keeps the graded solve well posed
# The full domain's (compliance, peak stretch) per (problem, pitch): the score's yardsticks.
_FULL: dict[tuple[str, bool], tuple[float, float]] = {}
# The last design snapshot() developed: {"key": (problem, genome), "dev": Development}.
_SNAPSHOT: dict[str, object] = {}


@dataclass(frozen=True)
class Layout:
    """The cell grid of one pitch: masks are (nx, ny) bool, cell (i, j) centred at ((i+.5)p, (j+.5)p)."""

    pitch: float
    domain: np.ndarray  # cells that may hold material (keep-out removed)
    support: np.ndarray  # held cells (bolt side), keep-in
    pad: np.ndarray  # loaded cells, keep-in
    target: int  # cells at the target volume fraction

    @property
    def keep_in(self) -> np.ndarray:
        return self.support | self.pad


@dataclass(frozen=True)
class Solution:
    compliance: float  # N mm (= mJ): F . u at the pad
    sed: np.ndarray  # (nx, ny) J/m^3, zero on empty cells
    u: np.ndarray  # (nx, ny, 3) m, for warm starts
    steps: int
    stretch: np.ndarray | None  # (nx, ny) largest bond stretch per cell, zero on empty cells (LPS solves)
    von_mises: np.ndarray | None  # (nx, ny) Pa, zero on empty cells (LPS solves)


@dataclass(frozen=True)
class Development:
    occupancy: np.ndarray
    compliance: float  # N mm, re-solved at the tighter tolerance
    full_compliance: float  # N mm, the full domain (first stage)
    stage: int  # which step produced it (-1: none reached the target connected)
    history: tuple[float, ...]  # compliance per step
    # largest bond stretch at the service load (where a brittle part breaks first)
    peak_stretch: float = math.inf
    full_peak_stretch: float = math.inf  # the same for the full domain
    remodelled_compliance: float = math.inf  # N mm, the 0/1 design before surface growth
    remodelled_peak_stretch: float = math.inf


@dataclass(frozen=True)
class BracketProblem:
    """Settings of the bracket search (mm, N, SI material); see docs/morphogenesis.md for each key."""

    width: float = 60.0
    height: float = 30.0
    thickness: float = 5.0
    pitch: float = 1.5
    fine_pitch: float = 1.0
    force: float = 100.0
    volume_fraction: float = 0.4
    support_depth: float = 3.0
    pad_depth: float = 3.0
    pad_height: float = 6.0
    load_y: float = 15.0
    hole: tuple[float, ...] = (30.0, 15.0, 4.0)  # (cx, cy, r) mm, or () for none
    material: Material | None = None
    steps: int = 30
    relax_steps: int = 20000
    relax_tolerance: float = 1e-3
    noise_seed: int = 0
    strength_weight: float = 1.0  # exponent of the peak-stretch factor in the score (0: compliance alone)
    name: str = "bracket"

    @property
    def gene_names(self) -> tuple[str, ...]:
        return tuple(g[0] for g in GENES)

    @property
    def dimension(self) -> int:
        return len(GENES)

    def __repr__(self) -> str:  # what a checkpoint's fingerprint hashes: every setting, stable
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__dataclass_fields__)
        return f"BracketProblem({fields})"

    def layout(self, fine: bool = False) -> Layout:
        p = self.fine_pitch if fine else self.pitch
        nx, ny = max(round(self.width / p), 4), max(round(self.height / p), 4)
        x = (np.arange(nx) + 0.5) * p
        y = (np.arange(ny) + 0.5) * p
        xx, yy = np.meshgrid(x, y, indexing="ij")
        domain = np.ones((nx, ny), dtype=bool)
        if self.hole:
            cx, cy, r = self.hole
            domain &= np.hypot(xx - cx, yy - cy) > r
        support = domain & (xx < self.support_depth)
        pad = domain & (xx > self.width - self.pad_depth) & (np.abs(yy - self.load_y) < self.pad_height / 2)
        target = max(round(self.volume_fraction * int(domain.sum())), int((support | pad).sum()))
        return Layout(p, domain, support, pad, target)

    def connectable(self) -> bool:
        """Whether the domain joins the pad to the support at both pitches (else no design can)."""
        for fine in (False, True):
            lay = self.layout(fine)
            if not (lay.pad.any() and lay.support.any() and _connected(lay.domain, lay)):
                return False
        return True

    # ---- physics ------------------------------------------------------------------------------------
    def solve(
        self,
        occ: np.ndarray,
        layout: Layout,
        tolerance: float,
        warm: np.ndarray | None = None,
        max_steps: int | None = None,
    ) -> Solution:
        """Relax ``occ`` under the pad force (LPS, plane stress, no fracture): compliance and SED field."""
        from physics import PhysicsError, make_law

        mat = self.material
        law = make_law(
            "lps", youngs_modulus=mat.youngs_modulus, poisson_ratio=mat.poisson_ratio, plane="stress"
        )
        try:
            return self._relaxed(occ, layout, law, warm, max_steps or self.relax_steps, tolerance)
        except PhysicsError:
            if warm is None:
                raise
            # A warm start far from the new design's equilibrium can upset the relaxation: start cold.
            return self.solve(occ, layout, tolerance, None, max_steps)

    def remodel_solve(
        self, rho: np.ndarray, lay: Layout, penal: float, warm: np.ndarray | None
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """Relax the graded domain (PMB, bond stiffness from its ends' ``rho ** penal``): compliance N mm,
        SED (nx, ny) J/m^3 and the displacements (nx, ny, 3) m for the next warm start."""
        from physics import make_law

        occ = lay.domain
        law = make_law(
            "pmb",
            youngs_modulus=self.material.youngs_modulus,
            plane="stress",
            stiffness_scale=rho[occ] ** (penal / 2),
        )
        # Remodelling reads SED only: no stress fields on this hot path (60 solves a development).
        sol = self._relaxed(occ, lay, law, warm, self.relax_steps, self.relax_tolerance, stress_fields=False)
        return sol.compliance, sol.sed, sol.u

    def _relaxed(
        self,
        occ: np.ndarray,
        lay: Layout,
        law,
        warm: np.ndarray | None,
        max_steps: int,
        tolerance: float,
        stress_fields: bool = True,
    ) -> Solution:
        """Relax ``occ`` under ``law``, held at the support band, the pad force on the pad; fields on the grid
        (bond stretch and von Mises only with ``stress_fields``)."""
        from physics import Body, Fixed, Force, Simulation

        body = Body.from_occupancy(occ, lay.pitch * MM, self.material.density, thickness=self.thickness * MM)
        ij = np.argwhere(occ)  # the lattice numbers particles in C order of the filled cells
        body.point_set("support", lay.support[occ])
        body.point_set("pad", lay.pad[occ])
        sim = Simulation(body, law, [Fixed("support"), Force("pad", (0.0, -self.force, 0.0))])
        if warm is not None:
            sim.u[:] = warm[ij[:, 0], ij[:, 1]]
        res = sim.relax(max_steps=max_steps, tolerance=tolerance)
        u = np.zeros((*occ.shape, 3))
        u[ij[:, 0], ij[:, 1]] = sim.u
        sed = np.zeros(occ.shape)
        sed[ij[:, 0], ij[:, 1]] = sim.strain_energy_density()
        stretch = von_mises = None
        if stress_fields:
            stretch = np.zeros(occ.shape)
            stretch[ij[:, 0], ij[:, 1]] = sim.max_bond_stretch()
            von_mises = np.zeros(occ.shape)
            von_mises[ij[:, 0], ij[:, 1]] = sim.von_mises()
        uy = float(sim.u[lay.pad[occ], 1].mean())
        return Solution(-self.force * uy / MM, sed, u, int(res.steps), stretch, von_mises)

    def grow(self, genome: np.ndarray, fine: bool = False) -> tuple[np.ndarray, tuple[float, ...]]:
        """The remodelling program of ``genome`` (module docstring): the final spread tissue density (nx, ny)
        and the graded design's compliance (N mm) at each step; it stops early when the tissue loses its load
        path (compliance over COLLAPSED x the full domain's)."""
        g = decode(genome)
        lay = self.layout(fine)
        rng = np.random.default_rng(self.noise_seed)
        dom = lay.domain
        vol = float(lay.target)
        rho = np.zeros(dom.shape)
        free = dom & ~lay.keep_in
        rho[lay.keep_in] = 1.0
        rho[free] = max((vol - lay.keep_in.sum()) / max(free.sum(), 1), RHO_MIN)
        sigma = g["radius"] * (self.pitch / lay.pitch)  # the same length in mm at either pitch
        norm = np.maximum(ndimage.gaussian_filter(dom.astype(float), sigma, mode="constant"), 1e-12)

        def spread(x: np.ndarray) -> np.ndarray:
            """Tissue stiffens its neighbourhood: the density the engine sees is the Gaussian mean around a cell."""
            out = ndimage.gaussian_filter(np.where(dom, x, 0.0), sigma, mode="constant") / norm
            return np.where(lay.keep_in, 1.0, np.clip(np.where(dom, out, 0.0), RHO_MIN, 1.0))

        ramp = max(1, round(g["ramp"] * self.steps))
        full = self.full_domain(fine)[0]
        previous: np.ndarray | None = None
        warm: np.ndarray | None = None
        history: list[float] = []
        for step in range(self.steps):
            penal = 1.0 + (g["penal"] - 1.0) * min(1.0, (step + 1) / ramp)
            seen = spread(rho)
            compliance, sed, warm = self.remodel_solve(seen, lay, penal, warm)
            history.append(compliance)
            if compliance > COLLAPSED * full:
                # The tissue has lost its load path; near a mechanism every further solve runs to its step limit.
                break
            # Huiskes' stimulus SED / rho, gathered back over the same neighbourhood it was spread from.
            stim = ndimage.gaussian_filter(np.where(dom, sed / seen, 0.0) / norm, sigma, mode="constant")
            if g["noise"] > 0:
                stim = stim * np.exp(g["noise"] * rng.standard_normal(stim.shape))
            if previous is not None:
                stim = (1.0 - g["history"]) * stim + g["history"] * previous
            previous = stim
            rho = remodel(rho, stim, free, vol - float(lay.keep_in.sum()), g["rate"], g["damping"])
        rho = spread(rho)
        return rho, tuple(history)

    def develop(self, genome: np.ndarray, fine: bool = False) -> Development:
        """Grow the density field of ``genome``, keep its densest ``target`` cells (0/1), grow its surface
        where it is most stressed (``shape_steps`` steps) and solve the result."""
        g = decode(genome)
        lay = self.layout(fine)
        rho, history = self.grow(genome, fine)
        occ = solid_design(rho, lay)
        full, full_peak = self.full_domain(fine)
        if not _connected(occ, lay):
            return Development(occ, math.inf, full, -1, history, full_peak_stretch=full_peak)
        tolerance, steps = self.relax_tolerance / 5, 2 * self.relax_steps
        sol = self.solve(occ, lay, tolerance, None, steps)
        first = sol
        # A design with no load path is not reshaped (and near a mechanism its solves run to their limits).
        shape_steps = 0 if sol.compliance > COLLAPSED * full else round(g["shape_steps"])
        # The same area moved per step at either pitch: a finer grid has more, smaller surface cells.
        share = min(1.0, g["shape_share"] * self.pitch / lay.pitch)
        for _ in range(shape_steps):
            occ = surface_growth(occ, sol.von_mises, lay, share)
            sol = self.solve(occ, lay, tolerance, sol.u, steps)
        return Development(
            occ,
            sol.compliance,
            full,
            self.steps,
            history,
            float(sol.stretch.max()),
            full_peak,
            first.compliance,
            float(first.stretch.max()),
        )

    def full_domain(self, fine: bool = False) -> tuple[float, float]:
        """Compliance (N mm) and peak bond stretch of the whole domain, the score's yardsticks (solved once
        per process)."""
        key = (repr(self), fine)
        if key not in _FULL:
            lay = self.layout(fine)
            sol = self.solve(lay.domain, lay, self.relax_tolerance / 5, None, 5 * self.relax_steps)
            _FULL[key] = (sol.compliance, float(sol.stretch.max()))
        return _FULL[key]

    def first_break_load(self, peak_stretch: float, pitch: float) -> float:
        """Linear estimate of the load (N) at which the first bond breaks in the ``fab.stress`` failure test:
        the service force times the critical stretch over the peak stretch at the service load."""
        from fab.job import DEFAULT_HORIZON
        from fab.model import critical_stretch

        s0 = critical_stretch(self.material, "lps", 2, DEFAULT_HORIZON, pitch * MM)
        return self.force * s0 / peak_stretch if peak_stretch > 0 else math.inf

    def evaluate(self, genome: np.ndarray, fine: bool = False) -> Evaluation:
        from physics import PhysicsError

        try:
            dev = self.develop(genome, fine)
        except PhysicsError as exc:  # a design the engine cannot bring to equilibrium ranks last
            return Evaluation(100.0, {}, (G.FRAGMENTS,), {"solve_error": str(exc)[:200]})
        return self.evaluate_design(dev, fine)

    def evaluate_design(self, dev: Development, fine: bool = False) -> Evaluation:
        lay = self.layout(fine)
        occ = dev.occupancy
        caught = []
        if not _connected(occ, lay) or dev.stage < 0:
            caught.append(G.DETACHED)
        if G.thin_fraction(occ | lay.keep_in) > THIN_LIMIT:
            caught.append(G.THIN)
        if G.outside_fraction(occ, lay.domain) > 0:
            caught.append(G.OUT_OF_DOMAIN)
        vf = float(occ.sum()) / float(lay.domain.sum())
        metrics = {
            "compliance_nmm": dev.compliance,
            "full_domain_compliance_nmm": dev.full_compliance,
            "peak_stretch": dev.peak_stretch,
            "full_domain_peak_stretch": dev.full_peak_stretch,
            "first_break_load_n": self.first_break_load(dev.peak_stretch, lay.pitch),
            "remodelled_compliance_nmm": dev.remodelled_compliance,
            "remodelled_peak_stretch": dev.remodelled_peak_stretch,
            "volume_fraction": vf,
            "stage": dev.stage,
            "thin_fraction": G.thin_fraction(occ),
            "cells": int(occ.sum()),
        }
        if dev.stage < 0 or not math.isfinite(dev.compliance):
            return Evaluation(100.0, {}, tuple(caught), metrics)
        # Stiff and strong: compliance and peak stretch, each relative to the full domain's.
        score = (dev.compliance / dev.full_compliance) * (
            dev.peak_stretch / dev.full_peak_stretch
        ) ** self.strength_weight
        objectives = {"compliance_nmm": dev.compliance, "peak_stretch": dev.peak_stretch}
        return Evaluation(float(score), objectives, tuple(caught), metrics)

    def snapshot(self, genome: np.ndarray, path: Path, title: str = "") -> None:
        # The best often stands for many generations: develop it once (a development takes seconds).
        key = (repr(self), np.asarray(genome, dtype=float).tobytes())
        if _SNAPSHOT.get("key") != key:
            _SNAPSHOT.update(key=key, dev=self.develop(genome))
        dev = _SNAPSHOT["dev"]
        bracket_png(
            self, dev.occupancy, self.layout(), path, f"{title}: compliance {dev.compliance:.4g} N mm"
        )

    def loaded_snapshot(self, genome: np.ndarray, path: Path, title: str = "") -> None:
        """The developed design under its service load (``fab.stress`` static test, 2D): a PNG of the deformed
        part coloured by von Mises stress (the live view's "picture under load")."""
        key = (repr(self), np.asarray(genome, dtype=float).tobytes())
        if _SNAPSHOT.get("key") != key:
            _SNAPSHOT.update(key=key, dev=self.develop(genome))
        report = failure_test(self, _SNAPSHOT["dev"].occupancy, self.layout().pitch, kind="static")
        report.save_png(path)


def decode(genome: np.ndarray) -> dict[str, float]:
    """Rule parameters from a genome in [0, 1]^len(GENES) (clipped)."""
    x = np.clip(np.asarray(genome, dtype=float), 0.0, 1.0)
    if x.shape != (len(GENES),):
        raise ValueError(f"a bracket genome has {len(GENES)} genes, got shape {x.shape}")
    return {name: lo + (hi - lo) * float(v) for (name, lo, hi), v in zip(GENES, x, strict=True)}


def surface_growth(occ: np.ndarray, stress: np.ndarray, lay: Layout, share: float) -> np.ndarray:
    """One step of surface growth, after Mattheck's biological growth (CAO): a tree lays wood where its surface
    is most stressed and none where it is least, until the surface stress is even, which takes the stress
    peaks out of notches. Here the ``share`` of the movable surface cells (solid, not keep-in, touching empty
    space) with the least von Mises stress are given up, each only if the design stays 2 cells wide and
    attached and the cell is simple (its solid neighbours form one piece, so no member is cut or necked), and
    as many empty domain cells next to the most stressed surface cells are filled: the cell count stays.
    ``stress`` is the von Mises stress per cell (Solution.von_mises; tension and compression members alike)."""
    free_neighbours = ndimage.convolve((~occ).astype(int), _CROSS, mode="constant", cval=1)
    surface = occ & (free_neighbours > 0) & ~lay.keep_in
    k = max(1, round(share * int(surface.sum())))
    out = occ.copy()
    cells = np.argwhere(surface)
    removed = 0
    for n in np.argsort(stress[surface], kind="stable"):
        if removed >= k:
            break
        i, j = cells[n]
        if not _simple(out, i, j):
            continue
        out[i, j] = False
        if np.array_equal(_prune(out, lay), out):
            removed += 1
        else:
            out[i, j] = True
    # An empty cell's pull: the largest stress among its solid face neighbours.
    pull = ndimage.maximum_filter(np.where(out, stress, 0.0), footprint=_CROSS > 0, mode="constant")
    solid_neighbours = ndimage.convolve(out.astype(int), _CROSS, mode="constant")
    out |= _top(~out & ~occ & lay.domain & (solid_neighbours >= 1), pull, removed)
    out = _prune(out, lay)
    deficit = int(occ.sum()) - int(out.sum())
    if deficit > 0:  # filled cells the pruning took back: refill next to material, most pulled first
        solid_neighbours = ndimage.convolve(out.astype(int), _CROSS, mode="constant")
        out |= _top(~out & lay.domain & (solid_neighbours >= 2), pull, deficit)
    return out


def _simple(occ: np.ndarray, i: int, j: int) -> bool:
    """Whether solid cell (i, j) can go without changing the design's topology locally: its solid neighbours
    (8 around, outside the grid empty) form one face-connected piece within the 3 x 3 block."""
    block = np.zeros((3, 3), dtype=bool)
    nx, ny = occ.shape
    i0, i1, j0, j1 = max(i - 1, 0), min(i + 2, nx), max(j - 1, 0), min(j + 2, ny)
    block[i0 - i + 1 : i1 - i + 1, j0 - j + 1 : j1 - j + 1] = occ[i0:i1, j0:j1]
    block[1, 1] = False
    return ndimage.label(block)[1] == 1


def _connected(occ: np.ndarray, lay: Layout) -> bool:
    """Whether every pad cell lies in a component (face neighbours) that holds support cells."""
    labels, _ = ndimage.label(occ)
    held = np.unique(labels[occ & lay.support])
    held = held[held > 0]
    return bool(np.isin(labels[lay.pad], held).all()) and bool(held.size)


def _top(mask: np.ndarray, stim: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` cells of ``mask`` with the highest stimulus (ties by cell index: deterministic)."""
    idx = np.flatnonzero(mask)
    out = np.zeros(mask.shape, dtype=bool)
    if k <= 0 or idx.size == 0:
        return out
    order = np.argsort(-stim.ravel()[idx], kind="stable")[:k]
    out.ravel()[idx[order]] = True
    return out


def remodel(
    rho: np.ndarray,
    stim: np.ndarray,
    free: np.ndarray,
    tissue: float,
    rate: float,
    damping: float,
    rho_min: float = RHO_MIN,
) -> np.ndarray:
    """One remodelling step of the ``free`` cells: rho (S / k) ** damping, clipped to +-``rate`` and to
    [``rho_min``, 1], with the set point k bisected (in log) so the free cells hold ``tissue`` in all."""
    r, s = rho[free], np.maximum(stim[free], 1e-300)
    lo_r, hi_r = np.maximum(rho_min, r - rate), np.minimum(1.0, r + rate)
    logs = np.log(s)
    lo, hi = float(logs.min()) - 50.0, float(logs.max()) + 50.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        cand = np.clip(r * np.exp(damping * (logs - mid)), lo_r, hi_r)
        if cand.sum() > tissue:
            lo = mid
        else:
            hi = mid
    out = rho.copy()
    out[free] = np.clip(r * np.exp(damping * (logs - hi)), lo_r, hi_r)
    return out


def solid_design(rho: np.ndarray, lay: Layout) -> np.ndarray:
    """The 0/1 design of a density field: its ``target`` densest cells (keep-in first), pruned of features
    under 2 cells wide and of material cut off from the support, the deficit refilled with the densest empty
    cells that touch 2 or more solid ones (so it holds exactly ``target`` cells when it can). When that cuts
    the pad off, the densest path from the pad to the support (2 cells wide) is kept first and it is redone."""
    forced = lay.keep_in.copy()
    chosen = forced
    for _ in range(3):
        chosen = _solid(rho, lay, forced)
        if _connected(chosen, lay):
            break
        forced = forced | _spine(rho, lay)
    return chosen


def _solid(rho: np.ndarray, lay: Layout, forced: np.ndarray) -> np.ndarray:
    score = np.where(forced & lay.domain, np.inf, np.where(lay.domain, rho, -np.inf))
    chosen = _top(lay.domain, score, lay.target)
    for _ in range(4):
        chosen = _prune(chosen | forced, lay)
        deficit = lay.target - int(chosen.sum())
        if deficit <= 0:
            break
        n = ndimage.convolve(chosen.astype(int), _CROSS, mode="constant")
        chosen |= _top(~chosen & lay.domain & (n >= 2), score, deficit)
    return chosen


def _spine(rho: np.ndarray, lay: Layout) -> np.ndarray:
    """The densest face-connected path through the domain from the pad to the support (entering a cell costs
    1.001 - rho), widened to 2 cells; empty when the domain does not join them."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra

    nx, ny = rho.shape
    idx = np.arange(nx * ny).reshape(nx, ny)
    cost = (1.001 - np.clip(rho, 0.0, 1.0)).ravel()
    rows, cols = [], []
    for a, b in ((idx[:-1], idx[1:]), (idx[:, :-1], idx[:, 1:])):
        ok = (lay.domain.ravel()[a.ravel()]) & (lay.domain.ravel()[b.ravel()])
        rows += [a.ravel()[ok], b.ravel()[ok]]
        cols += [b.ravel()[ok], a.ravel()[ok]]
    r, c = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((cost[c], (r, c)), shape=(nx * ny,) * 2).tocsr()
    dist, pred, _ = dijkstra(
        graph, indices=np.flatnonzero(lay.pad.ravel()), min_only=True, return_predecessors=True
    )
    held = np.flatnonzero(lay.support.ravel())
    out = np.zeros(nx * ny, dtype=bool)
    if not np.isfinite(dist[held]).any():
        return out.reshape(nx, ny)
    node = int(held[np.argmin(dist[held])])
    while node >= 0:
        out[node] = True
        node = int(pred[node])
    path = ndimage.binary_dilation(out.reshape(nx, ny), structure=np.ones((2, 2), dtype=bool))
    return path & lay.domain


_CROSS = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]])


def _held(occ: np.ndarray, lay: Layout) -> np.ndarray:
    """``occ`` without the material cut off from the support (keep-in cells always stay)."""
    labels, _ = ndimage.label(occ)
    held = np.unique(labels[occ & lay.support])
    return np.isin(labels, held[held > 0]) | lay.keep_in


def _prune(occ: np.ndarray, lay: Layout) -> np.ndarray:
    """Thin features (a 2 x 2 opening removes them) and material cut off from the support die."""
    opened = ndimage.binary_opening(occ, structure=np.ones((2, 2), dtype=bool))
    return _held((opened | lay.keep_in) & lay.domain, lay)


# ---- output: figure, failure test ----------------------------------------------------------------------
def bracket_png(problem: BracketProblem, occ: np.ndarray, lay: Layout, path: Path, title: str = "") -> None:
    """The design (grey), support (blue), pad (red) and keep-out hole outline, mm."""
    from fab.morph.plots import _save, plt

    img = np.where(occ, 1.0, 0.0)
    img = np.where(lay.support, 2.0, img)
    img = np.where(lay.pad, 3.0, img)
    from matplotlib.colors import ListedColormap

    fig, ax = plt.subplots(figsize=(6, 3.4))
    cmap = ListedColormap(["white", "0.35", "tab:blue", "tab:red"])
    ax.imshow(
        img.T,
        origin="lower",
        cmap=cmap,
        vmin=0,
        vmax=3,
        extent=(0, img.shape[0] * lay.pitch, 0, img.shape[1] * lay.pitch),
    )
    if problem.hole:
        cx, cy, r = problem.hole
        t = np.linspace(0, 2 * math.pi, 100)
        ax.plot(cx + r * np.cos(t), cy + r * np.sin(t), "k:", lw=1)
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("y (mm)")
    ax.set_title(title, fontsize=9)
    ax.set_aspect("equal")
    _save(fig, path)


def design_grid(problem: BracketProblem, occ: np.ndarray, pitch: float):
    """The 2D design extruded by the thickness (cubic voxels of ``pitch``, at least one layer)."""
    from fab.voxels import VoxelGrid

    layers = max(1, round(problem.thickness / pitch))
    return VoxelGrid(np.repeat(occ[:, :, None], layers, axis=2), pitch, (pitch / 2, pitch / 2, pitch / 2))


def failure_test(
    problem: BracketProblem, occ: np.ndarray, pitch: float, max_factor: float = 1000.0, kind: str = "failure"
):
    """``fab.stress`` failure test of a design (2D, the job's thickness): the StressReport (``kind="static"``:
    the service load only)."""
    from fab.job import Fix, Job, Load, PartSpec, PhysicsSpec, TestSpec, VoxelSpec
    from fab.stress import run_test
    from fab.voxels import VoxelGrid

    grid = VoxelGrid(occ[:, :, None], pitch, (pitch / 2, pitch / 2, pitch / 2))
    y0, y1 = problem.load_y - problem.pad_height / 2, problem.load_y + problem.pad_height / 2
    x0 = problem.width - problem.pad_depth
    job = Job(
        part=PartSpec(source=Path("<bracket>")),
        voxels=VoxelSpec(pitch=pitch),
        material=problem.material,
        physics=PhysicsSpec(model="lps", dimension=2, thickness=problem.thickness),
        fix=(Fix(f"x < {problem.support_depth}"),),
        load=(Load(f"box({x0}, {y0}, -1e3, 1e3, {y1}, 1e3)", "force", (0.0, -problem.force, 0.0)),),
        test=TestSpec(kind=kind, max_factor=max_factor),
    )
    return run_test(grid, job)
