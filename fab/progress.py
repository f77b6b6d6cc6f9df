"""Progress display on stderr, so stdout stays clean for ``--json`` and piping."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from rich.console import Console

stderr_console = Console(stderr=True)


class StageTimer:
    """Times named pipeline stages and shows a spinner for each one on stderr."""

    def __init__(self, quiet: bool = False) -> None:
        self.seconds: dict[str, float] = {}
        self.quiet = quiet
        self._start = time.perf_counter()

    @contextlib.contextmanager
    def stage(self, name: str, message: str) -> Iterator[None]:
        start = time.perf_counter()
        if self.quiet:
            yield
        else:
            with stderr_console.status(message, spinner="dots"):
                yield
        self.seconds[name] = time.perf_counter() - start

    def timings(self) -> dict[str, float]:
        """Seconds per stage plus ``total`` since the timer was created."""
        out = {name: round(value, 4) for name, value in self.seconds.items()}
        out["total"] = round(time.perf_counter() - self._start, 4)
        return out
