"""Problem 3: refine the user's own part, in 3D, by the bone-remodelling program the bracket grows by.

Domain: the voxel cells of the design space (the part itself, its bounding box, the part grown by a margin, or a
second CAD file) at the job's pitch, less the keep-out regions. Keep-in: the fixed cells, the loaded cells, both
grown by ``keep_margin`` mm, and the user's keep-in regions. Load cases: sets of the job's ``[[load]]`` forces,
solved one after the other on the same body; a design must hold every one.

Developmental program (the genome holds rule parameters, never the shape): hard-kill remodelling after Huiskes'
rule, with Mattheck's surface growth at the end. Every cell of the domain carries a tissue density rho in
[RHO_MIN, 1]; the design is the cells with the most tissue. Starting from the whole domain, for up to ``steps``
steps:

1. the particle engine solves the design under each load case (PMB, small strain, warm-started from the
   previous step; multigrid conjugate gradients, Newton-Krylov where they stop short on a slender design):
   strain energy density (SED) and largest bond stretch per cell;
2. each cell's stimulus (least mass) is the largest over the load cases of its SED over that case's mean SED,
   (stiffness) the sum over the load cases of its SED over the whole domain's compliance in that case (the
   sensitivity of the objective, the mean relative compliance); either raised by
   ``1 + strength_weight (s / s_allowed) ** 2`` (s its bond stretch; s_allowed, least mass: the stretch the
   safety factor allows in that case; stiffness: the design's largest peak stretch over every case, its lowest
   safety factor, so that the weakest case's members thicken, not a case ten times safer), spread over a
   Gaussian neighbourhood of ``radius`` pitches (so empty cells next to loaded tissue see it and can grow back),
   blended with the previous step's by ``history`` and given a seeded log-normal noise; mirrored through the
   symmetry planes;
3. rho *= (S / k) ** ``damping``, clipped to +-RHO_RATE a step, with one global set point k (bisected) so the
   tissue holds this step's volume; the volume shrinks by the share ``rate`` a step from the domain's down to the
   goal's (the volume fraction, or for least mass the keep-in); for least mass, while every load case's peak
   stretch is under half the accepted one (an envelope design space starts far under it), by up to
   sqrt(accepted / peak) x ``rate`` (at most 3 x, and 0.3 of the volume); for the stiffness goal the count
   asked of the ranking is corrected for what the rules add or take, and remodelling goes on at the volume
   fraction for up to SETTLE_STEPS steps (until a step changes nothing), the design of the lowest objective kept
   (its surface growth moves cells by SED, each step kept while the objective falls);
4. the design is the volume's densest cells (keep-in first), then the manufacturing rules, as part of the
   development: material only in the domain; the symmetry planes; no member thinner than ``min_thickness`` mm
   (a morphological opening by a ball of that diameter); every cell supported within the overhang angle from
   the build direction (cells without support below them die, layer by layer upwards); no enclosed voids
   (cavities are filled); nothing cut off from the supports. Where a step cuts a load off the supports (a whole
   low-energy section went, as near a load, where the bending energy vanishes) the densest path from each load to
   the supports, as wide as the thinnest member allowed, is kept.

For the least-mass goal a step holds while every load case's peak bond stretch stays within ``1 + slack`` of the
allowed one (the original part's at the same pitch over the required safety factor's ratio to the original's: the
first bond breaks where the stretch peaks, so the first-break load scales as 1 / peak stretch; the failure test's
crack has to run through a section, so a gene, not a fixed rule, says how far a peak may rise). A step that does not
hold goes back to the last design that held and removes half as much, down to a quarter of ``rate``; then the
development ends with that design. Then ``shape_steps`` steps of surface growth (Mattheck's CAO): the ``shape_share`` of the
least-stretched movable surface cells move next to the most stretched ones, each step kept only if the worst load
case's peak stretch fell. The final design is solved with the job's model (LPS by default).

Score (minimised): least mass: the refined part's mass over the original's, plus 0.05 x the worst peak stretch
over the allowed one (designs that miss the safety factor rank behind by 1 + 10 x the miss); stiffest: the mean
over the load cases of the compliance over the whole domain's. Guards: material cut off from the supports
(``detached_mass``), a load case's loads cut off from the supports (``fragments``), features under 2 pitches over
2 % of the cells (``thinner_than_pitch``), material outside the domain. Lengths here in mm, the engine is fed SI.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from scipy import ndimage

from fab.materials import Material
from fab.morph import guards as G
from fab.morph.bracket import remodel
from fab.morph.program import Evaluation

MM = 1e-3
# (name, low, high): genes map linearly from [0, 1].
GENES = (
    ("radius", 0.5, 2.0),  # Gaussian spread of the stimulus, pitches
    ("rate", 0.04, 0.15),  # share of the volume given up a step
    ("damping", 0.3, 1.0),  # response exponent: rho *= (S / k) ** damping
    ("history", 0.0, 0.6),  # weight of the previous step's stimulus
    ("noise", 0.0, 0.1),  # log-normal symmetry-breaking noise amplitude
    ("strength_weight", 0.0, 4.0),  # the stimulus rises by 1 + w (s / s_allowed) ** 2
    ("slack", -0.1, 0.2),  # least mass: peak stretch accepted over the allowed one (< 0: a reserve)
    ("shape_steps", 0.0, 6.49),  # surface-growth steps after remodelling (rounded to a whole number)
    ("shape_share", 0.01, 0.06),  # share of the movable surface cells moved a surface-growth step
)
# Quick mode's genome: tuned on the sample bracket (samples/bracket_refine), a sound start for other parts.
DEFAULT_GENOME = (0.35, 0.5, 0.6, 0.3, 0.0, 0.5, 0.5, 0.5, 0.4)
# ... and the stiffness goal's: smaller volume steps, more history, the strength term at its largest (4: the
# weakest case's members thickened; slack plays no part): tuned against benchmarks/simp3d.py on the sample
# (bench_refine.py --cases simp; with no strength term the refined design's 40 N failure load was 0.857 x SIMP's).
STIFFNESS_GENOME = (0.35, 0.2, 0.6, 0.5, 0.0, 1.0, 0.5, 0.5, 0.4)
RHO_MIN = 1e-3
RHO_RATE = 0.35  # largest tissue density change a step
THIN_LIMIT = 0.02  # share of cells under 2 pitches wide that the guard tolerates
SOLVE_TOLERANCE = 1e-3  # relative residual of the solves (multigrid: a few iterations; tighter runs into the
# float32 resolution and hands over to plain dynamic relaxation)
SOLVE_STEPS = 4000
# A remodelling step's solve (least mass, a design to go back to) that Newton cannot settle within this many law
# evaluations is a near-mechanism (a member about to go: generation 1's costliest designs ran Newton to its
# 4,000-evaluation cap, then thousands of steps of plain relaxation, 10-19 s of CPU a solve): the step is
# rejected as one over the accepted peak is, unsolved further. The settled solves of developments took up to
# ~1,700 (bench_refine --cases designs).
SETTLE_BUDGET = 2000
HEADROOM = 0.5  # least mass: a peak stretch under this share of the accepted one lets a step give up more volume
HEADROOM_GAIN = 3.0  # ... at most this many times ``rate`` ...
HEADROOM_SHARE = 0.3  # ... and at most this share of the volume
SETTLE_STEPS = 12  # stiffness: remodelling steps at the volume fraction once reached (the design's convergence)
VOLUME_TOLERANCE = 0.01  # stiffness: a design within this share of the goal's cell count is at the volume
# Per-process caches: reference solves per (problem, fine), the last snapshot's development.
_REFERENCE: dict[tuple[str, bool], Reference] = {}
_SNAPSHOT: dict[str, object] = {}
_SOLVED: OrderedDict = OrderedDict()  # the last cold solves: (occupancy, layout, model, material) -> solutions
SOLVED_KEPT = 6


@dataclass(frozen=True)
class Layout:
    """The cells of one pitch: masks are (nx, ny, nz) bool; cell (i, j, k) is centred at origin + (i, j, k) pitch."""

    pitch: float
    origin: tuple[float, float, float]
    domain: np.ndarray  # cells that may hold material (design space less keep-out)
    original: np.ndarray  # the user's part
    keep_in: np.ndarray  # always material
    fixed: np.ndarray  # held cells (every [[fix]] region)
    loads: tuple[np.ndarray, ...]  # cells of each [[load]]
    forces: tuple[tuple[float, float, float], ...]  # N, total, of each [[load]]
    cases: tuple[tuple[int, ...], ...]  # the loads (0-based) of each load case
    mirrors: tuple[np.ndarray, ...] = ()  # per symmetry plane: flat index of each cell's mirror (-1: none)

    def digest(self) -> str:
        h = hashlib.sha256()
        for a in (self.domain, self.original, self.keep_in, self.fixed, *self.loads, *self.mirrors):
            h.update(np.ascontiguousarray(a).tobytes())
        h.update(repr((self.pitch, self.origin, self.forces, self.cases)).encode())
        return h.hexdigest()[:16]

    def centres(self) -> np.ndarray:
        ijk = np.indices(self.domain.shape).reshape(3, -1).T
        return np.asarray(self.origin) + ijk * self.pitch


@dataclass(frozen=True)
class Rules:
    """Manufacturing rules applied during development (mm, degrees)."""

    min_thickness: float  # mm
    no_voids: bool = True
    overhang: float | None = None  # degrees from the build direction, None: no overhang rule
    build_direction: str = "+z"  # +x -x +y -y +z -z


@dataclass(frozen=True)
class CaseSolution:
    compliance: float  # N mm: sum over the case's loads of F . (mean displacement of the loaded cells)
    sed: np.ndarray  # grid J/m^3, zero on empty cells
    stretch: np.ndarray  # grid, largest bond stretch per cell, zero on empty cells
    peak_stretch: float  # over the cells that are neither held nor loaded
    u: np.ndarray  # (nx, ny, nz, 3) m, for warm starts
    von_mises: np.ndarray | None = None  # grid Pa (final solves)

    @property
    def unsettled(self) -> bool:
        """A solve given up (PartProblem.solve's ``give_up``): no equilibrium, the design rejected."""
        return math.isinf(self.peak_stretch)


def _unsettled(shape: tuple[int, ...], u: np.ndarray) -> CaseSolution:
    """What a solve given up hands back: infinite peak stretch and compliance (every test rejects it), no fields,
    ``u`` the warm start it began from (the next solve starts there, not from the unsettled state)."""
    return CaseSolution(math.inf, np.zeros(shape), np.zeros(shape), math.inf, u)


@dataclass(frozen=True)
class Reference:
    """The original part and the whole domain under every load case (yardsticks of the score)."""

    original_compliance: tuple[float, ...]
    original_peak: tuple[float, ...]
    domain_compliance: tuple[float, ...]
    domain_peak: tuple[float, ...]


@dataclass(frozen=True)
class Development:
    occupancy: np.ndarray
    compliance: tuple[float, ...]  # N mm per load case
    peak_stretch: tuple[float, ...]  # per load case
    allowed: tuple[float, ...]  # the peak stretch the safety factor allows, per load case
    step: int  # remodelling steps run
    history: tuple[float, ...] = ()  # volume fraction (of the original) per step
    shape_steps: int = 0  # surface-growth steps kept
    notes: tuple[str, ...] = ()
    # The design (1) with ties broken by the tissue density that chose it (< 1e-3): a density field for a
    # post-processing shared with other methods (benchmarks/bench_refine.py's SIMP comparison).
    density: np.ndarray | None = field(default=None, compare=False, repr=False)
    unsettled: int = 0  # remodelling and surface-growth steps rejected as near-mechanisms (a solve given up)

    def packed(self) -> PackedDevelopment:
        """This development as a search's worker hands it back: its cells as bits, without the density field."""
        occ = np.asarray(self.occupancy, dtype=bool)
        return PackedDevelopment(np.packbits(occ), occ.shape, replace(self, occupancy=None, density=None))


@dataclass(frozen=True)
class PackedDevelopment:
    """A Development small to pickle (a search's records carry one each, into the checkpoint too)."""

    bits: np.ndarray  # np.packbits of the occupancy
    shape: tuple[int, ...]
    rest: Development  # occupancy and density None

    def unpacked(self) -> Development:
        occ = np.unpackbits(self.bits, count=int(np.prod(self.shape))).reshape(self.shape).astype(bool)
        return replace(self.rest, occupancy=occ)


@dataclass(frozen=True)
class PartProblem:
    """Settings of a refinement; ``layouts`` = (job pitch, finer re-scoring pitch or None)."""

    layouts: tuple[Layout, Layout | None]
    material: Material
    rules: Rules
    goal: str = "mass"  # "mass": least mass at the safety factor; "stiffness": stiffest at the volume fraction
    strength_ratio: float = 1.0  # required safety factor over the original's (mass goal)
    volume_fraction: float = 0.3  # of the design space (stiffness goal)
    model: str = "pmb"  # the law of every solve of a development (the pipeline's stress reports use the job's)
    steps: int = 30
    noise_seed: int = 0
    name: str = "part"
    notes: tuple[str, ...] = field(default=(), compare=False)
    # Reference solves made elsewhere (``with_references``): ((kind, fine), Reference) pairs, shipped with the
    # problem to a search's workers so that each does not solve the original and the whole domain again.
    known: tuple = field(default=(), compare=False)

    @property
    def gene_names(self) -> tuple[str, ...]:
        return tuple(g[0] for g in GENES)

    @property
    def dimension(self) -> int:
        return len(GENES)

    def __repr__(self) -> str:  # what a checkpoint's fingerprint hashes: settings and the layouts' digests
        lays = tuple(None if lay is None else lay.digest() for lay in self.layouts)
        return (
            f"PartProblem(layouts={lays}, material={self.material!r}, rules={self.rules!r}, goal={self.goal!r}, "
            f"strength_ratio={self.strength_ratio!r}, volume_fraction={self.volume_fraction!r}, "
            f"model={self.model!r}, steps={self.steps}, noise_seed={self.noise_seed})"
        )

    def layout(self, fine: bool = False) -> Layout:
        lay = self.layouts[1] if fine else self.layouts[0]
        if lay is None:
            raise ValueError("this refinement has no finer re-scoring pitch")
        return lay

    # ---- physics ----------------------------------------------------------------------------------------
    def solve(
        self,
        occ: np.ndarray,
        lay: Layout,
        model: str = "pmb",
        warm: list[np.ndarray] | None = None,
        von_mises: bool = False,
        rejects: Callable[[int, CaseSolution], bool] | None = None,
        give_up: bool = False,
    ) -> list[CaseSolution | None]:
        """Solve ``occ`` under each load case (small strain, no fracture; multigrid, Newton where it stops short):
        one CaseSolution a case. Cold solves (no ``warm``) are remembered (the last few): the pipeline's stress
        report asks again for the reference's and the development's final solves. ``rejects(case, solution)``
        True: the design is rejected whatever the other cases hold, which are left unsolved (None; the
        development's steps that go too far, about half its solving time, are seen in the first case).
        ``give_up``: a case that does not settle within SETTLE_BUDGET law evaluations ends the solve there, its
        solution ``unsettled`` (infinite peak stretch and compliance, the warm start kept), the rest None."""
        from physics import PhysicsError, make_law

        key = None
        if warm is None:
            key = (hashlib.sha256(np.packbits(occ).tobytes()).hexdigest(), occ.shape, lay.digest(), model,
                   repr(self.material))  # fmt: skip
            hit = _SOLVED.get(key)
            if hit is not None and (hit[0].von_mises is not None or not von_mises):
                _SOLVED.move_to_end(key)
                return hit
        mat = self.material
        if model == "lps":
            law = make_law("lps", youngs_modulus=mat.youngs_modulus, poisson_ratio=mat.poisson_ratio)
        else:
            law = make_law("pmb", youngs_modulus=mat.youngs_modulus)
        try:
            out = self._solve(occ, lay, law, warm, von_mises, rejects, give_up)
        except PhysicsError:
            if warm is None:
                raise
            out = self._solve(occ, lay, law, None, von_mises, rejects, give_up)
        if key is not None and None not in out:
            _SOLVED[key] = out
            while len(_SOLVED) > SOLVED_KEPT:
                _SOLVED.popitem(last=False)
        return out

    def _solve(self, occ, lay: Layout, law, warm, von_mises: bool, rejects=None,
               give_up: bool = False) -> list[CaseSolution | None]:  # fmt: skip
        from physics import Body, Fixed, Force, Simulation, newton
        from physics.relaxation import relax

        origin = tuple(float(o) * MM for o in lay.origin)
        body = Body.from_occupancy(occ, lay.pitch * MM, self.material.density, origin=origin)
        ijk = np.argwhere(occ)  # the lattice numbers particles in C order of the filled cells
        idx = (ijk[:, 0], ijk[:, 1], ijk[:, 2])
        body.point_set("fix", lay.fixed[occ])
        forces = []
        for n, (cells, f) in enumerate(zip(lay.loads, lay.forces, strict=True)):
            body.point_set(f"load{n}", cells[occ])
            forces.append(Force(f"load{n}", f))
        sim = Simulation(body, law, [Fixed("fix"), *forces])
        use_newton = newton.supports(sim)
        base = [np.array(c.density, dtype=float) for c in forces]
        boundary = (lay.fixed | np.logical_or.reduce(lay.loads))[occ]
        out = []
        for c, case in enumerate(lay.cases):
            for n, cond in enumerate(forces):
                cond.density = base[n] if n in case else 0.0 * base[n]
            start = None if warm is None or warm[c] is None else warm[c][idx]
            sim.u[:] = 0.0 if start is None else start
            sim.v[:] = 0.0
            try:
                if not _static(sim, use_newton, SETTLE_BUDGET if give_up else SOLVE_STEPS):
                    if give_up:
                        u = np.zeros((*occ.shape, 3))
                        if start is not None:
                            u[idx] = start
                        out.append(_unsettled(occ.shape, u))
                        return out + [None] * (len(lay.cases) - len(out))
                    sim.u[:] = 0.0 if start is None else start
                    sim.v[:] = 0.0
                    relax(sim, SOLVE_STEPS, SOLVE_TOLERANCE, multigrid=False)
            except (ValueError, np.linalg.LinAlgError):
                # The multigrid's coarsest level of an odd design can come out singular, or not finite (a body
                # whose plates are one coarse cell thick, as the sample at 2.5 mm): relax it plainly.
                sim.u[:] = 0.0 if start is None else start
                sim.v[:] = 0.0
                relax(sim, 20 * SOLVE_STEPS, SOLVE_TOLERANCE, multigrid=False)
            u = np.zeros((*occ.shape, 3))
            u[idx] = sim.u
            compliance = sum(
                float(np.dot(lay.forces[n], sim.u[lay.loads[n][occ]].mean(axis=0))) / MM for n in case
            )
            sed = np.zeros(occ.shape)
            sed[idx] = sim.strain_energy_density()
            stretch = np.zeros(occ.shape)
            s = sim.max_bond_stretch()
            stretch[idx] = s
            inner = s[~boundary] if (~boundary).any() else s
            vm = None
            if von_mises:
                vm = np.zeros(occ.shape)
                vm[idx] = sim.von_mises()
            out.append(CaseSolution(compliance, sed, stretch, float(inner.max()), u, vm))
            if rejects is not None and rejects(c, out[-1]):
                return out + [None] * (len(lay.cases) - len(out))
        return out

    def reference(self, fine: bool = False) -> Reference:
        """The original part and the whole domain solved with the final model (once per process)."""
        key = (repr(self), fine)
        if key not in _REFERENCE:
            _REFERENCE[key] = self._known("model", fine) or self._reference(fine)
        return _REFERENCE[key]

    def _known(self, kind: str, fine: bool) -> Reference | None:
        return next((ref for k, ref in self.known if k == (kind, fine)), None)

    def _reference(self, fine: bool) -> Reference:
        orig = self.reference_solve("original", self.model, fine)
        lay = self.layout(fine)
        dom = orig if np.array_equal(lay.domain, lay.original) else self.reference_solve("domain", self.model, fine)
        return Reference(orig[0], orig[1], dom[0], dom[1])

    def reference_solve(self, what: str, model: str, fine: bool) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(compliance, peak stretch) per load case of the original part (``what`` = "original") or the whole
        domain ("domain") under ``model``: one of the reference's solves (a task of its own in a search)."""
        lay = self.layout(fine)
        if what == "original":
            sols = self.solve(lay.original & lay.domain | lay.keep_in, lay, model, von_mises=model == self.model)
        else:
            sols = self.solve(lay.domain, lay, model)
        return tuple(s.compliance for s in sols), tuple(s.peak_stretch for s in sols)

    def with_references(self, fine: bool = False, executor=None) -> PartProblem:
        """This problem carrying its reference solves at the pitch ``fine`` says (``known``): a search's workers
        then take them from it instead of solving them again, each. ``executor`` (a fab.morph.executors one):
        the solves run there side by side (the finer pitch's, before re-scoring), else in this process."""
        kinds = {kind for (kind, f), _ in self.known if f == fine}
        if {"model", "pmb"} <= kinds:
            return self
        lay = self.layout(fine)
        tasks = [("original", self.model)]
        if not np.array_equal(lay.domain, lay.original):
            tasks.append(("domain", self.model))
        if self.model != "pmb":
            tasks.append(("original", "pmb"))
        if executor is None:
            done = [self.reference_solve(what, model, fine) for what, model in tasks]
        else:
            done = executor.map(_reference_task, [(self, what, model, fine) for what, model in tasks])
        got = dict(zip(tasks, done, strict=True))
        orig = got[("original", self.model)]
        dom = got.get(("domain", self.model), orig)
        pmb = got.get(("original", "pmb"), orig)[1]
        model_ref = Reference(orig[0], orig[1], dom[0], dom[1])
        pmb_ref = Reference(pmb, pmb, pmb, pmb)
        _REFERENCE.setdefault((repr(self), fine), model_ref)
        _REFERENCE.setdefault((repr(self) + "|pmb", fine), pmb_ref)
        return replace(self, known=(*self.known, (("model", fine), model_ref), (("pmb", fine), pmb_ref)))

    def for_rescoring(self, executor) -> PartProblem:
        """The search's hook before re-scoring at the finer pitch: its reference solves, side by side."""
        return self.with_references(True, executor)

    def allowed_stretch(self, fine: bool = False) -> tuple[float, ...]:
        """The peak stretch per load case at which the estimated safety factor is the required one."""
        ref = self.reference(fine)
        return tuple(p / self.strength_ratio for p in ref.original_peak)

    # ---- the program ------------------------------------------------------------------------------------
    def develop(self, genome: np.ndarray, fine: bool = False, progress=None) -> Development:
        """The developmental program of ``genome`` (module docstring); ``progress(step, steps, text)``."""
        g = decode(genome)
        lay = self.layout(fine)
        rng = np.random.default_rng(self.noise_seed)
        dom, keep = lay.domain, lay.keep_in
        free = dom & ~keep
        allowed = self.allowed_stretch(fine)
        # The remodelling runs PMB: its own allowed stretch, scaled from the original's PMB solve.
        pmb_ref = self._pmb_original(fine)
        pmb_allowed = tuple(p / self.strength_ratio for p in pmb_ref)
        original_cells = int((lay.original & dom | keep).sum())
        sigma = g["radius"] * (self.layouts[0].pitch / lay.pitch)
        norm = np.maximum(ndimage.gaussian_filter(dom.astype(float), sigma, mode="constant"), 1e-12)
        occ = self.rules_applied(dom.copy(), lay)
        rho = np.where(occ, 1.0, RHO_MIN)
        rank = rho
        total = float(occ.sum())
        if self.goal == "stiffness":
            floor = max(self.volume_fraction * float(dom.sum()), float(keep.sum()))
        else:
            floor = float(keep.sum())
        limit = 1.0 + g["slack"]
        rate = g["rate"]
        stiff = self.goal == "stiffness"

        def over(c: int, s: CaseSolution) -> bool:  # a case that rejects a remodelling step
            return s.peak_stretch / pmb_allowed[c] > limit

        # Stiffness: the objective is the mean over the load cases of the compliance over the whole domain's
        # (evaluate_design), so its sensitivity, each cell's stimulus, is the cases' SED weighted by 1 / that.
        weights = [1.0 / max(c, 1e-300) for c in self.reference(fine).domain_compliance] if stiff else []
        best = None  # stiffness: (objective, design, solutions, rank) of the best design at the volume
        settled = 0
        before = None  # the design of the step before
        warm = None
        previous = None
        last_ok: tuple[np.ndarray, list[CaseSolution]] | None = None
        saved = None  # the state after the last design that held: (rho, total, previous stimulus)
        history: list[float] = []
        notes: list[str] = []
        step = 0
        unsettled = 0  # steps rejected as near-mechanisms (their solve given up)
        for step in range(1, self.steps + 1):
            history.append(float(occ.sum()) / original_cells)
            if _carries(occ, lay):
                # Least mass: a case over the accepted peak rejects the step, the cases after it left unsolved
                # (their next warm start the last one they had).
                # ... and one that does not settle (a near-mechanism), where there is a design to go back to.
                sols = self.solve(occ, lay, "pmb", warm, rejects=None if stiff else over,
                                  give_up=not stiff and saved is not None)  # fmt: skip
                unsettled += any(s is not None and s.unsettled for s in sols)
                warm = [s.u if s is not None else (warm[c] if warm else None) for c, s in enumerate(sols)]
                worst = max(s.peak_stretch / a for s, a in zip(sols, pmb_allowed, strict=True) if s is not None)
            else:  # a load cut off from the supports: that step removed too much
                sols, worst = last_ok[1] if last_ok else None, math.inf
            if progress is not None:
                progress(step, self.steps, f"mass {history[-1]:.3f} of the original, peak/allowed {worst:.3f}")
            held = worst <= limit or (self.goal == "stiffness" and math.isfinite(worst))
            if held:
                last_ok = (occ, sols)
                saved = (rho, total, previous)
                last_rank = rank
                if stiff and abs(float(occ.sum()) - floor) <= max(1.0, VOLUME_TOLERANCE * floor):
                    objective = sum(w * s.compliance for w, s in zip(weights, sols, strict=True))
                    if best is None or objective < best[0]:
                        best = (objective, occ, sols, rank)
            elif saved is not None and rate > g["rate"] / 4:
                # Too much at once: back to the last design that held, half the step.
                rho, total, previous = saved
                occ, sols = last_ok
                rate /= 2
            else:
                break
            if total <= floor + 0.5:
                # Least mass ends here; the stiffest design goes on remodelling at its volume (SETTLE_STEPS, or
                # until a step leaves the design as it was), the best of those kept.
                settled += 1
                if not stiff or settled > SETTLE_STEPS or (before is not None and np.array_equal(occ, before)):
                    break
            before = occ
            if stiff:
                stim = stiffness_stimulus(sols, weights, g["strength_weight"])
            else:
                stim = np.zeros(dom.shape)
                for s, a in zip(sols, pmb_allowed, strict=True):
                    mean = float(s.sed[occ].mean()) or 1.0
                    stim = np.maximum(stim, s.sed / mean * (1.0 + g["strength_weight"] * (s.stretch / a) ** 2))
            stim = ndimage.gaussian_filter(stim, sigma, mode="constant") / norm
            if g["noise"] > 0:
                stim = stim * np.exp(g["noise"] * rng.standard_normal(stim.shape))
            stim = _symmetric(stim, lay)
            if previous is not None:
                stim = (1.0 - g["history"]) * stim + g["history"] * previous
            previous = stim
            total = max(floor, total * (1.0 - _headroom_rate(rate, worst, limit, self.goal)))
            rho = remodel(rho, stim, free, total - float(keep.sum()), RHO_RATE, g["damping"], RHO_MIN)
            rho = _symmetric(rho, lay)
            # Ties (tissue at full density) go by the stimulus, not by cell index.
            rank = rho + 1e-6 * stim / max(float(stim.max()), 1e-300)
            occ = self._design(rank, lay, round(total), stiff)
        if last_ok is None:
            notes.append("the whole design space misses the required safety factor")
            last_ok = (occ, self.solve(occ, lay, "pmb", warm))
            last_rank = rank
        if best is not None:
            last_ok, last_rank = best[1:3], best[3]
        occ, sols = last_ok

        def measure(sols) -> float:  # what surface growth must lower: peak stretch, or the stiffness objective
            if stiff:
                return sum(w * s.compliance for w, s in zip(weights, sols, strict=True))
            return max(s.peak_stretch / a for s, a in zip(sols, pmb_allowed, strict=True))

        # Surface growth (Mattheck): kept step by step only while the worst case's peak stretch (stiffness: the
        # objective) falls; cells move from the least to the most pulled surface (stiffness: by weighted SED).
        kept = 0
        worst = measure(sols)
        share = min(1.0, g["shape_share"] * self.layouts[0].pitch / lay.pitch)
        for _ in range(round(g["shape_steps"])):
            if stiff:
                pull = sum(w * s.sed for w, s in zip(weights, sols, strict=True))
            else:
                pull = np.max([s.stretch / a for s, a in zip(sols, pmb_allowed, strict=True)], axis=0)
            cand = surface_growth(occ, pull, lay, share)
            cand = self.rules_applied(cand, lay)
            if np.array_equal(cand, occ) or not _carries(cand, lay):
                break
            # A case whose peak is already no lower than the worst rejects the step (least mass): the rest unsolved.
            trial = self.solve(cand, lay, "pmb", [s.u for s in sols], give_up=not stiff,
                               rejects=None if stiff else lambda c, s, w=worst: s.peak_stretch / pmb_allowed[c] >= w)
            unsettled += any(s is not None and s.unsettled for s in trial)
            if None in trial:
                break
            w = measure(trial)
            if w >= worst:
                break
            occ, sols, worst, kept = cand, trial, w, kept + 1
        if unsettled:
            notes.append(f"{unsettled} step(s) rejected as near-mechanisms: their solve did not settle within "
                         f"{SETTLE_BUDGET} law evaluations")  # fmt: skip
        final = self.solve(occ, lay, self.model, von_mises=True)  # von Mises: the stress report's (remembered)
        return Development(
            occ,
            tuple(s.compliance for s in final),
            tuple(s.peak_stretch for s in final),
            allowed,
            step,
            tuple(history),
            kept,
            tuple(notes),
            occ + 1e-3 * np.clip(np.where(np.isfinite(last_rank), last_rank, 1.0), 0.0, 1.0),
            unsettled,
        )

    def _design(self, rank: np.ndarray, lay: Layout, count: int, exact: bool) -> np.ndarray:
        """The ``count`` highest-ranked domain cells (keep-in first) through the manufacturing rules; where a low
        energy section went whole (near a load the bending energy vanishes) and cut a load off, the densest path
        from each load to the supports, as wide as the thinnest member allowed, is kept. ``exact`` (the
        stiffness goal, whose volume is the goal): the count asked of the ranking is corrected by what the rules
        added or took (four times at most), so the design holds ``count`` cells within VOLUME_TOLERANCE."""
        ranking = np.where(lay.keep_in, np.inf, rank)
        asked = count
        for _ in range(5 if exact else 1):
            occ = self.rules_applied(_top(lay.domain, ranking, asked) | lay.keep_in, lay)
            if not _carries(occ, lay):
                occ = self.rules_applied(occ | _spine(rank, lay, self.rules.min_thickness / lay.pitch), lay)
            miss = int(occ.sum()) - count
            if abs(miss) <= max(1.0, VOLUME_TOLERANCE * count):
                break
            asked = int(np.clip(asked - miss, 1, int(lay.domain.sum())))
        return occ

    def _pmb_original(self, fine: bool) -> tuple[float, ...]:
        if self.model == "pmb":
            return self.reference(fine).original_peak
        key = (repr(self) + "|pmb", fine)
        if key not in _REFERENCE:
            known = self._known("pmb", fine)
            if known is None:
                peaks = self.reference_solve("original", "pmb", fine)[1]
                known = Reference(peaks, peaks, peaks, peaks)
            _REFERENCE[key] = known
        return _REFERENCE[key].original_peak

    def rules_applied(self, occ: np.ndarray, lay: Layout) -> np.ndarray:
        """The manufacturing rules on a design (module docstring, step 4); keep-in always stays."""
        return apply_rules(occ, lay, self.rules)

    def evaluate(self, genome: np.ndarray, fine: bool = False) -> Evaluation:
        from physics import PhysicsError

        try:
            dev = self.develop(genome, fine)
        except PhysicsError as exc:  # a design the engine cannot bring to equilibrium ranks last
            return Evaluation(100.0, {}, (G.FRAGMENTS,), {"solve_error": str(exc)[:200]})
        evaluation = self.evaluate_design(dev, fine)
        # At the search's pitch the design goes back with its score: the best one is not developed again.
        return evaluation if fine else replace(evaluation, design=dev.packed())

    def evaluate_design(self, dev: Development, fine: bool = False) -> Evaluation:
        lay = self.layout(fine)
        ref = self.reference(fine)
        occ = dev.occupancy
        caught = guards_caught(occ, lay)
        original_cells = int((lay.original & lay.domain | lay.keep_in).sum())
        mass_ratio = float(occ.sum()) / original_cells
        worst = max(p / a for p, a in zip(dev.peak_stretch, dev.allowed, strict=True))
        stiffness = float(
            np.mean([c / f for c, f in zip(dev.compliance, ref.domain_compliance, strict=True)])
        )
        metrics = {
            "mass_ratio": mass_ratio,
            "volume_fraction": float(occ.sum()) / float(lay.domain.sum()),
            "compliance_nmm": list(dev.compliance),
            "original_compliance_nmm": list(ref.original_compliance),
            "peak_stretch": list(dev.peak_stretch),
            "allowed_stretch": list(dev.allowed),
            "estimated_safety_ratio": 1.0 / worst if worst > 0 else math.inf,
            "steps": dev.step,
            "shape_steps": dev.shape_steps,
            "unsettled_steps": dev.unsettled,
            "cells": int(occ.sum()),
            "thin_fraction": G.thin_fraction(occ),
        }
        if self.goal == "mass":
            score = mass_ratio + 0.05 * worst + (10.0 * (worst - 1.0) + 1.0 if worst > 1.0 + 1e-9 else 0.0)
        else:
            score = stiffness
        objectives = {"mass_ratio": mass_ratio, "peak_over_allowed": worst, "relative_compliance": stiffness}
        return Evaluation(float(score), objectives, caught, metrics)

    def snapshot(self, genome: np.ndarray, path: Path, title: str = "") -> None:
        key = (repr(self), np.asarray(genome, dtype=float).tobytes())
        if _SNAPSHOT.get("key") != key:
            _SNAPSHOT.update(key=key, dev=self.develop(genome))
        dev = _SNAPSHOT["dev"]
        design_png(dev.occupancy, self.layout(), path, f"{title}: mass {dev.occupancy.sum()} cells")

    def loaded_snapshot(self, genome: np.ndarray, path: Path, title: str = "") -> None:
        """The developed design under its worst load case (the largest peak stretch over the allowed one), as the
        score's final solve sees it (the job's model; von Mises kept): three projections, deformed, coloured by
        von Mises stress (the live view's "picture under load")."""
        key = (repr(self), np.asarray(genome, dtype=float).tobytes())
        if _SNAPSHOT.get("key") != key:
            _SNAPSHOT.update(key=key, dev=self.develop(genome))
        dev = _SNAPSHOT["dev"]
        lay = self.layout()
        sols = self.solve(dev.occupancy, lay, self.model, von_mises=True)
        worst = max(range(len(sols)), key=lambda c: sols[c].peak_stretch / dev.allowed[c])
        ratio = sols[worst].peak_stretch / dev.allowed[worst]
        loaded_design_png(
            dev.occupancy, lay, sols[worst], path,
            f"{title}: load case {worst + 1} of {len(sols)} (the worst), peak bond stretch {ratio:.3f} x the allowed",
        )  # fmt: skip


def stiffness_stimulus(sols, weights, strength_weight: float) -> np.ndarray:
    """The stiffness goal's stimulus: the sum over the load cases of each case's strain energy density times its
    weight (the objective's sensitivity), raised by ``1 + strength_weight (s / s_peak) ** 2`` with s the cell's
    bond stretch in that case and s_peak the largest peak stretch over every case: the yardstick is the design's
    lowest safety factor, so the term thickens the members of the weakest case and leaves a case of ample safety
    to the compliance (each case's own peak, the least-mass goal's yardstick, would ask as much of a case ten
    times safer, as the sample's 15 N case against its 40 N one)."""
    weakest = max(max(s.peak_stretch for s in sols), 1e-300)
    stim = np.zeros(sols[0].sed.shape)
    for w, s in zip(weights, sols, strict=True):
        stim = stim + w * s.sed * (1.0 + strength_weight * (s.stretch / weakest) ** 2)
    return stim


def _reference_task(task: tuple) -> tuple[tuple[float, ...], tuple[float, ...]]:
    problem, what, model, fine = task
    return problem.reference_solve(what, model, fine)


def _headroom_rate(rate: float, worst: float, limit: float, goal: str) -> float:
    """The share of the volume a least-mass step gives up: ``rate``, larger while every load case's peak stretch is
    under half the accepted one (an envelope design space starts at a fraction of it: the bounding box of the
    sample at 0.16), by sqrt(limit / worst) at most 3x and 0.3 of the volume. A step that goes too far is caught by
    the held test and halved, as any other."""
    if goal != "mass" or not (0.0 < worst < HEADROOM * limit):
        return rate
    return min(rate * min(math.sqrt(limit / worst), HEADROOM_GAIN), max(rate, HEADROOM_SHARE))


def _static(sim, use_newton: bool, budget: int = SOLVE_STEPS) -> bool:
    """Equilibrium of ``sim`` from its current state (a warm start): multigrid conjugate gradients, which settle
    most designs in a few iterations; where they stop short (a slender design whose rotation the linear coarse
    levels misjudge) Newton-Krylov goes on from where they stood. False when neither converged (the caller relaxes
    it plainly). Dynamic relaxation was the fallback before: thousands of iterations on the lean designs, half
    a minute a solve at the sample's pitch. ``budget``: Newton's law evaluations at most."""
    from physics import multigrid, newton

    if sim.body.count >= 8 * multigrid.MIN_COARSE:
        solver = multigrid.solver_for(sim)
        if solver is not None:
            res = solver.solve(SOLVE_STEPS, SOLVE_TOLERANCE, None)
            if res.get("converged") or res.get("stalled"):
                return True
    if not use_newton:
        return False
    solver = newton.newton_for(sim)
    start = solver.evaluations

    def over_budget(iteration: int, residual: float) -> bool:
        # max_steps bounds the full step only: where it fails, the load steps from zero that follow have no cap,
        # and on a design that is nearly a mechanism they ran for minutes (a finer re-scoring's development).
        return solver.evaluations - start > budget

    res = newton.solve(sim, max_steps=budget, tolerance=SOLVE_TOLERANCE, callback=over_budget)
    return res is not None and not res["failed"] and bool(res["converged"] or res["stalled"])


def default_genome(goal: str) -> tuple[float, ...]:
    """Quick mode's genes for a goal ("mass" or "stiffness")."""
    return STIFFNESS_GENOME if goal == "stiffness" else DEFAULT_GENOME


def decode(genome: np.ndarray) -> dict[str, float]:
    """Rule parameters from a genome in [0, 1]^len(GENES) (clipped)."""
    x = np.clip(np.asarray(genome, dtype=float), 0.0, 1.0)
    if x.shape != (len(GENES),):
        raise ValueError(f"a part genome has {len(GENES)} genes, got shape {x.shape}")
    return {name: lo + (hi - lo) * float(v) for (name, lo, hi), v in zip(GENES, x, strict=True)}


def _carries(occ: np.ndarray, lay: Layout) -> bool:
    """Whether every load's cells hang together with the supports (face neighbours)."""
    labels, _ = ndimage.label(occ)
    held = np.unique(labels[occ & lay.fixed])
    held = held[held > 0]
    return bool(held.size) and all(
        (cells & occ).any() and np.isin(labels[cells & occ], held).all() for cells in lay.loads
    )


def _spine(rank: np.ndarray, lay: Layout, width_cells: float) -> np.ndarray:
    """The densest face-connected paths through the domain from each load to the supports (entering a cell costs
    1.001 - its rank over the largest), widened to ``width_cells``."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra

    shape = lay.domain.shape
    n = lay.domain.size
    idx = np.arange(n).reshape(shape)
    dom = lay.domain.ravel()
    finite = np.where(np.isfinite(rank), rank, 0.0)
    cost = 1.001 - np.clip(finite / max(float(finite.max()), 1e-300), 0.0, 1.0).ravel()
    rows, cols = [], []
    for axis in range(3):
        a = np.take(idx, np.arange(shape[axis] - 1), axis=axis).ravel()
        b = np.take(idx, np.arange(1, shape[axis]), axis=axis).ravel()
        ok = dom[a] & dom[b]
        rows += [a[ok], b[ok]]
        cols += [b[ok], a[ok]]
    r, c = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((cost[c], (r, c)), shape=(n, n)).tocsr()
    out = np.zeros(n, dtype=bool)
    held = np.flatnonzero(lay.fixed.ravel())
    for cells in lay.loads:
        dist, pred = dijkstra(graph, indices=np.flatnonzero(cells.ravel()), min_only=True, return_predecessors=True)[:2]
        if not np.isfinite(dist[held]).any():
            continue
        node = int(held[np.argmin(dist[held])])
        while node >= 0:
            out[node] = True
            node = int(pred[node])
    # One cell wider than the rule: at the domain's surface the dilation loses its outer half.
    path = ndimage.binary_dilation(out.reshape(shape), structure=_ball(max(width_cells, 2.0) + 1.0))
    return path & lay.domain


def guards_caught(occ: np.ndarray, lay: Layout) -> tuple[str, ...]:
    caught = []
    if G.detached_fraction(occ, lay.fixed) > 0:
        caught.append(G.DETACHED)
    labels, _ = ndimage.label(occ)
    held = np.unique(labels[occ & lay.fixed])
    for cells in lay.loads:
        if not np.isin(labels[cells & occ], held[held > 0]).all() or not (cells & occ).any():
            caught.append(G.FRAGMENTS)
            break
    if G.thin_fraction(occ) > THIN_LIMIT:
        caught.append(G.THIN)
    if G.outside_fraction(occ, lay.domain) > 0:
        caught.append(G.OUT_OF_DOMAIN)
    return tuple(caught)


# ---- manufacturing rules -------------------------------------------------------------------------------
_AXIS = {"x": 0, "y": 1, "z": 2}


def apply_rules(occ: np.ndarray, lay: Layout, rules: Rules) -> np.ndarray:
    """Domain, symmetry, minimum thickness, overhang, no enclosed voids, attached to the supports; keep-in
    always stays (a keep-in cell the rules would remove is kept: the user asked for it)."""
    out = (occ & lay.domain) | lay.keep_in
    for mirror in lay.mirrors:
        flat = out.ravel()
        mirrored = np.zeros_like(flat)
        ok = mirror >= 0
        mirrored[ok] = flat[mirror[ok]]
        out = (flat | mirrored).reshape(out.shape) & lay.domain
    cells = rules.min_thickness / lay.pitch
    if cells > 1.0:
        out = ndimage.binary_opening(out, structure=_ball(cells)) | lay.keep_in
    if rules.overhang is not None:
        out = _self_supporting(out, lay, rules.overhang, rules.build_direction)
    out = _attached(out, lay)
    if rules.no_voids:
        out = out | (ndimage.binary_fill_holes(out) & lay.domain)
    return out


def _ball(diameter_cells: float) -> np.ndarray:
    """Structuring element of a member ``diameter_cells`` wide: a 2-cube at 2 or under, else a ball."""
    n = max(2, round(diameter_cells))
    if n <= 2:
        return np.ones((2, 2, 2), dtype=bool)
    c = (n - 1) / 2
    ijk = np.indices((n, n, n)) - c
    return (ijk**2).sum(axis=0) <= (n / 2) ** 2 + 1e-9


def _attached(occ: np.ndarray, lay: Layout) -> np.ndarray:
    """``occ`` without material cut off from the supports (keep-in always stays)."""
    labels, _ = ndimage.label(occ)
    held = np.unique(labels[occ & lay.fixed])
    return np.isin(labels, held[held > 0]) | lay.keep_in


def _self_supporting(occ: np.ndarray, lay: Layout, angle: float, direction: str) -> np.ndarray:
    """Remove, layer by layer from the build plate up, cells with nothing under them within ``angle`` degrees of
    the build direction (FDM prints them without support). The first layer of the design sits on the plate."""
    axis = _AXIS[direction[-1]]
    a = np.moveaxis(occ, axis, 2)
    keep = np.moveaxis(lay.keep_in, axis, 2)
    if direction.startswith("-"):
        a, keep = a[:, :, ::-1], keep[:, :, ::-1]
    a = a.copy()
    if angle >= 54.7:
        foot = np.ones((3, 3), dtype=bool)
    elif angle >= 45.0:
        foot = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool)
    else:
        foot = np.array([[1]], dtype=bool)
    layers = np.flatnonzero(a.any(axis=(0, 1)))
    if layers.size:
        for k in range(int(layers[0]) + 1, a.shape[2]):
            below = ndimage.binary_dilation(a[:, :, k - 1], structure=foot)
            a[:, :, k] &= below | keep[:, :, k]
    if direction.startswith("-"):
        a = a[:, :, ::-1]
    return np.moveaxis(a, 2, axis)


def _symmetric(x: np.ndarray, lay: Layout) -> np.ndarray:
    """The mean of a field and its mirror images through the symmetry planes (cells without a mirror keep it)."""
    for mirror in lay.mirrors:
        flat = x.ravel()
        m = flat.copy()
        ok = mirror >= 0
        m[ok] = flat[mirror[ok]]
        x = (0.5 * (flat + m)).reshape(x.shape)
    return x


def mirror_map(shape: tuple[int, int, int], origin, pitch: float, axis: int, at: float) -> np.ndarray:
    """Flat index of each cell's mirror image through the plane ``coordinate[axis] = at`` mm (-1 where it falls
    outside the grid or between cells)."""
    idx = np.indices(shape)
    pos = origin[axis] + idx[axis] * pitch
    j = (2 * at - pos - origin[axis]) / pitch
    jr = np.rint(j).astype(int)
    ok = (np.abs(j - jr) < 0.25) & (jr >= 0) & (jr < shape[axis])
    idx[axis] = np.where(ok, jr, 0)
    flat = np.ravel_multi_index(tuple(idx), shape)
    return np.where(ok, flat, -1).ravel()


# ---- remodelling and surface growth ---------------------------------------------------------------------
def _top(mask: np.ndarray, stim: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` cells of ``mask`` with the highest stimulus (ties by cell index: deterministic)."""
    idx = np.flatnonzero(mask)
    out = np.zeros(mask.shape, dtype=bool)
    if k <= 0 or idx.size == 0:
        return out
    order = np.argsort(-stim.ravel()[idx], kind="stable")[:k]
    out.ravel()[idx[order]] = True
    return out


