"""Benchmark: commit-to-frame latency of live notifications, with many websocket clients.

    make bench NAME=notifications            # 1,000 clients, 1,000 notifications
    make bench NAME=notifications ARGS=--quick

One uvicorn process serves portal.asgi on the Redis channel layer and PostgreSQL, as in
production. This script holds N websocket clients (real sessions, real origin check) and, as a
worker would, commits notifications for random users through the real service
(`notifications_record`). The latency of each one runs from the moment its transaction
committed (the first on_commit callback) to the moment its frame arrived at the client.

Baselines, in the same run:
- latency: a ping/pong round trip on the same sockets, through the same server (no database,
  no channel layer): the floor of the transport;
- memory: kB per held connection of a bare ASGI websocket app (bench/echo_asgi.py) on the same
  uvicorn, against the portal's kB per connection.
Plus one fan-out: a single commit that notifies all N users at once; its BENCH line counts the
frames that arrived (within the window, and within 1 s of the commit).

Every notification is about a real purchase request, and every client's user holds the approver
permissions through the demo's group, so each delivery runs the same visibility check as in use
(a notification about a process reaches only a user who may see it).

Needs PostgreSQL and Redis on loopback (BENCH_DATABASE_URL, BENCH_REDIS_URL). Its database is
its own and is reset on each run; the Redis database is flushed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import database_recreate, free_port  # noqa: E402

DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://root@127.0.0.1:5432/portal_bench_notifications"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/10")
ENV = {
    "DATABASE_URL": DATABASE_URL,
    "REDIS_URL": REDIS_URL,
    "DEBUG": "0",
    "SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJ",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "PORTAL_BASE_URL": "http://127.0.0.1",
    "SECURE_SSL_REDIRECT": "0",
    "SESSION_COOKIE_SECURE": "0",
    "CSRF_COOKIE_SECURE": "0",
    "SECURE_HSTS_SECONDS": "0",
    "STATIC_MANIFEST": "0",
    "STATIC_USE_FINDERS": "1",
    "LOG_LEVEL": "WARNING",
    "PORTAL_VAR_DIR": str(ROOT / "var" / "bench"),
    "DATABASE_POOL_MAX_SIZE": os.environ.get("BENCH_DATABASE_POOL_MAX_SIZE", "20"),
}
os.environ.update(ENV)
os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def prepare_database() -> None:
    database_recreate(DATABASE_URL, REDIS_URL)


def create_users(count: int) -> list[tuple[int, str]]:
    """N users, each with a logged-in session: (user id, session cookie value)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    user_model = get_user_model()
    users = [user_model(username=f"bench{i:05d}", email=f"bench{i}@example.com") for i in range(count)]
    for user in users:
        user.set_unusable_password()
    user_model.objects.bulk_create(users)
    users = list(user_model.objects.filter(username__startswith="bench").order_by("pk"))
    sessions, cookies = [], []
    expire = timezone.now() + datetime.timedelta(days=1)
    store = SessionStore()
    for user in users:
        key = store._get_new_session_key()
        data = {
            SESSION_KEY: str(user.pk),
            BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
            HASH_SESSION_KEY: user.get_session_auth_hash(),
        }
        sessions.append(Session(session_key=key, session_data=store.encode(data), expire_date=expire))
        cookies.append((user.pk, key))
    Session.objects.bulk_create(sessions)
    return cookies


def create_process(user_ids: list[int]) -> int:
    """Make every bench user an approver (the demo's `approvers` group: real permissions, held
    through a group) and start one purchase request whose approval waits in their queue; the
    bench's notifications are about it, so each delivery runs the visibility check
    (`processes_visible_ids`: the approvers see it as candidates of its open task)."""
    from decimal import Decimal

    from django.contrib.auth import get_user_model

    from processes.purchase.services import purchase_request_start
    from processes.roles import roles_sync

    groups = roles_sync()
    user_model = get_user_model()
    membership = user_model.groups.through
    membership.objects.bulk_create(
        [membership(user_id=pk, group_id=groups["approvers"].pk) for pk in user_ids]
    )
    requester = user_model.objects.create_user("bench-requester", password=None)
    requester.groups.add(groups["requesters"])
    process = purchase_request_start(
        requester=requester,
        data={
            "title": "Bench desk",
            "amount": Decimal("640.00"),
            "currency": "EUR",
            "justification": "Bench.",
        },
    )
    return process.pk


