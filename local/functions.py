"""The template's functions as the local stack runs them: code, layers, environment, sources.

Everything comes from the AWS::Serverless::Function resources (with Globals applied): the
handler string and CodeUri say what to import, the layers' ContentUri go on the worker's
sys.path, Environment.Variables is the environment its instances run with, and
ReservedConcurrentExecutions caps how many run at once.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.intrinsics import Resolver, TemplateError
from local.resources import ResourceRegistry
from local.template import Resource, Template

log = logging.getLogger("local.functions")

FUNCTION_TYPES = {"AWS::Serverless::Function"}
LAYER_TYPES = {"AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"}
IMPLICIT_HTTP_API = "ServerlessHttpApi"

# Lambda allows -1 (retry until the record expires); locally that would wedge a stream forever.
DEFAULT_STREAM_RETRIES = 3


@dataclass(frozen=True)
class StreamSource:
    """A DynamoDB event source mapping (an Event of Type DynamoDB)."""

    function: str
    event_name: str
    stream_arn: str
    batch_size: int = 100
    starting_position: str = "TRIM_HORIZON"
    maximum_retry_attempts: int = DEFAULT_STREAM_RETRIES
    report_batch_item_failures: bool = False
    filter_patterns: tuple[dict[str, Any], ...] = ()
    bisect_batch_on_error: bool = False
    on_failure_arn: str | None = None  # DestinationConfig.OnFailure (an SQS queue's ARN)


@dataclass(frozen=True)
class QueueSource:
    """An SQS event source mapping (an Event of Type SQS)."""

    function: str
    event_name: str
    queue_arn: str
    batch_size: int = 10
    report_batch_item_failures: bool = False
    filter_patterns: tuple[dict[str, Any], ...] = ()
    maximum_concurrency: int | None = None  # ScalingConfig.MaximumConcurrency
    batching_window_s: int = 0  # MaximumBatchingWindowInSeconds: read, not waited for locally

    @property
    def queue_name(self) -> str:
        return self.queue_arn.rsplit(":", 1)[-1]


@dataclass(frozen=True)
class ScheduleSource:
    """An EventBridge Scheduler schedule targeting the function (an Event of Type ScheduleV2)."""

    function: str
    event_name: str
    name: str  # the Name property, else the event's key
    expression: str
    timezone: str = "UTC"
    input: str | None = None  # the JSON text the target gets (Scheduler sends "{}" without one)
    state: str = "ENABLED"
    description: str | None = None
    retry_policy: dict[str, Any] | None = None
    dead_letter_arn: str | None = None


@dataclass(frozen=True)
class HttpEvent:
    """An Event of Type HttpApi, before routing decides its authorizer."""

    function: str
    event_name: str
    api: str  # logical id of the HttpApi resource, or ServerlessHttpApi
    method: str  # upper case, or ANY
    path: str  # /v1/things/{id}, or $default
    authorizer: str | None  # None: the API's default; "NONE": public
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    arn: str
    handler: str  # "package.module.attribute"
    code_dir: Path
    layer_dirs: tuple[Path, ...]
    environment: dict[str, str]
    memory_mb: int = 128
    timeout_s: float = 3.0
    http_events: tuple[HttpEvent, ...] = field(default=())
    stream_sources: tuple[StreamSource, ...] = field(default=())
    queue_sources: tuple[QueueSource, ...] = field(default=())
    schedules: tuple[ScheduleSource, ...] = field(default=())
    # LoggingConfig: Lambda tells the runtime through AWS_LAMBDA_LOG_FORMAT/AWS_LAMBDA_LOG_LEVEL.
    log_format: str = "Text"
    application_log_level: str | None = None
    reserved_concurrency: int | None = None  # ReservedConcurrentExecutions: caps its instances

    @property
    def module_name(self) -> str:
        return self.handler.rpartition(".")[0]

    @property
    def attribute(self) -> str:
        return self.handler.rpartition(".")[2]


def env_text(value: Any) -> str:
    """How CloudFormation turns an environment value into the string Lambda sees."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _as_int(value: Any, default: int) -> int:
    return default if value is None else int(value)


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _ref_target(value: Any) -> str | None:
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return str(value["Ref"])
    return None


