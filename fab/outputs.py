"""Output paths of a command, checked before any work starts: a typo in a folder name is found in a second,
not after an hour of simulation, and two outputs never name the same file."""

from __future__ import annotations

import os
from pathlib import Path

from fab.errors import FabError


def check_output_paths(paths: dict[str, str | os.PathLike[str] | None]) -> None:
    """Each path's folder exists and is writable, or can be created inside a writable folder; no path is
    given twice or is an existing folder. ``paths`` maps the option's name (stl, vtk, ...) to the path."""
    seen: dict[Path, str] = {}
    for kind, path in paths.items():
        if path is None:
            continue
        target = Path(path).expanduser().resolve()
        if target in seen:
            raise FabError(f"--{seen[target]} and --{kind} both write {path}: give each output its own file")
        seen[target] = kind
        if target.is_dir():
            raise FabError(f"cannot write the {kind} output {path}: it is a folder, give a file name")
        probe = target.parent
        while not probe.exists():
            probe = probe.parent
        if not probe.is_dir() or not os.access(probe, os.W_OK):
            raise FabError(f"cannot write the {kind} output {path}: {probe} is not a writable folder")
