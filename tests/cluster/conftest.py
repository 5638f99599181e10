"""One cluster per test module, as `make cluster` runs it: HAProxy, two uvicorn web nodes, two
Celery workers and a beat, started by portal/cluster.py's plan.

Its Redis is a private redis-server (so a test may restart it), and it reaches the test database
through a TCP forwarder (so a test may cut PostgreSQL off from it, as a restart would) without
touching the shared servers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import pytest

from portal.cluster import ClusterPlan
from tests.stack import ROOT, PrivateRedis, Service, answers, free_port, wait_for
from tests.tcpproxy import TcpProxy


@dataclass
class Cluster:
    plan: ClusterPlan
    services: dict[str, Service]
    redis: PrivateRedis
    database: TcpProxy

    @property
    def url(self) -> str:
        return self.plan.url

    def node_url(self, n: int) -> str:
        return f"http://127.0.0.1:{self.plan.web_ports[n - 1]}"

    def output(self, name: str) -> str:
        return self.services[name].output()


def cluster_environment(plan: ClusterPlan, stack_env: dict, *, database_url: str, redis_url: str) -> dict:
    """The environment of a test cluster's processes: the test stack's, on its own database URL
    and private Redis (also its broker), with fast sweeps and short connect timeouts. A job cut
    off from the database mid-attempt stays STARTED until the sweep sees its time limit (+
    margin) pass: 10 s, not 120 s (longer than cluster_quiet's wait)."""
    env = plan.environment(
        {
            **stack_env,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "PORTAL_BASE_URL": "",
            "CSRF_TRUSTED_ORIGINS": "",
            "JOB_SWEEP_INTERVAL": "2",
            "DATABASE_CONNECT_TIMEOUT": "2",
            "JOB_DEFAULT_TIME_LIMIT": "10",
        }
    )
    env.pop("CELERY_BROKER_URL", None)
    return env


def services_start(
    plan: ClusterPlan, env: dict[str, str], services: dict[str, Service], prefix: str = "cluster"
) -> None:
    """Start every process of `plan` into `services` (filled as they start, so the caller stops
    the ones started even if a later one fails), and wait until the web nodes answer /readyz,
    the workers are ready and HAProxy sees the nodes."""
    for name, argv in plan.commands():
        services[name] = Service(f"{prefix}-{name}", argv, env)
    for name, service in services.items():
        if name.startswith("web"):
            port = plan.web_ports[int(name[3:]) - 1]
            service.wait_until(lambda port=port: answers(f"http://127.0.0.1:{port}"), what=f"{name} /readyz")
        elif name.startswith("worker"):
            service.wait_until(lambda s=service: " ready." in s.output(), what=f"the Celery {name}")
    wait_for(
        lambda: services["proxy"].output().count("is UP") >= len(plan.web_ports) or answers(plan.url),
        timeout=30,
        what="HAProxy to see the web nodes",
    )


@pytest.fixture(scope="module")
def cluster(stack_env) -> Iterator[Cluster]:
    redis = PrivateRedis()
    redis.start()
    parts = urlsplit(stack_env["DATABASE_URL"])
    database = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    database.start()
    database_url = urlunsplit(parts._replace(netloc=f"{parts.username or 'root'}@127.0.0.1:{database.port}"))
    plan = ClusterPlan(
        port=free_port(),
        web_ports=[free_port(), free_port()],
        workers=2,
        beats=1,
        var_dir=ROOT / "var" / "test" / "cluster",
    )
    env = cluster_environment(plan, stack_env, database_url=database_url, redis_url=redis.url)
    for stale in plan.var_dir.glob("celerybeat-schedule-*"):
        stale.unlink()
    services: dict[str, Service] = {}
    try:
        services_start(plan, env, services)
        yield Cluster(plan, services, redis, database)
    finally:
        for service in services.values():
            service.stop()
        database.close()
        redis.stop()


@pytest.fixture(autouse=True)
def cluster_quiet(cluster, transactional_db) -> Iterator[None]:
    """Each test starts with the cluster's beat running and ends with the cluster idle, so the
    test database's flush (a TRUNCATE of every table, right after this teardown) deadlocks with
    no job, email or sweep: every job and pending email is finished first, then the beat is
    stopped (its sweeps read and lock several tables every second) until the next test."""
    from viewflow.workflow.models import Task
    from viewflow.workflow.status import STATUS

    from processes.mail.models import OutgoingEmail

    beat = cluster.services["beat"]
    if beat.process.poll() is not None:
        beat.restart(
            lambda: beat.output().count("maxinterval") >= beat.output().count("restarted -----") + 1, "beat"
        )
    yield
    cluster.database.restore()  # a test that failed between a cut and its restore

    def idle() -> bool:
        jobs = Task.objects.filter(flow_task_type="JOB", status__in=[STATUS.SCHEDULED, STATUS.STARTED])
        return not jobs.exists() and not OutgoingEmail.objects.filter(status="pending").exists()

    wait_for(idle, timeout=120, what="the cluster's jobs and emails to finish")
    beat.process.terminate()
    beat.process.wait(timeout=20)
    time.sleep(0.5)  # a worker's last sweep message, if one was in flight


# ---------------------------------------------------------------- what a failure shows

# The log lines that tell a broker, database or sweep story, counted per process.
_TELLING = (
    "Connection to broker lost",
    "Cannot connect",
    "Connected to",
    "job.enqueue_failed",
    "job.sweep_resent",
    "job.enqueued",
    "job.done",
    "job.stale_message",
    "job.duplicate_delivery",
    "Internal Server Error",
    "Traceback",
)


def cluster_diagnosis(cluster: Cluster) -> str:
    """A short account of the cluster for a failed test: each process's state, how often the
    telling lines occur in its log and its last lines, and the jobs still pending. Short, as
    CI shows only the end of the output."""
    from viewflow.workflow.models import Task
    from viewflow.workflow.status import STATUS

    lines = []
    for name, service in cluster.services.items():
        code = service.process.poll()
        output = service.output()
        counts = ", ".join(f"{word}: {output.count(word)}" for word in _TELLING if word in output)
        lines.append(f"[{name}] {'running' if code is None else f'exited {code}'}; {counts or 'quiet'}")
        telling = [line for line in output.strip().splitlines() if line.strip() and "/readyz" not in line]
        lines.extend(f"    {line[:180]}" for line in telling[-3:])
    try:
        pending = Task.objects.filter(
            flow_task_type="JOB", status__in=[STATUS.SCHEDULED, STATUS.STARTED]
        ).values_list("pk", "status", "data")[:5]
        lines.extend(f"pending job {pk} {status}: {str(data)[:200]}" for pk, status, data in pending)
        if not pending:
            lines.append("no pending job")
    except Exception as exc:  # the database itself may be what failed
        lines.append(f"pending jobs unknown: {exc}")
    return "\n".join(lines)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    cluster = item.funcargs.get("cluster") if hasattr(item, "funcargs") else None
    if report.failed and isinstance(cluster, Cluster) and not getattr(item, "_cluster_diagnosed", False):
        item._cluster_diagnosed = True
        report.sections.append(("cluster", cluster_diagnosis(cluster)))
