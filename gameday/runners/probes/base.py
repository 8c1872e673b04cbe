"""What every probe shares: the Observation it returns, the Probe protocol, the Prober base
every probe type builds on, and failure wording."""

from __future__ import annotations

import asyncio
import errno
import math
import re
import socket
from abc import ABC, abstractmethod
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, Self, TypeVar, runtime_checkable

from ...scenarios.model import AnyProbe
from ...scenarios.units import format_duration
from ..receiver import AlertReceiver

T = TypeVar("T")
M = TypeVar("M", bound=AnyProbe)


@dataclass(frozen=True, slots=True)
class Observation:
    """One probe result before the scheduler stamps it with its send time and lateness."""

    ok: bool
    latency: float | None = None  # seconds; None when nothing answered
    value: float | str | None = None
    detail: str = ""
    hops: Mapping[str, float] | None = None
    served_by: str | None = None
    hop_desc: Mapping[str, str] | None = (
        None  # Server-Timing desc values, e.g. {"db": "db-primary"}
    )


@runtime_checkable
class Probe(Protocol):
    """A sampler built from one scenario probe model."""

    name: str
    type: str
    every: float
    timeout: float

    async def sample(self) -> Observation:
        """Take one observation; never raises, enforces its own timeout."""
        ...

    async def close(self) -> None:
        """Release connections; safe to call more than once."""
        ...


class Prober(ABC, Generic[M]):
    """The runtime side of one scenario probe model `M`: a `Probe` the scheduler samples.

    Name, type, interval and timeout come from the model. A new probe type is one module
    with a subclass (`sample`, and `close` when it holds anything between samples) and one
    entry in `PROBER_TYPES` (probes/__init__.py) under its scenario `type`.
    """

    def __init__(self, model: M) -> None:
        self.model = model
        self.name: str = model.name
        self.type: str = model.type
        self.every: float = model.every
        self.timeout: float = model.timeout

    @classmethod
    def build(cls, model: M, *, run_id: str, receiver: AlertReceiver | None) -> Self:
        """How `build_probe` makes one; override when the probe needs more than its model."""
        return cls(model)

    @abstractmethod
    async def sample(self) -> Observation:
        """Take one observation; never raises, enforces its own timeout."""

    async def close(self) -> None:
        """Nothing held between samples; override to release connections."""


def timeout_detail(timeout: float) -> str:
    """`timeout after 2s`."""
    return f"timeout after {format_duration(timeout)}"


_REFUSED = (errno.ECONNREFUSED,)
_RESET = (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED)
_UNREACHABLE = (errno.EHOSTUNREACH, errno.ENETUNREACH)


def describe_error(exc: BaseException) -> str:
    """A short, stable description of a network or driver failure."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    # walk the cause chain: aiohttp, httpx and psycopg wrap the OSError that says what happened
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, ConnectionRefusedError) or (
            isinstance(cur, OSError) and cur.errno in _REFUSED
        ):
            return "connect refused"
        if isinstance(cur, ConnectionResetError) or (
            isinstance(cur, OSError) and cur.errno in _RESET
        ):
            return "connection reset"
        if isinstance(cur, OSError) and cur.errno in _UNREACHABLE:
            return "host unreachable"
        if isinstance(cur, socket.gaierror):
            return "name not resolved"
        cur = cur.__cause__ or cur.__context__
    text = str(exc).strip()
    low = text.lower()
    if "connection refused" in low or "connect call failed" in low:
        return "connect refused"
    if (
        "connection reset" in low
        or "server closed the connection" in low
        or "server disconnected" in low
    ):
        return "connection reset"
    first = text.splitlines()[0] if text else ""
    return short(f"{type(exc).__name__}: {first}" if first else type(exc).__name__)


def short(text: str, limit: int = 160) -> str:
    """One line, at most `limit` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


_COMPARE = re.compile(r"^\s*(<=|>=|==|!=|<|>)\s*(\S+)\s*$")


def compare(value: float, expect: str) -> bool:
    """Whether `value` satisfies a bound like `< 0.05` (NaN never does)."""
    m = _COMPARE.match(expect)
    if m is None:
        raise ValueError(f"not a comparison: {expect!r}")
    op, bound = m.group(1), float(m.group(2))
    if math.isnan(value):
        return False
    return {
        "<": value < bound,
        "<=": value <= bound,
        ">": value > bound,
        ">=": value >= bound,
        "==": value == bound,
        "!=": value != bound,
    }[op]


class Background:
    """Tasks abandoned at their deadline, reaped later so a stuck driver never blocks a sample."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()

    async def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> tuple[bool, T | None]:
        """(True, result) when `coro` finished in time; (False, None) after cancelling it.

        psycopg answers a cancellation by cancelling the query on the server, which can take
        seconds against a blackholed host; the caller must not wait for that.
        """
        task = asyncio.ensure_future(coro)
        try:
            done, _ = await asyncio.wait({task}, timeout=timeout)
        except asyncio.CancelledError:
            task.cancel()
            self._keep(task)
            raise
        if task in done:
            return True, task.result()
        task.cancel()
        self._keep(task)
        return False, None

    def _keep(self, task: asyncio.Task[Any]) -> None:
        self.tasks.add(task)
        task.add_done_callback(self._reap)

    def _reap(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio does not log it as never retrieved

    async def drain(self, timeout: float) -> None:
        """Wait (bounded) for abandoned tasks to wind down."""
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=timeout)
