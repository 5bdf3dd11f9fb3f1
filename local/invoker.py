"""Running handlers in this process as Lambda would run them.

One lock serialises every invocation (HTTP and streams), because each function needs its own
environment variables in the one `os.environ` the process has. Before the import and before
every call the function's environment is put in place: the stack's base environment (moto's
endpoint, fake credentials, region), Lambda's runtime variables, then the template's
Environment.Variables (Globals + the function's own).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from local.functions import FunctionSpec

log = logging.getLogger("local.invoker")

Handler = Callable[[Any, Any], Any]


class InvocationError(Exception):
    """The function did not return: it could not be imported, or it raised."""

    def __init__(self, function: str, message: str, *, during_import: bool) -> None:
        super().__init__(message)
        self.function = function
        self.message = message
        self.during_import = during_import


class LambdaContext:
    """The context object the Python runtime passes as the handler's second argument."""

    def __init__(self, spec: FunctionSpec, request_id: str | None = None) -> None:
        self.function_name = spec.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = spec.arn
        self.memory_limit_in_mb = spec.memory_mb
        self.aws_request_id = request_id or str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{spec.name}"
        self.log_stream_name = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline = time.monotonic() + spec.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class _Loaded:
    handler: Handler


def reset_process_caches(*, clients: bool = False) -> None:
    """Forget what the common layer caches per process: settings (and AWS clients if asked).

    In Lambda every function has its own process; here they share one, so whatever the layer
    caches from the environment is reset when the environment changes (clients, which depend
    only on the endpoint, when the stack stops).
    """
    settings = sys.modules.get("tally.settings")
    get_settings = getattr(settings, "get_settings", None)
    if get_settings is not None and hasattr(get_settings, "cache_clear"):
        get_settings.cache_clear()
    storage = sys.modules.get("tally.storage.clients")
    reset_clients = getattr(storage, "reset_clients", None)
    if clients and callable(reset_clients):
        reset_clients()


class Invoker:
    def __init__(self, functions: Mapping[str, FunctionSpec], base_environment: Mapping[str, str]) -> None:
        self.functions = dict(functions)
        self.base_environment = dict(base_environment)
        self.lock = threading.RLock()
        self._loaded: dict[str, _Loaded] = {}
        self._active_environment: dict[str, str] | None = None
        self._managed_keys: set[str] = set()

    def runtime_environment(self, spec: FunctionSpec) -> dict[str, str]:
        region = self.base_environment.get("AWS_DEFAULT_REGION", "eu-west-1")
        environment = {
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_LOG_FORMAT": spec.log_format,
        }
        if spec.log_format.upper() == "JSON" and spec.application_log_level:
            environment["AWS_LAMBDA_LOG_LEVEL"] = spec.application_log_level
        return {**self.base_environment, **environment, **spec.environment}

    def _apply_environment(self, spec: FunctionSpec) -> None:
        """Make os.environ the function's environment, touching only the keys that differ."""
        wanted = self.runtime_environment(spec)
        if wanted == self._active_environment:
            return
        for key in self._managed_keys - set(wanted):
            os.environ.pop(key, None)
        for key, value in wanted.items():
            if os.environ.get(key) != value:
                os.environ[key] = value
        self._managed_keys = set(wanted) - set(self.base_environment)
        self._active_environment = wanted
        reset_process_caches()

    def _load(self, spec: FunctionSpec) -> Handler:
        loaded = self._loaded.get(spec.logical_id)
        if loaded is not None:
            return loaded.handler
        for path in (str(spec.code_dir), *(str(layer) for layer in spec.layer_dirs)):
            if path not in sys.path:
                sys.path.insert(0, path)
        importlib.invalidate_caches()
        try:
            module = importlib.import_module(spec.module_name)
            handler = getattr(module, spec.attribute)
        except Exception as exc:
            message = f"cannot import {spec.handler}: {type(exc).__name__}: {exc}"
            log.error("%s: %s\n%s", spec.logical_id, message, traceback.format_exc().rstrip())
            raise InvocationError(spec.logical_id, message, during_import=True) from exc
        if not callable(handler):
            raise InvocationError(spec.logical_id, f"{spec.handler} is not callable", during_import=True)
        self._loaded[spec.logical_id] = _Loaded(handler)
        return handler  # type: ignore[no-any-return]

    def invoke(self, logical_id: str, event: Any, *, request_id: str | None = None) -> Any:
        spec = self.functions[logical_id]
        with self.lock:
            self._apply_environment(spec)
            handler = self._load(spec)
            context = LambdaContext(spec, request_id)
            started = time.monotonic()
            try:
                return handler(event, context)
            except Exception as exc:
                message = f"{type(exc).__name__}: {exc}"
                log.error(
                    "%s raised (request %s)\n%s",
                    spec.logical_id,
                    context.aws_request_id,
                    traceback.format_exc().rstrip(),
                )
                raise InvocationError(logical_id, message, during_import=False) from exc
            finally:
                elapsed = time.monotonic() - started
                if elapsed > spec.timeout_s:
                    log.warning(
                        "%s ran %.2f s, past its %.0f s Timeout: Lambda would have stopped it",
                        spec.logical_id,
                        elapsed,
                        spec.timeout_s,
                    )
