"""Benchmark: API starts per second with Idempotency-Keys, against the same start in-process.

    make bench NAME=api [ARGS=--quick]

The portal as `make run` serves it (uvicorn on portal.asgi, here with --workers N), on
PostgreSQL and Redis. C concurrent clients, each with its own keep-alive connection and the
fake shop's bearer token, POST orders to /api/v1/processes, each with a new Idempotency-Key:
authentication, the rate limit (counted in Redis), the key's row committed first, the order's
validation and start (its StartHandle, its first job sent to Redis after commit), the stored
response. Every answer must be a 201. starts/s = starts / wall time.

Baseline, in the same run: the same start through the same service (`api_process_start`, the
order validated and started by its StartHandle, one transaction each), in-process, by as many
processes as the server has workers: what the API costs on top of the start itself.

A second figure: the same requests again with the same keys (retries), each answered from its
stored response (`Idempotent-Replayed: true`, no new process), against the first pass.

Needs PostgreSQL and Redis on loopback; its database (BENCH_API_DATABASE_URL) is recreated on
each run and its Redis db flushed. No Celery worker runs: the orders' first jobs wait in Redis.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import database_recreate, free_port, server_env  # noqa: E402

DATABASE_URL = os.environ.get("BENCH_API_DATABASE_URL", "postgres://root@127.0.0.1:5432/portal_bench_api")
REDIS_URL = os.environ.get("BENCH_API_REDIS_URL", "redis://127.0.0.1:6379/12")
ENV = {
    **server_env(DATABASE_URL, REDIS_URL, ROOT / "var" / "bench-api"),
    "API_RATE_LIMIT": "0",  # the benchmark's one client would hit any real limit at once
}
SERVER_POOL = os.environ.get("BENCH_DATABASE_POOL_MAX_SIZE", "16")
os.environ.update(ENV)
os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"

ORDER = {
    "customer_name": "Bench Customer",
    "customer_email": "bench@example.com",
    "payment_method": "card",
    "shipping_address": "1 Loopback Lane",
    "lines": [{"sku": "BENCH-1", "qty": 1}],
}
BODY = json.dumps({"type": "order", "data": ORDER}).encode()


def prepare() -> str:
    """A fresh database, the product the orders buy, and the shop's client; its token."""
    database_recreate(DATABASE_URL, REDIS_URL)
    from processes.api.services import api_client_create
    from processes.connectors.models import Product

    Product.objects.update_or_create(
        sku="BENCH-1", defaults={"name": "Bench item", "unit_price": "9.90", "on_hand": 10**9}
    )
    _client, token = api_client_create(name="bench shop", scopes=["processes:start"])
    return token


class Server:
    """uvicorn on portal.asgi, as `make run` starts it, with N worker processes."""

    def __init__(self, port: int, workers: int, log: Path) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log = log.open("w")
        self.port = port
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "portal.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--lifespan",
                "off",
                "--no-access-log",
                "--backlog",
                "4096",
                "--timeout-keep-alive",
                "120",
            ],
            cwd=ROOT,
            env={**os.environ, "DATABASE_POOL_MAX_SIZE": SERVER_POOL},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"bench: server exited, see {self.log.name}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/readyz")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("bench: server did not start")

    def stop(self) -> None:
        os.killpg(self.process.pid, 15)
        self.process.wait(timeout=30)
        self.log.close()


def http_pass(port: int, token: str, keys: list[list[str]], replayed: bool) -> float:
    """Each client thread POSTs its keys in turn; the wall time. Every answer must be a 201, and
    a replay (or not) as `replayed` says."""
    errors: list[str] = []
    barrier = threading.Barrier(len(keys) + 1)

    def client(own: list[str]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        barrier.wait()
        for key in own:
            conn.request(
                "POST",
                "/api/v1/processes",
                body=BODY,
                headers={
                    "Authorization": f"Bearer {token}",
                    "Content-Type": "application/json",
                    "Idempotency-Key": key,
                },
            )
            response = conn.getresponse()
            response.read()
            was_replayed = response.getheader("Idempotent-Replayed") == "true"
            if response.status != 201 or was_replayed != replayed:
                errors.append(f"{response.status} replayed={was_replayed}")
        conn.close()

    threads = [threading.Thread(target=client, args=(own,)) for own in keys]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"bench: {len(errors)} unexpected answers, e.g. {errors[0]}")
    return elapsed


def _in_process_starts(count: int, ready: Any, out: Any) -> None:
    import django

    django.setup()
    from django.db import transaction

    from processes.api.models import ApiClient
    from processes.api.services import api_process_start

    client = ApiClient.objects.get(name="bench shop")
    ready.wait()
    started = time.perf_counter()
    for _ in range(count):
        with transaction.atomic():
            api_process_start(caller=client, type_label="order", kind="", data=ORDER)
    out.put((started, time.perf_counter()))


def baseline_run(processes: int, per_process: int) -> float:
    """The same starts through the service, in `processes` processes at once; the wall time."""
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(processes)
    out = context.Queue()
    workers = [
        context.Process(target=_in_process_starts, args=(per_process, ready, out)) for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    spans = [out.get(timeout=600) for _ in workers]
    for worker in workers:
        worker.join()
    return max(end for _, end in spans) - min(start for start, _ in spans)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run, under two minutes")
    parser.add_argument("--clients", type=int, help="concurrent API clients (default 16, 4 with --quick)")
    parser.add_argument("--starts", type=int, help="starts per client (default 100, 25 with --quick)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes (default 2)")
    args = parser.parse_args()
    clients = args.clients or (4 if args.quick else 16)
    per_client = args.starts or (25 if args.quick else 100)
    total = clients * per_client

    token = prepare()
    from viewflow.workflow.models import Process

    keys = [[str(uuid.uuid4()) for _ in range(per_client)] for _ in range(clients)]
    server = Server(free_port(), args.workers, ROOT / "var" / "bench-api" / "uvicorn.log")
    try:
        server.wait()
        elapsed = http_pass(server.port, token, keys, replayed=False)
        replay_elapsed = http_pass(server.port, token, keys, replayed=True)
    finally:
        server.stop()
    started = Process.objects.count()
    if started != total:
        raise SystemExit(f"bench: {started} processes for {total} keys")

    from django.db import connections

    connections.close_all()
    base_elapsed = baseline_run(args.workers, total // args.workers)
    base_total = args.workers * (total // args.workers)

    per_s, base_per_s, replay_per_s = total / elapsed, base_total / base_elapsed, total / replay_elapsed
    load = os.getloadavg()
    print(
        f"# {clients} clients x {per_client} starts (orders, a new Idempotency-Key each), {total} in "
        f"{elapsed:.1f} s; uvicorn --workers {args.workers}, DATABASE_POOL_MAX_SIZE={SERVER_POOL}; "
        f"PostgreSQL + Redis on loopback; {platform.node()} {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print(
        f"# baseline: {base_total} starts through the service in-process in {base_elapsed:.1f} s "
        f"by {args.workers} processes; replays: {total} retries in {replay_elapsed:.1f} s"
    )
    print(f"BENCH api per_s={per_s:.1f} starts/s baseline={base_per_s:.1f} ratio={per_s / base_per_s:.3f}")
    print(
        f"BENCH api replay_per_s={replay_per_s:.1f} replays/s baseline={per_s:.1f} (first starts) "
        f"ratio={replay_per_s / per_s:.3f}"
    )


if __name__ == "__main__":
    main()