def _layer_dirs(
    resource: Resource, template: Template, resolver: Resolver, registry: ResourceRegistry
) -> tuple[Path, ...]:
    layers = [layer.logical_id for layer in template.of_type(*LAYER_TYPES)]
    by_arn = {registry.lookup(logical_id, None): logical_id for logical_id in layers}
    dirs: list[Path] = []
    for item in resource.properties.get("Layers") or []:
        logical_id = _ref_target(item)
        if logical_id is None:
            logical_id = by_arn.get(resolver.resolve(item))
        layer = template.resources.get(logical_id or "")
        if layer is None or layer.type not in LAYER_TYPES:
            log.warning("%s: layer %r is not declared in the template; skipped", resource.logical_id, item)
            continue
        content = resolver.resolve(layer.properties.get("ContentUri") or layer.properties.get("Content"))
        if not isinstance(content, str):
            log.warning(
                "%s: layer %s has no local ContentUri; skipped", resource.logical_id, layer.logical_id
            )
            continue
        path = (template.root / content).resolve()
        dirs.append(path)
        if (path / "python").is_dir():  # the layout Lambda extracts layers into (/opt/python)
            dirs.append(path / "python")
    return tuple(dirs)


def build_functions(template: Template, resolver: Resolver, registry: ResourceRegistry) -> list[FunctionSpec]:
    specs = []
    for resource in template.of_type(*FUNCTION_TYPES):
        if not resolver.is_enabled(resource.condition):
            continue
        spec = _build_function(resource, template, resolver, registry)
        if spec is not None:
            specs.append(spec)
    return specs


def _build_function(
    resource: Resource, template: Template, resolver: Resolver, registry: ResourceRegistry
) -> FunctionSpec | None:
    props = resource.properties
    logical_id = resource.logical_id
    if props.get("PackageType") == "Image" or props.get("InlineCode"):
        log.warning("%s: only zip functions with a CodeUri run locally; skipped", logical_id)
        return None
    code_uri = resolver.resolve_property(props.get("CodeUri"))
    handler = resolver.resolve_property(props.get("Handler"))
    if not isinstance(code_uri, str) or not isinstance(handler, str) or "." not in handler:
        log.warning("%s: needs a local CodeUri and a module.function Handler; skipped", logical_id)
        return None
    environment = resolver.resolve((props.get("Environment") or {}).get("Variables") or {})
    if not isinstance(environment, dict):
        raise TemplateError(f"{logical_id}: Environment.Variables must be a mapping")
    logging_config = resolver.resolve_property(props.get("LoggingConfig")) or {}
    http_events: list[HttpEvent] = []
    streams: list[StreamSource] = []
    queues: list[QueueSource] = []
    schedules: list[ScheduleSource] = []
    for event_name, event in (props.get("Events") or {}).items():
        kind = event.get("Type")
        event_props = event.get("Properties") or {}
        if kind == "HttpApi":
            http_events.append(_http_event(logical_id, event_name, event_props, resolver))
        elif kind == "DynamoDB":
            source = _stream_source(logical_id, event_name, event_props, resolver)
            if source is not None:
                streams.append(source)
        elif kind == "SQS":
            queue = _queue_source(logical_id, event_name, event_props, resolver)
            if queue is not None:
                queues.append(queue)
        elif kind == "ScheduleV2":
            schedules.append(_schedule(logical_id, event_name, event_props, resolver))
        else:
            log.debug("%s: event %s of type %s is not emulated locally", logical_id, event_name, kind)
    return FunctionSpec(
        logical_id=logical_id,
        name=str(registry.lookup(logical_id, None)),
        arn=str(registry.lookup(logical_id, "Arn")),
        handler=handler,
        code_dir=(template.root / code_uri).resolve(),
        layer_dirs=_layer_dirs(resource, template, resolver, registry),
        environment={str(key): env_text(value) for key, value in environment.items()},
        memory_mb=_as_int(resolver.resolve_property(props.get("MemorySize")), 128),
        timeout_s=float(resolver.resolve_property(props.get("Timeout")) or 3),
        http_events=tuple(http_events),
        stream_sources=tuple(streams),
        queue_sources=tuple(queues),
        schedules=tuple(schedules),
        log_format=str(logging_config.get("LogFormat") or "Text"),
        application_log_level=str(level) if (level := logging_config.get("ApplicationLogLevel")) else None,
        reserved_concurrency=_optional_int(
            resolver.resolve_property(props.get("ReservedConcurrentExecutions"))
        ),
    )


