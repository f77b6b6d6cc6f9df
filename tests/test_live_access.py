"""Who may open a live page: loopback by default, a token in the URL anywhere else (as Jupyter)."""

from __future__ import annotations

import urllib.error
import urllib.request

import numpy as np
import pytest

from fab.errors import FabError
from fab.live.access import is_loopback, resolve_token
from fab.live.server import LiveServer, Throttle, subsample


def _status(url: str, cookie: str | None = None) -> int:
    req = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_loopback_serves_the_offline_page_without_a_token() -> None:
    with LiveServer("t", quiet=True) as server:
        assert server.token is None and server.url == f"http://127.0.0.1:{server.port}/"
        with urllib.request.urlopen(server.url, timeout=10) as r:
            page = r.read().decode()
        assert r.status == 200 and "<script" in page and "cdn" not in page.lower()[:5000]


def test_a_token_gates_the_page_and_its_websocket() -> None:
    with LiveServer("t", token="s3cret", quiet=True) as server:
        base = f"http://127.0.0.1:{server.port}/"
        assert server.url == base + "?token=s3cret"
        assert _status(base) == 403
        assert _status(base + "?token=wrong") == 403
        assert _status(base + "?token=s3cret") == 200
        assert _status(base, cookie="fab_live_token=s3cret") == 200  # what the page's websocket carries
        assert _status(base, cookie="fab_live_token=nope") == 403
        assert server.gate is not None and server.gate.refused == 3


def test_off_loopback_a_token_is_required() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    assert resolve_token("127.0.0.1", None) is None
    drawn = resolve_token("0.0.0.0", None)
    assert drawn and len(drawn) >= 24 and drawn != resolve_token("0.0.0.0", None)
    assert resolve_token("10.0.0.2", "given") == "given"
    with pytest.raises(FabError, match="non-empty --token"):
        resolve_token("0.0.0.0", "")


def test_snapshots_keep_to_their_budget_and_big_bodies_are_subsampled() -> None:
    throttle = Throttle(interval=0.5, budget=0.05)
    import time

    started = time.perf_counter() - 0.1  # a snapshot that took 0.1 s
    throttle.took(started)
    assert throttle.next - time.perf_counter() > 1.9  # waits 20x its cost, more than the interval
    assert subsample(100, 1000) is None
    idx = subsample(10_000, 1000)
    assert len(idx) == 1000 and np.all(np.diff(idx) > 0) and np.array_equal(idx, subsample(10_000, 1000))


def test_cli_live_flags_need_live_and_fail_in_one_line(tmp_path) -> None:
    from typer.testing import CliRunner

    from fab.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["simulate", str(tmp_path / "missing.py"), "--port", "8123"])
    assert result.exit_code == 2 and "--port apply to the live page: add --live" in result.output
    result = runner.invoke(app, ["view", str(tmp_path / "nothing.vtu")])
    assert result.exit_code == 2 and "not found" in result.output
    (tmp_path / "notes.txt").write_text("x")
    result = runner.invoke(app, ["view", str(tmp_path / "notes.txt")])
    assert result.exit_code == 2 and ".vtu / .pvd results or a morph output folder" in result.output


def test_stop_from_the_page_ends_a_failure_test_with_the_state_reached() -> None:
    from dataclasses import replace

    from fab.live.simulation import SimulationLive
    from fab.stress import run_test
    from tests.test_live_browser import _bar_job

    grid, job = _bar_job()
    job = replace(job, test=replace(job.test, kind="failure"))
    with LiveServer("t", quiet=True) as server:
        view = SimulationLive(server, hold=False)
        view.controls.stop()  # as if Stop was clicked before the first check
        report = run_test(grid, job, live=view)
    assert not report.converged and report.failure_load_n is None
    assert any(n.startswith("stopped from the live view (service load)") for n in report.notes)
