"""Where evaluations run: in this process, a local process pool, or a dask.distributed cluster.

Every executor returns results in the order of its inputs, and evaluations are pure functions of the
genome, so a search gives identical results for the same seed whatever runs it, and however many workers it
has: ``resize(n)`` (the live view's add/remove) changes a local pool or a dask cluster between batches.
``workers()`` lists what evaluates now (one dict a worker: name, where, what it is doing). ``map`` may report
how many of its evaluations have finished (the live page's progress within a generation).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from fab.errors import FabError

# map(..., progress): progress(done, total) as evaluations finish (in any order; the results keep theirs).
Progress = Callable[[int, int], None]


class _OneThread:
    """``fn`` called with one numba thread (a dask worker runs its tasks in threads of its own, and numba's thread
    count is per calling thread: a local cluster's worker would otherwise run each evaluation's kernels on every
    core, so one worker took both cores and two workers halved each other's)."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn

    def __call__(self, item: Any) -> Any:
        import numba

        numba.set_num_threads(1)
        return self.fn(item)


def _single_threaded() -> None:
    # Several worker processes on few cores: one numba thread each avoids oversubscription.
    os.environ["NUMBA_NUM_THREADS"] = "1"
    try:
        import numba

        numba.set_num_threads(1)
    except (ImportError, ValueError):
        pass


class SerialExecutor:
    """Evaluate one after another in this process."""

    description = "serial"
    resizable = False

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], progress: Progress | None = None) -> list[Any]:
        out = []
        for item in items:
            out.append(fn(item))
            if progress is not None:
                progress(len(out), len(items))
        return out

    def workers(self) -> list[dict[str, Any]]:
        return [{"name": "this process", "address": f"pid {os.getpid()}", "status": "running"}]

    def resize(self, n: int) -> None:
        raise FabError("a serial search has one worker: start it with --workers 2 or more to add workers")

    def close(self) -> None:
        pass


def _pool_context():
    """The platform's start method, except after this process has run numba's GNU OpenMP threads (a part
    refinement's reference solves, the live page's picture under load): those do not survive a fork (the child
    aborts), so the pool's processes are spawned then."""
    import multiprocessing

    try:
        import numba

        layer = numba.threading_layer()
    except (ImportError, ValueError):  # ValueError: no parallel kernel has run in this process yet
        layer = None
    return multiprocessing.get_context("spawn") if layer == "omp" else multiprocessing.get_context()


