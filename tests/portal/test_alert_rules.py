"""deploy/prometheus: the alert rules and the example configuration, checked and unit-tested by
promtool (Debian's `prometheus` package, which .ci/run installs).

Marked `services` like the suites that need installed servers: skipped without
PORTAL_TEST_SERVICES=1, and with it a missing promtool fails the run at start-up
(tests/conftest.py).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.services

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def _promtool(*args: str, cwd: Path = DEPLOY) -> subprocess.CompletedProcess:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is not installed (apt-get install prometheus)"
    return subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


def test_the_rules_file_is_valid():
    result = _promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 17 rules found" in result.stdout


def test_the_rules_unit_tests_pass():
    result = _promtool("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_test_where_it_fires_and_one_where_it_does_not():
    # Read with patterns, not YAML: PyYAML is no dependency of the portal's.
    rules = (DEPLOY / "alerts.yml").read_text()
    alerts = set(re.findall(r"^ +- alert: (\w+)$", rules, re.MULTILINE))
    cases = re.findall(
        r"^ +alertname: (\w+)\n +exp_alerts:( \[\])?$", (DEPLOY / "alerts_test.yml").read_text(), re.MULTILINE
    )
    assert len(alerts) == 17
    assert {name for name, empty in cases if not empty} == alerts  # fires
    assert {name for name, empty in cases if empty} == alerts  # does not fire
    # Each rule has its severity, summary, description and runbook hint.
    for key in ("severity: ", "summary: ", "description: ", "runbook: "):
        assert rules.count(key) == len(alerts), key


def test_the_example_configuration_is_valid(tmp_path):
    # The example reads the token from /etc/prometheus/...: point it at a file of the test's own.
    token = tmp_path / "portal-metrics-token"
    token.write_text("s3cret-scrape-token\n")
    config = (DEPLOY / "prometheus.yml").read_text()
    assert "/etc/prometheus/portal-metrics-token" in config
    (tmp_path / "prometheus.yml").write_text(
        config.replace("/etc/prometheus/portal-metrics-token", str(token))
    )
    shutil.copy(DEPLOY / "alerts.yml", tmp_path / "alerts.yml")

    result = _promtool("check", "config", "prometheus.yml", cwd=tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout
