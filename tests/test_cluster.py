"""docs/cluster.md runs as written: a TLS dask scheduler and two worker processes on 127.0.0.1 (dask's own
`dask scheduler` / `dask worker` commands), a small `fab morph --scheduler tls://...` search on them, the
cluster stopped. Blocks marked `bash cloud` need a cloud account and are left out, as the doc says."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "cluster.md"


def _runnable_blocks(text: str) -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```", text, flags=re.S | re.M)


def test_cluster_doc_runs_a_search_on_a_tls_scheduler_with_two_workers() -> None:
    text = DOC.read_text(encoding="utf-8")
    blocks = _runnable_blocks(text)
    assert len(blocks) == 2 and "```bash cloud" in text  # the cloud example exists and is the one left out
    summary_path = ROOT / "out" / "cluster_summary.json"
    summary_path.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", "\n".join(blocks)],
        cwd=ROOT,
        env=env,
        start_new_session=True,  # the scheduler and workers it starts share its process group
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = proc.communicate(timeout=300)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever the script left behind (it should leave nothing)
        except ProcessLookupError:
            pass
    assert proc.returncode == 0, output[-3000:]
    summary = json.loads(summary_path.read_text())
    assert summary["evaluations"] == 4 and summary["generations"] == 1
    workers = (ROOT / "out" / "workers.log").read_text()
    assert len(re.findall(r"Start worker at:\s+tls://127\.0\.0\.1", workers)) == 2, workers[-2000:]
    scheduler = (ROOT / "out" / "scheduler.log").read_text()
    assert "tls://127.0.0.1:8786" in scheduler
