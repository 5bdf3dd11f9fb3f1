"""The HTTP API's route table, built only from template.yaml.

Each function Event of Type HttpApi is a route `METHOD /path` on an HTTP API; its Auth says
whether it is public (`Authorizer: NONE`) or guarded by one of the API's authorizers (the
default one unless it names another): a JWT authorizer (`JwtConfiguration`) or a Lambda
authorizer (`FunctionArn`, one of the template's functions). Matching follows API Gateway: the
most specific route wins (literal segments over `{param}` over `{proxy+}`, an exact method over
ANY), and `$default` catches the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from local.functions import IMPLICIT_HTTP_API, FunctionSpec, HttpEvent
from local.intrinsics import Resolver
from local.resources import ResourceRegistry, local_api_id
from local.template import Template

log = logging.getLogger("local.routes")

PUBLIC = "NONE"


@dataclass(frozen=True)
class JwtAuthorizerSpec:
    name: str
    issuer: str
    audience: tuple[str, ...]
    identity_header: str = "authorization"  # from IdentitySource $request.header.Authorization
    supported: bool = True  # False: an IAM (or undefined) authorizer the local stack cannot run


@dataclass(frozen=True)
class LambdaAuthorizerSpec:
    """A Lambda (REQUEST) authorizer: SAM's `FunctionArn`, `Identity`, `AuthorizerPayloadFormatVersion`,
    `EnableSimpleResponses` (or CloudFormation's `IdentitySource`, `AuthorizerResultTtlInSeconds`)."""

    name: str
    function: str | None  # the authorizer function's logical id; None: not one of the template's
    identity_sources: tuple[str, ...] = ()  # "$request.header.Authorization", "$request.querystring.k"
    payload_format: str = "2.0"
    simple_responses: bool = False
    ttl_seconds: int = 0  # 0: every request invokes the function


AuthorizerSpec = JwtAuthorizerSpec | LambdaAuthorizerSpec


@dataclass(frozen=True)
class CorsConfig:
    allow_origins: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False

    def origin_allowed(self, origin: str) -> bool:
        return "*" in self.allow_origins or origin in self.allow_origins

    def allow_origin_value(self, origin: str) -> str:
        return "*" if "*" in self.allow_origins and not self.allow_credentials else origin


@dataclass(frozen=True)
class ApiSpec:
    logical_id: str
    api_id: str
    default_authorizer: str | None = None
    authorizers: dict[str, AuthorizerSpec] = field(default_factory=dict)
    cors: CorsConfig | None = None


@dataclass(frozen=True)
class Route:
    api: ApiSpec
    method: str  # upper case or ANY
    path: str  # /a/{b}/{c+} or $default
    function: str  # the function's logical id
    authorizer: AuthorizerSpec | None  # None: public
    scopes: tuple[str, ...] = ()

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"

    @property
    def segments(self) -> list[str]:
        return self.path.strip("/").split("/") if self.path.strip("/") else []

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """Path parameters if this route answers `method path` (already percent-decoded), else None."""
        if self.method not in {"ANY", method.upper()}:
            return None
        if self.path == "$default":
            return {}
        wanted = self.segments
        given = path.strip("/").split("/") if path.strip("/") else []
        if path.endswith("/") and len(path) > 1 and not self.path.endswith("/"):
            return None
        params: dict[str, str] = {}
        for index, part in enumerate(wanted):
            if part.startswith("{") and part.endswith("+}"):
                rest = given[index:]
                if not rest or not all(rest):
                    return None
                params[part[1:-2]] = "/".join(rest)
                return params
            if index >= len(given):
                return None
            if part.startswith("{") and part.endswith("}"):
                if not given[index]:
                    return None
                params[part[1:-1]] = given[index]
            elif part != given[index]:
                return None
        return params if len(given) == len(wanted) else None

    def specificity(self) -> tuple[int, tuple[int, ...], int]:
        """Higher sorts first: concrete routes, then per segment literal > {param} > {greedy+}."""
        if self.path == "$default":
            return (0, (), 0)
        ranks = []
        for part in self.segments:
            if part.endswith("+}"):
                ranks.append(0)
            elif part.startswith("{"):
                ranks.append(1)
            else:
                ranks.append(2)
        return (1, tuple(ranks), 0 if self.method == "ANY" else 1)


@dataclass
class RouteTable:
    routes: list[Route]

    def __post_init__(self) -> None:
        self.routes.sort(key=lambda route: route.specificity(), reverse=True)

    @property
    def apis(self) -> list[ApiSpec]:
        seen: dict[str, ApiSpec] = {}
        for route in self.routes:
            seen.setdefault(route.api.logical_id, route.api)
        return list(seen.values())

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            params = route.match(method, path)
            if params is not None:
                return route, params
        return None

    def cors_for(self, path: str) -> CorsConfig | None:
        """The CORS configuration that applies: the API of a route with this path, else the only API."""
        for route in self.routes:
            probe = route.method if route.method != "ANY" else "GET"
            if route.match(probe, path) is not None and route.api.cors is not None:
                return route.api.cors
        configured = [api.cors for api in self.apis if api.cors is not None]
        return configured[0] if len(configured) == 1 else None


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return tuple(str(item) for item in value)
    return (str(value),)


def _cors(value: Any) -> CorsConfig | None:
    if value is None or value is False or str(value).lower() == "false":
        return None
    if value is True or str(value).lower() == "true":
        return CorsConfig(allow_origins=("*",), allow_methods=("*",), allow_headers=("*",))
    if not isinstance(value, dict):
        return None
    max_age = value.get("MaxAge")
    return CorsConfig(
        allow_origins=_strings(value.get("AllowOrigins")),
        allow_methods=tuple(method.upper() for method in _strings(value.get("AllowMethods"))),
        allow_headers=tuple(header.lower() for header in _strings(value.get("AllowHeaders"))),
        expose_headers=_strings(value.get("ExposeHeaders")),
        max_age=int(max_age) if max_age is not None else None,
        allow_credentials=str(value.get("AllowCredentials", False)).lower() == "true",
    )


_IDENTITY_PREFIXES = (
    ("Headers", "$request.header."),
    ("QueryStrings", "$request.querystring."),
    ("StageVariables", "$stageVariables."),
    ("Context", "$context."),
)


def _flag(value: Any) -> bool:
    return str(value).lower() == "true"


def _lambda_authorizer(
    name: str, spec: dict[str, Any], functions_by_arn: Mapping[str, str]
) -> LambdaAuthorizerSpec:
    arn = str(spec.get("FunctionArn"))
    function = functions_by_arn.get(arn)
    if function is None:
        log.warning(
            "authorizer %s: FunctionArn %s is not a function of the template; 500 on its routes", name, arn
        )
    identity = spec.get("Identity") or {}
    sources = list(_strings(spec.get("IdentitySource")))  # CloudFormation's own spelling
    for property_name, prefix in _IDENTITY_PREFIXES:  # SAM's Identity (what SAM turns into it)
        sources.extend(prefix + value for value in _strings(identity.get(property_name)))
    ttl = identity.get("ReauthorizeEvery", spec.get("AuthorizerResultTtlInSeconds", 0))
    return LambdaAuthorizerSpec(
        name=name,
        function=function,
        identity_sources=tuple(sources),
        payload_format=str(spec.get("AuthorizerPayloadFormatVersion", "2.0")),
        simple_responses=_flag(spec.get("EnableSimpleResponses", False)),
        ttl_seconds=int(ttl or 0),
    )


def _authorizer(name: str, spec: dict[str, Any], functions_by_arn: Mapping[str, str]) -> AuthorizerSpec:
    if "FunctionArn" in spec:
        return _lambda_authorizer(name, spec, functions_by_arn)
    jwt = spec.get("JwtConfiguration")
    source = spec.get("IdentitySource") or "$request.header.Authorization"
    if isinstance(source, list):
        source = source[0] if source else "$request.header.Authorization"
    header = str(source).removeprefix("$request.header.").lower()
    if not isinstance(jwt, dict):
        log.warning("authorizer %s is neither a JWT nor a Lambda authorizer; its routes are denied", name)
        return JwtAuthorizerSpec(name=name, issuer="", audience=(), identity_header=header, supported=False)
    issuer = jwt.get("issuer", jwt.get("Issuer", ""))
    audience = jwt.get("audience", jwt.get("Audience"))
    return JwtAuthorizerSpec(
        name=name, issuer=str(issuer), audience=_strings(audience), identity_header=header
    )


def build_api(
    logical_id: str,
    template: Template,
    resolver: Resolver,
    registry: ResourceRegistry,
    functions_by_arn: Mapping[str, str] | None = None,
) -> ApiSpec:
    resource = template.resources.get(logical_id)
    if resource is not None:
        props = resolver.resolve(resource.properties)
    else:  # SAM's implicit API takes its settings from Globals.HttpApi
        props = resolver.resolve(template.global_section("HttpApi"))
    api_id = str(registry.lookup(logical_id, None)) if resource is not None else local_api_id(logical_id)
    auth = props.get("Auth") or {}
    authorizers = {
        str(name): _authorizer(str(name), spec or {}, functions_by_arn or {})
        for name, spec in (auth.get("Authorizers") or {}).items()
    }
    default = auth.get("DefaultAuthorizer")
    if auth.get("EnableIamAuthorizer"):
        authorizers.setdefault("AWS_IAM", JwtAuthorizerSpec("AWS_IAM", "", (), supported=False))
    return ApiSpec(
        logical_id=logical_id,
        api_id=api_id,
        default_authorizer=str(default) if default else None,
        authorizers=authorizers,
        cors=_cors(props.get("CorsConfiguration")),
    )


def build_routes(
    functions: list[FunctionSpec], template: Template, resolver: Resolver, registry: ResourceRegistry
) -> RouteTable:
    apis: dict[str, ApiSpec] = {}
    routes = []
    by_arn = {function.arn: function.logical_id for function in functions}
    for function in functions:
        for event in function.http_events:
            if event.api not in apis:
                apis[event.api] = build_api(event.api, template, resolver, registry, by_arn)
            routes.append(_route(event, apis[event.api]))
    return RouteTable(routes)


def _route(event: HttpEvent, api: ApiSpec) -> Route:
    name = event.authorizer if event.authorizer is not None else api.default_authorizer
    authorizer: AuthorizerSpec | None = None
    if name is not None and name != PUBLIC:
        authorizer = api.authorizers.get(name)
        if authorizer is None:
            log.warning(
                "%s.%s: authorizer %s is not defined on %s; its requests will be denied",
                event.function,
                event.event_name,
                name,
                api.logical_id,
            )
            authorizer = JwtAuthorizerSpec(name=name, issuer="", audience=(), supported=False)
    return Route(
        api=api,
        method=event.method,
        path=event.path,
        function=event.function,
        authorizer=authorizer,
        scopes=event.scopes,
    )


__all__ = [
    "IMPLICIT_HTTP_API",
    "PUBLIC",
    "ApiSpec",
    "AuthorizerSpec",
    "CorsConfig",
    "JwtAuthorizerSpec",
    "LambdaAuthorizerSpec",
    "Route",
    "RouteTable",
    "build_routes",
]
