"""Steering a search (what the live page does, without a browser): vetoes guard and persist, worker changes
leave the results for a seed unchanged, stop ends the search between generations."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fab.morph.executors import PoolExecutor, SerialExecutor
from fab.morph.guards import VETOED
from fab.morph.search import VETO_RADIUS, SearchSettings, run_search
from tests.test_morph import Toy, _trace


class Script:
    """Steering that acts at given generations: {generation: ("veto", record index) | ("workers", n) | ...}."""

    def __init__(self, actions: dict[int, tuple]) -> None:
        self.actions = actions
        self.generation = 0
        self.vetoes: list[int] = []
        self.promotions: list[dict] = []
        self.stop = False
        self.sizes: list[int] = []

    def before_generation(self, executor) -> None:
        action = self.actions.get(self.generation)
        if action and action[0] == "workers":
            executor.resize(action[1])
        self.sizes.append(len(executor.workers()))

    def take_vetoes(self) -> list[int]:
        action = self.actions.get(self.generation)
        if action and action[0] == "veto" and action[1] not in self.vetoes:
            self.vetoes.append(action[1])
            return [action[1]]
        return []

    def take_promotions(self) -> list[dict]:
        out, self.promotions = self.promotions, []
        return out

    def stop_requested(self) -> bool:
        action = self.actions.get(self.generation)
        return bool(action and action[0] == "stop")

    def on_generation(self, generation, records, history) -> None:
        self.generation = generation


def _search(path: Path, executor, steering=None, resume=False, generations=4):
    settings = SearchSettings(method="cma", generations=generations, population=6, seed=5, rescore_top=0)
    return run_search(Toy(), 3, settings, executor, path, resume=resume, steering=steering)


def test_veto_guards_the_design_and_its_neighbours_and_survives_a_resume(tmp_path: Path) -> None:
    plain = _search(tmp_path / "plain.pkl", SerialExecutor())
    best = min(range(6), key=lambda i: plain.records[i].evaluation.ranked_score)  # generation 1's best
    steering = Script({1: ("veto", best)})
    ck = tmp_path / "steered.pkl"
    part = _search(ck, SerialExecutor(), steering, generations=2)
    assert VETOED in part.records[best].evaluation.guards
    assert part.vetoes and part.vetoes[0]["record"] == best and part.vetoes[0]["at_generation"] == 1
    assert part.guards[VETOED] >= 1
    assert part.best.evaluation.guards == () and part.best is not part.records[best]
    # A fresh run without steering, resumed from the steered checkpoint, keeps the veto for new genomes.
    resumed = _search(ck, SerialExecutor(), None, resume=True)
    assert resumed.vetoes == part.vetoes
    vetoed = np.asarray(part.vetoes[0]["genome"])
    for r in resumed.records[12:]:
        near = float(np.sqrt(np.mean((r.genome - vetoed) ** 2))) < VETO_RADIUS
        assert (VETOED in r.evaluation.guards) == near
    # Generation 1 was evaluated before the veto: same genomes, the vetoed one now guarded.
    assert [r.genome.tolist() for r in plain.records[:6]] == [r.genome.tolist() for r in part.records[:6]]
    assert VETOED not in plain.records[best].evaluation.guards


def test_results_do_not_depend_on_the_worker_count(tmp_path: Path) -> None:
    serial = _search(tmp_path / "a.pkl", SerialExecutor())
    pool = PoolExecutor(1)
    try:
        steering = Script({1: ("workers", 2), 3: ("workers", 1)})
        grown = _search(tmp_path / "b.pkl", pool, steering)
    finally:
        pool.close()
    assert steering.sizes == [1, 2, 2, 1]
    assert _trace(serial) == _trace(grown)


def test_stop_ends_the_search_between_generations(tmp_path: Path) -> None:
    result = _search(tmp_path / "c.pkl", SerialExecutor(), Script({2: ("stop",)}))
    assert result.generations == 2 and result.stopped_by == "live view" and result.evaluations == 12
    again = _search(tmp_path / "c.pkl", SerialExecutor(), None, resume=True)
    full = _search(tmp_path / "d.pkl", SerialExecutor())
    assert _trace(again) == _trace(full)



def test_a_dask_cluster_grown_mid_run_gives_the_same_results(tmp_path: Path) -> None:
    from fab.morph.executors import DaskExecutor

    serial = _search(tmp_path / "a.pkl", SerialExecutor(), generations=3)
    dask = DaskExecutor(workers=1, processes=False)  # threads: cheap to start, same scheduling path
    try:
        steering = Script({1: ("workers", 2)})
        grown = _search(tmp_path / "b.pkl", dask, steering, generations=3)
    finally:
        dask.close()
    assert steering.sizes == [1, 2, 2]
    assert _trace(serial) == _trace(grown)


def test_adding_and_removing_workers_on_an_adaptive_cluster_moves_its_range() -> None:
    """cluster.adapt keeps adapting: the page's Add raises its minimum, Remove lowers its maximum (a plain scale
    would be undone at the next adaptation)."""
    import time

    from dask.distributed import LocalCluster

    from fab.morph.executors import DaskExecutor

    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None)
    cluster.adapt(minimum=1, maximum=3, interval="100ms", wait_count=2)
    executor = DaskExecutor(cluster=cluster)
    try:
        executor.resize(2)
        assert executor.adaptive_range() == (2, 3)
        time.sleep(1.0)  # ten adaptations later: still at least two (idle workers would have gone to 1)
        assert len(executor.workers()) >= 2
        executor.resize(1)
        assert executor.adaptive_range() == (1, 1)
        deadline = time.monotonic() + 10
        while len(executor.workers()) > 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(executor.workers()) == 1
    finally:
        executor.close()
        cluster.close()


def _square(x: int) -> int:
    return x * x


def test_executors_report_their_evaluations_as_they_finish_and_keep_the_order() -> None:
    from fab.morph.executors import DaskExecutor

    items = list(range(7))
    for executor in (SerialExecutor(), PoolExecutor(2), DaskExecutor(workers=2, processes=False)):
        calls: list[tuple[int, int]] = []

        def progress(done: int, total: int, calls: list = calls) -> None:
            calls.append((done, total))

        try:
            assert executor.map(_square, items, progress) == [x * x for x in items]
        finally:
            executor.close()
        assert calls == [(k, 7) for k in range(1, 8)], executor


def test_the_search_page_shows_the_generation_under_way_every_second(tmp_path: Path) -> None:
    import time
    import types

    from fab.live.search import SearchLive
    from fab.live.server import LiveServer

    mj = types.SimpleNamespace(problem_name="toy", problem=Toy(), output=tmp_path, settings=SearchSettings(generations=3))
    with LiveServer("toy", quiet=True) as server:
        page = SearchLive(server, mj, SerialExecutor())
        page.before_generation(SerialExecutor())
        page.evaluated(2, 6)  # the search's thread, from the executor's map; the page redraws by itself
        deadline = time.monotonic() + 3
        while "2 of 6 designs evaluated" not in page.status.content and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "generation 1 under way for" in page.status.content
        assert "2 of 6 designs evaluated" in page.status.content


def test_a_pool_starts_after_this_process_ran_openmp_threads() -> None:
    """numba's GNU OpenMP threads do not survive a fork (the child aborts): after a solve in this process (a
    part refinement's reference solves, the live page's picture under load) the pool spawns its processes."""
    import numba

    from fab.stress import run_test
    from tests.test_live_browser import _bar_job

    here = run_test(*_bar_job()).steps  # parallel kernels in this process
    pool = PoolExecutor(1)
    try:
        pool.resize(2)  # a new pool, as the live page's Add worker makes
        assert pool.map(_solve_bar, [0, 1]) == [here, here]  # parallel kernels in the pool's processes
    finally:
        pool.close()
    assert numba.threading_layer() in ("omp", "tbb", "workqueue")


def _solve_bar(_: int) -> int:
    from fab.stress import run_test
    from tests.test_live_browser import _bar_job

    return run_test(*_bar_job()).steps


class _ToyPart(Toy):
    """The toy as fab.refine._search sees a part problem: it also carries its reference solves to the workers."""

    def with_references(self, fine: bool = False, executor=None) -> _ToyPart:
        return self


def test_a_part_refinement_search_runs_with_the_live_page(tmp_path: Path, monkeypatch) -> None:
    import types

    import fab.morph.search as search
    from fab.live import LiveOptions
    from fab.live.search import SearchLive
    from fab.refine import _search

    seen: dict = {}

    def fake_search(problem, dimension, settings, executor, path, *, on_generation, pareto_keys, steering):
        seen.update(steering=steering, resizable=executor.resizable, pareto=pareto_keys)
        best = types.SimpleNamespace(genome=np.zeros(3), evaluation=types.SimpleNamespace(ranked_score=1.0))
        return types.SimpleNamespace(generations=1, evaluations=4, seconds=0.1, best=best, rescored=[],
                                     stopped_by="generations", guards={}, history=[{"seconds": 0.1}])  # fmt: skip

    monkeypatch.setattr(search, "run_search", fake_search)
    rj = types.SimpleNamespace(output=tmp_path, settings=SearchSettings(generations=1), workers=1)
    genome, _info, _guards, _design = _search(_ToyPart(), rj, None, None, True, LiveOptions())
    assert isinstance(seen["steering"], SearchLive) and seen["steering"].server.closed
    assert seen["resizable"] and seen["pareto"] == ("mass_ratio", "peak_over_allowed")
