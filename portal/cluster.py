"""A local cluster on this one machine: HAProxy on one port in front of N uvicorn web nodes, N
Celery workers and one beat, on PostgreSQL and Redis (or RabbitMQ as the broker).

    python -m portal.cluster [--port 8000] [--web 2] [--workers 2]

`make cluster` runs it after `manage.py bootstrap`. The processes run under portal.devstack's
supervisor: prefixed logs, one SIGTERM each on Ctrl-C, a kill only after the grace period, and a
process that crashes started again, as the systemd units of a real cluster do. The
proxy's configuration is deploy/haproxy/portal.cfg with the ports filled in, written to
`$PORTAL_VAR_DIR/cluster/haproxy.cfg`. The tests (tests/cluster/) and the load test
(bench/cluster.py) start the same commands, built by `cluster_commands()`.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

ROOT = Path(__file__).resolve().parent.parent
HAPROXY_TEMPLATE = ROOT / "deploy" / "haproxy" / "portal.cfg"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def haproxy_config(
    port: int, web_ports: list[int], bind: str = "127.0.0.1", check_host: str = "127.0.0.1"
) -> str:
    """deploy/haproxy/portal.cfg with the proxy's port and one `server` line per web node."""
    servers = "\n".join(f"    server web{n} 127.0.0.1:{p}" for n, p in enumerate(web_ports, start=1))
    return Template(HAPROXY_TEMPLATE.read_text()).substitute(
        bind=bind, port=port, servers=servers, check_host=check_host
    )


def haproxy_binary() -> str:
    found = shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if os.access(p, os.X_OK)), None
    )
    if found is None:
        raise SystemExit("haproxy is not installed: apt-get install -y haproxy")
    return found


@dataclass
class ClusterPlan:
    """What a cluster runs: the proxy's port, each web node's port, how many workers and beats."""

    port: int
    web_ports: list[int]
    workers: int = 2
    beats: int = 1
    var_dir: Path = field(default_factory=lambda: ROOT / "var" / "cluster")
    python: str = sys.executable

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_haproxy_config(self) -> Path:
        self.var_dir.mkdir(parents=True, exist_ok=True)
        path = self.var_dir / "haproxy.cfg"
        path.write_text(haproxy_config(self.port, self.web_ports))
        return path

    def web_command(self, port: int) -> list[str]:
        # The same flags as Procfile.dev's web; uvicorn trusts X-Forwarded-For from 127.0.0.1 only.
        return [
            self.python, "-m", "uvicorn", "portal.asgi:application",
            "--host", "127.0.0.1", "--port", str(port),
            "--lifespan", "off", "--no-access-log", "--ws-max-size", "65536",
            "--timeout-graceful-shutdown", "5",
            "--proxy-headers", "--forwarded-allow-ips", "127.0.0.1",
        ]  # fmt: skip

    def worker_command(self, name: str, concurrency: int = 2) -> list[str]:
        return [
            self.python, "-m", "celery", "-A", "portal", "worker", "--loglevel", "INFO",
            "--concurrency", str(concurrency), "--without-gossip", "--without-mingle",
            "--hostname", f"{name}@%h",
        ]  # fmt: skip

    def beat_command(self, name: str) -> list[str]:
        schedule = self.var_dir / f"celerybeat-schedule-{name}"
        return [
            self.python,
            "-m",
            "celery",
            "-A",
            "portal",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(schedule),
        ]

    def proxy_command(self) -> list[str]:
        # -db: stay in the foreground; -W: master-worker mode, so SIGTERM stops it cleanly.
        return [haproxy_binary(), "-W", "-db", "-f", str(self.write_haproxy_config())]

    def commands(self) -> list[tuple[str, list[str]]]:
        """(name, argv) of every process, the proxy first."""
        entries = [("proxy", self.proxy_command())]
        entries += [(f"web{n}", self.web_command(p)) for n, p in enumerate(self.web_ports, start=1)]
        entries += [(f"worker{n}", self.worker_command(f"worker{n}")) for n in range(1, self.workers + 1)]
        entries += [
            (f"beat{n}" if self.beats > 1 else "beat", self.beat_command(f"beat{n}"))
            for n in range(1, self.beats + 1)
        ]
        return entries

    def environment(self, base: dict[str, str]) -> dict[str, str]:
        """The processes' environment: `base`, with the public URL being the proxy's, and an
        emptied metrics directory that all of them share (portal.devstack.metrics_dir_reset)."""
        from portal.devstack import metrics_dir_reset

        return {
            # Its own directory, whatever `base` names: another stack may be counting in that one.
            **metrics_dir_reset({**base, "PROMETHEUS_MULTIPROC_DIR": str(self.var_dir / "metrics")}),
            "PORTAL_BASE_URL": base.get("PORTAL_BASE_URL") or self.url,
            "CSRF_TRUSTED_ORIGINS": base.get("CSRF_TRUSTED_ORIGINS") or self.url,
            "PYTHONUNBUFFERED": "1",
        }


