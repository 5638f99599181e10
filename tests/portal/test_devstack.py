"""The `make run` supervisor: one Ctrl-C stops every process cleanly; one crash stops the rest."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from portal.devstack import read_procfile


def test_read_procfile_rejects_a_malformed_line(tmp_path):
    procfile = tmp_path / "Procfile"
    procfile.write_text("# comment\nweb: echo hi\n\nbroken line\n")

    with pytest.raises(SystemExit, match="Procfile:4: expected 'name: command'"):
        read_procfile(procfile)


def _supervise(tmp_path: Path, procfile_text: str) -> subprocess.Popen:
    procfile = tmp_path / "Procfile"
    procfile.write_text(procfile_text)
    return subprocess.Popen(
        [sys.executable, "-m", "portal.devstack", str(procfile)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_sigint_stops_every_process_and_exits_zero(tmp_path):
    marker = tmp_path / "stopped"
    supervisor = _supervise(
        tmp_path,
        f"one: python3 -c \"import signal,time,pathlib; signal.signal(signal.SIGTERM, lambda *a: (pathlib.Path('{marker}').write_text('x'), exit(0))); print('ready', flush=True); time.sleep(60)\"\n"
        "two: sleep 60\n",
    )
    seen = []
    for line in supervisor.stdout:  # a loaded machine may take seconds to start both processes
        seen.append(line)
        if "one    | ready" in line:
            break
    time.sleep(0.5)  # `two` has been started by now as well: the supervisor starts them in order

    supervisor.send_signal(signal.SIGINT)
    rest, _ = supervisor.communicate(timeout=30)
    output = "".join(seen) + rest

    assert supervisor.returncode == 0, output
    assert marker.read_text() == "x"  # the process got SIGTERM and shut down by itself
    assert "killing" not in output


def test_a_process_that_dies_stops_the_others_and_fails(tmp_path):
    supervisor = _supervise(tmp_path, "short: sh -c 'echo bye; exit 3'\nlong: sleep 60\n")

    output, _ = supervisor.communicate(timeout=30)

    assert supervisor.returncode == 1
    assert "short exited on its own (exit 3)" in output
    assert "long stopped" in output


def test_with_restart_a_crashed_process_is_started_again(tmp_path):
    """`make cluster`'s supervisor: a process killed by SIGKILL (or exiting non-zero) comes back,
    as under systemd's Restart=on-failure; the others keep running."""
    marker = tmp_path / "crashed-once"
    procfile = tmp_path / "Procfile"
    procfile.write_text(
        f"flaky: sh -c 'if [ -e {marker} ]; then echo again; sleep 60; else touch {marker}; kill -9 $$; fi'\n"
        "steady: sleep 60\n"
    )
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "portal.devstack", "--restart", str(procfile)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen = []
    for line in supervisor.stdout:
        seen.append(line)
        if "flaky  | again" in line:
            break
    supervisor.send_signal(signal.SIGINT)
    rest, _ = supervisor.communicate(timeout=30)
    output = "".join(seen) + rest

    assert supervisor.returncode == 0, output
    assert "flaky failed (SIGKILL): restarting" in output
    assert "steady exited" not in output


def test_with_restart_a_process_failing_again_and_again_stops_all(tmp_path, monkeypatch):
    from portal import devstack

    monkeypatch.setattr(devstack, "RESTART_DELAY_SECONDS", 0.05)
    supervisor = devstack.Supervisor([("broken", "exit 3"), ("steady", "sleep 60")], restart=True)
    supervisor.start()
    try:
        assert supervisor.wait() == "broken"
    finally:
        supervisor.stop()

    assert len(supervisor.restarted["broken"]) == devstack.RESTART_LIMIT
    assert supervisor.processes["steady"].returncode == -signal.SIGTERM
