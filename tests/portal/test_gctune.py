"""A web process and a worker tune the garbage collector once their code is loaded
(portal/gctune.py, ADR 0031): the loaded objects are frozen, out of every collection, and the
young generation is collected every YOUNG_THRESHOLD net allocations. Checked in fresh
processes, as uvicorn and Celery start them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from portal.gctune import YOUNG_THRESHOLD

ROOT = Path(__file__).resolve().parents[2]
REPORT = "import gc; print(gc.get_freeze_count(), gc.get_threshold()[0], gc.get_count()[2])"


def _run(code: str) -> tuple[int, int, int]:
    result = subprocess.run(
        [sys.executable, "-c", f"{code}; {REPORT}"],
        cwd=ROOT,
        env={**os.environ, "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "portal.settings"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    frozen, young, oldest = (int(word) for word in result.stdout.split()[-3:])
    return frozen, young, oldest


def test_untuned_python_freezes_nothing():
    assert _run("import django")[:2] == (0, 700)


def test_a_web_process_freezes_its_loaded_application():
    frozen, young, oldest = _run("import portal.asgi")
    assert frozen > 50_000  # Django, the apps, the URLconf
    assert young == YOUNG_THRESHOLD
    assert oldest == 0  # nothing left over for a full collection to walk


@pytest.mark.parametrize("signal", ["worker_init", "worker_process_init"])
def test_a_worker_and_each_of_its_children_freeze_theirs(signal):
    frozen, young, _oldest = _run(
        f"import portal.celery, django; django.setup(); from celery import signals; signals.{signal}.send(sender=None)"
    )
    assert frozen > 50_000
    assert young == YOUNG_THRESHOLD
