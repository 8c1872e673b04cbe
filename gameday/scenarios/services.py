"""The services a scenario's faults name, each with where it is written, and the check of
those names against the services a target has, with a "did you mean" for a near miss.

`validate` and `plan` check them for a target whose services are known without contacting
it (the sandbox); a drill's preflight locates a name the target itself did not know.
"""

from __future__ import annotations

from collections.abc import Collection

from .model import Scenario
from .problems import did_you_mean
from .source import DataPath


def named_services(scenario: Scenario) -> list[tuple[DataPath, str]]:
    """Every service the faults name (as preflight resolves them), with its data path."""
    out: list[tuple[DataPath, str]] = []
    for i, fault in enumerate(scenario.faults):
        if not fault.target_services():
            continue  # the drill's own (traffic, command) or resolved by a release backend
        between = getattr(fault, "between", None)
        link = getattr(fault, "link", None)
        if between:
            for g, group in enumerate(between):
                out += [(("faults", i, "between", g, k), name) for k, name in enumerate(group)]
        elif link:
            out += [(("faults", i, "link"), end) for end in link.split("->")]
        else:
            out += [(("faults", i, "service"), name) for name in fault.target_services()]
    return out


def unknown_services(
    scenario: Scenario, known: Collection[str], target: str
) -> list[tuple[DataPath, str]]:
    """A problem at each place the faults name a service that ``target`` does not have."""
    have = sorted(known)
    return [
        (
            path,
            f"unknown service {name!r}{did_you_mean(name, have)} (the {target} has: "
            f"{', '.join(have)})",
        )
        for path, name in named_services(scenario)
        if name not in known
    ]


def unknown_links(
    scenario: Scenario, links: Collection[tuple[str, str]], target: str
) -> list[tuple[DataPath, str]]:
    """A problem at each `link: src->dst` between two services that talk over no link."""
    written = sorted(f"{src}->{dst}" for src, dst in links)
    out: list[tuple[DataPath, str]] = []
    for i, fault in enumerate(scenario.faults):
        link = getattr(fault, "link", None)
        if link and tuple(link.split("->")) not in links:
            hint = did_you_mean(link, written)
            out.append(
                (
                    ("faults", i, "link"),
                    f"no link {link!r} in the {target}{hint} (its links: {', '.join(written)})",
                )
            )
    return out
