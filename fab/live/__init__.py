"""Live browser views that steer a run while it goes (``--live``) and show finished results (``fab view``).

- :mod:`fab.live.server`: the viser server (offline page), loopback by default, token-gated elsewhere
  (:mod:`fab.live.access`), snapshot throttling and subsampling, pause/resume/stop controls.
- :mod:`fab.live.simulation`: a stress test's particles, fields, curves; load factor and re-solve.
- :mod:`fab.live.search`: a design search's best design, convergence, Pareto front, ranking, veto, promote,
  workers.
- :mod:`fab.live.view`: finished results (VTU/PVD, a morph output folder).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import typer


@dataclass(frozen=True)
class LiveOptions:
    """Where the page listens: ``host`` (loopback unless told), ``port`` (0 = a free one), ``token`` (required
    in the URL on a non-loopback host: given, or drawn at random)."""

    host: str = "127.0.0.1"
    port: int = 0
    token: str | None = None


# The live view's options, shared by simulate, run, morph and view.
LiveFlag = Annotated[
    bool, typer.Option("--live", help="Open a live page in the browser that shows and steers the run.")
]
LiveHost = Annotated[
    str, typer.Option("--host", help="Address the live page listens on; not loopback needs a token.")
]
LivePort = Annotated[int, typer.Option("--port", help="Port of the live page (0: a free one).")]
LiveToken = Annotated[
    str | None,
    typer.Option("--token", help="Secret the page's URL must carry (default: none on loopback, drawn at random elsewhere)."),
]


__all__ = ["LiveFlag", "LiveHost", "LiveOptions", "LivePort", "LiveToken"]
