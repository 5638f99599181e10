"""Keep action-link secrets out of the logs.

A link's secret is in its path (`/links/<token>/`), and request logging (django-structlog's
`request_started`, Django's "Not Found: …" warnings, an exception's message) writes paths. This
structlog processor replaces the secret in every string of a log line, nested ones included,
before it is rendered. It imports nothing from Django, so settings can load it.
"""

from __future__ import annotations

import re
from typing import Any

LINK_SECRET = re.compile(r"(/links/)[^/?#\s\"'<>]+")
REDACTED = r"\1[redacted]"


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return LINK_SECRET.sub(REDACTED, value) if "/links/" in value else value
    if isinstance(value, dict):
        return {key: _redact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact(item) for item in value)
    return value


def redact_link_secrets(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: `/links/<secret>/` becomes `/links/[redacted]/` everywhere in the line."""
    return {key: _redact(value) for key, value in event_dict.items()}
