"""PostgreSQL really restarted (`pg_ctl restart -m fast`) under approval traffic.

The shared PostgreSQL must never restart (the test database of every run lives there), so this
module runs its own cluster (HAProxy, two web nodes, one worker, a beat, a private redis-server)
on a private PostgreSQL server (tests/pgserver.py), migrated and given two users and a purchase
policy. The server terminates every session and refuses connections until it is back up; the
clients retry what was refused, and the database, read directly afterwards, holds every
approval once and nothing half-done.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import psycopg
import pytest
from viewflow.workflow.fields import get_task_ref
from viewflow.workflow.models import Process, Task
from viewflow.workflow.status import PROCESS, STATUS

from portal.cluster import ClusterPlan
from processes.models import AuditEvent
from processes.purchase.flows import PurchaseFlow
from processes.purchase.models import PurchaseOrder, PurchaseProcess
from tests.cluster.conftest import answers, cluster_environment, services_start
from tests.cluster.test_cluster import DECISION, Client, Refused, submit
from tests.pgserver import PrivatePostgres
from tests.stack import ROOT, PrivateRedis, Service, free_port, wait_for

pytestmark = [pytest.mark.cluster]

TITLE = "Through a real restart"
CLIENTS, ROUNDS = 3, 4  # three requester/approver pairs at once: the restart finds work in flight

# What the private database is given after `migrate`: the approvers' and requesters' groups,
# alice and olivia as in tests/conftest.py, a one-stage purchase policy, and a logged-in session
# for each of them (printed as JSON after `SESSIONS=`).
SETUP = """
import json
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.core.management import call_command
from processes.policies.services import policy_create
from processes.roles import roles_sync
from tests.stack import session_cookie

call_command("migrate", interactive=False, verbosity=0)
roles = roles_sync()
users = {}
for name, groups in (("alice", ["requesters", "sales"]), ("olivia", ["approvers"])):
    user = get_user_model().objects.create_user(
        username=name, password="portal-demo", email=f"{name}@example.com"
    )
    user.groups.add(*(roles[group] for group in groups))
    users[name] = session_cookie(user)
policy_create(
    name="purchase",
    stages=[{"name": "Team approval", "group": roles["approvers"], "sla": timedelta(hours=4)}],
)
print("SESSIONS=" + json.dumps(users))
"""

# The tables, read with SQL on the private server (the pytest connection is the shared one's).
TASK, PROCESS_TABLE = Task._meta.db_table, Process._meta.db_table
PURCHASE, PURCHASE_PK = PurchaseProcess._meta.db_table, PurchaseProcess._meta.pk.column
ORDER, AUDIT = PurchaseOrder._meta.db_table, AuditEvent._meta.db_table


@pytest.fixture(autouse=True)
def cluster_quiet() -> None:
    """This module's cluster has its own database: the shared test database's teardown (and the
    conftest's module cluster on it) has nothing to wait for."""


@dataclass
class PgCluster:
    plan: ClusterPlan
    services: dict[str, Service]
    postgres: PrivatePostgres
    database_url: str
    sessions: dict[str, str] = field(default_factory=dict)

    def rows(self, query: str, params: tuple = (), patience: float = 30) -> list[tuple]:
        """`query` on the private database, through a connection of its own; while the server is
        down (or restarting), tried again for up to `patience` s."""
        deadline = time.monotonic() + patience
        while True:
            try:
                with psycopg.connect(self.database_url, autocommit=True, connect_timeout=2) as conn:
                    return conn.execute(query, params).fetchall()
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)


@pytest.fixture(scope="module")
def pg_cluster(stack_env) -> Iterator[PgCluster]:
    postgres = PrivatePostgres()
    redis = PrivateRedis()
    services: dict[str, Service] = {}
    try:
        postgres.start()
        database_url = postgres.create_database("portal")
        redis.start()
        plan = ClusterPlan(
            port=free_port(),
            web_ports=[free_port(), free_port()],
            workers=1,
            beats=1,
            var_dir=ROOT / "var" / "test" / "pgrestart",
        )
        env = cluster_environment(plan, stack_env, database_url=database_url, redis_url=redis.url)
        setup = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", SETUP],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert setup.returncode == 0, setup.stdout + setup.stderr
        line = next(line for line in setup.stdout.splitlines() if line.startswith("SESSIONS="))
        sessions = json.loads(line.removeprefix("SESSIONS="))
        for stale in plan.var_dir.glob("celerybeat-schedule-*"):
            stale.unlink()
        services_start(plan, env, services, prefix="pgrestart")
        yield PgCluster(plan, services, postgres, database_url, sessions)
    finally:
        for service in services.values():
            service.stop()
        if redis.process is not None:
            redis.stop()
        postgres.stop()


def node_answers(cluster: PgCluster, n: int) -> bool:
    return answers(f"http://127.0.0.1:{cluster.plan.web_ports[n - 1]}")


