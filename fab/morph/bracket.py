"""Problem 2: a plane-stress bracket grown by local rules driven by the particle engine's strain energy.

Domain: a ``width`` x ``height`` mm plate on a square grid of ``pitch`` mm cells, ``thickness`` mm thick.
Keep-in: the bolt side (a band ``support_depth`` mm deep along x = 0, held fixed) and the load pad (a
``pad_depth`` x ``pad_height`` mm block at the right edge, centred at ``load_y``, carrying ``force`` N
downwards). Keep-out: an optional circular ``hole``. The design is an occupancy grid of that domain.

Developmental program (the genome is the rule parameters, never the shape), ``steps`` iterations from
the full domain:

1. relax the current design in the particle engine (LPS, no fracture) and read each particle's strain
   energy density (SED); the compliance is F . u averaged over the pad;
2. stimulus = SED ** ``exponent``, smoothed by a Gaussian of ``radius`` pitches (normalised over all
   cells, so empty cells next to strained material get a share: growth happens there), empty cells
   scaled by ``void_gain``, times a seeded log-normal noise of amplitude ``noise`` (breaks symmetric
   ties), blended with the previous step's stimulus by ``history`` (damps oscillations);
3. the volume target shrinks by ``evolution_rate`` per step down to ``volume_fraction``; the cells kept
   are the top-ranked of (current material + empty cells touching it): "grow where strained, retract
   where not", with at most ``add_ratio`` x target cells grown per step (rank-based thresholds, so the
   volume is exact);
4. cells thinner than 2 pitches (a 2 x 2 opening removes them) and material cut off from the support
   die; the deficit is refilled with the best-ranked empty cells that have 2 material neighbours.

The stiffest stage at the target volume whose pad stays connected to the support is the program's
result; it is re-solved at a tighter tolerance for the score = its compliance / the full domain's.
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
    ("radius", 0.8, 3.0),  # Gaussian smoothing of the stimulus, pitches
    ("evolution_rate", 0.03, 0.12),  # relative volume removed per step until the target
    ("add_ratio", 0.005, 0.08),  # most cells grown per step, fraction of the target volume
    ("history", 0.0, 0.7),  # weight of the previous step's stimulus
    ("exponent", 0.5, 1.5),  # stimulus = SED ** exponent
    ("noise", 0.0, 0.15),  # log-normal symmetry-breaking noise amplitude
    ("void_gain", 0.5, 1.5),  # empty cells' stimulus multiplier: readiness to grow
)
THIN_LIMIT = 0.02  # share of cells under 2 pitches wide that the guard tolerates
SETTLE_STEPS = 3  # steps guaranteed at the target volume
COLLAPSE = 1.25  # a step raising the compliance by more than this factor cut a load path: it is redone
RETRIES = 2  # redos of one step (each costs a solve, counted in ``steps``)
PROTECT = 10.0  # stimulus multiplier of cells whose removal once collapsed the design


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


@dataclass(frozen=True)
class Development:
    occupancy: np.ndarray
    compliance: float  # N mm, re-solved at the tighter tolerance
    full_compliance: float  # N mm, the full domain (first stage)
    stage: int  # which step produced it (-1: none reached the target connected)
    history: tuple[float, ...]  # compliance per step


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
        from physics import Body, Fixed, Force, PhysicsError, Simulation, make_law

        mat = self.material
        body = Body.from_occupancy(occ, layout.pitch * MM, mat.density, thickness=self.thickness * MM)
        ij = np.argwhere(occ)  # the lattice numbers particles in C order of the filled cells
        body.point_set("support", layout.support[occ])
        body.point_set("pad", layout.pad[occ])
        law = make_law(
            "lps", youngs_modulus=mat.youngs_modulus, poisson_ratio=mat.poisson_ratio, plane="stress"
        )
        sim = Simulation(body, law, [Fixed("support"), Force("pad", (0.0, -self.force, 0.0))])
        if warm is not None:
            sim.u[:] = warm[ij[:, 0], ij[:, 1]]
        try:
            res = sim.relax(max_steps=max_steps or self.relax_steps, tolerance=tolerance)
        except PhysicsError:
            if warm is None:
                raise
            # A warm start far from the new design's equilibrium can upset the relaxation: start cold.
            return self.solve(occ, layout, tolerance, None, max_steps)
        u = np.zeros((*occ.shape, 3))
        u[ij[:, 0], ij[:, 1]] = sim.u
        sed = np.zeros(occ.shape)
        sed[ij[:, 0], ij[:, 1]] = sim.strain_energy_density()
        uy = float(sim.u[layout.pad[occ], 1].mean())
        return Solution(-self.force * uy / MM, sed, u, int(res.steps))

    # ---- development ----------------------------------------------------------------------------------
    def develop(self, genome: np.ndarray, fine: bool = False) -> Development:
        """Run the growth program of ``genome``; returns the chosen stage and its compliance."""
        g = decode(genome)
        lay = self.layout(fine)
        rng = np.random.default_rng(self.noise_seed)
        occ = lay.domain.copy()
        n0 = int(occ.sum())
        # At least SETTLE_STEPS steps at the target, whatever the evolution rate.
        rate = max(
            g["evolution_rate"],
            1.0 - (lay.target / n0) ** (1.0 / max(self.steps - SETTLE_STEPS - RETRIES, 1)),
        )
        sigma = g["radius"] * (self.pitch / lay.pitch)  # the same length in mm at either pitch
        norm = ndimage.gaussian_filter(lay.domain.astype(float), sigma, mode="constant")
        add_max = max(1, round(g["add_ratio"] * lay.target))
        previous: np.ndarray | None = None  # the last accepted stage's stimulus
        last: tuple[np.ndarray, float, np.ndarray] | None = None  # (design, compliance, u) of that stage
        protect = np.zeros_like(occ)
        best: tuple[float, int, np.ndarray, np.ndarray] | None = None
        history: list[float] = []
        full = math.nan
        count = n0
        retries = 0
        for step in range(self.steps):
            sol = self.solve(occ, lay, self.relax_tolerance, None if last is None else last[2])
            history.append(sol.compliance)
            if last is not None and sol.compliance > COLLAPSE * last[1] and retries < RETRIES:
                # The step cut a load path: the cells it removed become protected and the step is redone.
                protect |= last[0] & ~occ
                retries += 1
                occ = _update(last[0], np.where(protect, PROTECT * previous, previous), lay, count, add_max)
                continue
            retries = 0
            if step == 0:
                full = sol.compliance
            elif occ.sum() <= lay.target and (best is None or sol.compliance < best[0]):
                best = (sol.compliance, step, occ.copy(), sol.u)
            stim = sol.sed ** g["exponent"]
            stim = ndimage.gaussian_filter(stim, sigma, mode="constant") / np.maximum(norm, 1e-12)
            stim = np.where(occ, stim, stim * g["void_gain"])
            if g["noise"] > 0:
                stim = stim * np.exp(g["noise"] * rng.standard_normal(stim.shape))
            if previous is not None:
                stim = (1.0 - g["history"]) * stim + g["history"] * previous
            previous = stim
            last = (occ, sol.compliance, sol.u)
            count = max(lay.target, int(math.floor(count * (1.0 - rate))))
            occ = _update(occ, np.where(protect, PROTECT * stim, stim), lay, count, add_max)
        if best is None:
            return Development(occ, math.inf, full, -1, tuple(history))
        final = self.solve(best[2], lay, self.relax_tolerance / 5, best[3], 2 * self.relax_steps)
        return Development(best[2], final.compliance, full, best[1], tuple(history))

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
            "volume_fraction": vf,
            "stage": dev.stage,
            "thin_fraction": G.thin_fraction(occ),
            "cells": int(occ.sum()),
        }
        if dev.stage < 0 or not math.isfinite(dev.compliance):
            return Evaluation(100.0, {}, tuple(caught), metrics)
        score = dev.compliance / dev.full_compliance
        return Evaluation(float(score), {"compliance_nmm": dev.compliance}, tuple(caught), metrics)

    def snapshot(self, genome: np.ndarray, path: Path, title: str = "") -> None:
        dev = self.develop(genome)
        bracket_png(
            self, dev.occupancy, self.layout(), path, f"{title}: compliance {dev.compliance:.4g} N mm"
        )


def decode(genome: np.ndarray) -> dict[str, float]:
    """Rule parameters from a genome in [0, 1]^7 (clipped)."""
    x = np.clip(np.asarray(genome, dtype=float), 0.0, 1.0)
    if x.shape != (len(GENES),):
        raise ValueError(f"a bracket genome has {len(GENES)} genes, got shape {x.shape}")
    return {name: lo + (hi - lo) * float(v) for (name, lo, hi), v in zip(GENES, x, strict=True)}


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


def _update(occ: np.ndarray, stim: np.ndarray, lay: Layout, count: int, add_max: int) -> np.ndarray:
    """One growth/retraction step towards ``count`` cells (see the module docstring, steps 3 to 5)."""
    stim = np.where(lay.keep_in, np.inf, stim)
    chosen = _rank(occ, stim, lay, count, add_max)
    if _connected(chosen, lay):
        return chosen
    # The cut severed the load path: remove fewer cells, the fewest fewer that keep it (bisection on the count;
    # removing nothing keeps the current, connected design).
    lo, hi = count, int(occ.sum())
    best = occ
    while hi - lo > 1:
        mid = (lo + hi) // 2
        trial = _rank(occ, stim, lay, mid, add_max)
        if _connected(trial, lay):
            hi, best = mid, trial
        else:
            lo = mid
    if best is occ:
        # No ranked cut keeps the path: retract cell by cell, weakest first, skipping cells the path needs.
        best = occ.copy()
        excess = int(occ.sum()) - count
        for cell in np.flatnonzero(occ & ~lay.keep_in)[np.argsort(stim[occ & ~lay.keep_in], kind="stable")]:
            if excess <= 0:
                break
            best.ravel()[cell] = False
            if _connected(best, lay):
                excess -= 1
            else:
                best.ravel()[cell] = True
    return best


def _rank(occ: np.ndarray, stim: np.ndarray, lay: Layout, count: int, add_max: int) -> np.ndarray:
    """The ``count`` best-ranked cells of the material and its frontier, at most ``add_max`` of them new,
    pruned of thin features and cut-off material, the deficit refilled next to material."""
    frontier = ndimage.binary_dilation(occ) & ~occ & lay.domain
    chosen = _top(occ | frontier, stim, count)
    grown = chosen & ~occ
    if grown.sum() > add_max:
        grown = _top(grown, stim, add_max)
        chosen = grown | _top(occ, stim, count - int(grown.sum()))
    chosen = _prune(chosen | lay.keep_in, lay)
    deficit = count - int(chosen.sum())
    if deficit > 0:
        n = ndimage.convolve(chosen.astype(int), _CROSS, mode="constant")
        chosen |= _top(~chosen & lay.domain & (n >= 2), stim, deficit)
    return chosen


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


def failure_test(problem: BracketProblem, occ: np.ndarray, pitch: float, max_factor: float = 1000.0):
    """``fab.stress`` failure test of a design (2D, the job's thickness): the StressReport."""
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
        test=TestSpec(kind="failure", max_factor=max_factor),
    )
    return run_test(grid, job)
