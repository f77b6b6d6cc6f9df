"""The live web page: a viser server (its built client ships in the wheel, so the page works offline).

``LiveServer`` binds 127.0.0.1 on a free port by default and prints the URL on stderr. Any other ``--host``
goes through :class:`fab.live.access.TokenGate`: the URL carries a secret token (given, or drawn at random as
Jupyter does) and requests without it are refused. viser's own banner and messages (printed on stdout) are
kept off stdout, which belongs to ``--json``.
"""

from __future__ import annotations

import contextlib
import io
import threading
import time
from typing import Any

import numpy as np

from fab.errors import FabError
from fab.live.access import TokenGate, free_port, is_loopback, resolve_token
from fab.progress import stderr_console

# Wall-clock seconds between snapshots sent to the page (the issue asks for at least one update a second).
INTERVAL = 0.5
# Largest share of the solver's time that snapshots may take: the next one waits for 1/BUDGET x its cost.
BUDGET = 0.05
# Bodies with more particles are shown as a fixed random subsample of this many (the solver keeps them all).
MAX_POINTS = 30_000


def _url_host(host: str) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return f"[{shown}]" if ":" in shown else shown


class LiveServer:
    """A viser server for one run; ``gui``/``scene`` are viser's. Use as a context manager or call close()."""

    def __init__(
        self,
        title: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        quiet: bool = False,
    ) -> None:
        import viser

        if not (0 <= int(port) <= 65535):
            raise FabError(f"--port must be between 0 and 65535, got {port}")
        self.token = resolve_token(host, token)
        self.host = host
        self.gate: TokenGate | None = None
        direct = self.token is None
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                self.viser = viser.ViserServer(
                    host=host if direct else "127.0.0.1", port=port if direct else 0, verbose=False
                )
            except OSError as exc:
                raise FabError(f"cannot start the live view on {host}:{port}: {exc}") from None
        inner = self.viser.get_port()
        if direct and port and inner != port:
            self.viser.stop()
            raise FabError(f"port {port} on {host} is taken: choose another --port or 0 for a free one")
        if direct:
            self.port = inner
        else:
            assert self.token is not None
            self.port = int(port) or free_port(host)
            self.gate = TokenGate(host, self.port, inner, self.token)
            try:
                self.gate.start()
            except FabError:
                self._stop_viser()
                raise
        self.viser.gui.configure_theme(
            show_share_button=False, control_width="large", show_logo=False, dark_mode=False
        )
        self.gui = self.viser.gui
        self.scene = self.viser.scene
        self.url = f"http://{_url_host(host)}:{self.port}/" + (f"?token={self.token}" if self.token else "")
        self.title = title
        self._closed = False
        if not quiet:
            stderr_console.print(f"live view: {self.url}", highlight=False, soft_wrap=True)
        if not is_loopback(host):
            stderr_console.print(
                f"[yellow]warning:[/yellow] the live view listens on {host}: anyone with the URL (token "
                "included) can steer this run; traffic is not encrypted (tunnel it, e.g. ssh -L)",
                highlight=False,
                soft_wrap=True,
            )

    @property
    def closed(self) -> bool:
        return self._closed

    def clients(self) -> int:
        """Browsers connected now."""
        return len(self.viser.get_clients())

    def wait_for_client(self, timeout: float) -> bool:
        """Block until a browser is connected (True) or ``timeout`` seconds passed (False)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.clients():
                return True
            time.sleep(0.05)
        return False

    def next_page(self) -> None:
        """Clear the page for the next stage of a run on the same URL (a part refinement: the failure tests of
        the original, the search, the failure tests of the refined part); a connected browser follows."""
        self.gui.reset()
        self.scene.reset()

    def _stop_viser(self) -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            self.viser.stop()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.gate is not None:
            self.gate.stop()
        self._stop_viser()

    def __enter__(self) -> LiveServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Throttle:
    """Decides when the next snapshot is due: every ``interval`` seconds of wall clock, but never more often
    than keeps the snapshots' own cost under ``budget`` of the time (cost measured as they are taken)."""

    def __init__(self, interval: float = INTERVAL, budget: float = BUDGET) -> None:
        self.interval, self.budget = interval, budget
        self.next = 0.0
        self.spent = 0.0  # seconds spent in snapshots
        self.count = 0

    def due(self) -> bool:
        return time.perf_counter() >= self.next

    def took(self, started: float) -> None:
        now = time.perf_counter()
        cost = now - started
        self.spent += cost
        self.count += 1
        self.next = now + max(self.interval, cost / self.budget)


def subsample(count: int, limit: int = MAX_POINTS, seed: int = 0) -> np.ndarray | None:
    """Indices of the particles shown (a sorted, seeded random subset), or None to show all."""
    if count <= limit:
        return None
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(count, size=limit, replace=False))


def colours(values: np.ndarray, lo: float, hi: float, categorical: bool = False) -> np.ndarray:
    """uint8 RGB for ``values``: turbo over [lo, hi], or a 20-colour cycle for labels."""
    from matplotlib import colormaps

    if categorical:
        rgb = colormaps["tab20"](np.asarray(values, dtype=np.int64) % 20)[:, :3]
    else:
        span = hi - lo if hi > lo else 1.0
        rgb = colormaps["turbo"](np.clip((np.asarray(values, dtype=float) - lo) / span, 0.0, 1.0))[:, :3]
    return (rgb * 255).astype(np.uint8)


class Controls:
    """Pause / resume / stop shared by the page (viser's threads) and the solver (the main thread)."""

    def __init__(self) -> None:
        self._running = threading.Event()
        self._running.set()
        self.stopped = False
        self.lock = threading.Lock()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        self.stopped = True
        self._running.set()

    def wait_while_paused(self, poll: Any = None) -> None:
        """Block the caller while paused; ``poll()`` runs every 0.2 s meanwhile (e.g. to refresh the page)."""
        while not self._running.wait(0.2):
            if poll is not None:
                poll()
