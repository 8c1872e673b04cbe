"""The data-loss objective: acknowledged ledger writes missing after the drill (RPO)."""

from __future__ import annotations

from typing import Any

from ...scenarios.units import format_duration
from ..timeline import LEDGER, Event, Timeline
from .result import EPS, ObjectiveResult, not_judged


def _pairs(value: Any) -> list[tuple[int, float]]:
    out: list[tuple[int, float]] = []
    for item in value or []:
        seq, t = item
        out.append((int(seq), float(t)))
    return out


def ledger_interval(timeline: Timeline, event: Event | None = None) -> float | None:
    """Write interval of the ledger: the event's own `interval`, else the ledger probe's."""
    if event is not None and isinstance(event.detail.get("interval"), int | float):
        return float(event.detail["interval"])
    ledgers = [p.every for p in timeline.probes.values() if p.type == "ledger"]
    return max(ledgers) if ledgers else None


def data_loss(timeline: Timeline, max_writes: int, max_span: float | None) -> ObjectiveResult:
    """Acknowledged ledger writes missing afterwards, as a count and the time span they cover."""
    text = f"≤ {max_writes} writes" + (
        f", span ≤ {format_duration(max_span)}" if max_span is not None else ""
    )
    event = timeline.first(LEDGER)
    if event is None:
        return not_judged(
            "data_loss", text, "count", "no ledger read-back: the drill stopped before it"
        )
    if event.detail.get("error"):
        # nothing read back is not nothing lost
        return not_judged(
            "data_loss",
            text,
            "count",
            f"unknown: the ledger could not be read back ({event.detail['error']})",
        )
    acked = _pairs(event.detail.get("acked"))
    missing = sorted(_pairs(event.detail.get("missing")), key=lambda p: (p[1], p[0]))
    in_doubt = _pairs(event.detail.get("in_doubt"))
    doubt_stored = int(event.detail.get("in_doubt_present") or 0)
    if not acked:
        return not_judged("data_loss", text, "count", "no write was ever acknowledged")
    span = missing[-1][1] - missing[0][1] if missing else 0.0
    interval = ledger_interval(timeline, event)
    ok_count = len(missing) <= max_writes
    ok_span = max_span is None or span <= max_span + EPS
    if ok_count and ok_span:
        reason = f"{len(missing)} of {len(acked)} acknowledged writes missing, within the objective"
        if in_doubt:
            reason += (
                f"; {len(in_doubt)} write(s) in doubt (no answer to their COMMIT), "
                f"{doubt_stored} of them stored"
            )
    elif not ok_count:
        reason = f"{len(missing)} acknowledged writes missing, over the objective {max_writes}"
    else:
        reason = (
            f"lost writes span {format_duration(round(span, 3))}, "
            f"over the objective {format_duration(max_span or 0.0)}"
        )
    return ObjectiveResult(
        "data_loss",
        text,
        float(len(missing)),
        0.0,
        "count",
        ok_count and ok_span,
        reason,
        {
            "acked": len(acked),
            "missing": len(missing),
            "span_s": span,
            "span_error_s": interval,
            "first_missing": list(missing[0]) if missing else None,
            "last_missing": list(missing[-1]) if missing else None,
            "missing_seqs": [seq for seq, _ in missing[:1000]],
            "in_doubt": len(in_doubt),
            "in_doubt_stored": doubt_stored,
        },
    )
