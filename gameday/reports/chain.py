"""The hash-chained timeline: link i = sha256(link i-1 hex ‖ canonical JSON of event i)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

CHAIN_ALGORITHM = "gameday.chain/sha256-v1"
GENESIS = "0" * 64


def canonical_bytes(value: Any) -> bytes:
    """Compact, key-sorted UTF-8 JSON: the bytes every hash here is taken over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_links(events: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every link of the chain over the report's `events` (as stored in report.json)."""
    links: list[str] = []
    prev = GENESIS
    for event in events:
        prev = hashlib.sha256(prev.encode("ascii") + canonical_bytes(event)).hexdigest()
        links.append(prev)
    return links


def chain_head(events: Sequence[Mapping[str, Any]]) -> str:
    """The last link (GENESIS for a drill without events)."""
    links = chain_links(events)
    return links[-1] if links else GENESIS


def chain_document(events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """chain.json: the algorithm, every link with its event's t/kind/name, and the head."""
    links = chain_links(events)
    return {
        "algorithm": CHAIN_ALGORITHM,
        "genesis": GENESIS,
        "links": [
            {"i": i, "t": e.get("t"), "kind": e.get("kind"), "name": e.get("name"), "hash": h}
            for i, (e, h) in enumerate(zip(events, links, strict=True))
        ],
        "head": links[-1] if links else GENESIS,
    }


def first_broken_link(
    events: Sequence[Mapping[str, Any]], recorded: Sequence[Mapping[str, Any]]
) -> str | None:
    """Describe the first event whose link differs from the recorded chain, or None."""
    links = chain_links(events)
    for i, (event, link) in enumerate(zip(events, links, strict=False)):
        if i >= len(recorded) or recorded[i].get("hash") != link:
            return (
                f"timeline event #{i} ({event.get('kind')} {event.get('name')} at "
                f"t={event.get('t')}) does not match the hash chain"
            )
    if len(recorded) != len(events):
        return f"timeline has {len(events)} events but the chain records {len(recorded)}"
    return None
