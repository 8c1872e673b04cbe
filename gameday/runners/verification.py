"""The verify phase: post-checks after recovery (which acknowledged ledger writes survived)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..analysis.timeline import LEDGER, Clock, Timeline


async def verify_ledgers(
    ledgers: Sequence[Any], timeline: Timeline, clock: Clock, say: Callable[[str, str], None]
) -> None:
    """Read every ledger back and record what was acknowledged and what is missing."""
    for ledger in ledgers:
        result = await ledger.verify()
        unreadable = {} if result.error is None else {"error": result.error}
        timeline.add_event(
            clock.now(),
            LEDGER,
            ledger.name,
            acked=[[seq, t] for seq, t in result.acked],
            missing=[[seq, t] for seq, t in result.missing],
            unacked_present=result.unacked_present,
            in_doubt=[[seq, t] for seq, t in result.in_doubt],
            in_doubt_present=result.in_doubt_present,
            **unreadable,
        )
        if result.error is not None:
            say(
                f"ledger {ledger.name}: {len(result.acked)} acknowledged writes, "
                f"could not be read back ({result.attempts} attempts): {result.error}",
                "red",
            )
            continue
        lost = len(result.missing)
        doubt = (
            f"; {len(result.in_doubt)} in doubt (outcome unknown, {result.in_doubt_present} stored)"
            if result.in_doubt
            else ""
        )
        say(
            f"ledger {ledger.name}: {len(result.acked)} acknowledged writes, {lost} missing{doubt}",
            "red" if lost else "green",
        )
