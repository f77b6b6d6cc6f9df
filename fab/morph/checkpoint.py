"""Search checkpoints: the whole search state, pickled and written atomically after every generation."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from exporters.atomic import atomic_path
from fab.errors import FabError

FORMAT = 1


def save(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` via a temporary file, so a crash never leaves half a checkpoint."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            pickle.dump({"format": FORMAT, **state}, fh, protocol=pickle.HIGHEST_PROTOCOL)


def load(path: Path, fingerprint: str) -> dict[str, Any]:
    """Read a checkpoint; refuse one written by another version or for different settings."""
    if not path.is_file():
        raise FabError(f"--resume: no checkpoint at {path} (run without --resume first)")
    try:
        with open(path, "rb") as fh:
            state = pickle.load(fh)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
        raise FabError(f"--resume: cannot read checkpoint {path}: {exc}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise FabError(f"--resume: {path} is not a checkpoint of this version")
    if state.get("fingerprint") != fingerprint:
        raise FabError(
            f"--resume: {path} was written for different [morph] settings or seed; "
            "remove it or restore the settings"
        )
    return state
