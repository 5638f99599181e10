"""A PostgreSQL server of the test's own (initdb in a temp dir, a free port): one a test may
restart for real, with `pg_ctl restart -m fast`, without touching the shared server.

PostgreSQL refuses to run as root; when the tests do, the server runs as the `postgres` OS user
(Debian's packages create it) through `runuser`, in a temp dir that user owns. It trusts local
TCP connections as the user `root` (`initdb -A trust -U root`), like the shared server here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.stack import free_port


def postgres_bin_dir() -> Path | None:
    """The newest installed server's bin directory (initdb, pg_ctl, postgres), or None."""
    found = []
    for candidate in Path("/usr/lib/postgresql").glob("*/bin"):
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            version = re.match(r"\d+", candidate.parent.name)
            found.append((int(version.group()) if version else 0, candidate))
    if found:
        return max(found)[1]
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("pg_ctl") else None


class PrivatePostgres:
    """`start()` runs initdb and the server; `restart()` is a real fast restart (the server
    terminates every session, refuses connections while it is down); `stop()` removes it all."""

    def __init__(self) -> None:
        bin_dir = postgres_bin_dir()
        if bin_dir is None:
            raise RuntimeError(
                "PostgreSQL's server binaries are not installed (apt-get install -y postgresql)"
            )
        self.bin_dir = bin_dir
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="portal-pg-"))
        self.data = self.dir / "data"
        self.log_path = self.dir / "server.log"
        self.as_owner: list[str] = []
        if os.geteuid() == 0:
            self.as_owner = [shutil.which("runuser") or "/usr/sbin/runuser", "-u", "postgres", "--"]
            shutil.chown(self.dir, "postgres", "postgres")
        # fsync off: a test server, its durability is not under test (a clean restart loses nothing).
        self.options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"

    def url(self, database: str = "postgres") -> str:
        return f"postgres://root@127.0.0.1:{self.port}/{database}"

    def _run(self, tool: str, *args: str, timeout: float = 60) -> str:
        result = subprocess.run(
            [*self.as_owner, str(self.bin_dir / tool), *args],
            cwd=self.dir,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{tool} {' '.join(args)} failed:\n{result.stdout}{result.stderr}\n{self.log()}"
            )
        return result.stdout

    def _pg_ctl(self, action: str, *extra: str) -> None:
        # -l on every call: without it pg_ctl leaves the server writing to its own stdout (our pipe).
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log_path), "-w", "-t", "60", *extra, action)

    def start(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "root",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        self._pg_ctl("start", "-o", self.options)

    def restart(self) -> None:
        """`pg_ctl restart -m fast`: returns once the server accepts connections again."""
        self._pg_ctl("restart", "-m", "fast", "-o", self.options)

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def create_database(self, name: str) -> str:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url(), autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
