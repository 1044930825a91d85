"""Secrets (``whsec_...``), kept encrypted, and the Standard Webhooks signature headers.

The signature is an HMAC, so the worker needs each secret itself: it cannot be hashed.
Secrets are encrypted with Fernet under a key derived from SECRET_KEY; changing SECRET_KEY
makes stored secrets unreadable (rotate every subscription's secret after doing so).
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime
from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

# cryptography and standardwebhooks are imported where they are used: every web worker
# imports this module, few ever encrypt or sign (their import costs each worker ~7 MB).

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


class SecretUnreadable(Exception):
    """The stored secret was encrypted under another SECRET_KEY."""


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _fernet() -> Fernet:
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"orderly webhook secrets"
    ).derive(current_app.config["SECRET_KEY"].encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def decrypt(token: str) -> str:
    from cryptography.fernet import InvalidToken

    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("the secret was stored under another SECRET_KEY") from None


def signature_header(secrets_in_use: list[str], message_id: str, at: datetime, body: str) -> str:
    """``v1,<sig>`` for each secret, space-separated (the receiver accepts any one)."""
    from standardwebhooks import Webhook

    return " ".join(Webhook(s).sign(message_id, at, body) for s in secrets_in_use)


def new_message_id() -> str:
    return "msg_" + secrets.token_urlsafe(18)
