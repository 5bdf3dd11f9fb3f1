"""API Gateway's Lambda (REQUEST) authorizers for HTTP APIs, run on the template's own functions.

As in AWS: the identity sources are read first, and a missing or empty one is 401 without calling
the function; the function gets the payload its `AuthorizerPayloadFormatVersion` says (2.0: the
HTTP API's REQUEST event; 1.0: the REST-compatible one) through the same invoker as any function;
its answer is a simple response (`{"isAuthorized", "context"}`) when `EnableSimpleResponses`,
otherwise an IAM policy evaluated against the route's ARN. Denied is 403, a failure (an error, a
timeout, an answer of the wrong shape) 500. Answers are cached per authorizer and identity source
values for the TTL (0: never), by the stack's clock, so `POST /_local/clock` ages them too; the
cache keeps a hash of the values, never a token or a key. The route's function sees the context at
`requestContext.authorizer.lambda`.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from local.authorizer import ForbiddenError, UnauthorizedError
from local.errors import InvocationError
from local.events import HttpRequest, build_http_event, cookies_of, query_parameters
from local.intrinsics import ACCOUNT_ID
from local.routes import LambdaAuthorizerSpec, Route

log = logging.getLogger("local.lambda_authorizer")

CACHE_SIZE = 1000
STAGE = "$default"

Invoke = Callable[[str, dict[str, Any]], Any]


class AuthorizerFailed(Exception):
    """The authorizer could not decide (it failed, or answered something API Gateway cannot read):
    500 {"message": "Internal Server Error"}, and nothing is cached."""


@dataclass(frozen=True)
class LambdaAuthorization:
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Answer:
    """What the function answered, as API Gateway caches it (a policy is evaluated per route)."""

    allowed: bool | None  # a simple response's isAuthorized; None for a policy
    policy: Mapping[str, Any] | None
    context: dict[str, Any]

    def allows(self, route_arn: str) -> bool:
        if self.policy is None:
            return bool(self.allowed)
        return _policy_allows(self.policy, route_arn)


def route_arn(region: str, account_id: str, api_id: str, method: str, path: str) -> str:
    """`arn:aws:execute-api:<region>:<account>:<api>/<stage>/<METHOD><path>`, as API Gateway names it."""
    return f"arn:aws:execute-api:{region}:{account_id}:{api_id}/{STAGE}/{method.upper()}{path}"


def identity_values(sources: tuple[str, ...], request: HttpRequest) -> list[str] | None:
    """Each identity source's value, or None when one is missing or empty (API Gateway: 401)."""
    query = query_parameters(request.raw_query)
    values: list[str] = []
    for source in sources:
        value: str | None = None
        if source.startswith("$request.header."):
            value = request.header(source.removeprefix("$request.header."))
        elif source.startswith("$request.querystring."):
            value = query.get(source.removeprefix("$request.querystring."))
        # $context.* and $stageVariables.* have no local values: such a source is always missing.
        if not value:
            return None
        values.append(value)
    return values


class LambdaAuthorizers:
    def __init__(
        self,
        invoke: Invoke,
        now: Callable[[], datetime],
        *,
        region: str = "eu-west-1",
        account_id: str = ACCOUNT_ID,
    ) -> None:
        self._invoke = invoke
        self._now = now
        self.region = region
        self.account_id = account_id
        self._cache: OrderedDict[tuple[str, str], tuple[_Answer, datetime]] = OrderedDict()
        self._lock = threading.Lock()
        self.invocations = 0  # how many times an authorizer function ran (tests, benchmarks)

    def authorize(
        self,
        spec: LambdaAuthorizerSpec,
        request: HttpRequest,
        route: Route,
        path_parameters: Mapping[str, str],
        request_id: str,
    ) -> LambdaAuthorization:
        """The context for the route's function; UnauthorizedError (401), ForbiddenError (403) or
        AuthorizerFailed (500) otherwise."""
        values = identity_values(spec.identity_sources, request)
        if values is None:
            raise UnauthorizedError(f"an identity source of {spec.name} is missing")
        arn = route_arn(self.region, self.account_id, route.api.api_id, request.method, request.path)
        key = (spec.name, hashlib.sha256(json.dumps(values).encode()).hexdigest())
        answer = self._cached(key) if spec.ttl_seconds > 0 and spec.identity_sources else None
        if answer is None:
            event = self._event(spec, request, route, path_parameters, request_id, values, arn)
            answer = self._ask(spec, event)
            if spec.ttl_seconds > 0 and spec.identity_sources:
                self._remember(key, answer, spec.ttl_seconds)
        if not answer.allows(arn):
            raise ForbiddenError(f"{spec.name} denied the request")
        return LambdaAuthorization(dict(answer.context))

    # -- cache --------------------------------------------------------------------------------

    def _cached(self, key: tuple[str, str]) -> _Answer | None:
        with self._lock:
            entry = self._cache.get(key)
            if entry is None:
                return None
            answer, expires = entry
            if self._now() >= expires:
                del self._cache[key]
                return None
            return answer

    def _remember(self, key: tuple[str, str], answer: _Answer, ttl_seconds: int) -> None:
        with self._lock:
            self._cache[key] = (answer, self._now() + timedelta(seconds=ttl_seconds))
            self._cache.move_to_end(key)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()

    # -- the function -------------------------------------------------------------------------

    def _ask(self, spec: LambdaAuthorizerSpec, event: dict[str, Any]) -> _Answer:
        if spec.function is None:
            raise AuthorizerFailed(f"{spec.name}: its FunctionArn is not a function of the template")
        self.invocations += 1
        # The stream pollers are not woken after an authorizer, as they are after a route's
        # function: an authorizer writes no event (they poll on their interval anyway).
        try:
            response = self._invoke(spec.function, event)
        except InvocationError as exc:
            raise AuthorizerFailed(f"{spec.name} failed: {exc}") from exc
        return _read_answer(spec, response)

    def _event(
        self,
        spec: LambdaAuthorizerSpec,
        request: HttpRequest,
        route: Route,
        path_parameters: Mapping[str, str],
        request_id: str,
        values: list[str],
        arn: str,
    ) -> dict[str, Any]:
        integration = build_http_event(
            request,
            route_key=route.route_key,
            api_id=route.api.api_id,
            path_parameters=path_parameters,
            request_id=request_id,
            now=self._now(),
            account_id=self.account_id,
        )
        if spec.payload_format == "1.0":
            return _event_v1(integration, request, route, values, arn)
        return _event_v2(integration, request, values, arn)


