"""Fixtures for sandbox integration tests: real PostgreSQL, real processes."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gameday.sandbox import manage
from gameday.sandbox.settings import SandboxSettings
from gameday.sandbox.state import SandboxState


def new_state_dir() -> Path:
    """A fresh state dir the PostgreSQL system user can enter when we are root."""
    path = Path(tempfile.mkdtemp(prefix="gameday-sandbox-test-"))
    path.chmod(0o755)
    return path


@contextlib.contextmanager
def running_sandbox(**settings: Any) -> Iterator[SandboxState]:
    """A sandbox with these settings in a fresh state dir, brought down and removed after."""
    state = manage.up(SandboxSettings(state_dir=new_state_dir(), **settings))
    try:
        yield state
    finally:
        manage.down(Path(state.state_dir))
        shutil.rmtree(state.state_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxState]:
    """One sandbox shared by a module's tests (brought down at the end)."""
    with running_sandbox(rollout_interval_s=2.0) as state:
        yield state


def sandbox_pids(state: SandboxState) -> set[int]:
    """Every pid in the sandbox's process groups."""
    from gameday.sandbox.state import group_members

    groups = {g for c in state.components.values() for g in c.pgids}
    return {p for p in group_members(groups) if p != os.getpid()}