def check_services(environ: dict[str, str]) -> None:
    """A cluster shares its state through PostgreSQL and Redis: refuse the embedded defaults."""
    database_url = environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://", "pgsql://")):
        raise SystemExit(
            "make cluster needs DATABASE_URL=postgres://... (SQLite is one machine's, one process's)"
        )
    if not environ.get("REDIS_URL", "").startswith(("redis://", "rediss://")):
        raise SystemExit("make cluster needs REDIS_URL=redis://... (the channel layer between the web nodes)")


def database_create_missing(database_url: str) -> None:
    """Create DATABASE_URL's database if the server does not have it yet (a fresh clone)."""
    from urllib.parse import urlsplit

    import psycopg
    from psycopg import sql

    name = urlsplit(database_url).path.strip("/")
    admin = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"cluster: created the database {name}")


def wait_ready(url: str, stopping: threading.Event, timeout: float = 120) -> bool:
    """True once `url`/readyz answers 200 (through the proxy), False if stopped or timed out."""
    from urllib.request import urlopen

    deadline = time.monotonic() + timeout
    while not stopping.is_set() and time.monotonic() < deadline:
        try:
            with urlopen(f"{url}/readyz", timeout=2) as response:  # noqa: S310 - our own proxy
                if response.status == 200:
                    return True
        except OSError:
            pass
        stopping.wait(0.5)
    return False


def main(argv: list[str]) -> int:
    from portal.devstack import Supervisor

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("CLUSTER_PORT", "8000")))
    parser.add_argument("--web", type=int, default=2, help="web nodes (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="Celery workers (default 2)")
    parser.add_argument(
        "--create-database", action="store_true", help="create the database if missing, then exit"
    )
    args = parser.parse_args(argv[1:])
    check_services(dict(os.environ))
    if args.create_database:
        database_create_missing(os.environ["DATABASE_URL"])
        return 0
    plan = ClusterPlan(port=args.port, web_ports=[free_port() for _ in range(args.web)], workers=args.workers)
    env = plan.environment(dict(os.environ))
    os.environ.clear()
    os.environ.update(env)  # the supervisor's children inherit it
    # A crashed process is started again, as the systemd units of a real cluster do (Restart=on-failure).
    supervisor = Supervisor([(name, shlex.join(command)) for name, command in plan.commands()], restart=True)

    def on_signal(signum, frame):
        supervisor.stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    supervisor.start()
    broker = env.get("CELERY_BROKER_URL", "").split("://", 1)[0] or "redis"
    ports = ", ".join(map(str, plan.web_ports))
    supervisor.say("system", f"starting: HAProxy on {plan.url} -> web nodes on ports {ports}")

    def announce() -> None:  # once the proxy answers through a node that reaches every dependency
        if wait_ready(plan.url, supervisor.stopping):
            supervisor.say(
                "system",
                f"ready: {plan.url} ({len(plan.web_ports)} web nodes behind HAProxy, {plan.workers} workers "
                f"and a beat on {broker}). Ctrl-C stops all.",
            )

    threading.Thread(target=announce, daemon=True).start()
    died = supervisor.wait()
    clean = supervisor.stop()
    if died is not None:
        return 1
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