class Server:
    def __init__(self, app: str, port: int, log: Path) -> None:
        self.log = log.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                app,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--lifespan",
                "off",
                "--no-access-log",
                "--ws-max-size",
                "65536",
                "--backlog",
                "4096",
                "--timeout-graceful-shutdown",
                "3",
            ],
            cwd=ROOT,
            env={**os.environ},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{port}"

    def wait(self, path: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"server exited, see {self.log.name}")
            try:
                with urlopen(self.url + path, timeout=2):  # noqa: S310 - our own server on loopback
                    return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("server did not start")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


class Client:
    """One websocket; records when each notification and pong arrived."""

    def __init__(self, user_id: int, cookie: str) -> None:
        self.user_id, self.cookie = user_id, cookie
        self.ws = None
        self.arrived: dict[int, float] = {}
        self.pongs: dict[int, float] = {}
        self.ready = asyncio.Event()
        self.closed = False

    async def run(self, url: str, cookie_name: str, origin: str) -> None:
        import websockets

        headers = {"Cookie": f"{cookie_name}={self.cookie}"} if cookie_name else {}
        async with websockets.connect(url, additional_headers=headers, origin=origin, open_timeout=60) as ws:
            self.ws = ws
            if not cookie_name:
                self.ready.set()
            async for raw in ws:
                now = time.perf_counter()
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "hello":
                    self.ready.set()
                elif kind == "notification":
                    self.arrived[message["id"]] = now
                elif kind == "pong":
                    self.pongs[message["t"]] = now
        self.closed = True


async def connect_all(clients: list[Client], url: str, cookie_name: str, origin: str) -> list[asyncio.Task]:
    tasks = []
    for start in range(0, len(clients), 50):  # in waves, as browsers arriving
        batch = clients[start : start + 50]
        tasks += [asyncio.create_task(c.run(url, cookie_name, origin)) for c in batch]
        await asyncio.wait_for(asyncio.gather(*(c.ready.wait() for c in batch)), 60)
    return tasks


PROCESS: dict[str, int] = {}  # the purchase request the notifications are about (create_process)


def commit_notification(user_ids: list[int], title: str) -> tuple[list[int], float]:
    """One transaction, as a worker commits it; returns the row ids and the commit moment."""
    from django.db import transaction
    from viewflow.workflow.models import Process

    from processes.models import NotificationKind
    from processes.notifications.services import notifications_record

    stamp: list[float] = []
    with transaction.atomic():
        transaction.on_commit(lambda: stamp.append(time.perf_counter()))  # first callback: the commit
        process = Process.objects.get(pk=PROCESS["id"])
        rows = notifications_record(
            user_ids=user_ids, kind=NotificationKind.TASK_REMINDER, title=title, process=process
        )
    return [row.pk for row in rows], stamp[0]


async def measure_pings(clients: list[Client], count: int, rate: float) -> list[float]:
    sent = {}
    for i in range(count):
        client = random.choice(clients)
        sent[i] = (client, time.perf_counter())
        await client.ws.send(json.dumps({"type": "ping", "t": i}))
        await asyncio.sleep(1 / rate)
    await asyncio.sleep(1)
    return [(c.pongs[i] - t) * 1000 for i, (c, t) in sent.items() if i in c.pongs]


async def measure_notifications(clients: list[Client], count: int, rate: float) -> tuple[list[float], int]:
    loop = asyncio.get_running_loop()
    producer = ThreadPoolExecutor(1)  # the ORM runs in its own thread, as in a worker
    by_user = {c.user_id: c for c in clients}
    committed: list[tuple[Client, int, float]] = []
    for i in range(count):
        client = by_user[random.choice(list(by_user))]
        ids, at = await loop.run_in_executor(producer, commit_notification, [client.user_id], f"n{i}")
        committed.append((client, ids[0], at))
        await asyncio.sleep(1 / rate)
    await asyncio.sleep(2)
    latencies = [(c.arrived[pk] - at) * 1000 for c, pk, at in committed if pk in c.arrived]
    return latencies, count - len(latencies)


FANOUT_WINDOW = 5.0  # seconds after the fan-out's commit that its frames are counted in


