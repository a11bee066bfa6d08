"""Real processes on loopback: gunicorn app servers and ``flask mail send`` workers.

Used by the fault and scale-out tests and by the benchmarks: the production setup,
started from this checkout with the configuration given as ``CALENDRIER_*`` variables.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_env(database_uri: str, **config) -> dict[str, str]:
    """The environment of an app process: test defaults, then ``config`` (JSON-encoded)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALENDRIER_")}
    values = {
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": database_uri,
        "PUBLIC_URL": "https://agenda.example.org",
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": 1,
        "MAIL_DEFAULT_SENDER": "agenda@example.org",
        # as in tests/conftest.py: a test sees a change at once, not a feed's cached 304
        "FEED_VALIDATORS_SECONDS": 0,
        "PAGE_CACHE_SECONDS": 0,
    }
    values.update(config)
    for key, value in values.items():
        env[f"CALENDRIER_{key}"] = value if isinstance(value, str) else json.dumps(value)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Process:
    """A child process whose output goes to a log file (read it when a test fails)."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path):
        self.log = log
        self._out = log.open("wb")
        self.proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self._out, stderr=subprocess.STDOUT
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no chance to clean up, as when a machine dies."""
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, timeout: float = 10) -> None:
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._out.close()

    def output(self) -> str:
        self._out.flush()
        return self.log.read_text(errors="replace")


class AppServer(Process):
    def __init__(
        self,
        env: dict[str, str],
        log: Path,
        *,
        workers: int = 2,
        threads: int = 4,
        port: int | None = None,
        extra: list[str] | None = None,
    ):
        self.port = port or free_port()
        args = [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--worker-class",
            "gthread" if threads > 1 else "sync",
            "--graceful-timeout",
            "5",
            *(extra or []),
            "wsgi:app",
        ]
        super().__init__(args, env, log)

    def wait_ready(self, timeout: float = 120) -> AppServer:
        # Generous: on a busy machine, booting a gunicorn worker took over 30 s.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"app server died:\n{self.output()[-3000:]}")
            try:
                if get(self.port, "/healthz")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"app server not ready:\n{self.output()[-3000:]}")


class MailWorker(Process):
    def __init__(self, env: dict[str, str], log: Path, *, watch: bool = True, batch: int = 100):
        args = [sys.executable, "-m", "flask", "--app", "wsgi", "mail", "send"]
        args += ["--batch", str(batch)]
        if watch:
            args += ["--watch", "--interval", "0.2"]
        super().__init__(args, env, log)


def flask_command(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    """Run ``flask --app wsgi ARGS`` to the end; its output, or an error with it."""
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


# --- a tiny HTTP client (one connection per call: like many separate people) ----------


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def get(port: int, path: str, **kwargs) -> tuple[int, dict[str, str], bytes]:
    return request(port, "GET", path, **kwargs)


def post_form(port: int, path: str, data: dict, **kwargs) -> tuple[int, dict[str, str], bytes]:
    body = urlencode(data).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return request(port, "POST", path, body=body, headers=headers, **kwargs)


def booking_form(occurrence_id: int, n: int, seats: int = 1) -> dict:
    return {
        "occurrence": occurrence_id,
        "name": f"Personne {n}",
        "email": f"personne{n}@example.org",
        "seats": seats,
        "consent": "y",
    }
