"""The JSON form of a timeline's records: probe samples and traffic windows, and back.

Pure code, no I/O. Each `*_json` writes the canonical form report.json (and a drill's live
record) holds and the matching `*_from` reads it back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..traffic.slices import WindowSlices
from ..traffic.stats import TrafficWindow, hist_from_json, hist_to_json
from .canon import canon, canon_hops, finite
from .timeline import Sample


def sample_json(s: Sample) -> dict[str, Any]:
    # already canonical (what `canon` makes of it), so `to_json` need not walk ~1 M of these;
    # defaults are left out
    out: dict[str, Any] = {"t": finite(s.t), "ok": s.ok}
    if s.latency is not None:
        out["latency"] = finite(s.latency)
    if s.value is not None:
        out["value"] = finite(s.value) if isinstance(s.value, float) else canon(s.value)
    if s.detail:
        out["detail"] = s.detail
    if s.late:
        out["late"] = finite(s.late)
    if s.hops is not None:
        out["hops"] = canon_hops(s.hops)
    if s.served_by is not None:
        out["served_by"] = s.served_by
    if s.hop_desc:
        out["hop_desc"] = canon(s.hop_desc)
    if s.ended is not None:
        out["ended"] = finite(s.ended)
    return out


def sample_from(probe: str, d: Mapping[str, Any]) -> Sample:
    return Sample(
        probe=probe,
        t=float(d["t"]),
        ok=bool(d["ok"]),
        latency=d.get("latency"),
        value=d.get("value"),
        detail=d.get("detail", ""),
        late=float(d.get("late", 0.0)),
        hops=d.get("hops"),
        served_by=d.get("served_by"),
        hop_desc=d.get("hop_desc"),
        ended=d.get("ended"),
    )


WINDOW_FIELDS = (
    "t_mono", "window", "name", "count", "ok", "shed", "circuit", "error_5xx", "error_other",
    "p50_ms", "p95_ms", "p99_ms", "max_ms", "served_by", "users", "late",
)  # fmt: skip


def window_json(w: TrafficWindow) -> dict[str, Any]:
    out = {k: getattr(w, k) for k in WINDOW_FIELDS}
    if w.hist:
        out["hist"] = hist_to_json(w.hist)
    if w.slices is not None:
        # the aggregate's requests per 25 ms slice; windows of older reports have none
        out["slices"] = w.slices.to_json()
    return out


def window_from(d: Mapping[str, Any]) -> TrafficWindow:
    hist = hist_from_json(dict(d.get("hist") or {}))
    raw = d.get("slices")
    slices = None if raw is None else WindowSlices.from_json(raw)
    return TrafficWindow(**{k: d[k] for k in WINDOW_FIELDS if k in d}, hist=hist, slices=slices)
