"""Secrets at rest: webhook signing secrets and push credentials, encrypted with Fernet.

The keys come from `FULFILLMENT_SECRET_KEY` (or `DATA_DIR/secret-key`), comma-separated: the first
encrypts, every one decrypts (`MultiFernet`), so a key is rotated by putting the new one first,
re-encrypting (`fulfillment secrets rotate`) and then dropping the old one. A stored string is
`fernet:<token>`; a stored JSON document is `{"$encrypted": "fernet:<token>"}`. A value without the
mark is plaintext from before encryption: it still reads, and `fulfillment api` (at start) and
`fulfillment secrets rotate` encrypt it.
"""

from __future__ import annotations

import binascii
import json
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.engine import Engine

from config.settings import Settings
from storage.engine import session_scope

log = structlog.get_logger(__name__)
PREFIX = "fernet:"
JSON_MARK = "$encrypted"
MISSING = (
    "no secret key: set FULFILLMENT_SECRET_KEY to a Fernet key (make one with "
    "`fulfillment secrets generate-key`) or put one in DATA_DIR/secret-key; the same key for the API "
    "and every worker"
)

UNDECRYPTABLE = (
    "a stored secret cannot be decrypted with any key in FULFILLMENT_SECRET_KEY: it was encrypted under "
    "a key that is not in the list (a wrong key, or one dropped before `fulfillment secrets rotate` ran)"
)


class SecretKeyError(RuntimeError):
    """No usable key, a malformed one, or a stored secret that no configured key decrypts."""


@dataclass
class Rewritten:
    """What a re-encryption pass did: how many rows it rewrote, and which it could not decrypt."""

    count: int = 0
    undecryptable: list[str] = field(default_factory=list)


def rewrite_each(
    engine: Engine, model: type[Any], keys: Iterable[Any], rewrite: Callable[[Any], None], what: str
) -> Rewritten:
    """Rewrite each row in a transaction of its own, the row locked; `rewrite` changes it in place and
    raises `SecretKeyError` (leaving it as it is) when no key decrypts it, and the row is named."""
    done = Rewritten()
    for key in keys:
        with session_scope(engine) as s:
            row = s.get(model, key, with_for_update=True)
            if row is None:
                continue
            try:
                rewrite(row)
            except SecretKeyError:
                done.undecryptable.append(f"{what} {row.id} of tenant {row.tenant_id}")
                continue
            done.count += 1
    return done


def new_key() -> str:
    return Fernet.generate_key().decode()


class Keyring:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise SecretKeyError(MISSING)
        fernets = []
        for number, key in enumerate(keys, 1):
            try:
                fernets.append(Fernet(key.strip().encode()))
            except (ValueError, binascii.Error):
                raise SecretKeyError(
                    f"FULFILLMENT_SECRET_KEY: key {number} of {len(keys)} is not a Fernet key "
                    "(32 url-safe base64-encoded bytes; make one with `fulfillment secrets generate-key`)"
                ) from None
        self._first, self._all = fernets[0], MultiFernet(fernets)

    @staticmethod
    def is_encrypted(stored: str) -> bool:
        return stored.startswith(PREFIX)

    def encrypt(self, plaintext: str) -> str:
        return PREFIX + self._first.encrypt(plaintext.encode()).decode()

    def decrypt(self, stored: str) -> str:
        """The plaintext; a value from before encryption (no mark) is returned as it is."""
        if not self.is_encrypted(stored):
            return stored
        try:
            return self._all.decrypt(stored[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            raise SecretKeyError(UNDECRYPTABLE) from None

    def seal(self, stored: str) -> str:
        """Plaintext from before encryption encrypted; a value already encrypted left as it is."""
        return stored if self.is_encrypted(stored) else self.encrypt(stored)

    def rewrap(self, stored: str) -> str:
        """The same secret encrypted under the first key (plaintext from before encryption too)."""
        if not self.is_encrypted(stored):
            return self.encrypt(stored)
        try:
            return PREFIX + self._all.rotate(stored[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            raise SecretKeyError(UNDECRYPTABLE) from None

    def encrypt_json(self, value: dict[str, Any]) -> dict[str, Any]:
        return {JSON_MARK: self.encrypt(json.dumps(value, separators=(",", ":"), sort_keys=True))}

    def decrypt_json(self, stored: dict[str, Any]) -> dict[str, Any]:
        if not self.is_encrypted_json(stored):
            return stored
        value: dict[str, Any] = json.loads(self.decrypt(stored[JSON_MARK]))
        return value

    @staticmethod
    def is_encrypted_json(stored: dict[str, Any]) -> bool:
        sealed = stored.get(JSON_MARK)
        return len(stored) == 1 and isinstance(sealed, str) and sealed.startswith(PREFIX)

    def seal_json(self, stored: dict[str, Any]) -> dict[str, Any]:
        return stored if self.is_encrypted_json(stored) else self.encrypt_json(stored)

    def rewrap_json(self, stored: dict[str, Any]) -> dict[str, Any]:
        if not self.is_encrypted_json(stored):
            return self.encrypt_json(stored)
        return {JSON_MARK: self.rewrap(stored[JSON_MARK])}


def from_settings(settings: Settings) -> Keyring:
    """The keyring the settings name; SecretKeyError (saying what to do) when they name none."""
    return Keyring(settings.secret_keys())


_lock = threading.Lock()
_installed: Keyring | None = None


def install(keyring: Keyring) -> None:
    """Make `keyring` the process's keyring (the `fulfillment` commands do this at start)."""
    global _installed
    with _lock:
        _installed = keyring


def current() -> Keyring:
    """The installed keyring; else the environment's; else, in code that embeds the storage without a
    key (tests), a throwaway key of this process. `fulfillment api` and `worker` never get that far:
    without a key they refuse to start."""
    global _installed
    with _lock:
        if _installed is None:
            keys = Settings().secret_keys()
            if keys:
                _installed = Keyring(keys)
            else:
                log.warning("secrets.throwaway_key", reason=MISSING)
                _installed = Keyring([new_key()])
        return _installed
