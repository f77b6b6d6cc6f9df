"""``fab morph JOB.toml``: run a morphogenesis search end to end and write its files.

Search (fab.morph.search) -> per generation: checkpoint, convergence plot, PNG of the best design ->
re-score the top designs finely -> problem report (for the gear: reference involute pair, involute
fit, transmission error curves) -> fabrication files -> summary (also written as summary.json).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from exporters.atomic import atomic_open
from fab.morph import plots
from fab.morph.config import MorphJob, read_morph_job
from fab.morph.executors import make_executor
from fab.morph.problems import problem_module
from fab.morph.search import Record, SearchResult, run_search
from fab.progress import stderr_console


def run_morph(
    job: str | Path | MorphJob,
    *,
    resume: bool = False,
    scheduler: str | None = None,
    workers: int | None = None,
    budget_minutes: float | None = None,
    seed: int | None = None,
    quiet: bool = False,
    executor=None,
    live=None,
) -> dict[str, Any]:
    """Run the job's search (or resume it) and return the summary dict (see docs/morphogenesis.md).

    ``live`` (a :class:`fab.live.LiveOptions`) opens the live page that steers the search (fab.live.search).
    """
    from dataclasses import replace

    from fab.errors import FabError

    mj = job if isinstance(job, MorphJob) else read_morph_job(job)
    settings = mj.settings
    kind = problem_module(mj.problem_name)
    if budget_minutes is not None:
        if not (math.isfinite(budget_minutes) and budget_minutes > 0):
            raise FabError(f"--budget-minutes must be > 0, got {budget_minutes}")
        settings = replace(settings, budget_seconds=60.0 * budget_minutes)
    if seed is not None:
        if seed < 0:
            raise FabError(f"--seed must be >= 0, got {seed}")
        settings = replace(settings, seed=int(seed))
    if workers is not None and workers < 1:
        raise FabError(f"--workers must be at least 1, got {workers}")
    out = mj.output
    from fab.outputs import check_output_paths

    check_output_paths({"output": out / "summary.json"})
    out.mkdir(parents=True, exist_ok=True)
    (out / "generations").mkdir(exist_ok=True)
    own_executor = executor is None
    if executor is None:
        local = scheduler is not None and scheduler.strip().lower() == "local"
        executor = make_executor(
            None if local else scheduler, workers if workers is not None else mj.workers, dask_local=local
        )
        if live is not None and not getattr(executor, "resizable", False):
            from fab.morph.executors import PoolExecutor

            executor.close()
            executor = PoolExecutor(1)  # a pool the page can grow
    server = steering = None
    if live is not None:
        from fab.live.search import SearchLive
        from fab.live.server import LiveServer

        try:
            server = LiveServer(f"fab morph {mj.path.name}", host=live.host, port=live.port, token=live.token, quiet=quiet)
        except BaseException:
            if own_executor:
                executor.close()
            raise
        steering = SearchLive(server, mj, executor, kind.PARETO_KEYS)
    problem = mj.problem
    progress = None if quiet else _progress(settings.generations)

    def on_generation(gen: int, best: Record, history: list[dict[str, float]]) -> None:
        plots.convergence(history, out / "convergence.png", f"{mj.problem_name}: convergence")
        problem.snapshot(best.genome, out / "generations" / f"gen_{gen:03d}_best.png", f"generation {gen}")
        if progress is not None:
            bar, task = progress
            m = best.evaluation.metrics
            extra = f" TE {m['transmission_error_rad']:.2e} rad" if "transmission_error_rad" in m else ""
            bar.update(task, completed=gen, description=f"best {best.evaluation.ranked_score:.4g}{extra}")

    try:
        if progress is not None:
            progress[0].start()
        result = run_search(
            problem,
            problem.dimension,
            settings,
            executor,
            out / "checkpoint.pkl",
            resume=resume,
            on_generation=on_generation,
            pareto_keys=kind.PARETO_KEYS,
            steering=steering,
        )
    finally:
        if progress is not None:
            progress[0].stop()
        if server is not None:
            server.close()
        if own_executor:
            executor.close()
    summary = _summary(mj, result, settings)
    summary.update(kind.outputs(mj, result, quiet))
    summary["outputs"]["summary"] = str(out / "summary.json")
    summary = json_safe(summary)
    with atomic_open(out / "summary.json", "w") as fh:
        json.dump(summary, fh, indent=2)
    return summary


def json_safe(value: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, NaN and infinities to None (strict JSON has neither)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _progress(total: int):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("[bold]morph[/bold] generation"),
        MofNCompleteColumn(),
        BarColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=stderr_console,
        transient=True,
    )
    return bar, bar.add_task("starting", total=total)


def _summary(mj: MorphJob, result: SearchResult, settings) -> dict[str, Any]:
    best = result.best
    return {
        "job": str(mj.path),
        "problem": mj.problem_name,
        "method": settings.method,
        "seed": settings.seed,
        "generations": result.generations,
        "evaluations": result.evaluations,
        "seconds": round(result.seconds, 3),
        "stopped_by": result.stopped_by,
        "interrupted": result.interrupted,
        "best": {
            "generation": best.generation,
            "score": best.evaluation.score,
            "guards": list(best.evaluation.guards),
            "genome": [float(x) for x in best.genome],
            "objectives": best.evaluation.objectives,
            **{k: v for k, v in best.evaluation.metrics.items()},
        },
        "guards": result.guards,
        "rescored": result.rescored,
        "vetoes": result.vetoes,
        "promoted": result.promoted,
        "pareto": result.pareto,
        "history": result.history,
        "outputs": mj.search_outputs(),
    }
