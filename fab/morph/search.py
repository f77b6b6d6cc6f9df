"""The outer search over genomes: CMA-ES (``cma``) or a seeded genetic algorithm, generation by generation.

Each generation: ask the optimizer for genomes, evaluate them through the executor (results come back
in order), tell the optimizer their ranked scores, keep the best, write a checkpoint (atomically) and
call the per-generation hook (progress, plots). A person steering the run (``steering``, the live view) may
veto designs: a vetoed design and every later genome within VETO_RADIUS of it get the ``vetoed`` guard (ranked
below every clean design, so the optimizer is steered away); vetoes are kept in the checkpoint, so a resumed
run keeps them, and listed in the result. The optimizer's random stream is isolated from
everything else in the process, so a run resumed from a checkpoint continues exactly as if it had
never stopped, and the executor never changes the result. At the end the best few designs are
re-scored at the program's finer resolution; a design whose score moves by more than the tolerance
is flagged and demoted. Ctrl-C stops after saving: the best so far is kept.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from fab.errors import FabError
from fab.morph import checkpoint
from fab.morph.guards import ALL_GUARDS, UNSTABLE, VETOED
from fab.morph.program import GUARD_PENALTY, Evaluation, Program

METHODS = ("cma", "ga")
RESCORE_ROUNDS = 3  # rounds of re-scoring down the ranking, rescore_top designs each
# A genome within this RMS distance (in the [0, 1] genome box) of a vetoed one is vetoed too.
VETO_RADIUS = 0.05


@dataclass(frozen=True)
class SearchSettings:
    method: str = "cma"
    generations: int = 30
    population: int = 12
    sigma0: float = 0.25  # initial step size in the [0, 1] genome box
    seed: int = 1
    budget_seconds: float | None = None
    rescore_top: int = 3
    rescore_tolerance: float = 0.1  # relative score change that flags a design

    def fingerprint(self, program: Program) -> str:
        """What a checkpoint must match to be resumed (generations and budget may change)."""
        keep = {k: v for k, v in asdict(self).items() if k not in ("generations", "budget_seconds")}
        text = json.dumps({"search": keep, "program": repr(program)}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Record:
    generation: int
    genome: np.ndarray
    evaluation: Evaluation


@dataclass
class SearchResult:
    best: Record
    generations: int
    evaluations: int
    seconds: float
    history: list[dict[str, float]]
    guards: dict[str, int]
    rescored: list[dict[str, Any]]
    pareto: list[dict[str, Any]]
    interrupted: bool
    stopped_by: str
    records: list[Record] = field(repr=False, default_factory=list)
    vetoes: list[dict[str, Any]] = field(default_factory=list)
    promoted: list[dict[str, Any]] = field(default_factory=list)


class Steering(Protocol):
    """What a person steering a search (fab.live) plugs in; every method is called from the search's thread."""

    def before_generation(self, executor: Any) -> None:
        """Wait while paused; apply worker changes to ``executor``."""

    def take_vetoes(self) -> list[int]:
        """Indices (into the records) of the designs vetoed since the last call."""

    def take_promotions(self) -> list[dict[str, Any]]:
        """Designs written out since the last call (kept in the checkpoint and the result)."""

    def stop_requested(self) -> bool: ...

    def on_generation(self, generation: int, records: list[Record], history: list[dict[str, float]]) -> None:
        """After each generation (and once after a resume, with generation = the checkpoint's)."""

    # Optional: evaluated(done, total), called from the executor's map as a generation's evaluations finish.


def _vetoed(genome: np.ndarray, vetoes: list[dict[str, Any]]) -> bool:
    return any(
        float(np.sqrt(np.mean((genome - np.asarray(v["genome"])) ** 2))) < VETO_RADIUS for v in vetoes
    )


def _guarded(evaluation: Evaluation, name: str) -> Evaluation:
    if name in evaluation.guards:
        return evaluation
    return Evaluation(evaluation.score, evaluation.objectives, (*evaluation.guards, name), evaluation.metrics,
                      evaluation.design)


