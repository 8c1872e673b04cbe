"""The HTML report: one self-contained file (inline CSS and SVG, no script, no network)."""

from __future__ import annotations

from collections.abc import Sequence

import jinja2

from .chart import MAX_BUCKETS, timeline_svg
from .report import Report
from .view import context

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("gameday.reports", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=False,
    keep_trailing_newline=True,
)


def environment() -> jinja2.Environment:
    """The shared template environment (autoescaping on: report text is untrusted)."""
    return _ENV


def render_html(
    report: Report,
    *,
    key_fingerprint: str | None = None,
    artifacts: Sequence[tuple[str, str, int]] = (),
    chain_head: str | None = None,
) -> str:
    """The report as HTML; deterministic for the same inputs (verify re-renders to compare)."""
    ctx = context(
        report, key_fingerprint=key_fingerprint, artifacts=artifacts, chain_head=chain_head
    )
    return _ENV.get_template("report.html.j2").render(
        **ctx, chart=timeline_svg(report), max_buckets=MAX_BUCKETS
    )
