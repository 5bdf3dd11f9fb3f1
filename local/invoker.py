"""Invoking the template's functions as Lambda would: each instance a worker process of its own.

Every function has a pool of instances (local.instances), each a `python -m local.worker` process
with the function's own environment (the stack's base environment: moto's endpoint, fake
credentials, region; Lambda's runtime variables; then Globals + the function's
Environment.Variables) and its own modules, running one invocation at a time. Invocations of
one function run concurrently on up to `concurrency` instances (never more than the function's
ReservedConcurrentExecutions); more callers wait for a free instance. Each invocation carries the
stack clock's offset, which the worker gives the common layer's clock before the handler runs.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from local.clock import LocalClock
from local.errors import InvocationError, InvocationThrottled, InvocationTimeout
from local.functions import FunctionSpec
from local.instances import INIT_TIMEOUT_S, InstancePool, OutputSink, print_output

log = logging.getLogger("local.invoker")

DEFAULT_CONCURRENCY = 4

__all__ = ["DEFAULT_CONCURRENCY", "InvocationError", "InvocationThrottled", "InvocationTimeout", "Invoker"]


def capacity(spec: FunctionSpec, concurrency: int) -> int:
    """How many instances the function may have at once."""
    if spec.reserved_concurrency is not None:
        return min(concurrency, spec.reserved_concurrency)
    return concurrency


def runtime_environment(spec: FunctionSpec, base_environment: Mapping[str, str]) -> dict[str, str]:
    """The environment Lambda gives the function's runtime, over the stack's base environment."""
    region = base_environment.get("AWS_DEFAULT_REGION", "eu-west-1")
    environment = {
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
        "AWS_LAMBDA_LOG_FORMAT": spec.log_format,
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "LAMBDA_TASK_ROOT": str(spec.code_dir),
        "_HANDLER": spec.handler,
        "TZ": ":UTC",
    }
    if spec.log_format.upper() == "JSON" and spec.application_log_level:
        environment["AWS_LAMBDA_LOG_LEVEL"] = spec.application_log_level
    return {**base_environment, **environment, **spec.environment}


class Invoker:
    def __init__(
        self,
        functions: Mapping[str, FunctionSpec],
        base_environment: Mapping[str, str],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        clock: LocalClock | None = None,
        output: OutputSink = print_output,
        init_timeout: float = INIT_TIMEOUT_S,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.functions = dict(functions)
        self.clock = clock or LocalClock()
        self.pools = {
            logical_id: InstancePool(
                spec,
                runtime_environment(spec, base_environment),
                capacity(spec, concurrency),
                output,
                init_timeout,
            )
            for logical_id, spec in self.functions.items()
        }

    def invoke(self, logical_id: str, event: Any) -> Any:
        """The handler's result, or InvocationError (InvocationTimeout, InvocationThrottled)."""
        pool = self.pools[logical_id]
        instance = pool.acquire()
        try:
            return instance.invoke(
                {"event": event, "requestId": str(uuid.uuid4()), "clockOffset": self.clock.offset_seconds()}
            )
        finally:
            pool.release(instance)

    def close(self) -> None:
        """Stop every instance of every function."""
        for pool in self.pools.values():
            pool.close()