def _apply_vetoes(indices: list[int], records: list[Record], vetoes: list[dict[str, Any]], generation: int) -> None:
    """Record the vetoes of ``records[i]`` and guard every record near a vetoed genome."""
    for i in indices:
        if not 0 <= i < len(records) or _vetoed(records[i].genome, vetoes):
            continue
        r = records[i]
        vetoes.append(
            {"record": i, "generation": r.generation, "at_generation": generation, "genome": r.genome.tolist()}
        )
    for r in records:
        if VETOED not in r.evaluation.guards and _vetoed(r.genome, vetoes):
            r.evaluation = _guarded(r.evaluation, VETOED)


def _evaluate(task: tuple[Program, np.ndarray, bool]) -> Evaluation:
    program, genome, fine = task
    return program.evaluate(genome, fine=fine)


class _CMA:
    def __init__(self, dim: int, settings: SearchSettings) -> None:
        import cma

        rng = np.random.default_rng(settings.seed)
        x0 = rng.uniform(0.15, 0.85, dim)  # a random initial program
        # cma samples through ``randn``: give it its own stream so that pickling the strategy (the
        # checkpoint) carries the stream's exact state along.
        self.stream = np.random.RandomState(settings.seed)
        opts = {
            "seed": settings.seed,
            "randn": self.stream.randn,
            "popsize": settings.population,
            "bounds": [0.0, 1.0],
            "verbose": -9,
            "verb_log": 0,
            "verb_disp": 0,
        }
        saved = np.random.get_state()
        self.es = cma.CMAEvolutionStrategy(x0, settings.sigma0, opts)
        self.np_state = np.random.get_state()  # cma draws from numpy's global stream: keep ours apart
        np.random.set_state(saved)

    def ask(self) -> list[np.ndarray]:
        saved = np.random.get_state()
        np.random.set_state(self.np_state)
        try:
            return [np.asarray(x, dtype=float) for x in self.es.ask()]
        finally:
            self.np_state = np.random.get_state()
            np.random.set_state(saved)

    def tell(self, genomes: list[np.ndarray], scores: list[float]) -> None:
        saved = np.random.get_state()
        np.random.set_state(self.np_state)
        try:
            self.es.tell(genomes, scores)
        finally:
            self.np_state = np.random.get_state()
            np.random.set_state(saved)


class _GA:
    """Real-coded GA: tournament selection, blend crossover, Gaussian mutation, two elites."""

    def __init__(self, dim: int, settings: SearchSettings) -> None:
        self.rng = np.random.default_rng(settings.seed)
        self.pop = self.rng.uniform(0.0, 1.0, (settings.population, dim))
        self.sigma = settings.sigma0 / 2
        self.pending: list[np.ndarray] = [x for x in self.pop]

    def ask(self) -> list[np.ndarray]:
        return [x.copy() for x in self.pending]

    def tell(self, genomes: list[np.ndarray], scores: list[float]) -> None:
        order = np.argsort(scores, kind="stable")
        pop = np.array(genomes)[order]
        s = np.asarray(scores)[order]
        n, dim = pop.shape
        children = [pop[0], pop[1]]
        while len(children) < n:
            parents = []
            for _ in range(2):
                a, b = self.rng.integers(0, n, 2)
                parents.append(pop[a] if s[a] <= s[b] else pop[b])
            w = self.rng.uniform(-0.25, 1.25, dim)
            child = parents[0] + w * (parents[1] - parents[0])
            child += self.rng.normal(0.0, self.sigma, dim) * (self.rng.random(dim) < 0.5)
            children.append(np.clip(child, 0.0, 1.0))
        self.sigma *= 0.95
        self.pending = children


def _optimizer(dim: int, settings: SearchSettings):
    if settings.method == "cma":
        return _CMA(dim, settings)
    if settings.method == "ga":
        return _GA(dim, settings)
    raise FabError(f"[morph] method must be one of {', '.join(METHODS)}, got {settings.method!r}")


