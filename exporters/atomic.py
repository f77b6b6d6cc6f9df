"""Write output files atomically: a reader never sees a half-written file.

Every exporter (and every other writer in the project) writes to a temporary file in the
destination directory and renames it over the target only when writing succeeded.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``, on error delete it.

    The temporary file keeps the target's suffix so libraries that pick a format by extension
    (numpy, trimesh, VTK) still do the right thing.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp makes the file private (0600); give the result the permissions a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", **kwargs) -> Iterator:
    """Open a temporary file for writing beside ``path`` and rename it over ``path`` when closed cleanly."""
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as handle:
        yield handle


class Staging:
    """The output files of one command, written under temporary names beside their targets and renamed
    together only when the whole command succeeded: a failure late in a command (a part too big for the
    printer after its STL was written) leaves no output file behind.

    ``path(target)`` gives the name to write instead of ``target`` (same folder, same suffix, so writers that
    pick a format by extension still do); ``commit()`` renames them all; ``discard()`` deletes them.
    """

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path]] = []

    def path(self, target: str | os.PathLike[str]) -> Path:
        target = Path(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".staged{target.suffix}", dir=target.parent)
        os.close(fd)
        os.unlink(name)  # writers create it (some refuse to overwrite, some write beside it first)
        self._staged.append((Path(name), target))
        return Path(name)

    def commit(self) -> None:
        for tmp, target in self._staged:
            if tmp.exists():
                os.replace(tmp, target)
        self._staged.clear()

    def discard(self) -> None:
        for tmp, _target in self._staged:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        self._staged.clear()


@contextlib.contextmanager
def staged(outer: Staging | None = None) -> Iterator[Staging]:
    """A :class:`Staging` committed when the block ends cleanly, discarded on any error. Given an ``outer``
    staging (a command inside a bigger one), files join it and are committed with it."""
    if outer is not None:
        yield outer
        return
    staging = Staging()
    try:
        yield staging
    except BaseException:
        staging.discard()
        raise
    staging.commit()
