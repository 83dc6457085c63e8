"""Personal identifiers at rest: encrypted (AES-GCM), with a keyed hash beside for lookups."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from datetime import date, datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from engine.calendar import SHANGHAI


def _derive(secret: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"aidflow", info=purpose).derive(secret.encode())


class FieldCipher:
    """Encrypts identity numbers and bank accounts; the keyed hash makes equal values findable."""

    def __init__(self, secret: str) -> None:
        if len(secret) < 16:
            raise ValueError("AIDFLOW_SECRET_KEY must be at least 16 characters")
        self._aead = AESGCM(_derive(secret, b"field-encryption-v1"))
        self._mac_key = _derive(secret, b"field-lookup-hash-v1")

    def encrypt(self, plaintext: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), b"aidflow-field-v1")
        return "v1:" + base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, token: str) -> str:
        if not token.startswith("v1:"):
            raise ValueError("unknown field encryption version")
        raw = base64.urlsafe_b64decode(token[3:])
        return self._aead.decrypt(raw[:12], raw[12:], b"aidflow-field-v1").decode()

    def lookup_hash(self, value: str) -> str:
        """Keyed hash of a normalized identifier: equal inputs, equal hashes; no key, no guessing."""
        normalized = value.strip().upper().replace(" ", "")
        return hmac.new(self._mac_key, normalized.encode(), hashlib.sha256).hexdigest()


def mask_id_number(value: str) -> str:
    """341122********1234: region digits and the last four, nothing of the birth date."""
    if len(value) < 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_account(value: str) -> str:
    return "*" * max(0, len(value) - 4) + value[-4:]


def mask_name(name: str) -> str:
    """王*英 for 王小英, 王* for 王英: the public notice shows no more."""
    if len(name) <= 1:
        return "*" * len(name)
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def valid_id_number(value: str) -> bool:
    """An 18-character resident identity number (GB 11643): 17 ASCII digits whose birth-date code is a
    real day from 1900 up to today, and a correct check character."""
    if len(value) != 18 or not value[:17].isascii() or not value[:17].isdigit():
        return False
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    if not date(1900, 1, 1) <= born <= datetime.now(SHANGHAI).date():
        return False
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(d) * w for d, w in zip(value[:17], weights, strict=True))
    return "10X98765432"[total % 11] == value[17].upper()


def id_check_char(first17: str) -> str:
    """The GB 11643 check character for 17 leading digits (for generating valid test data)."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(d) * w for d, w in zip(first17, weights, strict=True))
    return "10X98765432"[total % 11]
