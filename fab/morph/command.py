"""The ``fab morph`` command; ``register(app)`` adds it to a typer app (fab.cli calls it)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fab.live import LiveFlag, LiveHost, LivePort, LiveToken


def register(app: typer.Typer) -> None:
    """Add ``morph JOB.toml [--json] [--resume] [--scheduler ADDR] [--workers N] [--budget-minutes M]
    [--seed S]`` to ``app``."""
    from fab.cli import live_options, print_json, reports_user_errors, stdout_console

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
                help="dask scheduler address (tcp://host:8786), or 'local' for a local dask cluster."
            ),
        ] = None,
        workers: Annotated[
            int | None, typer.Option(help="Worker processes (default: [morph] workers, else all cores).")
        ] = None,
        budget_minutes: Annotated[
            float | None, typer.Option(help="Stop starting generations after this many minutes.")
        ] = None,
        seed: Annotated[int | None, typer.Option(help="Random seed (overrides [morph] seed).")] = None,
        live: LiveFlag = False,
        host: LiveHost = "127.0.0.1",
        port: LivePort = 0,
        token: LiveToken = None,
    ) -> None:
        """Search over developmental programs (morphogenesis) and write the best design's files."""
        from fab.morph.run import run_morph

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
        if "transmission_error_rad" in summary:
            lines += [
                f"transmission error {summary['transmission_error_rad']:.3e} rad "
                f"(standard 20 deg involute pair: {summary['reference_transmission_error_rad']:.3e} rad)",
                f"flank vs best-fit involute {summary['involute_deviation_pct_module']:.3f} % of the module, "
                f"pressure angle {summary['pressure_angle_deg']:.2f} deg, "
                f"contact ratio {summary['contact_ratio']:.3f}",
            ]
        if "compliance_nmm" in summary:
            failure = summary["failure_load_n"]
            lines += [
                f"compliance {summary['compliance_nmm']:.4g} N mm (full domain "
                f"{summary['full_domain_compliance_nmm']:.4g}), volume fraction {summary['volume_fraction']:.3f}, "
                f"peak bond stretch {summary['peak_stretch']:.3e}",
                (
                    f"failure test: {failure:.4g} N"
                    if failure is not None
                    else summary["failure_note"] or "failure test: no result"
                )
                + f" (service load {summary['service_load_n']:g} N, first bond break estimated at "
                f"{summary['first_break_load_n']:.4g} N)",
            ]
        caught = ", ".join(f"{k} {v}" for k, v in summary["guards"].items())
        lines.append(f"guards caught: {caught}")
        lines.append("written: " + ", ".join(summary["outputs"].values()))
        for line in lines:
            stdout_console.print(line, highlight=False, soft_wrap=True)
