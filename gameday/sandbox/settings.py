"""Settings of the embedded staging: every timing, threshold and capacity in one model."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_STATE_DIR = Path(".gameday") / "sandbox"


class SandboxSettings(BaseModel):
    """How the sandbox is built and how fast its controllers react.

    Defaults are short so a drill takes about a minute; production-like values
    (health period of seconds, thresholds of several checks) make the same drills
    exercise the 15-minute objective.
    """

    model_config = ConfigDict(extra="forbid")

    state_dir: Path = DEFAULT_STATE_DIR
    pg_bin_dir: Path | None = None
    pg_user: str = "gameday-pg"
    replication_mode: Literal["sync", "async"] = "sync"
    # A dead standby blocks every commit under sync replication; unless strict, the
    # failover controller drops to async while the standby is away (like Patroni).
    sync_strict: bool = False

    # failover controller
    failover_enabled: bool = True
    health_period_s: float = Field(0.3, gt=0)
    health_timeout_s: float = Field(0.5, gt=0)
    failure_threshold: int = Field(3, ge=1)
    fence_old_primary: bool = True

    # gateway
    gateway_health_period_s: float = Field(0.3, gt=0)
    gateway_health_timeout_s: float = Field(0.5, gt=0)
    gateway_failure_threshold: int = Field(3, ge=1)
    upstream_timeout_s: float = Field(3.0, gt=0)

    # payment API
    db_timeout_s: float = Field(2.0, gt=0)
    db_pool_size: int = Field(6, ge=1)
    rate_limit_rps: float = Field(150.0, gt=0)
    rate_limit_burst: float = Field(150.0, gt=0)
    # tokens kept for payments: low-priority calls are shed once the bucket drops to this
    payment_reserve: float = Field(75.0, ge=0)
    breaker_failure_threshold: int = Field(5, ge=1)
    breaker_open_s: float = Field(2.0, gt=0)
    faulty_share: float = Field(0.3, ge=0, le=1)
    slow_ms: float = Field(300.0, ge=0)

    # release controller
    rollout_steps: list[int] = Field(default_factory=lambda: [5, 20, 50, 100])
    rollout_interval_s: float = Field(5.0, gt=0)
    canary_max_error_rate: float = Field(0.05, ge=0, le=1)
    canary_max_p99_ms: float = Field(250.0, gt=0)
    canary_min_requests: int = Field(5, ge=1)
    controller_loop_s: float = Field(0.5, gt=0)

    # alerting
    alert_receiver_url: str | None = None
    alert_eval_period_s: float = Field(1.0, gt=0)
    alert_window_s: float = Field(10.0, gt=0)
    alert_baseline_window_s: float = Field(60.0, gt=0)
    alert_success_drop_points: float = Field(5.0, gt=0)
    alert_p99_ms: float = Field(200.0, gt=0)
    alert_min_requests: int = Field(10, ge=1)
    alert_repeat_s: float = Field(60.0, gt=0)
    # the platform's rule: the same alert firing 10 times within an hour is escalated
    alert_escalation_enabled: bool = True
    alert_escalate_after: int = Field(10, ge=1)
    alert_escalate_window_s: float = Field(3600.0, gt=0)

    ready_timeout_s: float = Field(30.0, gt=0)