def test_postgresql_restarted_mid_traffic_half_does_nothing(pg_cluster):
    """`pg_ctl restart -m fast` while three requesters submit and their approvers claim and
    approve, one request after another. Each request the restart breaks fails whole (one
    transaction): the client sees a 5xx (or the proxy's retry) and tries again, as a user
    reloads. Afterwards every approval the clients saw is recorded once, every approved
    request's order job has run, and both nodes answer /readyz."""
    cluster = pg_cluster
    approve_ref = get_task_ref(PurchaseFlow.approve)
    clients = [
        (
            Client(cluster.plan.url, session=cluster.sessions["alice"], patience=60),
            Client(cluster.plan.url, session=cluster.sessions["olivia"], patience=60),
        )
        for _ in range(CLIENTS)
    ]
    done: list[int] = []  # processes whose approval the client saw succeed
    refused: list[tuple[str, int]] = []  # (step, status) of every answer that was not the step's success
    errors: list[str] = []
    first_approved = threading.Event()

    def approve_paths(process: int) -> tuple[str, str]:
        rows = cluster.rows(
            f"SELECT id FROM {TASK} WHERE process_id = %s AND flow_task = %s AND status = %s",  # noqa: S608 - table names from _meta
            (process, approve_ref, STATUS.NEW.value),
        )
        assert len(rows) == 1, (process, rows)
        prefix = f"/purchase/{process}/approve/{rows[0][0]}/"
        return prefix + "assign/", prefix + "execute/"

    def attempt(step: str, action, *args) -> tuple[bool, object]:
        """`action(*args)` until it succeeds or the step turns out already done (a retry of a
        request that had gone through), as a user trying again: (True, its result). Every
        refusal is recorded; (False, None) after 30."""
        for _ in range(30):
            try:
                return True, action(*args)
            except Refused as answer:
                if step == "claim" and answer.status in (200, 409):  # the claim had gone through
                    return True, None
                if step == "approve" and "already done" in answer.body:  # so had the decision
                    return True, None
                refused.append((step, answer.status))
                time.sleep(0.5)
        errors.append(f"{step} refused 30 times: {refused[-3:]}")
        return False, None

    def traffic(c: int) -> None:
        requester, approver = clients[c]
        try:
            for n in range(ROUNDS):
                submitted, process = attempt("submit", submit, requester, f"{TITLE} {c}-{n}")
                if not submitted:
                    continue
                assert isinstance(process, int)
                claim, execute = approve_paths(process)
                if (
                    attempt("claim", approver.post, claim)[0]
                    and attempt("approve", approver.post, execute, DECISION)[0]
                ):
                    done.append(process)
                    first_approved.set()
        except Exception as exc:  # reported below; the main thread must not hang on it
            errors.append(repr(exc))
            first_approved.set()

    sentinel = psycopg.connect(cluster.database_url, autocommit=True)  # a session the restart must end
    before = cluster.postgres.postmaster_pid()
    threads = [threading.Thread(target=traffic, args=(c,)) for c in range(CLIENTS)]
    for thread in threads:
        thread.start()
    assert first_approved.wait(60), errors
    in_flight = len(done)
    restart_started = time.monotonic()
    cluster.postgres.restart()
    restart_seconds = time.monotonic() - restart_started
    for thread in threads:
        thread.join(timeout=240)
    assert not any(thread.is_alive() for thread in threads)

    # A real restart: a new postmaster, and every session of the old one was terminated.
    assert cluster.postgres.postmaster_pid() != before
    with pytest.raises(psycopg.OperationalError):
        sentinel.execute("SELECT 1")
    sentinel.close()
    assert "terminating connection due to administrator command" in cluster.postgres.log()
    print(
        f"\npg restart: {restart_seconds:.1f} s, {in_flight}/{CLIENTS * ROUNDS} approvals before it, "
        f"refused and retried: {refused}, proxy/connection retries: {sum(a.retries + b.retries for a, b in clients)}"
    )

    # Every step was done in the end; what was refused was refused as a server error, never as
    # a client's mistake (a 4xx would mean a half-done step left the process inconsistent).
    assert errors == []
    assert in_flight < CLIENTS * ROUNDS
    assert len(done) == CLIENTS * ROUNDS
    assert all(status >= 500 for _, status in refused), refused

    # Each approval the clients saw is recorded exactly once; none anywhere is doubled.
    counted = dict(
        cluster.rows(
            f"SELECT process_id, count(*) FROM {AUDIT} WHERE action = 'purchase.approved' GROUP BY process_id"  # noqa: S608
        )
    )
    assert all(counted.get(process) == 1 for process in done), (done, counted)
    assert set(counted.values()) == {1}, counted

    # Nothing half-done: every request in the database (a submit refused after it committed
    # included) has its approve task, and every approved one its order job done, once.
    orphans = cluster.rows(
        f"SELECT p.{PURCHASE_PK} FROM {PURCHASE} p WHERE p.title LIKE %s AND NOT EXISTS "  # noqa: S608
        f"(SELECT 1 FROM {TASK} t WHERE t.process_id = p.{PURCHASE_PK} AND t.flow_task = %s)",
        (f"{TITLE}%", approve_ref),
    )
    assert orphans == []
    approved = sorted(counted)
    assert approved == sorted(done)  # nothing approved that no client saw

    def every_order_done() -> bool:
        finished = cluster.rows(
            f"SELECT count(*) FROM {PROCESS_TABLE} p WHERE p.id = ANY(%s) AND p.status = %s "  # noqa: S608
            f"AND EXISTS (SELECT 1 FROM {ORDER} o WHERE o.process_id = p.id) "
            f"AND NOT EXISTS (SELECT 1 FROM {TASK} t WHERE t.process_id = p.id "
            f"AND t.flow_task_type = 'JOB' AND t.status <> %s)",
            (approved, PROCESS.DONE.value, STATUS.DONE.value),
        )[0][0]
        return finished == len(approved)

    wait_for(every_order_done, timeout=60, interval=0.5, what="every approved request's order job")
    orders = cluster.rows(
        f"SELECT process_id, count(*) FROM {ORDER} WHERE process_id = ANY(%s) GROUP BY process_id",  # noqa: S608
        (approved,),
    )
    assert sorted(process for process, _ in orders) == approved
    assert {count for _, count in orders} == {1}

    # The nodes reconnected by themselves: each answers /readyz (it queries the database).
    for n in (1, 2):
        assert node_answers(cluster, n), f"web{n}"
    assert answers(cluster.plan.url)
