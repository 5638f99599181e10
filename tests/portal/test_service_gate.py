"""PORTAL_TEST_SERVICES=1 with a service missing fails the run instead of skipping tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_missing_service_fails_the_run_and_names_it():
    env = {
        **os.environ,
        "PORTAL_TEST_SERVICES": "1",
        "DATABASE_URL": "postgres://root@127.0.0.1:1/portal",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "PORTAL_CHROMIUM": "/nonexistent/chromium",
    }
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "tests/portal/test_devstack.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "PostgreSQL is not reachable at 127.0.0.1" in output
    assert "Redis is not reachable at 127.0.0.1" in output
    assert "Chromium is not installed at /nonexistent/chromium" in output
