"""The operator's stop: SIGINT, SIGTERM, SIGHUP and SIGQUIT cancel the drill's main task, once.

SIGHUP is a lost terminal (the SSH session of the SRE running the drill dropped) and SIGQUIT
a Ctrl-\\: both used to kill the runner on the spot, with faults left in force.

A second signal while teardown reverts faults must not cut the revert short: it is only
acknowledged. Which signal stopped the drill is kept for the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


@contextlib.contextmanager
def cancel_on_stop_signals(
    task: asyncio.Task[object] | None, enabled: bool, on_again: Callable[[str], None]
) -> Iterator[list[str]]:
    """While inside, the stop signals cancel ``task``; yields the names of signals received."""
    received: list[str] = []
    if not enabled or task is None:
        yield received
        return
    loop = asyncio.get_running_loop()

    def on_signal(name: str) -> None:
        if received:
            on_again(name)
            return
        received.append(name)
        if _session is not None and not _session:
            _session.append(name)  # the session (a suite) stops too: nothing more runs
        task.cancel()

    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig.name)
    if _session:  # a stop that came before the drill could take it: stop at once
        loop.call_soon(on_signal, _session[0])
    try:
        yield received
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
            # back to what was there (the session's holding handler), never the default:
            # a SIGTERM while the report is written must not kill the runner mid-write
            signal.signal(sig, previous[sig] if previous[sig] is not None else signal.SIG_DFL)


# inside `held_stop_signals`: the stop signals the session received (None outside one)
_session: list[str] | None = None


@contextlib.contextmanager
def held_stop_signals() -> Iterator[list[str]]:
    """Around a whole run session: a stop signal outside a drill is held, not fatal.

    Between drills and while a report is written, SIGINT/SIGTERM/SIGHUP/SIGQUIT are recorded
    here instead of killing the runner (a record half written is a record lost); the session
    finishes what it is writing and starts nothing more. A drill that starts after one
    stops at once, and a stop a drill takes stops the session too. Yields the names received.
    """
    global _session
    if _session is not None:  # already inside one (the CLI holds from its first line on)
        yield _session
        return
    held: list[str] = []

    def hold(signum: int, _frame: object) -> None:
        held.append(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, hold) for sig in STOP_SIGNALS}
    _session = held
    try:
        yield held
    finally:
        _session = None
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