def _event_v2(
    integration: dict[str, Any], request: HttpRequest, values: list[str], arn: str
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": arn,
        "identitySource": values,
        "routeKey": integration["routeKey"],
        "rawPath": integration["rawPath"],
        "rawQueryString": integration["rawQueryString"],
    }
    cookies = cookies_of(request)
    if cookies:
        event["cookies"] = cookies
    event["headers"] = integration["headers"]
    for name in ("queryStringParameters", "requestContext", "pathParameters"):
        if name in integration:
            event[name] = integration[name]
    return event


def _event_v1(
    integration: dict[str, Any], request: HttpRequest, route: Route, values: list[str], arn: str
) -> dict[str, Any]:
    """The REST-compatible payload (what REST APIs send a REQUEST authorizer)."""
    context = integration["requestContext"]
    http = context["http"]
    headers: dict[str, str] = integration["headers"]
    query: dict[str, str] = integration.get("queryStringParameters") or {}
    resource = route.path if route.path != "$default" else request.path
    return {
        "version": "1.0",
        "type": "REQUEST",
        "methodArn": arn,
        "identitySource": ",".join(values),
        "authorizationToken": ",".join(values),
        "resource": resource,
        "path": request.path,
        "httpMethod": request.method.upper(),
        "headers": headers,
        "multiValueHeaders": {name: value.split(",") for name, value in headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {name: value.split(",") for name, value in query.items()},
        "pathParameters": integration.get("pathParameters") or {},
        "stageVariables": {},
        "requestContext": {
            "accountId": context["accountId"],
            "apiId": context["apiId"],
            "domainName": context["domainName"],
            "domainPrefix": context["domainPrefix"],
            "extendedRequestId": context["requestId"],
            "httpMethod": http["method"],
            "identity": {"sourceIp": http["sourceIp"], "userAgent": http["userAgent"]},
            "path": request.path,
            "protocol": http["protocol"],
            "requestId": context["requestId"],
            "requestTime": context["time"],
            "requestTimeEpoch": context["timeEpoch"],
            "resourcePath": resource,
            "stage": context["stage"],
        },
    }


def _read_answer(spec: LambdaAuthorizerSpec, response: Any) -> _Answer:
    if not isinstance(response, dict):
        raise AuthorizerFailed(f"{spec.name} answered {type(response).__name__}, not an object")
    context = response.get("context") or {}
    if not isinstance(context, dict):
        raise AuthorizerFailed(f"{spec.name}: its context is not an object")
    if spec.simple_responses:
        allowed = response.get("isAuthorized")
        if not isinstance(allowed, bool):
            raise AuthorizerFailed(f"{spec.name}: a simple response needs a boolean isAuthorized")
        return _Answer(allowed=allowed, policy=None, context=context)
    policy = response.get("policyDocument")
    if not isinstance(policy, dict) or not isinstance(policy.get("Statement"), list):
        raise AuthorizerFailed(f"{spec.name}: an IAM policy response needs a policyDocument with statements")
    return _Answer(allowed=None, policy=policy, context=context)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _policy_allows(policy: Mapping[str, Any], arn: str) -> bool:
    """IAM's rule for the one action API Gateway asks about: an explicit Deny wins, then an Allow."""
    allowed = False
    for statement in policy.get("Statement") or []:
        if not isinstance(statement, dict):
            continue
        actions = [str(action) for action in _as_list(statement.get("Action", []))]
        resources = [str(resource) for resource in _as_list(statement.get("Resource", []))]
        if not any(fnmatch.fnmatchcase("execute-api:Invoke", action) for action in actions):
            continue
        if not any(fnmatch.fnmatchcase(arn, resource) for resource in resources):
            continue
        if statement.get("Effect") == "Deny":
            return False
        if statement.get("Effect") == "Allow":
            allowed = True
    return allowed
