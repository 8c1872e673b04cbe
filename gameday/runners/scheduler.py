"""Fixed-rate probe scheduling on the monotonic clock: tick k of a probe is at
start + phase + k·every.

Probes that share an interval get phases spread evenly across it, so a thousand 1 s probes
send about one sample a millisecond instead of a thousand at once. Ticks never drift (each is
computed from the start, not from the previous sleep); a probe whose samples are still in
flight keeps its schedule with several samples in flight up to a cap; ticks that cannot be
sent (cap reached, or the loop fell behind by more than one interval) are reported as missed,
never silently dropped.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..analysis.timeline import TICK_MISSED, Sample
from .probes.base import Observation, Probe, describe_error, timeout_detail

log = logging.getLogger(__name__)

# a probe enforces its own timeout; the scheduler's backstop only catches a broken driver
_BACKSTOP_S = 1.0


@dataclass(frozen=True, slots=True)
class MissedTicks:
    """Consecutive ticks of one probe that were not sent; record as a `tick.missed` event."""

    probe: str
    t: float  # when the scheduler noticed
    first: float  # scheduled time of the first missed tick
    count: int
    reason: str  # "late" (loop behind) or "in-flight" (cap of concurrent samples reached)
    kind: str = TICK_MISSED


@dataclass
class ProbeStats:
    """Counters of one probe's schedule."""

    ticks: int = 0  # ticks due so far (sent + missed)
    sent: int = 0
    missed: int = 0
    delivered: int = 0
    max_late: float = 0.0
    max_in_flight: int = 0


@dataclass
class _Slot:
    probe: Probe
    every: float
    cap: int
    phase: float = 0.0  # offset of tick 0 from the schedule's start
    stats: ProbeStats = field(default_factory=ProbeStats)
    in_flight: set[asyncio.Task[None]] = field(default_factory=set)
    # samples finished out of order wait here so on_sample sees them in send order
    next_seq: int = 0
    deliver_seq: int = 0
    ready: dict[int, Sample | None] = field(default_factory=dict)


def freeze_heap() -> None:
    """Collect once, then exempt every object alive now from future collections (gc.freeze).

    Call once before the schedule starts: what exists then (modules, models, the target)
    lives for the whole drill, and a full collection rescanning it stops the event loop for
    ~100 ms, which every probe due meanwhile would carry as jitter.
    """
    gc.collect()
    gc.freeze()


def default_cap(timeout: float, every: float) -> int:
    """Concurrent samples a probe may have in flight: enough to keep sending through timeouts."""
    return math.ceil(timeout / every) + 1


