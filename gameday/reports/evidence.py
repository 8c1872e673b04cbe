"""The JSON form of what a drill was judged to be: objective results and hops.

Pure code, no I/O. Each `*_json` writes the canonical form report.json holds and the
matching `*_from` reads it back; samples and traffic windows are `analysis.timeline_json`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from ..analysis.objectives import HopResult, HopStats, ObjectiveResult, Unit


def result_json(r: ObjectiveResult) -> dict[str, Any]:
    return {
        "name": r.name,
        "bound": r.bound_text,
        "measured": r.measured,
        "error": r.error,
        "unit": r.unit,
        "passed": r.passed,
        "outcome": r.outcome,
        "reason": r.reason,
        "detail": dict(r.detail),
    }


def result_from(d: Mapping[str, Any]) -> ObjectiveResult:
    return ObjectiveResult(
        d["name"],
        d["bound"],
        d.get("measured"),
        d.get("error"),
        cast(Unit, d["unit"]),
        bool(d["passed"]),
        d.get("reason", ""),
        dict(d.get("detail", {})),
        judged=d.get("outcome") != "not judged",
    )


def _hop_stats_json(s: HopStats | None) -> dict[str, Any] | None:
    return None if s is None else {"n": s.n, "p50": s.p50, "p99": s.p99, "max": s.max}


def _hop_stats_from(d: Mapping[str, Any] | None) -> HopStats | None:
    return None if d is None else HopStats(int(d["n"]), d["p50"], d["p99"], d["max"])


def hop_json(h: HopResult) -> dict[str, Any]:
    return {
        "hop": h.hop,
        "baseline": _hop_stats_json(h.baseline),
        "faults": {k: _hop_stats_json(v) for k, v in h.faults.items()},
        "p99": h.p99,
        "threshold": h.threshold,
        "crossed_in": list(h.crossed_in),
    }


def hop_from(d: Mapping[str, Any]) -> HopResult:
    faults = {k: s for k, v in d.get("faults", {}).items() if (s := _hop_stats_from(v))}
    return HopResult(
        d["hop"],
        _hop_stats_from(d.get("baseline")),
        faults,
        d["p99"],
        d["threshold"],
        tuple(d.get("crossed_in", ())),
    )