_FACES = ndimage.generate_binary_structure(3, 1)


def surface_growth(occ: np.ndarray, pull: np.ndarray, lay: Layout, share: float) -> np.ndarray:
    """One step of Mattheck's surface growth: the ``share`` of the movable surface cells (solid, not keep-in,
    touching empty space) least pulled (``pull``: stretch over the allowed, per cell) go, and as many empty domain
    cells next to the most pulled surface cells are filled: the cell count stays."""
    empty_near = ndimage.binary_dilation(~occ, structure=_FACES) & occ
    surface = empty_near & ~lay.keep_in
    k = max(1, round(share * int(surface.sum())))
    cells = np.flatnonzero(surface)
    order = np.argsort(pull.ravel()[cells], kind="stable")[:k]
    out = occ.copy()
    out.ravel()[cells[order]] = False
    grip = ndimage.maximum_filter(np.where(out, pull, 0.0), footprint=_FACES, mode="constant")
    candidates = ~out & ~occ & lay.domain & ndimage.binary_dilation(out, structure=_FACES)
    out |= _top(candidates, grip, k)
    return out


# ---- output ---------------------------------------------------------------------------------------------
def design_png(occ: np.ndarray, lay: Layout, path: Path, title: str = "") -> None:
    """Three projections of the design (grey), keep-in (blue) and supports (red), mm."""
    from fab.morph.plots import _save, plt

    fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
    for ax, axis, (a, b) in zip(axes, (2, 1, 0), (("x", "y"), ("x", "z"), ("y", "z")), strict=True):
        img = np.where(occ.any(axis=axis), 1.0, 0.0)
        img = np.where((occ & lay.keep_in).any(axis=axis), 2.0, img)
        img = np.where((occ & lay.fixed).any(axis=axis), 3.0, img)
        from matplotlib.colors import ListedColormap

        cmap = ListedColormap(["white", "0.45", "tab:blue", "tab:red"])
        ax.imshow(img.T, origin="lower", cmap=cmap, vmin=0, vmax=3)
        ax.set_xlabel(f"{a} (cells)")
        ax.set_ylabel(f"{b} (cells)")
        ax.set_aspect("equal")
    fig.suptitle(title, fontsize=9)
    _save(fig, path)


