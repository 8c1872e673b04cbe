"""The verifier's trust list: the public keys `gameday verify` accepts as signers without --key.

A report carries its signer's public key (signing.pub), but anyone who edits a report can
re-sign it and ship their own key: only a key the auditor holds proves who signed. Those
are the keys named by $GAMEDAY_TRUSTED_KEYS (files or directories, separated by os.pathsep)
and the keys in the default directory, $XDG_CONFIG_HOME/gameday/trusted_keys (else
~/.config/gameday/trusted_keys). In a directory, every `*.pub` and `*.pem` file is a key.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .signing import keyid, load_public_key

TRUST_ENV = "GAMEDAY_TRUSTED_KEYS"
KEY_SUFFIXES = (".pub", ".pem")


class TrustListError(ValueError):
    """A trust list entry is missing, unreadable or not an Ed25519 public key."""


@dataclass(frozen=True)
class TrustList:
    """Trusted keys by key id (with the file each came from), and where an auditor adds one."""

    keys: Mapping[str, tuple[Ed25519PublicKey, Path]]
    home: Path  # the default directory

    def find(self, keyids: Iterable[str]) -> tuple[str, Ed25519PublicKey, Path] | None:
        """The first of these key ids that is trusted, with its key and file."""
        for kid in keyids:
            if kid in self.keys:
                return (kid, *self.keys[kid])
        return None


def default_trust_dir(env: Mapping[str, str] | None = None) -> Path:
    """$XDG_CONFIG_HOME/gameday/trusted_keys, else ~/.config/gameday/trusted_keys."""
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME", "")
    # the XDG spec: a relative value is invalid and is ignored
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "gameday" / "trusted_keys"


def _key_files(source: Path) -> list[Path]:
    if not source.is_dir():
        return [source]
    try:
        return sorted(p for p in source.iterdir() if p.suffix in KEY_SUFFIXES and p.is_file())
    except OSError as exc:
        raise TrustListError(f"cannot read trusted key directory {source}: {exc.strerror}") from exc


def load_trust_list(env: Mapping[str, str] | None = None) -> TrustList:
    """Read every trusted key; raises TrustListError naming the entry that is wrong."""
    env = os.environ if env is None else env
    home = default_trust_dir(env)
    sources = [Path(p) for p in env.get(TRUST_ENV, "").split(os.pathsep) if p]
    for source in sources:
        if not source.exists():
            raise TrustListError(f"{TRUST_ENV} names {source}, which does not exist")
    keys: dict[str, tuple[Ed25519PublicKey, Path]] = {}
    for source in [*sources, *([home] if home.is_dir() else [])]:
        for path in _key_files(source):
            try:
                key = load_public_key(path)
            except ValueError as exc:
                raise TrustListError(f"trust list: {exc}") from exc
            keys.setdefault(keyid(key), (key, path))
    return TrustList(keys, home)
