"""The `objectives:` section: what the drill is judged on (RTO, RPO, availability...)."""

from __future__ import annotations

from pydantic import ConfigDict, Field, field_validator

from ..units import PERCENT_PATTERN, Duration, Percent
from .base import Strict, _also_accept

DEFAULT_RECOVERY_OBJECTIVE_S = 15 * 60.0


class DataLossObjective(Strict):
    """Bound on acknowledged writes lost (RPO)."""

    max_writes: int = Field(0, ge=0, description="acknowledged ledger writes that may be missing")
    max_span: Duration | None = Field(None, description="time span the lost writes may cover")


class ProtectedSuccessObjective(Strict):
    """During a surge, protected requests keep succeeding; each failure kind has its own budget."""

    requests: list[str] = Field(
        default_factory=lambda: ["pay"], description="protected request names"
    )
    min: Percent = Field(..., description="share of protected requests that must succeed")
    max_shed: Percent | None = Field(
        None, description="share of protected requests rate-limited (429)"
    )
    max_5xx: Percent | None = Field(None, description="share of protected requests failed with 5xx")
    max_circuit: Percent | None = Field(None, description="share failed fast by an open breaker")
    breakers_close_within: Duration | None = Field(
        None, description="time from surge end until no breaker fast-fails"
    )


class Objectives(Strict):
    """What the drill is judged on; each is optional except recovery time (15m by default)."""

    model_config = ConfigDict(
        json_schema_extra=_also_accept(
            data_loss={"type": "integer", "minimum": 0},
            protected_success={"type": "string", "pattern": PERCENT_PATTERN},
        )
    )

    recovery_time: Duration | None = Field(
        DEFAULT_RECOVERY_OBJECTIVE_S, description="first fault → steady state holds for stable_for"
    )
    failover_time: Duration | None = Field(
        None, description="recovery while the fault is still in force"
    )
    detection_time: Duration | None = Field(None, description="first fault → first alert received")
    escalation_time: Duration | None = Field(
        None, description='first fault → first escalated alert (labelled escalated="true") received'
    )
    data_loss: DataLossObjective | None = None
    availability: Percent | None = Field(
        None, description="minimum user success rate over the drill"
    )
    p99_latency: Duration | None = Field(
        None, description="maximum user p99 latency after recovery"
    )
    rollback_time: Duration | None = Field(
        None, description="gray release start → canary share back to 0"
    )
    blast_radius: Percent | None = Field(
        None, description="maximum share of user requests failed or served by the bad version"
    )
    protected_success: ProtectedSuccessObjective | None = None

    @field_validator("data_loss", mode="before")
    @classmethod
    def _data_loss_shorthand(cls, value: object) -> object:
        # `data_loss: 0` reads better than `data_loss: {max_writes: 0}`
        if isinstance(value, int) and not isinstance(value, bool):
            return {"max_writes": value}
        return value

    @field_validator("protected_success", mode="before")
    @classmethod
    def _protected_shorthand(cls, value: object) -> object:
        if isinstance(value, str):
            return {"min": value}
        return value
