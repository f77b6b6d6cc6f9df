"""The ``fab morph`` command; ``register(app)`` adds it to a typer app (fab.cli calls it)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fab.live import LiveFlag, LiveHost, LivePort, LiveToken


def register(app: typer.Typer) -> None:
    """Add ``morph JOB.toml [--json] [--resume] [--scheduler ADDR] [--workers N] [--budget-minutes M]
    [--seed S]`` to ``app``."""
    from fab.console import live_options, print_json, reports_user_errors, stdout_console

    @app.command()
    @reports_user_errors
    def morph(
        job: Annotated[Path, typer.Argument(help="Morph job file (TOML with a [morph] table).")],
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
        resume: Annotated[
            bool, typer.Option(help="Continue from the checkpoint in the output folder.")
        ] = False,
        scheduler: Annotated[
            str | None,
            typer.Option(
                help="dask scheduler address (tcp://host:8786), or 'local' for a local dask cluster "
                "(default: a local process pool)."
            ),
        ] = None,
        workers: Annotated[
            int | None, typer.Option(help="Worker processes (default: [morph] workers, else all cores).")
        ] = None,
        budget_minutes: Annotated[
            float | None, typer.Option(help="Stop starting generations after this many minutes (default: [morph] budget_minutes, else no limit).")
        ] = None,
        seed: Annotated[int | None, typer.Option(help="Random seed (default: [morph] seed).")] = None,
        live: LiveFlag = False,
        host: LiveHost = "127.0.0.1",
        port: LivePort = 0,
        token: LiveToken = None,
    ) -> None:
        """Search over developmental programs (morphogenesis) and write the best design's files."""
        from fab.morph.run import run_morph
        from fab.run import morph_only

        if job.is_file() and not morph_only(job):  # a [morph] table beside a [part]: refine that part
            from fab.job import load_job
            from fab.refine import refine, refine_lines

            summary = refine(
                load_job(job), failure=False, exports=False, workers=workers, scheduler=scheduler, seed=seed,
                budget_minutes=budget_minutes, live=live_options(live, host, port, token),
            )
            if as_json:
                print_json(summary)
            else:
                for line in refine_lines(summary):
                    stdout_console.print(line, highlight=False, soft_wrap=True)
            return
        summary = run_morph(
            job,
            resume=resume,
            scheduler=scheduler,
            workers=workers,
            budget_minutes=budget_minutes,
            seed=seed,
            live=live_options(live, host, port, token),
        )
        if as_json:
            print_json(summary)
            return
        best = summary["best"]
        lines = [
            f"fab morph: {summary['problem']}, {summary['generations']} generations, "
            f"{summary['evaluations']} evaluations, {summary['seconds']:.1f} s ({summary['stopped_by']})",
            f"best score {best['score']:.4g} (generation {best['generation']})",
        ]
        from fab.morph.problems import problem_module

        lines += problem_module(summary["problem"]).summary_lines(summary)
        caught = ", ".join(f"{k} {v}" for k, v in summary["guards"].items())
        lines.append(f"guards caught: {caught}")
        lines.append("written: " + ", ".join(summary["outputs"].values()))
        for line in lines:
            stdout_console.print(line, highlight=False, soft_wrap=True)
