"""ProbeScheduler: fixed rate without drift, concurrent in-flight samples, missed ticks recorded."""

from __future__ import annotations

import asyncio
import statistics
import time

import pytest

from gameday.analysis.timeline import TICK_MISSED, Sample
from gameday.runners.probes.base import Observation
from gameday.runners.scheduler import MissedTicks, ProbeScheduler, default_cap

from .conftest import run


class FakeProbe:
    """Answers after `delay` seconds (or per-call delays), or raises when told to."""

    type = "fake"

    def __init__(
        self,
        name: str,
        every: float,
        timeout: float = 1.0,
        delay: float = 0.0,
        delays: list[float] | None = None,
        fail: bool = False,
    ) -> None:
        self.name = name
        self.every = every
        self.timeout = timeout
        self.delay = delay
        self.delays = list(delays or [])
        self.fail = fail
        self.calls = 0
        self.closed = False

    async def sample(self) -> Observation:
        self.calls += 1
        n = self.calls
        if self.fail:
            raise RuntimeError("driver bug")
        delay = self.delays.pop(0) if self.delays else self.delay
        if delay:
            await asyncio.sleep(delay)
        return Observation(True, latency=delay, value=n)

    async def close(self) -> None:
        self.closed = True


def test_default_cap() -> None:
    assert default_cap(2.0, 0.25) == 9
    assert default_cap(0.1, 1.0) == 2


def test_many_probes_fixed_rate_no_drift() -> None:
    every, duration = 0.05, 2.0
    samples: list[Sample] = []
    missed: list[MissedTicks] = []
    probes = [FakeProbe(f"p{i}", every) for i in range(20)]

    async def main() -> tuple[ProbeScheduler, float]:
        sched = ProbeScheduler(on_sample=samples.append, on_missed=missed.append)
        for p in probes:
            sched.add(p)
        await sched.start()
        await asyncio.sleep(duration)
        await sched.stop()
        assert sched.start_time is not None
        return sched, sched.start_time

    sched, start = run(main())
    # the 20 probes share one interval: their first ticks are spread evenly across it
    firsts = sorted(sched.first_due(p.name) - start for p in probes)
    assert firsts == pytest.approx([every * i / 20 for i in range(20)])
    expected = int(duration / every) + 1
    for p in probes:
        st = sched.stats(p.name)
        # every due tick is accounted for: sent or recorded as missed
        assert st.ticks == st.sent + st.missed
        assert expected - 2 <= st.ticks <= expected + 1
        assert st.sent >= 0.7 * expected
        assert p.closed
    assert len(samples) == sum(sched.stats(p.name).delivered for p in probes)
    # phase against the fixed grid start + k·every: a sleep-accumulating loop drifts off it,
    # a fixed-rate one stays within a fraction of an interval to the very end
    by_probe: dict[str, list[Sample]] = {}
    for s in samples:
        by_probe.setdefault(s.probe, []).append(s)
    phase_end: list[float] = []
    for name, got in by_probe.items():
        first = sched.first_due(name)
        for s in got:
            k = round((s.t - first) / every)
            assert abs(s.t - (first + k * every) - s.late) < 0.005 or s.late >= every / 2
            assert s.late < every  # a tick later than one interval is skipped, not sent
        phase_end.extend(s.late for s in got[-10:])
    assert statistics.median(phase_end) < every / 2
    assert all(m.kind == TICK_MISSED for m in missed)


def test_missed_ticks_recorded_when_loop_blocked() -> None:
    samples: list[Sample] = []
    missed: list[MissedTicks] = []

    async def main() -> float:
        sched = ProbeScheduler(on_sample=samples.append, on_missed=missed.append)
        sched.add(FakeProbe("p", 0.05))
        await sched.start()
        await asyncio.sleep(0.3)
        time.sleep(0.5)  # block the event loop: ~10 ticks cannot be sent on time
        await asyncio.sleep(0.3)
        await sched.stop()
        return sched.stats("p").missed

    n_missed = run(main())
    late = [m for m in missed if m.reason == "late"]
    assert late, "blocked ticks must be recorded"
    assert 7 <= sum(m.count for m in late) <= 12
    assert n_missed == sum(m.count for m in missed)
    # a sample launched just before the block really went out late, and says so;
    # after the block the schedule is back on the original grid
    assert sum(s.late >= 0.05 for s in samples) <= 1
    assert all(s.late < 0.05 for s in samples[-4:])
    times = [s.t for s in samples]
    assert times == sorted(times)


