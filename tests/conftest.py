"""Shared fixtures for the whole test suite."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LIBRARY = REPO / "scenarios"

# drills the tests run register and lock in a home of their own (every process they start
# inherits it), never in the user's ~/.local/state/gameday
os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="gameday-tests-state-")


@pytest.fixture
def write_yaml(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Write text to a scenario file in a temporary directory and return its path."""

    def write(text: str, name: str = "drill.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


# the slowest files first, so two workers finish together instead of one waiting on a straggler
_SLOW_FIRST = (
    "tests/e2e/test_library_drills.py",
    "docker",
    "tests/test_bench.py",
    "tests/e2e/test_interruptions.py",
    "tests/safety/test_sandbox_driver.py",
)


def _group(item: pytest.Item) -> str:
    # one worker per file (module fixtures start a sandbox once); Docker tests share a staging
    if item.get_closest_marker("docker"):
        return "docker"
    return item.path.relative_to(REPO).as_posix()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist: group tests by file (Docker: all together), slowest groups first."""
    if not config.pluginmanager.hasplugin("xdist") or not getattr(config.option, "numprocesses", 0):
        return
    for item in items:
        item.add_marker(pytest.mark.xdist_group(_group(item)))

    def rank(item: pytest.Item) -> int:
        group = _group(item)
        return _SLOW_FIRST.index(group) if group in _SLOW_FIRST else len(_SLOW_FIRST)

    items.sort(key=rank)  # stable: each file keeps its own order
