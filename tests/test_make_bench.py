"""`make bench` runs every benchmark the README names (issue 16: the README's figures come from scripts a reader
can rerun in one command)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bench_target() -> str:
    text = (ROOT / "Makefile").read_text()
    match = re.search(r"^bench:.*?\n((?:\t.*\n)+)", text, flags=re.M)
    assert match, "Makefile has no bench target"
    return match.group(1)


def test_make_bench_runs_every_benchmark_the_readme_names():
    named = set(re.findall(r"benchmarks/((?:bench_|validation)\w*\.py)", (ROOT / "README.md").read_text()))
    named.discard("validation_tools.py")  # helpers of the validation scripts, not a benchmark
    assert named, "the README names no benchmark"
    run = set(re.findall(r"benchmarks/(\w+\.py)", _bench_target()))
    assert named <= run, f"make bench does not run: {sorted(named - run)}"
    for script in run:
        assert (ROOT / "benchmarks" / script).is_file(), script
