"""Function instances: one worker process each (local.worker), and a pool of them per function.

An instance is started on demand (its first invocation is a real cold start), runs one invocation
at a time, and is killed when an invocation runs past the function's Timeout, as Lambda does; the
pool then starts a fresh one when needed. A pool holds at most `capacity` instances; callers
beyond that wait for one to be free rather than fail. Each instance's stdout and stderr reach
the stack's output line by line, prefixed with the function and instance ("[TrackingFunction#2]").
"""

from __future__ import annotations

import itertools
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from local.errors import InvocationError, InvocationThrottled, InvocationTimeout
from local.functions import FunctionSpec
from local.worker import ChannelClosed, receive, send

log = logging.getLogger("local.instances")

ROOT = Path(__file__).resolve().parents[1]  # the worker runs as `python -m local.worker` from here
# Lambda gives the init phase 10 s; a loaded laptop starting several instances at once needs more.
INIT_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 5.0

OutputSink = Callable[[str, str], None]  # (instance label, line)

_output_lock = threading.Lock()


def print_output(label: str, line: str) -> None:
    """The default sink: the stack's stdout, whole lines, each prefixed with its instance."""
    try:
        with _output_lock:
            sys.stdout.write(f"[{label}] {line}\n")
            sys.stdout.flush()
    except (OSError, ValueError):  # stdout closed while stopping: nothing left to tell
        pass


class FunctionInstance:
    def __init__(
        self, spec: FunctionSpec, environment: Mapping[str, str], number: int, output: OutputSink
    ) -> None:
        self.spec = spec
        self.environment = dict(environment)
        self.label = f"{spec.logical_id}#{number}"
        self.output = output
        self._process: subprocess.Popen[bytes] | None = None
        self._channel: socket.socket | None = None

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self, init_timeout: float = INIT_TIMEOUT_S) -> None:
        """Spawn the worker and run the init phase (import the handler); InvocationError if it fails."""
        ours, theirs = socket.socketpair()
        try:
            self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "local.worker", str(theirs.fileno())],
                cwd=ROOT,
                env=self.environment,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(theirs.fileno(),),
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._channel = ours
        stdout = self._process.stdout
        assert stdout is not None
        threading.Thread(target=self._relay, args=(stdout,), name=f"output-{self.label}", daemon=True).start()
        deadline = time.monotonic() + init_timeout
        try:
            send(ours, {"function": self._description()}, deadline)
            reply = receive(ours, deadline)
        except TimeoutError:
            self.close()
            raise InvocationError(
                self.spec.logical_id,
                f"the init phase took longer than {init_timeout:.0f} s",
                during_import=True,
            ) from None
        except (ChannelClosed, OSError):
            code = self.close()
            raise InvocationError(
                self.spec.logical_id, f"the runtime exited during init (exit code {code})", during_import=True
            ) from None
        if "initError" in reply:
            self.close()
            raise InvocationError(self.spec.logical_id, str(reply["initError"]), during_import=True)
        log.info("%s started (pid %s)", self.label, self.pid)

    def _description(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "handler": spec.handler,
            "codeDir": str(spec.code_dir),
            "layerDirs": [str(path) for path in spec.layer_dirs],
            "name": spec.name,
            "arn": spec.arn,
            "memoryMb": spec.memory_mb,
            "timeoutSeconds": spec.timeout_s,
        }

    def _relay(self, stdout: IO[bytes]) -> None:
        for raw in stdout:
            self.output(self.label, raw.decode("utf-8", "replace").rstrip("\r\n"))

    def invoke(self, request: Mapping[str, Any]) -> Any:
        """The handler's result; InvocationTimeout (instance killed) or InvocationError otherwise."""
        channel = self._channel
        if channel is None or not self.alive:
            raise InvocationError(self.spec.logical_id, "the instance is not running")
        deadline = time.monotonic() + self.spec.timeout_s
        try:
            send(channel, request, deadline)
            reply = receive(channel, deadline)
        except TimeoutError:
            self.close()
            log.warning("%s ran past its %.0f s Timeout and was stopped", self.label, self.spec.timeout_s)
            raise InvocationTimeout(self.spec.logical_id, self.spec.timeout_s) from None
        except (ChannelClosed, OSError):
            code = self.close()
            raise InvocationError(
                self.spec.logical_id,
                f"Runtime exited with error: exit code {code}",
                error_type="Runtime.ExitError",
            ) from None
        error = reply.get("error")
        if error is not None:
            raise InvocationError(
                self.spec.logical_id,
                f"{error.get('errorType')}: {error.get('errorMessage')}",
                error_type=str(error.get("errorType") or "Unhandled"),
            )
        return reply.get("result")

    def kill(self) -> int | None:
        """Stop the worker at once (safe from any thread, even while an invocation waits on it)."""
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            process.kill()
        try:
            return process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL is not refused
            return None

    def close(self) -> int | None:
        """kill() and release the channel; only by whoever holds the instance."""
        code = self.kill()
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        return code


class InstancePool:
    """Up to `capacity` instances of one function; the most recently used idle one serves next."""

    def __init__(
        self,
        spec: FunctionSpec,
        environment: Mapping[str, str],
        capacity: int,
        output: OutputSink = print_output,
        init_timeout: float = INIT_TIMEOUT_S,
    ) -> None:
        self.spec = spec
        self.environment = dict(environment)
        self.capacity = capacity
        self.output = output
        self.init_timeout = init_timeout
        self._idle: list[FunctionInstance] = []
        self._instances: set[FunctionInstance] = set()  # idle, busy and starting
        self._reserved = 0  # instances counted against capacity, including those starting
        self._numbers = itertools.count(1)
        self._closed = False
        self._cond = threading.Condition()

    def acquire(self) -> FunctionInstance:
        with self._cond:
            while True:
                if self._closed:
                    raise InvocationError(self.spec.logical_id, "the local stack is stopping")
                if self._idle:
                    return self._idle.pop()
                if self.capacity <= 0:
                    raise InvocationThrottled(self.spec.logical_id)
                if self._reserved < self.capacity:
                    self._reserved += 1
                    instance = FunctionInstance(self.spec, self.environment, next(self._numbers), self.output)
                    self._instances.add(instance)
                    break
                self._cond.wait()
        try:
            instance.start(self.init_timeout)  # outside the lock: other callers go on meanwhile
        except BaseException:
            self._discard(instance)
            raise
        return instance

    def release(self, instance: FunctionInstance) -> None:
        with self._cond:
            if instance.alive and not self._closed:
                self._idle.append(instance)
                self._cond.notify()
                return
        self._discard(instance)

    def _discard(self, instance: FunctionInstance) -> None:
        instance.close()
        with self._cond:
            if instance in self._instances:
                self._instances.discard(instance)
                self._reserved -= 1
            self._cond.notify()

    def close(self) -> None:
        """Stop every instance, busy ones included (their callers get an InvocationError)."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            busy = [instance for instance in self._instances if instance not in idle]
            self._cond.notify_all()
        for instance in idle:
            self._discard(instance)
        for instance in busy:
            instance.kill()