class ProbeScheduler:
    """Runs many probes, each at its own fixed rate, and delivers samples via `on_sample`."""

    def __init__(
        self,
        probes: Iterable[Probe] = (),
        *,
        on_sample: Callable[[Sample], None],
        on_missed: Callable[[MissedTicks], None] | None = None,
        stop_event: asyncio.Event | None = None,
    ) -> None:
        self.on_sample = on_sample
        self.on_missed = on_missed
        self.stop_event = stop_event if stop_event is not None else asyncio.Event()
        self.start_time: float | None = None
        self._slots: dict[str, _Slot] = {}
        self._loops: dict[str, asyncio.Task[None]] = {}
        self._watch: asyncio.Task[None] | None = None
        self._stopped = False
        for probe in probes:
            self.add(probe)

    def add(
        self, probe: Probe, *, every: float | None = None, max_in_flight: int | None = None
    ) -> None:
        """Schedule `probe` every `every` seconds (default: the probe's own interval)."""
        if self.start_time is not None:
            raise RuntimeError("add probes before start()")
        if probe.name in self._slots:
            raise ValueError(f"probe {probe.name!r} already scheduled")
        interval = every if every is not None else probe.every
        if interval <= 0:
            raise ValueError("interval must be positive")
        cap = max_in_flight if max_in_flight is not None else default_cap(probe.timeout, interval)
        self._slots[probe.name] = _Slot(probe, interval, max(1, cap))

    def stats(self, name: str) -> ProbeStats:
        """Schedule counters of one probe."""
        return self._slots[name].stats

    def first_due(self, name: str) -> float:
        """When tick 0 of one probe is due (start plus its phase); set by start()."""
        if self.start_time is None:
            raise RuntimeError("not started")
        return self.start_time + self._slots[name].phase

    @property
    def probes(self) -> list[Probe]:
        return [s.probe for s in self._slots.values()]

    async def start(self, at: float | None = None) -> None:
        """Start every probe's schedule at `at` (default: now) on time.monotonic(), phases spread."""
        if self.start_time is not None:
            raise RuntimeError("already started")
        self.start_time = time.monotonic() if at is None else at
        sharing: dict[float, list[_Slot]] = {}
        for slot in self._slots.values():
            sharing.setdefault(slot.every, []).append(slot)
        for every, slots in sharing.items():
            for i, slot in enumerate(slots):
                slot.phase = every * i / len(slots)
        for name, slot in self._slots.items():
            self._loops[name] = asyncio.create_task(self._run(slot, self.start_time + slot.phase))
        self._watch = asyncio.create_task(self._watch_stop())

    async def _watch_stop(self) -> None:
        await self.stop_event.wait()
        for task in self._loops.values():
            task.cancel()

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop scheduling, cancel in-flight samples, close probes; bounded by `timeout`."""
        if self._stopped:
            return
        self._stopped = True
        self.stop_event.set()
        deadline = time.monotonic() + timeout
        tasks = list(self._loops.values())
        if self._watch is not None:
            tasks.append(self._watch)
        for task in tasks:
            task.cancel()
        for slot in self._slots.values():
            for sample_task in slot.in_flight:
                sample_task.cancel()
            tasks.extend(slot.in_flight)
        if tasks:
            await asyncio.wait(tasks, timeout=max(0.1, deadline - time.monotonic()))
        for slot in self._slots.values():
            self._flush(slot, final=True)
        closes = [asyncio.ensure_future(self._close(s.probe)) for s in self._slots.values()]
        if closes:
            _, pending = await asyncio.wait(closes, timeout=max(0.1, deadline - time.monotonic()))
            for task in pending:
                task.cancel()

    async def retire(self, probes: Iterable[str]) -> None:
        """Send no more samples of these probes and let those in flight finish (each within
        its own timeout), delivering them: what they measured is complete afterwards."""
        names = list(probes)
        waiting: set[asyncio.Task[None]] = set()
        for name in names:
            loop = self._loops.get(name)
            if loop is not None:
                loop.cancel()
                waiting.add(loop)
            slot = self._slots[name]
            waiting.update(slot.in_flight)
        if waiting:
            backstop = max(self._slots[n].probe.timeout for n in names) + _BACKSTOP_S
            await asyncio.wait(waiting, timeout=backstop)
        for name in names:
            self._flush(self._slots[name], final=True)

    @staticmethod
    async def _close(probe: Probe) -> None:
        try:
            await probe.close()
        except Exception:
            log.exception("closing probe %s failed", probe.name)

    async def __aenter__(self) -> ProbeScheduler:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ internals

    def _missed(self, slot: _Slot, now: float, first: float, count: int, reason: str) -> None:
        slot.stats.missed += count
        slot.stats.ticks += count
        if self.on_missed is None:
            return
        try:
            self.on_missed(MissedTicks(slot.probe.name, now, first, count, reason))
        except Exception:
            log.exception("on_missed callback failed")

    async def _run(self, slot: _Slot, start: float) -> None:
        every = slot.every
        k = 0
        while not self.stop_event.is_set():
            due = start + k * every
            now = time.monotonic()
            if now < due:
                await asyncio.sleep(due - now)
                now = time.monotonic()
            behind = math.floor((now - due) / every)
            if behind >= 1:
                # the loop was blocked past whole intervals: those ticks are gone; send the
                # most recent one (late by less than an interval) and say what was skipped
                self._missed(slot, now, due, behind, "late")
                k += behind
                due = start + k * every
            if len(slot.in_flight) >= slot.cap:
                self._missed(slot, now, due, 1, "in-flight")
            else:
                self._launch(slot, due)
            k += 1

    def _launch(self, slot: _Slot, due: float) -> None:
        seq = slot.next_seq
        slot.next_seq += 1
        slot.stats.ticks += 1
        slot.stats.sent += 1
        task = asyncio.create_task(self._sample(slot, seq, due))
        slot.in_flight.add(task)
        slot.stats.max_in_flight = max(slot.stats.max_in_flight, len(slot.in_flight))
        task.add_done_callback(lambda t: self._done(slot, seq, t))

    async def _sample(self, slot: _Slot, seq: int, due: float) -> None:
        probe = slot.probe
        t = time.monotonic()  # the send time: the coroutine starts the request right here
        late = max(0.0, t - due)
        if late >= slot.every:
            # the loop started this task a whole interval after its tick (it was busy): the
            # tick is gone, as one skipped at launch; a sample now would be timed on the next
            slot.stats.sent -= 1
            slot.stats.ticks -= 1  # _launch counted it; _missed counts it again
            self._missed(slot, t, due, 1, "late")
            slot.ready[seq] = None
            return
        slot.stats.max_late = max(slot.stats.max_late, late)
        try:
            async with asyncio.timeout(probe.timeout + _BACKSTOP_S):
                obs = await probe.sample()
        except TimeoutError:
            obs = Observation(False, detail=timeout_detail(probe.timeout))
        except Exception as exc:
            obs = Observation(False, detail=describe_error(exc))
        detail = obs.detail
        # no latency (an error or a timeout): when it ended is still the end of the observation
        ended = time.monotonic() - t if obs.latency is None else None
        slot.ready[seq] = Sample(
            probe=probe.name,
            t=t,
            ok=obs.ok,
            latency=obs.latency,
            value=obs.value,
            detail=detail,
            late=late,
            hops=obs.hops,
            served_by=obs.served_by,
            hop_desc=obs.hop_desc,
            ended=ended,
        )

    def _done(self, slot: _Slot, seq: int, task: asyncio.Task[None]) -> None:
        slot.in_flight.discard(task)
        if task.cancelled() or task.exception() is not None:
            slot.ready.setdefault(seq, None)  # a cancelled sample has no result to deliver
        self._flush(slot)

    def _flush(self, slot: _Slot, final: bool = False) -> None:
        while slot.deliver_seq in slot.ready or (final and slot.deliver_seq < slot.next_seq):
            sample = slot.ready.pop(slot.deliver_seq, None)
            slot.deliver_seq += 1
            if sample is None:
                continue
            slot.stats.delivered += 1
            try:
                self.on_sample(sample)
            except Exception:
                log.exception("on_sample callback failed")
