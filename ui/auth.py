"""Who may use the app: RAG_UI_AUTH turns on Gradio's login for the page and the API.

RAG_UI_AUTH is "user:password", or the path of a file with one such line per user
(blank lines and lines starting with # are ignored). Binding to an address other
than loopback without it is allowed but warned about: anyone who can reach the
port could then read the library, upload files and run evals.

    >>> parse_credentials("alice:s3cret\\n# comment\\nbob:pa:ss")
    [('alice', 's3cret'), ('bob', 'pa:ss')]
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from rag.errors import ConfigError

LOOPBACK_NAMES = ("localhost",)


def parse_credentials(text: str, origin: str = "RAG_UI_AUTH") -> list[tuple[str, str]]:
    """user:password lines -> pairs; the password may itself contain ':'."""
    pairs = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, password = line.partition(":")
        if not sep or not user.strip() or not password:
            raise ConfigError(
                f"{origin} line {number} is not user:password: write one user:password per line"
            )
        pairs.append((user.strip(), password))
    if not pairs:
        raise ConfigError(f"{origin} holds no user:password line: add one or unset RAG_UI_AUTH")
    return pairs


def load_credentials(value: str | None) -> list[tuple[str, str]] | None:
    """The login pairs RAG_UI_AUTH asks for, or None when login is off."""
    if not value:
        return None
    path = Path(value).expanduser()
    if path.is_file():
        return parse_credentials(path.read_text(encoding="utf-8"), origin=str(path))
    if ":" not in value:
        raise ConfigError(
            "RAG_UI_AUTH is neither user:password nor an existing file of such lines: fix it"
        )
    return parse_credentials(value)


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach the address.

    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("0.0.0.0"), is_loopback("localhost")
    (True, True, False, True)
    """
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: assume it is reachable from elsewhere


def exposure_warning(host: str, credentials: list[tuple[str, str]] | None) -> str | None:
    """A warning when the app is reachable from other machines without a login."""
    if credentials or is_loopback(host):
        return None
    return (
        f"warning: serving on {host} without a login; anyone who can reach this address "
        "can read the library, upload files and run evals. Set RAG_UI_AUTH=user:password "
        "(or a file of such lines), or bind to 127.0.0.1."
    )
