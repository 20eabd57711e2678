"""Encryption at rest of channel credentials, with key rotation.

Credentials are stored in django-fernet-encrypted-fields' `EncryptedJSONField`
format: a JSON document whose every leaf value is a Fernet token. That library
derives its one key from `SECRET_KEY` and `SALT_KEY`; PingBack's field takes
its keys from `PINGBACK_ENCRYPTION_KEYS` instead, independent of the secret key:
the first key encrypts what is written, every key decrypts (cryptography's
`MultiFernet`), so a key is rotated by putting a new one first, running
`manage.py reencrypt_credentials`, then dropping the old one.

A stored value that no configured key decrypts does not read as empty or as
its ciphertext (what the library does): it reads as `UndecryptableCredentials`,
which raises `CredentialsUndecryptable` on any use and is written back
unchanged if its row is saved, so nothing is lost while the key is restored.

Sources: https://cryptography.io/en/latest/fernet/ (Fernet, MultiFernet.rotate),
https://github.com/jazzband/django-fernet-encrypted-fields (0.4.0, fields.py).
"""

from __future__ import annotations

import base64
import functools
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from django.apps import apps
from django.conf import settings
from django.db import models, transaction
from django.db.models.functions import Cast
from encrypted_fields.fields import EncryptedJSONField

logger = logging.getLogger(__name__)

UNDECRYPTABLE_MESSAGE = (
    "Stored credentials cannot be decrypted with any key in "
    "PINGBACK_ENCRYPTION_KEYS: the key that encrypted them was removed or "
    "changed. Put that key back after the current one and run "
    "`python manage.py reencrypt_credentials` (docs/deployment.md, "
    '"Rotating the encryption key").'
)


class CredentialsUndecryptable(Exception):
    """Raised on any use of credentials that no configured key decrypts."""


class StoredCiphertext:
    """Credentials exactly as stored (the encrypted JSON document, `text`):
    the field writes them back unchanged instead of encrypting them again."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return "<encrypted credentials>"


class UndecryptableCredentials(StoredCiphertext):
    """What `RotatableEncryptedJSONField` holds when no key in
    `PINGBACK_ENCRYPTION_KEYS` decrypts the stored value: reading it in any way
    (`[...]`, `.get`, `.items`, iteration, `len`, truth, comparison) raises
    `CredentialsUndecryptable`; saving its row keeps the stored value."""

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise CredentialsUndecryptable(UNDECRYPTABLE_MESSAGE)

    # Every way of reading or changing a dict; other attributes are missing as
    # usual (Django probes some with hasattr).
    __getitem__ = __setitem__ = __delitem__ = __iter__ = __len__ = _refuse
    __contains__ = __bool__ = __eq__ = __ne__ = __or__ = __ror__ = _refuse
    get = keys = values = items = copy = pop = popitem = _refuse
    setdefault = update = clear = _refuse
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "<credentials not decryptable with PINGBACK_ENCRYPTION_KEYS>"


@functools.lru_cache(maxsize=8)
def fernet_for_keys(keys: tuple[str, ...]) -> MultiFernet:
    """A MultiFernet over `keys` (Fernet keys, first = encrypting), built once
    per process for each set of keys."""
    return MultiFernet([Fernet(key) for key in keys])


def credentials_fernet() -> MultiFernet:
    """The MultiFernet of `settings.PINGBACK_ENCRYPTION_KEYS`."""
    return fernet_for_keys(tuple(settings.PINGBACK_ENCRYPTION_KEYS))


class RotatableEncryptedJSONField(EncryptedJSONField):
    """django-fernet-encrypted-fields' `EncryptedJSONField` (same stored format)
    keyed by `PINGBACK_ENCRYPTION_KEYS` instead of SECRET_KEY/SALT_KEY, and
    loud when no key decrypts the stored value (see the module docstring)."""

    @property
    def keys(self) -> list[bytes]:
        return [key.encode() for key in settings.PINGBACK_ENCRYPTION_KEYS]

    @property
    def f(self) -> MultiFernet:
        return credentials_fernet()

    def from_db_value(
        self, value: Any, expression: Any, connection: Any
    ) -> dict | list | UndecryptableCredentials | None:
        if not isinstance(value, str):
            return value
        try:
            return self._decrypt_values(value=json.loads(value))
        except InvalidToken:
            logger.error(
                "credentials.undecryptable",
                extra={"model": self.model._meta.label, "field": self.name},
            )
            return UndecryptableCredentials(value)

    def get_prep_value(self, value: Any) -> Any:
        if isinstance(value, StoredCiphertext):
            return value.text
        return super().get_prep_value(value)


def legacy_encryption_keys(secret_key: str, salts: list[str]) -> list[str]:
    """The Fernet keys PingBack used before PINGBACK_ENCRYPTION_KEYS, one per
    salt: django-fernet-encrypted-fields' derivation, PBKDF2-HMAC-SHA256 of
    `secret_key` (UTF-8) with the salt (UTF-8), 100,000 iterations, 32 bytes,
    url-safe base64."""
    keys = []
    for salt in salts:
        kdf = PBKDF2HMAC(
            algorithm=hashes.SHA256(),
            length=32,
            salt=salt.encode("utf-8"),
            iterations=100_000,
        )
        derived = kdf.derive(secret_key.encode("utf-8"))
        keys.append(base64.urlsafe_b64encode(derived).decode("ascii"))
    return keys


@dataclass
class ReencryptResult:
    """Counts of `credentials_reencrypt`: rows rewritten under the first key,
    rows already under it, and the rows ("app.Model pk") no key decrypts."""

    reencrypted: int = 0
    current: int = 0
    undecryptable: list[str] = field(default_factory=list)


def _reencrypt_document(text: str, primary: Fernet, every: MultiFernet) -> str | None:
    """`text` (a stored document) with every token not made with `primary`
    re-encrypted with it (its timestamp kept), or None when all already are.
    Raises InvalidToken when a token decrypts with none of `every`'s keys."""
    changed = False

    def walk(value: Any) -> Any:
        nonlocal changed
        if isinstance(value, dict):
            return {key: walk(item) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item) for item in value]
        token = str(value).encode("utf-8")
        try:
            primary.decrypt(token)
            return value
        except InvalidToken:
            changed = True
            return every.rotate(token).decode("utf-8")

    document = walk(json.loads(text))
    return json.dumps(document) if changed else None


