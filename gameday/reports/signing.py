"""Ed25519 keys, in-toto Statement v1 and DSSE envelopes (PAE per the DSSE v1 spec)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
PREDICATE_TYPE = "https://gameday.dev/attestation/drill-result/v1"


class SigningKeyError(ValueError):
    """A key file is missing, unreadable or not Ed25519."""


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: `DSSEv1 SP len(type) SP type SP len(body) SP body`."""
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def b64(data: bytes) -> str:
    return base64.standard_b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    """Strict standard base64: anything that does not re-encode identically is rejected."""
    raw = base64.b64decode(text.encode("ascii"), validate=True)
    if b64(raw) != text:
        raise ValueError("non-canonical base64")
    return raw


def public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def keyid(key: Ed25519PublicKey) -> str:
    """Key fingerprint: `SHA256:` + hex sha256 of the raw 32-byte public key."""
    return "SHA256:" + hashlib.sha256(public_bytes(key)).hexdigest()


def generate_keypair(private_path: Path) -> tuple[Path, Path]:
    """Write a new PKCS#8 private key (mode 0600) and its `.pub` (SubjectPublicKeyInfo PEM)."""
    key = Ed25519PrivateKey.generate()
    pub_path = private_path.with_name(private_path.name + ".pub")
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    pub_path.write_bytes(public_pem(key.public_key()))
    return private_path, pub_path


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Read an Ed25519 private key (PEM, unencrypted or with $GAMEDAY_KEY_PASSPHRASE)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"cannot read signing key {path}: {exc.strerror or exc}") from exc
    passphrase = os.environ.get("GAMEDAY_KEY_PASSPHRASE")
    try:
        key = serialization.load_pem_private_key(
            data, password=passphrase.encode() if passphrase else None
        )
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"{path} is not a PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path} is not an Ed25519 key (make one with `gameday keygen`)")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """Read an Ed25519 public key (PEM); a private key file is accepted too."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"cannot read public key {path}: {exc.strerror or exc}") from exc
    try:
        key: Any = serialization.load_pem_public_key(data)
    except ValueError:
        try:
            key = serialization.load_pem_private_key(data, password=None).public_key()
        except (ValueError, TypeError) as exc:
            raise SigningKeyError(f"{path} is not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"{path} is not an Ed25519 public key")
    return key


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _raise(exc: OSError) -> None:
    raise exc


def tree_files(root: Path) -> list[str]:
    """Every entry under `root` but directories, as sorted POSIX paths relative to it.

    Symbolic links are listed, never followed into, and an unreadable directory raises
    OSError: a file hidden from the listing would be a file neither signed nor checked.
    """
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=_raise):
        here = Path(dirpath)
        links = [d for d in dirnames if (here / d).is_symlink()]
        out += [(here / n).relative_to(root).as_posix() for n in (*filenames, *links)]
    return sorted(out)


def statement(
    subjects: Sequence[tuple[str, str]],
    predicate: Mapping[str, Any],
    sizes: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """An in-toto Statement v1 over (name, sha256 hex) subjects; a size given for a subject
    goes in its annotations (verify tells bytes appended after signing from an edit)."""
    sizes = sizes or {}
    return {
        "_type": STATEMENT_TYPE,
        "subject": [
            {"name": n, "digest": {"sha256": d}}
            | ({"annotations": {"size": sizes[n]}} if n in sizes else {})
            for n, d in subjects
        ],
        "predicateType": PREDICATE_TYPE,
        "predicate": dict(predicate),
    }


def sign_envelope(payload: bytes, key: Ed25519PrivateKey) -> dict[str, Any]:
    """A DSSE envelope holding `payload`, signed over its PAE."""
    sig = key.sign(pae(PAYLOAD_TYPE, payload))
    return {
        "payload": b64(payload),
        "payloadType": PAYLOAD_TYPE,
        "signatures": [{"keyid": keyid(key.public_key()), "sig": b64(sig)}],
    }


def verify_signature(envelope: Mapping[str, Any], key: Ed25519PublicKey) -> bytes:
    """The payload if one signature with this key's id verifies; raises ValueError saying why."""
    payload = unb64(str(envelope["payload"]))
    if envelope.get("payloadType") != PAYLOAD_TYPE:
        raise ValueError(f"payloadType is {envelope.get('payloadType')!r}, not {PAYLOAD_TYPE}")
    kid = keyid(key)
    sigs = [s for s in envelope.get("signatures", []) if s.get("keyid") == kid]
    if not sigs:
        found = ", ".join(str(s.get("keyid")) for s in envelope.get("signatures", []))
        raise ValueError(f"no signature by key {kid} (envelope has: {found or 'none'})")
    for s in sigs:
        try:
            key.verify(unb64(str(s["sig"])), pae(PAYLOAD_TYPE, payload))
            return payload
        except (InvalidSignature, ValueError):
            continue
    raise ValueError(f"the signature by {kid} does not match the signed statement")


def dumps_envelope(envelope: Mapping[str, Any]) -> str:
    """The one byte form an envelope file may have (verify rejects any other)."""
    return json.dumps(envelope, indent=2, sort_keys=True) + "\n"
