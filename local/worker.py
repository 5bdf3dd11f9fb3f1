"""One function instance, as a process: `python -m local.worker <fd>` (started by local.instances).

Like a Lambda execution environment it holds one function, with the function's environment and
its own modules, and runs one invocation at a time. It talks to the stack over a socket of its
own (fd <fd>), never over stdout: handlers, Powertools' Logger and EMF metrics print there, and
the stack relays that output line by line. Messages are length-prefixed JSON:

    stack  -> worker   {"function": {...}}                            once, then the init phase
    worker -> stack    {"ready": true} | {"initError": "..."}          the handler imported, or why not
    stack  -> worker   {"event", "requestId", "clockOffset"}           one invocation
    worker -> stack    {"result": ...} | {"error": {"errorType", "errorMessage"}}

`clockOffset` (seconds, or null for the system clock) is the stack's clock (POST /_local/clock):
the worker sets the common layer's clock (`tally.clock`) to it before calling the handler, so the
handler never knows. Only the standard library is imported before the handler, so the first
invocation's cold start is the handler's own. The worker ignores Ctrl-C (the stack stops it) and
exits when the stack's end of the socket closes or the stack process goes away.
"""

from __future__ import annotations

import decimal
import importlib
import io
import json
import math
import os
import signal
import socket
import struct
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

_HEADER = struct.Struct(">I")
_ROOT = str(Path(__file__).resolve().parents[1])

Handler = Callable[[Any, Any], Any]


# -- framing (shared with the stack) ------------------------------------------------------------


class ChannelClosed(EOFError):
    """The other end closed the socket."""


def encode(message: Any) -> bytes:
    """A message as it goes on the wire; results Lambda could not serialise become an error."""
    try:
        body = json.dumps(message, default=_lambda_json, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        error = {"errorType": "Runtime.MarshalError", "errorMessage": f"Unable to marshal response: {exc}"}
        body = json.dumps({"error": error}).encode("utf-8")
    return _HEADER.pack(len(body)) + body


def _lambda_json(value: Any) -> Any:
    """What the Python runtime's serialiser adds to json: Decimal (boto3's numbers) as a number."""
    if isinstance(value, decimal.Decimal):
        if value.is_nan():
            return math.nan
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def send(channel: socket.socket, message: Any, deadline: float | None = None) -> None:
    data = encode(message)
    _set_deadline(channel, deadline)
    channel.sendall(data)


def receive(channel: socket.socket, deadline: float | None = None) -> Any:
    """The next message; TimeoutError past `deadline` (time.monotonic), ChannelClosed at EOF."""
    (length,) = _HEADER.unpack(_read_exactly(channel, _HEADER.size, deadline))
    return json.loads(_read_exactly(channel, length, deadline))


def _read_exactly(channel: socket.socket, size: int, deadline: float | None) -> bytes:
    buffer = bytearray(size)
    view = memoryview(buffer)
    received = 0
    while received < size:
        _set_deadline(channel, deadline)
        count = channel.recv_into(view[received:])
        if count == 0:
            raise ChannelClosed()
        received += count
    return bytes(buffer)


def _set_deadline(channel: socket.socket, deadline: float | None) -> None:
    if deadline is None:
        channel.settimeout(None)
        return
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError()
    channel.settimeout(remaining)


# -- the Lambda context -----------------------------------------------------------------------


class LambdaContext:
    """The context object the Python runtime passes as the handler's second argument."""

    def __init__(self, function: Mapping[str, Any], request_id: str, log_stream_name: str) -> None:
        self.function_name = str(function["name"])
        self.function_version = "$LATEST"
        self.invoked_function_arn = str(function["arn"])
        self.memory_limit_in_mb = int(function["memoryMb"])
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = log_stream_name
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline = time.monotonic() + float(function["timeoutSeconds"])

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


# -- the worker -----------------------------------------------------------------------------------


def _enter_task_root(function: Mapping[str, Any]) -> None:
    """sys.path as Lambda's: the function's code, then its layers, then the runtime's packages."""
    code_dir = str(function["codeDir"])
    layers = [str(path) for path in function["layerDirs"]]
    rest = [path for path in sys.path if path not in {_ROOT, "", code_dir, *layers}]
    sys.path[:] = [code_dir, *layers, *rest]
    os.chdir(code_dir)


def _load(handler: str) -> Handler:
    module_name, _, attribute = handler.rpartition(".")
    function = getattr(importlib.import_module(module_name), attribute)
    if not callable(function):
        raise TypeError(f"{handler} is not callable")
    return function  # type: ignore[no-any-return]


def _layer_clock() -> ModuleType | None:
    """The common layer's clock, if the function has the layer."""
    try:
        return importlib.import_module("tally.clock")
    except ImportError:
        return None


class _Clock:
    """Keeps tally.clock on the stack's clock, touching it only when the offset changes."""

    def __init__(self, module: ModuleType | None) -> None:
        self.module = module
        self.offset: float | None = None

    def follow(self, offset: float | None) -> None:
        if self.module is None or offset == self.offset:
            return
        clock = None if offset is None else self.module.OffsetClock(timedelta(seconds=offset))
        self.module.set_clock(clock)
        self.offset = offset


def _invoke(handler: Handler, function: Mapping[str, Any], request: Mapping[str, Any], stream: str) -> Any:
    context = LambdaContext(function, str(request["requestId"]), stream)
    try:
        return {"result": handler(request["event"], context)}
    except Exception as exc:
        # What the Python runtime logs for an unhandled error, then the traceback.
        print(f"[ERROR] {type(exc).__name__}: {exc}", file=sys.stderr)
        traceback.print_exc()
        return {"error": {"errorType": type(exc).__name__, "errorMessage": str(exc)}}


def _exit_with_parent(parent: int) -> None:
    """A stack killed outright cannot stop its workers: they notice and leave on their own."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the stack stops us
    _exit_with_parent(os.getppid())
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):  # a pipe is block-buffered: lines would arrive late
            stream.reconfigure(line_buffering=True)
    channel = socket.socket(fileno=int(argv[0]))
    try:
        init = receive(channel)
    except ChannelClosed:
        return 0
    function = init["function"]
    _enter_task_root(function)
    try:
        handler = _load(str(function["handler"]))
    except BaseException as exc:  # a SystemExit in a module body fails the init phase too
        traceback.print_exc()
        send(channel, {"initError": f"cannot import {function['handler']}: {type(exc).__name__}: {exc}"})
        return 1
    clock = _Clock(_layer_clock())
    stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"  # one per instance, as in Lambda
    send(channel, {"ready": True})
    while True:
        try:
            request = receive(channel)
        except ChannelClosed:
            return 0
        clock.follow(request.get("clockOffset"))
        send(channel, _invoke(handler, function, request, stream))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
