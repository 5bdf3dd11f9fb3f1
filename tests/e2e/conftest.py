"""The local stack as a real subprocess (`python -m local`), shared by every e2e test.

`stack_url` starts it on a free port, waits for its ready line and stops it at the end of the
session; `admin_token` signs the seeded platform admin in through the API itself.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ADMIN_EMAIL = os.environ.get("TALLY_ADMIN_EMAIL") or "admin@tally.local"
ADMIN_PASSWORD = os.environ.get("TALLY_ADMIN_PASSWORD") or "Tally-local-2026!"
START_TIMEOUT_S = 60
READY = re.compile(r"Tally local stack ready at (\S+)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class StackProcess:
    """`python -m local` with its output collected (and echoed if it fails to start)."""

    def __init__(self, port: int) -> None:
        environment = {
            **os.environ,
            "PORT": str(port),
            "STRIPE_PORT": "0",  # the local Stripe on any free port (GET /_local/resources says which)
            "TALLY_ADMIN_EMAIL": ADMIN_EMAIL,
            "TALLY_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "PYTHONUNBUFFERED": "1",
        }
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
            environment.pop(name, None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "local"],
            cwd=ROOT,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        self.lines: list[str] = []
        self.url: str | None = None
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, name="local-stack-output", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            match = READY.search(line)
            if match and self.url is None:
                self.url = match.group(1)
                self._ready.set()
        self._ready.set()  # the process ended: wake the waiter

    def wait_ready(self, timeout: float) -> str:
        self._ready.wait(timeout)
        if self.url is None:
            raise RuntimeError("the local stack did not start")
        return self.url

    def output(self) -> str:
        return "\n".join(self.lines)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._reader.join(5)
        return self.process.returncode


_LOGS: list[Path] = []


@pytest.fixture(scope="session")
def stack_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    stack = StackProcess(free_port())
    try:
        stack.wait_ready(START_TIMEOUT_S)
    except RuntimeError:
        stack.stop()
        print(f"--- python -m local output ---\n{stack.output()}\n---", file=sys.stderr)
        pytest.fail(f"the local stack did not print its ready line within {START_TIMEOUT_S} s", pytrace=False)
    try:
        yield stack
    finally:
        stack.stop()
        log = tmp_path_factory.getbasetemp() / "local-stack.log"
        log.write_text(stack.output() + "\n", encoding="utf-8")
        _LOGS.append(log)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Where the stack's own output (gateway lines, handler logs, tracebacks) was kept."""
    for log in _LOGS:
        terminalreporter.write_line(f"local stack output: {log}")


@pytest.fixture(scope="session")
def stack_url(stack_process: StackProcess) -> str:
    assert stack_process.url is not None
    return stack_process.url


@pytest.fixture(scope="session")
def admin_token(stack_url: str) -> str:
    """A platform admin's Cognito id token: a user of the platform-admin group with TOTP on (staff
    powers need it), signed in with a real code through the API."""
    from tests.e2e.tenancy import HttpApi

    return HttpApi(stack_url).staff("platform-admin").token
