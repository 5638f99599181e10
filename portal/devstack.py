"""Run the processes of a Procfile in the foreground with prefixed, interleaved logs.

    python -m portal.devstack [--restart] Procfile.dev

Why not honcho: it signals each child's whole process group and kills after a fixed 5 s, so
Celery's pool children die under the master, get respawned, and the worker ends up SIGKILLed
mid-shutdown. Here each process runs in its own session (so a terminal Ctrl-C reaches only this
supervisor), receives exactly one SIGTERM on its main pid (Celery then stops its own pool,
uvicorn closes its connections), and is killed only after a grace period. If any process exits
on its own, the others are stopped and the exit status says so: `make run` shows a crash.

With `--restart` (`make cluster`, which stands in for a machine's systemd units), a process that
fails is started again after RESTART_DELAY_SECONDS, as `Restart=on-failure` does
(deploy/systemd/): a non-zero exit, or a signal other than the clean ones (SIGHUP, SIGINT,
SIGTERM, SIGPIPE: someone stopped it on purpose), such as SIGKILL or SIGSEGV. One that fails
RESTART_LIMIT times within RESTART_WINDOW_SECONDS stops them all, as systemd's start limit gives
up on a unit.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

GRACE_SECONDS = float(os.environ.get("DEVSTACK_GRACE_SECONDS", "20"))
RESTART_DELAY_SECONDS = 2.0  # deploy/systemd/*.service RestartSec
RESTART_LIMIT = 5  # restarts of one process within the window (systemd's StartLimitBurst)
RESTART_WINDOW_SECONDS = 60.0
#: Exits systemd calls clean, which Restart=on-failure does not restart.
CLEAN_EXITS = {0, -signal.SIGHUP, -signal.SIGINT, -signal.SIGTERM, -signal.SIGPIPE}
ROOT = Path(__file__).resolve().parent.parent


def metrics_dir_reset(env: dict[str, str]) -> dict[str, str]:
    """`env` with PROMETHEUS_MULTIPROC_DIR set (default: $PORTAL_VAR_DIR/metrics), that directory
    emptied: the processes about to start are the only ones counting, and /metrics sums them once
    (ADR 0018). Call it before starting them, never while they run."""
    var_dir = Path(env.get("PORTAL_VAR_DIR") or ROOT / "var")
    path = Path(env.get("PROMETHEUS_MULTIPROC_DIR") or var_dir / "metrics")
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return {**env, "PROMETHEUS_MULTIPROC_DIR": str(path)}


def read_procfile(path: Path) -> list[tuple[str, str]]:
    entries = []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, command = line.partition(":")
        if not sep or not name.strip() or not command.strip():
            raise SystemExit(f"{path}:{number}: expected 'name: command', got {raw!r}")
        entries.append((name.strip(), command.strip()))
    return entries


def describe_exit(returncode: int) -> str:
    """'exit 0', or the signal's name for a process that ended on one ('SIGTERM')."""
    if returncode < 0:
        return signal.Signals(-returncode).name
    return f"exit {returncode}"


class Supervisor:
    def __init__(self, entries: list[tuple[str, str]], restart: bool = False) -> None:
        self.entries = entries
        self.restart = restart
        self.width = max(len(name) for name in [*(name for name, _ in entries), "system"])
        self.processes: dict[str, subprocess.Popen] = {}
        self.restarted: dict[str, list[float]] = {name: [] for name, _ in entries}
        self.output_lock = threading.Lock()
        self.stopping = threading.Event()

    def say(self, name: str, text: str) -> None:
        with self.output_lock:
            sys.stdout.write(f"{time.strftime('%H:%M:%S')} {name.ljust(self.width)} | {text}\n")
            sys.stdout.flush()

    def _pump(self, name: str, stream) -> None:
        for line in iter(stream.readline, ""):
            self.say(name, line.rstrip("\n"))
        stream.close()

    def start(self) -> None:
        for name, command in self.entries:
            self._spawn(name, command)

    def _spawn(self, name: str, command: str) -> None:
        process = subprocess.Popen(  # noqa: S602 - Procfile commands are shell lines by definition
            f"exec {command}",
            shell=True,
            executable="/bin/bash",
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        self.processes[name] = process
        threading.Thread(target=self._pump, args=(name, process.stdout), daemon=True).start()
        self.say("system", f"{name} started (pid {process.pid})")

    def _restarted(self, name: str, process: subprocess.Popen) -> bool:
        """Start a failed process again, if restarts are on and its budget allows; False if not."""
        if not self.restart or process.returncode in CLEAN_EXITS:
            return False
        now = time.monotonic()
        recent = [moment for moment in self.restarted[name] if now - moment < RESTART_WINDOW_SECONDS]
        if len(recent) >= RESTART_LIMIT:
            self.say("system", f"{name} failed {len(recent) + 1} times within {RESTART_WINDOW_SECONDS:.0f}s")
            return False
        self.say("system", f"{name} failed ({describe_exit(process.returncode)}): restarting")
        if self.stopping.wait(RESTART_DELAY_SECONDS):
            return True  # asked to stop meanwhile: stop() finds it ended
        self.restarted[name] = [*recent, now]
        self._spawn(name, dict(self.entries)[name])
        return True

    def stop(self) -> bool:
        """Stop every process: SIGTERM to each, then SIGKILL to the stragglers' groups. True if none needed it."""
        self.stopping.set()
        for name, process in self.processes.items():
            if process.poll() is None:
                self.say("system", f"stopping {name}")
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + GRACE_SECONDS
        clean = True
        for name, process in self.processes.items():
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                clean = False
                self.say("system", f"{name} did not stop within {GRACE_SECONDS:.0f}s: killing it")
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            self.say("system", f"{name} stopped ({describe_exit(process.returncode)})")
        return clean

    def wait(self) -> str | None:
        """Block until a signal arrives (None) or a process exits on its own and is not restarted
        (its name)."""
        while not self.stopping.is_set():
            for name, process in list(self.processes.items()):
                if process.poll() is not None and not self._restarted(name, process):
                    self.say("system", f"{name} exited on its own ({describe_exit(process.returncode)})")
                    return name
            self.stopping.wait(0.5)
        return None


def main(argv: list[str]) -> int:
    restart = "--restart" in argv[1:]
    paths = [arg for arg in argv[1:] if arg != "--restart"]
    if len(paths) != 1:
        print("usage: python -m portal.devstack [--restart] PROCFILE", file=sys.stderr)
        return 2
    supervisor = Supervisor(read_procfile(Path(paths[0])), restart=restart)
    os.environ.update(metrics_dir_reset(dict(os.environ)))  # the children inherit it

    def on_signal(signum, frame):
        supervisor.stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    supervisor.start()
    died = supervisor.wait()
    clean = supervisor.stop()
    if died is not None:
        return 1
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
