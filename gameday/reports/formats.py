"""The report formats, in one table: name → file in the run directory + how to render it.

A new format is one module with its render function and one `Format` row here; writing
(`render.write_renderings`), `gameday report render --format`, `publish` and the pytest
plugin all read this table, and a signature covers every file it names. The table is cheap
to import (the command line's `--format` choices come from it): a renderer is imported when
its format is rendered.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .report import Report

REPORT_HTML = "report.html"
REPORT_MD = "report.md"
JUNIT_XML = "junit.xml"


@dataclass(frozen=True)
class RenderInput:
    """What a rendering may show besides the report: the signer, the evidence, the chain head."""

    report: Report  # as read back from report.json: the redacted truth
    key_fingerprint: str | None = None
    artifacts: Sequence[tuple[str, str, int]] = ()  # (name, sha256, bytes) of evidence files
    chain_head: str | None = None


@dataclass(frozen=True)
class Format:
    """One row of the table."""

    name: str  # as `--format` takes it
    file: str  # written in the run directory
    render: Callable[[RenderInput], str]
    always: bool = False  # written on every run, whatever formats were asked for


def _html(x: RenderInput) -> str:
    from .html import render_html

    return render_html(
        x.report, key_fingerprint=x.key_fingerprint, artifacts=x.artifacts, chain_head=x.chain_head
    )


def _markdown(x: RenderInput) -> str:
    from .markdown import render_markdown

    return render_markdown(x.report, key_fingerprint=x.key_fingerprint)


def _junit(x: RenderInput) -> str:
    from .junit import render_junit

    return render_junit([x.report])


# in writing order (which is also the order of the written paths)
FORMATS: Mapping[str, Format] = {
    f.name: f
    for f in (
        Format("html", REPORT_HTML, _html, always=True),
        Format("markdown", REPORT_MD, _markdown),
        Format("junit", JUNIT_XML, _junit),
    )
}


def formats_for(*, ci: bool) -> frozenset[str]:
    """What a run writes: every format in CI, else those written always."""
    return frozenset(name for name, f in FORMATS.items() if ci or f.always)