class PoolExecutor:
    """A local pool of ``workers`` processes (concurrent.futures)."""

    resizable = True

    def __init__(self, workers: int) -> None:
        if int(workers) < 1:
            raise FabError(f"a process pool needs at least 1 worker, got {workers}")
        self.size = int(workers)
        self._pool = ProcessPoolExecutor(max_workers=self.size, initializer=_single_threaded, mp_context=_pool_context())

    @property
    def description(self) -> str:
        return f"process pool, {self.size} workers"

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], progress: Progress | None = None) -> list[Any]:
        futures = [self._pool.submit(fn, item) for item in items]
        if progress is not None:
            for done, _ in enumerate(as_completed(futures), 1):
                progress(done, len(futures))
        return [f.result() for f in futures]

    def workers(self) -> list[dict[str, Any]]:
        procs = list(getattr(self._pool, "_processes", None) or {})
        out = [{"name": f"process {i + 1}", "address": f"pid {pid}", "status": "running"} for i, pid in enumerate(procs)]
        out += [{"name": f"process {i + 1}", "address": "-", "status": "starts with the next batch"} for i in range(len(out), self.size)]
        return out[: self.size]

    def resize(self, n: int) -> None:
        """A new pool of ``n`` processes (the old one finishes its batch first: call between batches)."""
        if int(n) < 1:
            raise FabError(f"a process pool needs at least 1 worker, got {n}")
        if int(n) == self.size:
            return
        self._pool.shutdown(wait=True)
        self.size = int(n)
        self._pool = ProcessPoolExecutor(max_workers=self.size, initializer=_single_threaded, mp_context=_pool_context())

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor:
    """dask.distributed: a running scheduler (``tcp://host:8786``) or a local cluster of ``workers``."""

    def __init__(
        self,
        scheduler: str | None = None,
        workers: int | None = None,
        processes: bool = True,
        cluster: Any = None,
    ) -> None:
        """``scheduler``: the address of a running scheduler; ``cluster``: a dask cluster object you started
        (LocalCluster, dask-cloudprovider's FargateCluster/EC2Cluster ...: the live page scales it); neither: a
        local cluster of ``workers``."""
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise FabError("dask.distributed is not installed: pip install 'dask[distributed]'") from None
        self._cluster = None
        self._local = False
        if cluster is not None:
            self._cluster = cluster
            self._owned = False
            self.client = Client(cluster)
            self.description = f"dask cluster {getattr(cluster, 'scheduler_address', type(cluster).__name__)}"
            return
        self._owned = True
        if scheduler:
            try:
                self.client = Client(scheduler, timeout="10s")
            except (OSError, TimeoutError) as exc:
                raise FabError(f"cannot reach the dask scheduler at {scheduler}: {exc}") from None
            self.description = f"dask scheduler {scheduler}"
        else:
            n = int(workers or 1)
            # One thread per worker process for numba and BLAS from its start (set_num_threads in the task
            # covers numba's parallel loops only; a worker's numpy/scipy would otherwise use every core too).
            single = {name: "1" for name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                             "MKL_NUM_THREADS")}  # fmt: skip
            extra = {"env": single} if processes else {}
            self._cluster = LocalCluster(
                n_workers=n, threads_per_worker=1, processes=processes, dashboard_address=None, **extra
            )
            self.client = Client(self._cluster)
            self._local = True
            kind = "processes" if processes else "threads"
            self.description = f"dask local cluster, {n} workers ({kind})"

    resizable = True

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], progress: Progress | None = None) -> list[Any]:
        if self._local:  # threads_per_worker=1 on this machine's cores: one numba thread an evaluation
            fn = _OneThread(fn)
        futures = self.client.map(fn, list(items), pure=False)
        if progress is not None:
            from dask.distributed import as_completed as completed

            for done, _ in enumerate(completed(futures), 1):
                progress(done, len(futures))
        return self.client.gather(futures)

    def workers(self) -> list[dict[str, Any]]:
        info = self.client.scheduler_info(n_workers=-1).get("workers", {})
        return [
            {
                "name": str(w.get("name", addr)),
                "address": addr,
                "status": f"{w.get('metrics', {}).get('executing', 0)} running, {w.get('nthreads', 1)} threads",
            }
            for addr, w in sorted(info.items())
        ]

    def adaptive_range(self) -> tuple[int, float] | None:
        """(minimum, maximum) workers of the cluster's adaptive scaling (``cluster.adapt``) while it runs."""
        adaptive = getattr(self._cluster, "_adaptive", None)
        if adaptive is None or getattr(adaptive, "state", "running") in ("inactive", "stopped"):
            return None
        return adaptive.minimum, adaptive.maximum

    def resize(self, n: int) -> None:
        """Scale a cluster object to ``n`` workers; on a scheduler we did not start, retire workers (fewer) or
        say how to add them (dask workers join a scheduler themselves: ``dask worker ADDRESS``). An adaptive
        cluster keeps adapting: more workers raise its minimum to ``n``, fewer lower its maximum to ``n`` (a
        plain scale would be undone at its next adaptation)."""
        n = int(n)
        if n < 1:
            raise FabError(f"a dask cluster needs at least 1 worker, got {n}")
        if self._cluster is not None:
            span = self.adaptive_range()
            if span is None:
                self._cluster.scale(n)
            elif n >= len(self.workers()):
                self._cluster.adapt(minimum=n, maximum=max(span[1], n))
            else:
                self._cluster.adapt(minimum=min(span[0], n), maximum=n)
            try:
                self.client.wait_for_workers(n, timeout=60)
            except TimeoutError:
                raise FabError(
                    f"{len(self.workers())} workers have joined so far of the {n} asked for (new machines can take "
                    "minutes); the others join when they are up"
                ) from None
            return
        addresses = sorted(self.client.scheduler_info(n_workers=-1).get("workers", {}))
        if int(n) > len(addresses):
            raise FabError(
                f"this scheduler's workers join it themselves: start more with `dask worker {self.client.scheduler.address}`"
            )
        if int(n) < len(addresses):
            self.client.retire_workers(workers=addresses[int(n) :], close_workers=True)

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None and self._owned:
            self._cluster.close()


def make_executor(scheduler: str | None = None, workers: int | None = None, dask_local: bool = False):
    """``scheduler`` -> dask client; ``dask_local`` -> dask local cluster; workers > 1 -> process pool."""
    if scheduler:
        return DaskExecutor(scheduler=scheduler)
    if dask_local:
        return DaskExecutor(workers=workers or os.cpu_count() or 1)
    if workers is not None and workers < 1:
        raise FabError(f"--workers must be >= 1, got {workers}")
    n = workers if workers is not None else (os.cpu_count() or 1)
    return SerialExecutor() if n == 1 else PoolExecutor(n)
