"""Alert rules evaluated on gateway statistics, and Alertmanager v4 webhook payloads."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gameday.sandbox.stats import WindowStats

RECEIVER = "gameday"
ZERO_TIME = "0001-01-01T00:00:00Z"


@dataclass(frozen=True)
class RuleConfig:
    """Thresholds of the alert rules (docs/sandbox.md: the platform's monitoring promise)."""

    success_drop_points: float = 5.0
    p99_ms: float = 200.0
    min_requests: int = 10


@dataclass(frozen=True)
class Condition:
    """One alert condition that currently holds."""

    name: str
    labels: dict[str, str]
    summary: str
    value: float

    @property
    def fingerprint(self) -> str:
        """Stable id of the alert from its name and labels (like Alertmanager's)."""
        key = self.name + "".join(f"{k}={v}" for k, v in sorted(self.labels.items()))
        return hashlib.sha256(key.encode()).hexdigest()[:16]


def evaluate(
    cfg: RuleConfig,
    current: WindowStats,
    baseline_success_rate: float | None,
    components_down: list[str],
) -> list[Condition]:
    """Return the conditions that hold now.

    ``baseline_success_rate`` is the success rate before the current window (None
    when there was too little traffic to know it).
    """
    out: list[Condition] = []
    if current.requests >= cfg.min_requests:
        if baseline_success_rate is not None:
            drop = (baseline_success_rate - current.success_rate) * 100.0
            if drop > cfg.success_drop_points:
                out.append(
                    Condition(
                        "SuccessRateDrop",
                        {"severity": "critical", "service": "gateway"},
                        f"success rate {current.success_rate:.1%} is {drop:.1f} points "
                        f"below baseline {baseline_success_rate:.1%}",
                        round(drop, 2),
                    )
                )
        if current.p99_ms > cfg.p99_ms:
            out.append(
                Condition(
                    "HighLatencyP99",
                    {"severity": "warning", "service": "gateway"},
                    f"p99 latency {current.p99_ms:.0f} ms over {cfg.p99_ms:.0f} ms",
                    round(current.p99_ms, 1),
                )
            )
    for comp in sorted(components_down):
        out.append(
            Condition(
                "ComponentDown",
                {"severity": "critical", "service": comp},
                f"{comp} is down",
                1.0,
            )
        )
    return out


def iso(t: datetime) -> str:
    """RFC 3339 with a Z suffix, as Alertmanager writes it."""
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class ActiveAlert:
    """An alert that fired and has not been notified as resolved yet."""

    cond: Condition
    starts_at: datetime
    ends_at: datetime | None = None
    last_sent: float = 0.0
    extra: dict[str, str] = field(default_factory=dict)


def webhook_payload(alert: ActiveAlert, external_url: str = "") -> dict[str, Any]:
    """Build an Alertmanager v4 webhook body for one alert (its own group)."""
    resolved = alert.ends_at is not None
    status = "resolved" if resolved else "firing"
    labels = {"alertname": alert.cond.name, **alert.cond.labels}
    group_labels = {"alertname": alert.cond.name}
    ends = iso(alert.ends_at) if alert.ends_at is not None else ZERO_TIME
    return {
        "version": "4",
        "groupKey": '{}:{alertname="' + alert.cond.name + '"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": RECEIVER,
        "groupLabels": group_labels,
        "commonLabels": labels,
        "commonAnnotations": {"summary": alert.cond.summary},
        "externalURL": external_url,
        "alerts": [
            {
                "status": status,
                "labels": labels,
                "annotations": {"summary": alert.cond.summary, "value": str(alert.cond.value)},
                "startsAt": iso(alert.starts_at),
                "endsAt": ends,
                "generatorURL": external_url,
                "fingerprint": alert.cond.fingerprint,
            }
        ],
    }


@dataclass
class AlertBook:
    """Tracks which alerts are active and decides which notifications to send."""

    repeat_s: float = 60.0
    active: dict[str, ActiveAlert] = field(default_factory=dict)

    def update(
        self, conditions: list[Condition], now_mono: float, now_wall: datetime
    ) -> list[ActiveAlert]:
        """Feed the conditions holding now; return alerts to notify (new, repeated, resolved)."""
        to_send: list[ActiveAlert] = []
        seen: set[str] = set()
        for cond in conditions:
            fp = cond.fingerprint
            seen.add(fp)
            current = self.active.get(fp)
            if current is None:
                current = ActiveAlert(cond, now_wall, last_sent=now_mono)
                self.active[fp] = current
                to_send.append(current)
            else:
                current.cond = cond
                if now_mono - current.last_sent >= self.repeat_s:
                    current.last_sent = now_mono
                    to_send.append(current)
        for fp in list(self.active):
            if fp not in seen:
                done = self.active.pop(fp)
                done.ends_at = now_wall
                to_send.append(done)
        return to_send
