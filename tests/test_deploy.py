"""The deployment files in deploy/: the systemd units pass `systemd-analyze verify` without a
warning, and the HAProxy configuration `make cluster` renders passes `haproxy -c`. Each check is
skipped where its tool is not installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from portal.cluster import haproxy_config

ROOT = Path(__file__).resolve().parents[1]
UNITS = ROOT / "deploy" / "systemd"
# Instances of the templates, as docs/deploy.md enables them.
UNIT_NAMES = [
    "portal-web@8001.service",
    "portal-worker@1.service",
    "portal-beat.service",
    "portal-migrate.service",
    "portal.target",
]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_systemd_units_verify_without_a_warning(tmp_path):
    # The units name /opt/portal; here the checkout stands in for it, so their commands exist.
    for unit in UNITS.iterdir():
        if unit.suffix in (".service", ".target"):
            (tmp_path / unit.name).write_text(unit.read_text().replace("/opt/portal", str(ROOT)))
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *(str(tmp_path / name) for name in UNIT_NAMES)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # verify only warns about a bad line


def test_every_unit_is_verified():
    templates = {name.split("@")[0] + "@" if "@" in name else name.rsplit(".", 1)[0] for name in UNIT_NAMES}
    files = {p.name.split("@")[0] + "@" if "@" in p.name else p.stem for p in UNITS.glob("*.service")}
    files |= {p.stem for p in UNITS.glob("*.target")}
    assert files <= templates


@pytest.mark.skipif(
    shutil.which("haproxy") is None and not Path("/usr/sbin/haproxy").exists(),
    reason="haproxy is not installed",
)
def test_the_haproxy_configuration_is_valid(tmp_path):
    config = tmp_path / "haproxy.cfg"
    config.write_text(haproxy_config(18000, [18001, 18002]))
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    result = subprocess.run([haproxy, "-c", "-f", str(config)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "server web1 127.0.0.1:18001" in config.read_text()
    assert "server web2 127.0.0.1:18002" in config.read_text()