def _encrypted_fields() -> Iterator[tuple[type[models.Model], str]]:
    for model in apps.get_models():
        for model_field in model._meta.concrete_fields:
            if isinstance(model_field, RotatableEncryptedJSONField):
                yield model, model_field.name


def credentials_reencrypt(*, batch_size: int = 200) -> ReencryptResult:
    """Rewrite every `RotatableEncryptedJSONField` value of every model with the
    first key of PINGBACK_ENCRYPTION_KEYS, `batch_size` rows per transaction
    (rows locked while rewritten). Idempotent: rows already under the first
    key are left as they are. Rows no key decrypts are left unchanged and
    listed in the result."""
    primary = Fernet(settings.PINGBACK_ENCRYPTION_KEYS[0])
    every = credentials_fernet()
    result = ReencryptResult()
    for model, name in _encrypted_fields():
        manager = model._default_manager
        last = None
        while True:
            with transaction.atomic():
                rows = manager.order_by("pk").select_for_update()
                if last is not None:
                    rows = rows.filter(pk__gt=last)
                batch = list(
                    rows.annotate(
                        stored=Cast(name, output_field=models.TextField())
                    ).values_list("pk", "stored")[:batch_size]
                )
                for pk, stored in batch:
                    if stored is None:
                        result.current += 1
                        continue
                    try:
                        text = _reencrypt_document(stored, primary, every)
                    except InvalidToken:
                        result.undecryptable.append(f"{model._meta.label} {pk}")
                        continue
                    if text is None:
                        result.current += 1
                        continue
                    manager.filter(pk=pk).update(**{name: StoredCiphertext(text)})
                    result.reencrypted += 1
            if len(batch) < batch_size:
                break
            last = batch[-1][0]
    logger.info(
        "credentials.reencrypted",
        extra={
            "reencrypted": result.reencrypted,
            "current": result.current,
            "undecryptable": len(result.undecryptable),
        },
    )
    return result
