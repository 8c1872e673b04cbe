"""Probes, and the `steady_state:` they define: what "healthy" means during a drill."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from ..units import Duration, Percent
from .base import Slug, Strict, _also_accept


class ProbeBase(Strict):
    name: Slug
    every: Duration = Field(0.5, description="sampling interval (fixed rate)")
    timeout: Duration = Field(2.0, description="a sample slower than this fails")

    @model_validator(mode="after")
    def _positive_interval(self) -> ProbeBase:
        if self.every < 0.01:
            raise ValueError("'every' must be at least 10ms")
        if self.timeout <= 0:
            raise ValueError("'timeout' must be greater than zero")
        return self


class HttpProbe(ProbeBase):
    """An HTTP request; passes on the expected status, body text and latency."""

    model_config = ConfigDict(
        json_schema_extra=_also_accept(
            expect_status={"type": "integer", "minimum": 100, "maximum": 599}
        )
    )

    type: Literal["http"]
    url: str
    method: Literal["GET", "POST", "PUT", "DELETE", "HEAD"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    expect_status: list[int] = Field(default_factory=lambda: [200])
    body_contains: str | None = None
    max_latency: Duration | None = None

    @field_validator("expect_status", mode="before")
    @classmethod
    def _one_status(cls, value: object) -> object:
        return [value] if isinstance(value, int) and not isinstance(value, bool) else value


class TcpProbe(ProbeBase):
    """A TCP connect."""

    type: Literal["tcp"]
    host: str = "127.0.0.1"
    port: int = Field(..., ge=1, le=65535)


class SqlProbe(ProbeBase):
    """A SQL query; passes when it runs (and returns `expect` when given)."""

    type: Literal["sql"]
    dsn: str = Field(
        ..., description="connection string; passwords only as ${env:NAME} or ${file:path}"
    )
    query: str = "SELECT 1"
    expect: str | None = Field(None, description="expected first column of the first row, as text")


class LedgerProbe(ProbeBase):
    """Writes sequence numbers and records which were acknowledged, to count lost writes."""

    type: Literal["ledger"]
    dsn: str = Field(..., description="connection string of the writer endpoint")
    table: str = Field("gameday_ledger", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    verify_dsn: str | None = Field(None, description="where to read back (default: dsn)")


class CommandProbe(ProbeBase):
    """A local command; passes on the expected exit code."""

    model_config = ConfigDict(
        json_schema_extra=_also_accept(run={"type": "string", "minLength": 1})
    )

    type: Literal["command"]
    run: list[str] = Field(..., min_length=1, description="argv, no shell")
    expect_exit: int = 0

    @field_validator("run", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        import shlex

        return shlex.split(value) if isinstance(value, str) else value


class PrometheusProbe(ProbeBase):
    """A Prometheus instant query compared with a bound, e.g. `expect: '< 0.05'`."""

    type: Literal["prometheus"]
    url: str = Field(..., description="Prometheus base URL")
    query: str
    expect: str = Field(..., pattern=r"^\s*(<|<=|>|>=|==|!=)\s*-?\d+(\.\d+)?([eE]-?\d+)?\s*$")


class AlertProbe(ProbeBase):
    """Alerts received on the drill's Alertmanager-compatible webhook; passes while none fires."""

    type: Literal["alert"]
    match: dict[str, str] = Field(default_factory=dict, description="labels an alert must carry")


AnyProbe = (
    HttpProbe | TcpProbe | SqlProbe | LedgerProbe | CommandProbe | PrometheusProbe | AlertProbe
)
Probe = Annotated[AnyProbe, Field(discriminator="type")]


class SteadyState(Strict):
    """What "healthy" means: every probe passes, for `stable_for` in a row."""

    stable_for: Duration = Field(10.0, description="how long every probe must pass in a row")
    probes: list[Probe] = Field(..., min_length=1)
    min_traffic_success: Percent | None = Field(
        None, description="user success rate per second that also counts as healthy"
    )
