"""What every ``fab`` command shares about its output: one-line errors with exit status 2, warnings as one line
on stderr, JSON on stdout. fab/cli.py and the commands other modules add to it (fab/morph/command.py) use it, so
neither imports the other.
"""

from __future__ import annotations

import functools
import json
import sys
import warnings
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from fab.errors import FabError, user_errors
from fab.progress import stderr_console

stdout_console = Console()


def reports_user_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn user errors into one line on stderr and exit status 2; route warnings to stderr as one line."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        def show_warning(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
            stderr_console.print(f"[yellow]warning:[/yellow] {escape(str(message))}", highlight=False)

        previous = warnings.showwarning
        warnings.showwarning = show_warning
        try:
            return command(*args, **kwargs)
        except user_errors() as exc:
            # Messages quote user text ("[material]", region names): escaped, so rich shows them as they are.
            stderr_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=getattr(exc, "exit_code", FabError.exit_code)) from None
        except KeyboardInterrupt:
            stderr_console.print("[red]interrupted[/red]")
            raise typer.Exit(code=130) from None
        finally:
            warnings.showwarning = previous

    return wrapper


def print_json(summary: dict) -> None:
    sys.stdout.write(json.dumps(summary, default=float) + "\n")


def live_options(live: bool, host: str, port: int, token: str | None):
    """A fab.live.LiveOptions when --live was given (None otherwise); --host/--port/--token need --live."""
    from fab.live import LiveOptions

    if not live:
        given = [n for n, v in (("--host", host != "127.0.0.1"), ("--port", port != 0), ("--token", token)) if v]
        if given:
            raise FabError(f"{', '.join(given)} apply to the live page: add --live")
        return None
    return LiveOptions(host=host, port=port, token=token)
