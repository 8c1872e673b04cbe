"""A component asked to stop exits within its grace period, whatever it still waits on."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from gameday.sandbox.runtime import STOP_GRACE_S

# a body that, once told to stop, waits on a worker thread for a minute: the executor join
# at interpreter exit (a DNS lookup of a peer that is down, in the Docker staging) is the same
STUCK = textwrap.dedent(
    """
    import asyncio, sys, time
    from gameday.sandbox import runtime

    runtime.load_state = lambda state_dir: None

    async def body(state, name, events, stop):
        print("ready", flush=True)
        await stop.wait()
        await asyncio.get_running_loop().run_in_executor(None, time.sleep, 60)

    sys.argv = ["stuck", "--state-dir", sys.argv[1], "--name", "stuck"]
    runtime.run_component("stuck", body, "stuck")
    """
)


def test_a_stuck_stop_exits_after_the_grace_period(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", STUCK, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        took = time.monotonic() - t0
    finally:
        proc.kill()
    assert code == 0
    assert STOP_GRACE_S <= took < STOP_GRACE_S + 5, f"stop took {took:.1f}s"
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "stopped" and events[-1].get("forced") is True
