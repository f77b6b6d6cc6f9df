"""What a morphogenesis problem plugs into the search: a developmental program and its scoring.

A problem maps a genome (a vector in [0, 1]^n; discrete choices are genes read by thresholds) through
its generating or growth operations to geometry, scores that geometry (lower is better), and names
the guards that caught it. The search knows nothing else about it, so a new problem is one new module
with a class that satisfies :class:`Program`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

#: Added to the score of a design a guard caught, so it ranks below every clean design.
GUARD_PENALTY = 1e3


@dataclass(frozen=True)
class Evaluation:
    """The score of one genome at one resolution.

    ``score`` is minimised and already holds the constraint penalties; ``objectives`` (all minimised)
    feed the Pareto report; ``guards`` names every guard that caught the design (empty when clean);
    ``metrics`` are figures for the report (numbers or short strings).
    """

    score: float
    objectives: dict[str, float] = field(default_factory=dict)
    guards: tuple[str, ...] = ()
    metrics: dict[str, Any] = field(default_factory=dict)
    # What the program developed at the search's own resolution, where it hands it back (a part refinement's
    # development, its cells packed): the caller takes the best one instead of developing its genome again.
    design: Any = field(default=None, compare=False, repr=False)

    @property
    def ranked_score(self) -> float:
        """The score the search ranks by: guarded designs are demoted by :data:`GUARD_PENALTY`."""
        return self.score + (GUARD_PENALTY if self.guards else 0.0)


class Program(Protocol):
    """A developmental program and its objective, evaluated in worker processes (must pickle)."""

    name: str
    gene_names: tuple[str, ...]

    def evaluate(self, genome: np.ndarray, fine: bool = False) -> Evaluation:
        """Develop ``genome`` and score it; ``fine`` = the finer resolution used to re-score top designs."""
        ...

    def snapshot(self, genome: np.ndarray, path: Path, title: str = "") -> None:
        """Draw the developed design to a PNG."""
        ...