async def measure_fanout(clients: list[Client]) -> tuple[list[float], int]:
    """One commit notifying every client: the latencies of the frames that arrived within
    FANOUT_WINDOW of the commit (however long the committing thread took to return)."""
    loop = asyncio.get_running_loop()
    ids, at = await loop.run_in_executor(None, commit_notification, [c.user_id for c in clients], "everyone")
    by_user = {c.user_id: c for c in clients}
    from processes.models import Notification

    owners = dict(
        await loop.run_in_executor(
            None, lambda: list(Notification.objects.filter(pk__in=ids).values_list("pk", "user_id"))
        )
    )
    await asyncio.sleep(max(0.0, at + FANOUT_WINDOW - time.perf_counter()))
    latencies = [
        (by_user[owners[pk]].arrived[pk] - at) * 1000
        for pk in ids
        if pk in by_user[owners[pk]].arrived and by_user[owners[pk]].arrived[pk] - at <= FANOUT_WINDOW
    ]
    return latencies, len(ids) - len(latencies)


async def hold(server: Server, clients: list[Client], url: str, cookie_name: str) -> tuple[int, list]:
    before = rss_kb(server.process.pid)
    tasks = await connect_all(clients, url, cookie_name, "http://127.0.0.1")
    await asyncio.sleep(2)
    return rss_kb(server.process.pid) - before, tasks


async def close_all(clients: list[Client], tasks: list[asyncio.Task]) -> None:
    for client in clients:
        if client.ws is not None:
            await client.ws.close()
    await asyncio.gather(*tasks, return_exceptions=True)


async def main(args: argparse.Namespace) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    started = time.monotonic()
    from django.conf import settings

    users = await asyncio.get_running_loop().run_in_executor(None, create_users, args.clients)
    PROCESS["id"] = await asyncio.get_running_loop().run_in_executor(
        None, create_process, [pk for pk, _ in users]
    )
    log_dir = ROOT / "var" / "bench"
    log_dir.mkdir(parents=True, exist_ok=True)

    # Baseline for memory: a bare ASGI websocket app on the same uvicorn.
    echo = Server("bench.echo_asgi:app", free_port(), log_dir / "echo.log")
    echo.wait("/")
    raw_clients = [Client(pk, "") for pk, _ in users]
    raw_kb, raw_tasks = await hold(echo, raw_clients, echo.url.replace("http", "ws") + "/", "")
    await close_all(raw_clients, raw_tasks)
    echo.stop()

    web = Server("portal.asgi:application", free_port(), log_dir / "web.log")
    web.wait("/readyz")
    clients = [Client(pk, cookie) for pk, cookie in users]
    ws_url = web.url.replace("http", "ws") + "/ws/notifications/"
    portal_kb, tasks = await hold(web, clients, ws_url, settings.SESSION_COOKIE_NAME)
    print(f"# {len(clients)} clients connected in {time.monotonic() - started:.0f}s since start", flush=True)

    pings = await measure_pings(clients, args.notifications, args.rate)
    latencies, lost = await measure_notifications(clients, args.notifications, args.rate)
    fanout, fanout_lost = await measure_fanout(clients)
    held = sum(1 for c in clients if not c.closed)
    await close_all(clients, tasks)
    web.stop()

    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    b50, b95 = percentile(pings, 50), percentile(pings, 95)
    n = len(clients)
    print(
        f"# {len(latencies)} notifications at {args.rate}/s, {lost} not arrived; max {max(latencies):.1f} ms; "
        f"mean {statistics.mean(latencies):.1f} ms; fan-out to {n}: {len(fanout)} arrived, {fanout_lost} not; "
        f"run took {time.monotonic() - started:.0f}s",
        flush=True,
    )
    print(f"BENCH notifications p50_ms={p50:.1f} ms baseline={b50:.1f} ratio={p50 / b50:.2f}")
    print(f"BENCH notifications p95_ms={p95:.1f} ms baseline={b95:.1f} ratio={p95 / b95:.2f}")
    print(f"BENCH notifications clients={held} clients baseline={n} ratio={held / n:.2f}")
    print(
        f"BENCH notifications kb_per_client={portal_kb / n:.1f} kB baseline={raw_kb / n:.1f} "
        f"ratio={(portal_kb / n) / max(raw_kb / n, 0.1):.2f}"
    )
    f95 = percentile(fanout, 95) if fanout else float("nan")
    print(f"BENCH notifications fanout_p95_ms={f95:.1f} ms baseline={p95:.1f} ratio={f95 / p95:.2f}")
    within = sum(1 for ms in fanout if ms <= 1000)
    print(
        f"BENCH notifications fanout_arrived={len(fanout)} of {n} within {FANOUT_WINDOW:.0f} s; "
        f"{within} within 1 s; baseline={n} ratio={within / n:.2f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 clients, 200 notifications")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--notifications", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50.0, help="notifications (and pings) per second")
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.clients, arguments.notifications = 200, 200
    random.seed(7)
    prepare_database()
    asyncio.run(main(arguments))