def _http_event(function: str, event_name: str, props: dict[str, Any], resolver: Resolver) -> HttpEvent:
    api = _ref_target(props.get("ApiId")) or IMPLICIT_HTTP_API
    path = resolver.resolve_property(props.get("Path"))
    method = resolver.resolve_property(props.get("Method"))
    if path is None and method is None:
        path, method = "$default", "ANY"
    auth = resolver.resolve_property(props.get("Auth")) or {}
    authorizer = auth.get("Authorizer")
    scopes = tuple(str(scope) for scope in auth.get("AuthorizationScopes") or ())
    return HttpEvent(
        function=function,
        event_name=event_name,
        api=api,
        method=str(method or "ANY").upper().replace("X-AMAZON-APIGATEWAY-ANY-METHOD", "ANY"),
        path=str(path or "$default"),
        authorizer=str(authorizer) if authorizer is not None else None,
        scopes=scopes,
    )


def _filter_patterns(resolved: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    patterns = []
    for item in (resolved.get("FilterCriteria") or {}).get("Filters") or []:
        pattern = item.get("Pattern")
        patterns.append(json.loads(pattern) if isinstance(pattern, str) else dict(pattern or {}))
    return tuple(patterns)


def _queue_source(
    function: str, event_name: str, props: dict[str, Any], resolver: Resolver
) -> QueueSource | None:
    resolved = resolver.resolve(props)
    if str(resolved.get("Enabled", True)).lower() == "false":
        return None
    queue_arn = resolved.get("Queue")
    if not isinstance(queue_arn, str) or not queue_arn.startswith("arn:") or ":sqs:" not in queue_arn:
        raise TemplateError(f"{function}.{event_name}: Queue must resolve to a queue's Arn")
    scaling = resolved.get("ScalingConfig") or {}
    return QueueSource(
        function=function,
        event_name=event_name,
        queue_arn=queue_arn,
        batch_size=_as_int(resolved.get("BatchSize"), 10),
        report_batch_item_failures="ReportBatchItemFailures" in (resolved.get("FunctionResponseTypes") or []),
        filter_patterns=_filter_patterns(resolved),
        maximum_concurrency=_optional_int(scaling.get("MaximumConcurrency")),
        batching_window_s=_as_int(resolved.get("MaximumBatchingWindowInSeconds"), 0),
    )


def _schedule(function: str, event_name: str, props: dict[str, Any], resolver: Resolver) -> ScheduleSource:
    resolved = resolver.resolve(props)
    expression = resolved.get("ScheduleExpression")
    if not isinstance(expression, str) or not expression:
        raise TemplateError(f"{function}.{event_name}: a ScheduleV2 event needs a ScheduleExpression")
    payload = resolved.get("Input")
    if payload is not None and not isinstance(payload, str):
        payload = json.dumps(payload)  # CloudFormation takes the JSON text; be lenient with a mapping
    dead_letter = (resolved.get("DeadLetterConfig") or {}).get("Arn")
    retry = resolved.get("RetryPolicy")
    return ScheduleSource(
        function=function,
        event_name=event_name,
        name=str(resolved.get("Name") or event_name),
        expression=expression,
        timezone=str(resolved.get("ScheduleExpressionTimezone") or "UTC"),
        input=payload,
        state=str(resolved.get("State") or "ENABLED"),
        description=str(resolved["Description"]) if resolved.get("Description") else None,
        retry_policy=dict(retry) if isinstance(retry, dict) else None,
        dead_letter_arn=str(dead_letter) if dead_letter else None,
    )


def _stream_source(
    function: str, event_name: str, props: dict[str, Any], resolver: Resolver
) -> StreamSource | None:
    resolved = resolver.resolve(props)
    if str(resolved.get("Enabled", True)).lower() == "false":
        return None
    stream_arn = resolved.get("Stream")
    if not isinstance(stream_arn, str) or "/stream/" not in stream_arn:
        raise TemplateError(f"{function}.{event_name}: Stream must resolve to a table's StreamArn")
    retries = _as_int(resolved.get("MaximumRetryAttempts"), DEFAULT_STREAM_RETRIES)
    on_failure = ((resolved.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    return StreamSource(
        function=function,
        event_name=event_name,
        stream_arn=stream_arn,
        batch_size=_as_int(resolved.get("BatchSize"), 100),
        starting_position=str(resolved.get("StartingPosition") or "TRIM_HORIZON"),
        maximum_retry_attempts=DEFAULT_STREAM_RETRIES if retries < 0 else retries,
        report_batch_item_failures="ReportBatchItemFailures" in (resolved.get("FunctionResponseTypes") or []),
        filter_patterns=_filter_patterns(resolved),
        bisect_batch_on_error=str(resolved.get("BisectBatchOnFunctionError", False)).lower() == "true",
        on_failure_arn=str(on_failure) if on_failure else None,
    )
