"""Does the answer depend on the lattice? A pitch-refinement study of a stress test (``--converge``,
``stress_test(..., converge=True)``).

The test runs at its pitch, then at pitch / RATIO, pitch / RATIO^2, ... until every reported quantity changed by
less than ``tolerance`` (relative) between the last two runs, or the next run would need more than
``max_particles`` particles (the budget stops it, and says so). With three or more runs at a constant ratio the
observed order of convergence p and the Richardson-extrapolated value f_h + (f_h - f_2h) / (r^p - 1) are given
for each quantity (Roache, Verification and Validation in Computational Science and Engineering, 1998).

When is a pitch fine enough? Thin walls are the usual limit: keep at least MIN_ACROSS particles across the
thinnest feature (a plate 5 mm thick needs a pitch of 1.25 mm or finer); a peak stress at a sharp corner or a
point load never converges (the elastic solution is singular there): judge it by the stress a little away from
the corner, or by the displacement and the failure load, which do converge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from fab.errors import FabError
from fab.job import Job, VoxelSpec

RATIO = 1.4  # pitch ratio between runs: 2.7x the particles each step in 3D
DEFAULT_TOLERANCE = 0.02
DEFAULT_MAX_PARTICLES = 200_000
MIN_ACROSS = 4
# The quantities compared (report attribute, label, unit scale, unit).
QUANTITIES = (
    ("max_displacement_mm", "max displacement", 1.0, "mm"),
    ("max_von_mises_pa", "max von Mises", 1e-6, "MPa"),
    ("failure_load_n", "failure load", 1.0, "N"),
    ("failure_torque_nm", "failure torque", 1.0, "N*m"),
    ("shear_strength_n", "shear strength", 1.0, "N"),
)


@dataclass
class ConvergenceStudy:
    """The runs of a refinement study, finest last, and what they say."""

    pitches: list[float] = field(default_factory=list)
    particles: list[int] = field(default_factory=list)
    values: dict[str, list[float]] = field(default_factory=dict)  # attribute -> one value per run
    converged: bool = False
    stopped_by: str = ""  # "tolerance" or why it stopped without converging
    tolerance: float = DEFAULT_TOLERANCE
    reports: list[Any] = field(default_factory=list)

    def change(self, key: str) -> float | None:
        """Relative change of a quantity between the last two runs."""
        v = self.values.get(key, [])
        if len(v) < 2 or v[-1] == 0:
            return None
        return abs(v[-1] - v[-2]) / abs(v[-1])

    def extrapolated(self, key: str) -> tuple[float, float] | None:
        """(observed order p, Richardson value) from the last three runs, or None when they do not settle
        monotonically (no order can be read from them)."""
        v = self.values.get(key, [])
        if len(v) < 3:
            return None
        f3, f2, f1 = v[-3], v[-2], v[-1]  # coarse -> fine
        d_coarse, d_fine = f2 - f3, f1 - f2
        if d_fine == 0 or d_coarse == 0 or (d_coarse > 0) != (d_fine > 0) or abs(d_fine) >= abs(d_coarse):
            return None
        order = math.log(d_coarse / d_fine) / math.log(RATIO)
        return order, f1 + d_fine / (RATIO**order - 1.0)

    def lines(self) -> list[str]:
        """The series and the verdict, readable."""
        keys = [k for k, *_ in QUANTITIES if k in self.values]
        out = ["convergence study (pitch mm, particles, " + ", ".join(_label(k) for k in keys) + "):"]
        for i, (pitch, n) in enumerate(zip(self.pitches, self.particles, strict=True)):
            cells = [_fmt(k, self.values[k][i]) for k in keys]
            out.append(f"  {pitch:8.4g} {n:10,}  " + "  ".join(cells))
        for k in keys:
            change = self.change(k)
            richardson = self.extrapolated(k)
            text = f"{_label(k)}: last change {'-' if change is None else f'{100 * change:.2g} %'}"
            if richardson is not None:
                text += f"; extrapolated {_fmt(k, richardson[1])} (observed order {richardson[0]:.2g})"
            out.append("  " + text)
        if self.converged:
            out.append(f"converged: every quantity changed by less than {100 * self.tolerance:g} % at the last step")
        else:
            out.append(f"NOT converged in pitch: {self.stopped_by}")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "pitch_mm": self.pitches,
            "particles": self.particles,
            "values": self.values,
            "relative_change": {k: self.change(k) for k in self.values},
            "extrapolated": {k: (None if (e := self.extrapolated(k)) is None else e[1]) for k in self.values},
            "converged": self.converged,
            "stopped_by": self.stopped_by,
            "tolerance": self.tolerance,
        }


def _label(key: str) -> str:
    return next(f"{label} ({unit})" for k, label, _, unit in QUANTITIES if k == key)


def _fmt(key: str, value: float) -> str:
    scale = next(s for k, _, s, _ in QUANTITIES if k == key)
    return f"{value * scale:.4g}"


def converge(
    job: Job,
    run,  # (job) -> (report, grid): one stress test
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    max_particles: int = DEFAULT_MAX_PARTICLES,
    max_runs: int = 6,
) -> ConvergenceStudy:
    """Run ``job`` at its pitch and finer ones until the reported quantities settle (see the module's doc)."""
    if not 0 < tolerance < 1:
        raise FabError(f"convergence tolerance must be between 0 and 1, got {tolerance}")
    if max_particles < 1:
        raise FabError(f"the particle budget must be positive, got {max_particles}")
    study = ConvergenceStudy(tolerance=tolerance)
    current = job
    while True:
        report, grid = run(current)
        study.reports.append(report)
        study.pitches.append(float(report.pitch_mm))
        study.particles.append(int(report.particles))
        for key, *_ in QUANTITIES:
            value = getattr(report, key, None)
            if value is not None:
                study.values.setdefault(key, []).append(float(value))
        # a quantity missing from some runs (no failure found) is not compared
        study.values = {k: v for k, v in study.values.items() if len(v) == len(study.pitches)}
        changes = [study.change(k) for k in study.values]
        if len(study.pitches) >= 2 and changes and all(c is not None and c < tolerance for c in changes):
            study.converged, study.stopped_by = True, "tolerance"
            return study
        growth = RATIO ** report.dimension
        if report.particles * growth > max_particles:
            study.stopped_by = (
                f"the next pitch ({report.pitch_mm / RATIO:.3g} mm, about {int(report.particles * growth):,} "
                f"particles) is over the budget of {max_particles:,}: raise the budget or start finer"
            )
            return study
        if len(study.pitches) >= max_runs:
            study.stopped_by = f"{max_runs} runs without settling"
            return study
        current = replace(current, voxels=VoxelSpec(pitch=report.pitch_mm / RATIO))
