"""Keep secrets out of everything promptopt prints or writes.

A server may echo the key it was sent (a 401 saying "Incorrect API key provided: sk-…"), and a
base URL may carry ``user:password@``. Whatever the process knows to be secret — the values of
environment variables named like keys (``*_API_KEY``, ``*_TOKEN``, ``*_SECRET``, ``*PASSWORD*``),
a spec's ``key_env`` value, URL credentials — is replaced by ``***`` in error messages, in the
journal, config.json, summaries, artifacts and other files the runs write, and URL credentials are
dropped from URLs. The requests themselves still carry them.
"""

from __future__ import annotations

import os
import re
import threading
from typing import Iterable

#: Environment variable names whose values are treated as secrets.
SECRET_NAME = re.compile(r"(API_?KEY|_KEY$|TOKEN|SECRET|PASSWORD|PASSWD)", re.IGNORECASE)
#: Shorter values are too likely to occur in ordinary text to be replaced.
MIN_SECRET_CHARS = 6
MASK = "***"

_URL_CREDENTIALS = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/\s@\"'<>]+)@")
_lock = threading.Lock()
_known: set[str] = set()


def remember(*values: str | None) -> None:
    """Treat ``values`` as secrets from now on (short or empty ones are ignored)."""
    with _lock:
        _known.update(v for v in values if v and len(v) >= MIN_SECRET_CHARS)


def environment_secrets(environ: Iterable[tuple[str, str]] | None = None) -> set[str]:
    """The values of the environment variables whose names look like secrets."""
    items = os.environ.items() if environ is None else environ
    return {value for name, value in items if SECRET_NAME.search(name) and len(value) >= MIN_SECRET_CHARS}


def known_secrets() -> list[str]:
    """Every secret known now, longest first (so a key containing another is masked whole)."""
    with _lock:
        values = _known | environment_secrets()
    return sorted(values, key=len, reverse=True)


def strip_url_credentials(text: str) -> str:
    """``scheme://user:pass@host`` → ``scheme://***@host`` everywhere in ``text``."""
    return _URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)


def url_credentials(url: str) -> str | None:
    """The ``user:password`` part of ``url``, or None."""
    match = _URL_CREDENTIALS.match(url)
    return match.group("userinfo") if match else None


def redact(text: str) -> str:
    """``text`` with every known secret and any URL credentials masked."""
    if not text:
        return text
    for secret in known_secrets():
        if secret in text:
            text = text.replace(secret, MASK)
    return strip_url_credentials(text) if "@" in text else text
