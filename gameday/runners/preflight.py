"""What a target's preflight problems mean for the run: a service it lacks is bad input.

A typo'd service is the scenario's mistake, not the target's trouble: the run is refused
(exit 2) before anything is applied, pinned to the line that names the service, where a
target that is down or unhealthy aborts the drill (exit 3).
"""

from __future__ import annotations

from pathlib import Path

from ..scenarios.model import Scenario
from ..scenarios.problems import ScenarioError, field_path
from ..scenarios.services import named_services
from ..scenarios.source import load_source
from ..targets.base import UnknownService
from .record import InvalidRun


def refuse_unknown_services(problems: list[str], scenario: Scenario, path: Path) -> None:
    """Raise InvalidRun when preflight named services the target lacks; else do nothing."""
    unknown = [p for p in problems if isinstance(p, UnknownService)]
    if not unknown:
        return
    # where each service is first named (later mentions overwritten by earlier ones)
    where = {name: data_path for data_path, name in reversed(named_services(scenario))}
    try:
        source = load_source(path)
    except (OSError, ScenarioError):  # changed since it was loaded: say what, if not where
        source = None
    located = []
    for problem in unknown:
        data_path = where.get(problem.service)
        if data_path is None or source is None:
            located.append(str(problem))
            continue
        line, _ = source.locate(data_path)
        located.append(f"{field_path(data_path)} (line {line}): {problem}")
    raise InvalidRun("; ".join(located))
