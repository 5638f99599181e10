"""Reading and checking the environment for portal/settings.py.

A wrong variable must stop the program with one line that names it, never a traceback:
entry points (manage.py, asgi.py, celery.py) catch ConfigError and print it that way.
"""

from __future__ import annotations

import sys
from urllib.parse import urlsplit

INSECURE_KEY_PREFIX = "django-insecure-"
MIN_SECRET_KEY_LENGTH = 50


class ConfigError(Exception):
    """A configuration variable is missing or malformed. The message starts with its name."""


def redis_url(name: str, value: str) -> str:
    """Return a Redis URL unchanged after checking its shape (scheme, host and port)."""
    try:
        parts = urlsplit(value)
        port = parts.port  # raises ValueError on a non-numeric or out-of-range port
    except ValueError as exc:
        raise ConfigError(f"{name} is malformed ({exc}): expected redis://host:6379/0") from None
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(
            f"{name} must start with redis://, rediss:// or unix://, got {parts.scheme or value!r}"
        )
    if parts.scheme != "unix" and not parts.hostname:
        raise ConfigError(f"{name} has no host: expected redis://host:6379/0")
    if parts.scheme != "unix" and port is None and ":" in (parts.netloc.rsplit("@", 1)[-1]):
        raise ConfigError(f"{name} has an empty port: expected redis://host:6379/0")
    db = parts.path.lstrip("/")
    if db and not db.isdigit():
        raise ConfigError(f"{name} database must be a number, got {db!r}")
    return value


def base_url(name: str, value: str) -> str:
    """Return an absolute http(s) base URL without its trailing slash, after checking its shape:
    links in emails are built from it, so a typo must stop the program, not break every link."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a non-numeric port
    except ValueError as exc:
        raise ConfigError(f"{name} is malformed ({exc}): expected https://portal.example.com") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{name} must be an absolute http(s) URL like https://portal.example.com, got {value!r}"
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"{name} must not have a query or fragment, got {value!r}")
    return value.rstrip("/")


def choices(name: str, values: list[str], allowed: tuple[str, ...]) -> list[str]:
    """Return `values` after checking each is one of `allowed` (a list variable of names)."""
    unknown = [value for value in values if value not in allowed]
    if unknown:
        raise ConfigError(f"{name} has {', '.join(unknown)}: expected some of {', '.join(allowed)}")
    return values


def secret_key(value: str, *, debug: bool) -> str:
    """Refuse an insecure SECRET_KEY unless DEBUG is on."""
    if debug:
        return value
    if not value:
        raise ConfigError(
            "SECRET_KEY is not set: DEBUG is off, so a secret key of 50+ random characters is required"
        )
    if value.startswith(INSECURE_KEY_PREFIX) or len(value) < MIN_SECRET_KEY_LENGTH or len(set(value)) < 5:
        raise ConfigError(
            "SECRET_KEY is insecure: DEBUG is off, so it must be 50+ random characters "
            "and must not start with 'django-insecure-'"
        )
    return value


def allowed_hosts(value: list[str], *, debug: bool) -> list[str]:
    if not debug and not value:
        raise ConfigError(
            "ALLOWED_HOSTS is empty: DEBUG is off, so list the host names the portal answers to"
        )
    return value


def mask_url(url: str) -> str:
    """The URL with any password replaced by ***, for error messages and logs."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


def exit_on_config_error(exc: ConfigError) -> None:
    print(f"configuration error: {exc}", file=sys.stderr)
    raise SystemExit(2)


def database_location() -> str:
    """Engine, host, port and name of the default database, without credentials."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    engine = db["ENGINE"].rsplit(".", 1)[-1]
    if engine == "sqlite3":
        return f"sqlite3 {db['NAME']}"
    return f"{engine} {db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}/{db.get('NAME')}"


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]


def exit_on_unreachable_database(exc: Exception) -> None:
    print(
        f"configuration error: DATABASE_URL unreachable ({database_location()}): {first_line(exc)}",
        file=sys.stderr,
    )
    raise SystemExit(2)
