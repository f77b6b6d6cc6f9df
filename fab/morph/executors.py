"""Where evaluations run: in this process, a local process pool, or a dask.distributed cluster.

Every executor returns results in the order of its inputs, and evaluations are pure functions of the
genome, so a search gives identical results for the same seed whatever runs it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from fab.errors import FabError


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

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        return [fn(item) for item in items]

    def close(self) -> None:
        pass


class PoolExecutor:
    """A local pool of ``workers`` processes (concurrent.futures)."""

    def __init__(self, workers: int) -> None:
        self.workers = int(workers)
        self.description = f"process pool, {self.workers} workers"
        self._pool = ProcessPoolExecutor(max_workers=self.workers, initializer=_single_threaded)

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        return list(self._pool.map(fn, items))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor:
    """dask.distributed: a running scheduler (``tcp://host:8786``) or a local cluster of ``workers``."""

    def __init__(
        self, scheduler: str | None = None, workers: int | None = None, processes: bool = True
    ) -> None:
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise FabError("dask.distributed is not installed: pip install 'dask[distributed]'") from None
        self._cluster = None
        if scheduler:
            try:
                self.client = Client(scheduler, timeout="10s")
            except (OSError, TimeoutError) as exc:
                raise FabError(f"cannot reach the dask scheduler at {scheduler}: {exc}") from None
            self.description = f"dask scheduler {scheduler}"
        else:
            n = int(workers or 1)
            self._cluster = LocalCluster(
                n_workers=n, threads_per_worker=1, processes=processes, dashboard_address=None
            )
            self.client = Client(self._cluster)
            kind = "processes" if processes else "threads"
            self.description = f"dask local cluster, {n} workers ({kind})"

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        futures = self.client.map(fn, list(items), pure=False)
        return self.client.gather(futures)

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
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
