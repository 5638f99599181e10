"""prometheus-client's multi-process mode with real processes (ADR 0018): two uvicorn workers and
a Celery prefork worker write to one PROMETHEUS_MULTIPROC_DIR, and one scrape of either web
worker sums them exactly once. A process that stops takes its live gauges out of the sum: Celery's
by its exit hooks, uvicorn's at the next scrape."""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.request import urlopen

import pytest
from prometheus_client.parser import text_string_to_metric_families

from portal.devstack import metrics_dir_reset
from processes.instruments import dead_processes_forget
from tests.stack import Service, free_port, start_worker, wait_for

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _get(url: str) -> str:
    with urlopen(url, timeout=5) as response:  # noqa: S310 - our own server
        return response.read().decode()


def _sample(body: str, name: str, **labels: str) -> float:
    """The sum of the samples `name` whose labels include `labels`."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def _pids(directory: Path, kind: str) -> set[str]:
    return {path.stem.rsplit("_", 1)[1] for path in directory.glob(f"{kind}_*.db")}


def test_two_web_workers_and_a_prefork_worker_are_summed_once(stack_env, tmp_path):
    directory = tmp_path / "metrics"
    env = metrics_dir_reset({**stack_env, "PROMETHEUS_MULTIPROC_DIR": str(directory)})
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "uvicorn", "tests.live_asgi:application", "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--lifespan", "off", "--no-access-log", "--workers", "2"]
    web = Service("web-multiprocess", argv, env)
    worker = None
    try:

        def ready() -> bool:
            try:
                return bool(_get(f"{url}/healthz"))
            except OSError:
                return False

        web.wait_until(ready, what="uvicorn --workers 2")
        healthz = {"name": "portal_http_requests_total", "route": "healthz", "method": "GET", "status": "200"}
        before = _sample(_get(f"{url}/metrics"), **healthz)

        # Each request on a new connection: the two workers share the listening socket. Go on
        # until both have counted (each writes its own file), then a little more.
        sent = 0
        while len(_pids(directory, "counter")) < 2 or sent < 40:
            _get(f"{url}/healthz")
            sent += 1
            assert sent < 2000, "one uvicorn worker took every request"

        # Whichever worker answers the scrape, the sum is every request, once.
        for _ in range(4):
            assert _sample(_get(f"{url}/metrics"), **healthz) == before + sent

        # A prefork worker (main process and two children) writes to the same directory; its
        # heartbeat reaches the web workers' scrape.
        worker = start_worker("worker-multiprocess", env, concurrency=2)
        wait_for(
            lambda: _sample(_get(f"{url}/metrics"), "portal_worker_heartbeat_timestamp_seconds") > 0,
            timeout=30,
            what="the worker's heartbeat",
        )
        # Two web workers and Celery's main process (a pool child writes once it touches a gauge).
        assert len(_pids(directory, "gauge_livesum")) >= 3
        worker.stop()
        worker = None
        # The worker's processes ran their exit hooks: their live gauges left the sum.
        _get(f"{url}/metrics")
        assert len(_pids(directory, "gauge_livesum")) == 2
    finally:
        if worker is not None:
            worker.stop()
        web.stop()

    # uvicorn's workers end by re-raising SIGTERM (no exit hook runs): the next scrape forgets
    # them. The counters stay, they are totals.
    assert len(dead_processes_forget(str(directory))) == 2
    assert _pids(directory, "gauge_livesum") == set()
    assert len(_pids(directory, "counter")) >= 2