def pareto_front(records: list[Record], keys: tuple[str, ...]) -> list[Record]:
    """Clean records not dominated in every objective of ``keys`` (all minimised)."""
    pts = [
        (r, np.array([r.evaluation.objectives.get(k, math.inf) for k in keys]))
        for r in records
        if not r.evaluation.guards
        and all(math.isfinite(r.evaluation.objectives.get(k, math.inf)) for k in keys)
    ]
    front = []
    for r, p in pts:
        if not any(np.all(q <= p) and np.any(q < p) for _, q in pts):
            front.append(r)
    front.sort(key=lambda r: r.evaluation.objectives[keys[0]])
    unique: list[Record] = []
    for r in front:
        if not unique or any(r.evaluation.objectives[k] != unique[-1].evaluation.objectives[k] for k in keys):
            unique.append(r)
    return unique


def run_search(
    program: Program,
    dim: int,
    settings: SearchSettings,
    executor,
    checkpoint_path: Path,
    resume: bool = False,
    on_generation: Callable[[int, Record, list[dict[str, float]]], None] | None = None,
    pareto_keys: tuple[str, ...] = (),
    steering: Steering | None = None,
) -> SearchResult:
    """Run (or resume) the search; see the module docstring."""
    fingerprint = settings.fingerprint(program)
    start = time.perf_counter()
    vetoes: list[dict[str, Any]] = []
    promoted: list[dict[str, Any]] = []
    if resume:
        state = checkpoint.load(checkpoint_path, fingerprint)
        opt, records, history = state["optimizer"], state["records"], state["history"]
        generation, spent = state["generation"], state["seconds"]
        vetoes, promoted = list(state.get("vetoes", [])), list(state.get("promoted", []))
        if steering is not None:
            steering.on_generation(generation, records, history)
    else:
        opt, records, history, generation, spent = _optimizer(dim, settings), [], [], 0, 0.0
    interrupted = False
    stopped_by = "generations"

    def save() -> None:
        checkpoint.save(
            checkpoint_path,
            {
                "fingerprint": fingerprint,
                "optimizer": opt,
                "records": records,
                "history": history,
                "generation": generation,
                "seconds": spent + time.perf_counter() - start,
                "vetoes": vetoes,
                "promoted": promoted,
            },
        )

    try:
        while generation < settings.generations:
            if steering is not None:
                steering.before_generation(executor)
                _apply_vetoes(steering.take_vetoes(), records, vetoes, generation)
                if steering.stop_requested():
                    stopped_by = "live view"
                    break
            elapsed = spent + time.perf_counter() - start
            last = history[-1]["seconds"] if history else 0.0
            if settings.budget_seconds is not None and elapsed + last > settings.budget_seconds:
                stopped_by = "budget"
                break
            t0 = time.perf_counter()
            genomes = opt.ask()
            items = [(program, g, False) for g in genomes]
            evaluated = getattr(steering, "evaluated", None)  # the live page counts a generation's evaluations
            evals = executor.map(_evaluate, items) if evaluated is None else executor.map(_evaluate, items, evaluated)
            if vetoes:
                evals = [_guarded(e, VETOED) if _vetoed(g, vetoes) else e for g, e in zip(genomes, evals, strict=True)]
            opt.tell(genomes, [e.ranked_score for e in evals])
            generation += 1
            records.extend(Record(generation, g, e) for g, e in zip(genomes, evals, strict=True))
            best = min(records, key=lambda r: r.evaluation.ranked_score)
            scores = [e.ranked_score for e in evals]
            history.append(
                {
                    "generation": generation,
                    "best": best.evaluation.ranked_score,
                    "generation_best": float(min(scores)),
                    "median": float(np.median(scores)),
                    "seconds": time.perf_counter() - t0,
                }
            )
            if steering is not None:
                promoted.extend(steering.take_promotions())
            save()
            if on_generation is not None:
                on_generation(generation, best, history)
            if steering is not None:
                steering.on_generation(generation, records, history)
    except KeyboardInterrupt:
        interrupted = True
        stopped_by = "interrupted"
    if steering is not None:
        # Vetoes and promotions made during the last generation count too (the checkpoint gets them).
        _apply_vetoes(steering.take_vetoes(), records, vetoes, generation)
        promoted.extend(steering.take_promotions())
        if records:
            save()
    if not records:
        raise FabError("the search stopped before its first generation finished: nothing to report")
    rescored = [] if interrupted else _rescore(program, executor, records, settings)
    guards = {name: 0 for name in ALL_GUARDS}
    for r in records:
        for name in r.evaluation.guards:
            guards[name] = guards.get(name, 0) + 1
    best = min(records, key=lambda r: r.evaluation.ranked_score)
    front = pareto_front(records, pareto_keys) if pareto_keys else []
    return SearchResult(
        best=best,
        generations=generation,
        evaluations=len(records),
        seconds=spent + time.perf_counter() - start,
        history=history,
        guards=guards,
        rescored=rescored,
        pareto=[
            {"generation": r.generation, "genome": r.genome.tolist(), **r.evaluation.objectives}
            for r in front
        ],
        interrupted=interrupted,
        stopped_by=stopped_by,
        records=records,
        vetoes=vetoes,
        promoted=promoted,
    )