def loaded_design_png(occ: np.ndarray, lay: Layout, sol: CaseSolution, path: Path, title: str = "") -> None:
    """Three projections of a design under load: the cells deformed (the largest displacement drawn as 5 % of the
    part's size), the nearest cell of each line of sight on top, coloured by von Mises stress (MPa; held and
    loaded cells, which carry the boundary's artificial stress, set no colour limit); the undeformed outline
    grey."""
    from matplotlib.collections import PolyCollection

    from fab.morph.plots import _save, plt

    ijk = np.argwhere(occ)
    idx = tuple(ijk.T)
    pts = np.asarray(lay.origin) + ijk * lay.pitch  # mm
    u = sol.u[idx] / MM
    vm = (sol.von_mises[idx] if sol.von_mises is not None else np.zeros(len(ijk))) / 1e6
    size = float(np.ptp(pts, axis=0).max() + lay.pitch)
    umax = float(np.linalg.norm(u, axis=1).max()) if len(u) else 0.0
    scale = 0.05 * size / umax if umax > 0 else 1.0
    shown = pts + scale * u
    inner = ~(lay.fixed | np.logical_or.reduce(lay.loads))[idx]
    top = float(np.percentile(vm[inner] if inner.any() else vm, 99.5)) if len(vm) else 1.0
    half = 0.5 * lay.pitch
    square = np.array([[-half, -half], [half, -half], [half, half], [-half, half]])
    span = np.ptp(np.vstack([pts, shown]), axis=0) + lay.pitch
    fig, axes = plt.subplots(1, 3, figsize=(12, 4), layout="constrained",
                             width_ratios=[span[0], span[0], span[1]])  # fmt: skip
    cells = None
    for ax, (a, b, depth) in zip(axes, ((0, 1, 2), (0, 2, 1), (1, 2, 0)), strict=True):
        ax.add_collection(PolyCollection(pts[:, None, (a, b)] + square, facecolors="0.88", edgecolors="none"))
        order = np.argsort(shown[:, depth] * (1 if depth != 1 else -1), kind="stable")  # the viewer's side last
        cells = PolyCollection(shown[order][:, None, (a, b)] + square, array=vm[order], cmap="turbo", lw=0)
        cells.set_clim(0.0, max(top, 1e-9))
        ax.add_collection(cells)
        ax.autoscale_view()
        ax.set_aspect("equal")
        ax.set_xlabel(f"{'xyz'[a]} (mm)")
        ax.set_ylabel(f"{'xyz'[b]} (mm)")
    fig.colorbar(cells, ax=axes, shrink=0.8, label="von Mises (MPa)")
    fig.suptitle(f"{title}\ndeformation x {scale:.3g}", fontsize=9)
    _save(fig, path)
