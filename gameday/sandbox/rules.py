"""Alert rules evaluated on gateway statistics, escalation of repeated alerts, and
Alertmanager v4 webhook payloads."""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gameday.sandbox.stats import WindowStats

RECEIVER = "gameday"
ESCALATED = "AlertEscalated"  # the escalated alert's name; it also carries escalated="true"
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


def escalated_condition(source: Condition, count: int, within_s: float) -> Condition:
    """The escalated alert for `source`: its own name and fingerprint, the source's labels."""
    labels = {**source.labels, "escalated": "true", "escalated_from": source.name}
    labels["severity"] = "page"
    summary = f"{source.name} fired {count} times within {within_s:g}s: {source.summary}"
    return Condition(ESCALATED, labels, summary, float(count))


@dataclass
class Escalator:
    """Escalates an alert that fired `after` times within `within_s` seconds.

    A firing is a firing notification of the same alert (fingerprint), new or repeated, so a
    flapping alert and one that keeps firing both escalate. Escalating starts the count anew;
    the escalated alert resolves with its source.
    """

    after: int = 10
    within_s: float = 3600.0
    enabled: bool = True
    firings: dict[str, deque[float]] = field(default_factory=dict)
    active: dict[str, ActiveAlert] = field(default_factory=dict)

    def update(
        self, notified: list[ActiveAlert], now_mono: float, now_wall: datetime
    ) -> list[ActiveAlert]:
        """Feed the notifications just delivered; return escalated alerts to notify.

        An escalated alert whose webhook could not be delivered (`last_sent` set to -inf by
        the sender) is returned again.
        """
        out = [a for a in self.active.values() if a.last_sent == float("-inf")]
        for retry in out:
            retry.last_sent = now_mono
        if not self.enabled:
            return out
        for alert in notified:
            fp = alert.cond.fingerprint
            if alert.ends_at is not None:
                done = self.active.pop(fp, None)
                if done is not None:
                    done.ends_at = now_wall
                    out.append(done)
                continue
            times = self.firings.setdefault(fp, deque())
            times.append(now_mono)
            while now_mono - times[0] > self.within_s:
                times.popleft()
            if len(times) < self.after:
                continue
            cond = escalated_condition(alert.cond, len(times), self.within_s)
            times.clear()
            current = self.active.get(fp)
            if current is None:
                current = self.active[fp] = ActiveAlert(cond, now_wall, last_sent=now_mono)
            else:  # escalated again while the first escalation still fires: page again
                current.cond, current.last_sent = cond, now_mono
            out.append(current)
        return out
