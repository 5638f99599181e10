"""What several benchmarks share: a free port, and a fresh database (migrated) and Redis db."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_recreate(database_url: str, redis_url: str) -> None:
    """Drop and create the benchmark's PostgreSQL database, migrate it, and flush its Redis db."""
    import psycopg

    name = urlsplit(database_url).path.strip("/")
    admin = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    import redis

    redis.Redis.from_url(redis_url).flushdb()