def test_concurrent_in_flight_during_timeouts() -> None:
    samples: list[Sample] = []
    missed: list[MissedTicks] = []
    probe = FakeProbe("slow", 0.1, timeout=1.0, delay=0.45)

    async def main() -> ProbeScheduler:
        sched = ProbeScheduler(on_sample=samples.append, on_missed=missed.append)
        sched.add(probe)
        await sched.start()
        await asyncio.sleep(1.5)
        await sched.stop()
        return sched

    sched = run(main())
    st = sched.stats("slow")
    assert st.sent >= 12  # slow answers did not stall the 100 ms schedule
    assert st.max_in_flight >= 4
    assert not missed
    # delivered in send order even though they finish out of order
    assert [s.t for s in samples] == sorted(s.t for s in samples)


def test_in_flight_cap_records_missed_ticks() -> None:
    missed: list[MissedTicks] = []

    async def main() -> ProbeScheduler:
        sched = ProbeScheduler(on_sample=lambda s: None, on_missed=missed.append)
        sched.add(FakeProbe("stuck", 0.05, timeout=1.0, delay=0.5), max_in_flight=2)
        await sched.start()
        await asyncio.sleep(0.6)
        await sched.stop()
        return sched

    sched = run(main())
    st = sched.stats("stuck")
    assert st.max_in_flight == 2
    assert any(m.reason == "in-flight" for m in missed)
    assert st.missed >= 5
    assert st.ticks == st.sent + st.missed


def test_out_of_order_completion_delivered_in_send_order() -> None:
    samples: list[Sample] = []
    probe = FakeProbe("p", 0.05, delays=[0.3, 0.0, 0.0, 0.0])

    async def main() -> None:
        sched = ProbeScheduler(on_sample=samples.append)
        sched.add(probe)
        await sched.start()
        await asyncio.sleep(0.5)
        await sched.stop()

    run(main())
    assert [s.value for s in samples][:4] == [1, 2, 3, 4]


def test_failing_driver_becomes_failing_sample() -> None:
    samples: list[Sample] = []

    async def main() -> None:
        sched = ProbeScheduler(on_sample=samples.append)
        sched.add(FakeProbe("bad", 0.05, fail=True))
        await sched.start()
        await asyncio.sleep(0.2)
        await sched.stop()

    run(main())
    assert samples
    assert all(not s.ok and "driver bug" in s.detail for s in samples)


class HangingProbe(FakeProbe):
    """Ignores its own timeout and never closes promptly."""

    async def sample(self) -> Observation:
        await asyncio.sleep(100)
        return Observation(True)

    async def close(self) -> None:
        await asyncio.sleep(100)


def test_backstop_timeout_and_bounded_stop() -> None:
    samples: list[Sample] = []

    async def main() -> float:
        sched = ProbeScheduler(on_sample=samples.append)
        sched.add(HangingProbe("hang", 0.1, timeout=0.2))
        await sched.start()
        await asyncio.sleep(1.5)
        t0 = time.monotonic()
        await sched.stop(timeout=1.0)
        return time.monotonic() - t0

    took = run(main())
    assert took < 2.0
    assert samples and all(s.detail == "timeout after 200ms" for s in samples)


def test_external_stop_event_ends_schedule() -> None:
    samples: list[Sample] = []

    async def main() -> int:
        stop = asyncio.Event()
        sched = ProbeScheduler(on_sample=samples.append, stop_event=stop)
        sched.add(FakeProbe("p", 0.05))
        await sched.start()
        await asyncio.sleep(0.2)
        stop.set()
        await asyncio.sleep(0.05)
        sent = sched.stats("p").sent
        await asyncio.sleep(0.3)
        assert sched.stats("p").sent == sent
        await sched.stop()
        return sent

    assert run(main()) >= 3


def test_add_validation() -> None:
    sched = ProbeScheduler([FakeProbe("a", 0.1)], on_sample=lambda s: None)
    assert [p.name for p in sched.probes] == ["a"]
    with pytest.raises(ValueError):
        sched.add(FakeProbe("a", 0.1))
    with pytest.raises(ValueError):
        sched.add(FakeProbe("b", 0.1), every=0)
