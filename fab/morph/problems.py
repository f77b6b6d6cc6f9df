"""Morph problems by name (``[morph] problem = "gear"``): a problem is one module plus one registration line here.

The module provides
    KEYS: dict          # its [morph] keys and their defaults (beside the search's: method, generations, ...)
    PARETO_KEYS: tuple  # the objectives (all minimised) its Pareto front trades off
    read(keys: fab.morph.config.Keys, table) -> (problem, options)   # the problem (a Program, fab.morph.program)
                        # from its checked keys; options: job settings beyond the problem (files, tools)
    outputs(job: MorphJob, result: SearchResult, quiet) -> dict      # report and files of the best design
    summary_lines(summary) -> list[str]                             # what `fab morph` prints about them
(see fab/morph/gear_job.py and fab/morph/bracket_job.py). A [morph] table beside a [part] (refining the user's
part, fab/morph/part_job.py) is a fab run job, not one of these.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from fab.errors import FabError

PROBLEMS: dict[str, str] = {}  # name -> module


def register_problem(name: str, module: str) -> None:
    PROBLEMS[name] = module


def problem_module(name: str) -> ModuleType:
    """The module of the problem registered as ``name``."""
    if name not in PROBLEMS:
        raise FabError(f"unknown morph problem {name!r}: use one of {', '.join(PROBLEMS)}")
    return importlib.import_module(PROBLEMS[name])


def pareto_keys(name: str) -> tuple[str, ...]:
    """The objectives the Pareto front of problem ``name`` trades off (none for an unregistered name)."""
    return tuple(problem_module(name).PARETO_KEYS) if name in PROBLEMS else ()


register_problem("gear", "fab.morph.gear_job")
register_problem("bracket", "fab.morph.bracket_job")
