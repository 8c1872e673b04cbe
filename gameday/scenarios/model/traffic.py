"""The `traffic:` section: the synthetic users Locust runs for the whole drill."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .base import Strict


class Traffic(Strict):
    """Synthetic users from Locust for the whole drill."""

    users: int = Field(10, ge=1, le=100_000)
    spawn_rate: float = Field(10.0, gt=0, le=10_000, description="users started per second")
    profile: Literal["payments", "promotion"] | None = Field(
        None,
        description="built-in user profile: payments, or promotion (a surge adds coupon hunters)",
    )
    locustfile: str | None = Field(
        None, description="path to your own locustfile (relative to the scenario)"
    )
    host: str = Field("{{ target.url }}", description="base URL the users call")
    workers: int = Field(0, ge=0, le=64, description="Locust workers (0: one local process)")
    max_requests: int = Field(
        2_000_000, ge=1, description="hard cap on requests for the whole drill"
    )

    @model_validator(mode="after")
    def _one_source(self) -> Traffic:
        if self.profile and self.locustfile:
            raise ValueError("give either 'profile' or 'locustfile', not both")
        if not self.profile and not self.locustfile:
            return self.model_copy(update={"profile": "payments"})
        return self