def _rescore(program: Program, executor, records: list[Record], settings: SearchSettings) -> list[dict]:
    """Re-evaluate the best distinct clean designs at the finer resolution; flag and demote movers.

    A flagged design keeps its coarse evaluation with the ``resolution_sensitive`` guard added, so it
    ranks below every clean design; an unflagged one takes its fine evaluation. Demotions (and fine scores
    worse than a coarse one below them) reorder the ranking, so re-scoring goes on down it, ``rescore_top``
    designs a round (in parallel), until the top ``rescore_top`` clean designs have all been re-scored, at
    most RESCORE_ROUNDS rounds: the reported best is then one whose score held at the finer resolution.
    """
    out: list[dict] = []
    done: list[np.ndarray] = []
    prepared = False
    for _ in range(RESCORE_ROUNDS):
        ranked = sorted(range(len(records)), key=lambda i: records[i].evaluation.ranked_score)
        top: list[int] = []
        for i in ranked:
            if len(top) >= settings.rescore_top or records[i].evaluation.guards:
                break
            if not any(np.array_equal(records[i].genome, records[j].genome) for j in top):
                top.append(i)
        chosen = [i for i in top if not any(np.array_equal(records[i].genome, g) for g in done)]
        if not chosen:
            break
        if not prepared:  # a program may solve what every fine evaluation needs once, side by side (its references)
            prepared = True
            program = program.for_rescoring(executor) if hasattr(program, "for_rescoring") else program
        fine = executor.map(_evaluate, [(program, records[i].genome, True) for i in chosen])
        for i, f in zip(chosen, fine, strict=True):
            done.append(records[i].genome)
            coarse = records[i].evaluation
            change = abs(f.score - coarse.score) / max(abs(coarse.score), 1e-12)
            flagged = change > settings.rescore_tolerance or bool(f.guards)
            if flagged:
                verdict = Evaluation(
                    coarse.score, coarse.objectives, (*coarse.guards, UNSTABLE), coarse.metrics, coarse.design
                )
            else:  # the fine score; the design stays the one developed at the search's resolution
                verdict = replace(f, design=coarse.design)
            for r in records:  # the same genome met again (a GA's elite) gets the same verdict
                if np.array_equal(r.genome, records[i].genome):
                    r.evaluation = verdict
            out.append(
                {
                    "generation": records[i].generation,
                    "coarse_score": coarse.score,
                    "fine_score": f.score,
                    "relative_change": change,
                    "flagged": flagged,
                    "fine_guards": list(f.guards),
                }
            )
    return out


__all__ = [
    "GUARD_PENALTY",
    "METHODS",
    "Record",
    "SearchResult",
    "SearchSettings",
    "Steering",
    "VETO_RADIUS",
    "pareto_front",
    "run_search",
]
