"""The HTTP API emulation: route, authorise (JWT or Lambda authorizer), build the v2 event,
invoke, answer.

`Gateway.handle` is the whole request path and takes a plain `HttpRequest`, so tests can drive
it without a socket; `GatewayServer` is the stdlib threading server that feeds it, one thread
per connection, so requests are served concurrently. A request whose framing is broken (a
Content-Length that is not a number, a bad chunk) gets 400 and the connection is closed, as API
Gateway does; a function that runs past its Timeout answers 504 at the Timeout.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from local.authorizer import Authorization, ForbiddenError, JwtAuthorizer, UnauthorizedError
from local.errors import InvocationError, InvocationThrottled, InvocationTimeout
from local.events import HttpRequest, HttpResult, build_http_event, new_request_id
from local.invoker import Invoker
from local.lambda_authorizer import AuthorizerFailed, LambdaAuthorization, LambdaAuthorizers
from local.routes import CorsConfig, LambdaAuthorizerSpec, Route, RouteTable

log = logging.getLogger("local.gateway")

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
MAX_LINE_BYTES = 8192  # a chunk-size or trailer line longer than this is not one
IDLE_TIMEOUT_S = 60  # a connection silent this long (between or inside requests) is closed
CONTROL_PREFIX = "/_local/"
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")

ControlHandler = Callable[[HttpRequest], HttpResult]


def not_found() -> HttpResult:
    return HttpResult.json(404, {"message": "Not Found"})


class Gateway:
    def __init__(
        self,
        routes: RouteTable,
        invoker: Invoker,
        authorizer: JwtAuthorizer,
        *,
        control: ControlHandler | None = None,
        clock: Callable[[], datetime] | None = None,
        after_invoke: Callable[[], None] | None = None,
    ) -> None:
        self.routes = routes
        self.invoker = invoker
        self.authorizer = authorizer
        self.control = control
        self.clock = clock or (lambda: datetime.now(UTC))
        # Called after every handler run: the stack wakes the stream pollers (it may have written).
        self.after_invoke = after_invoke
        # Route ARNs (what a Lambda authorizer's policy names) carry the stack's region.
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "eu-west-1"
        self.lambda_authorizers = LambdaAuthorizers(invoker.invoke, self.clock, region=region)

    def handle(self, request: HttpRequest) -> HttpResult:
        started = time.monotonic()
        request_id = new_request_id()
        result, target = self._handle(request, request_id)
        result.headers.append(("apigw-requestid", request_id))
        if not request.raw_path.startswith(CONTROL_PREFIX):
            self._add_cors(request, result)
        elapsed_ms = (time.monotonic() - started) * 1000
        arrow = f" -> {target}" if target else ""
        log.info("%s %s %d%s (%.0f ms)", request.method, request.target, result.status, arrow, elapsed_ms)
        return result

    def _handle(self, request: HttpRequest, request_id: str) -> tuple[HttpResult, str]:
        if request.raw_path.startswith(CONTROL_PREFIX) and self.control is not None:
            return self.control(request), ""
        preflight = self._preflight(request)
        if preflight is not None:
            return preflight, ""
        if len(request.body) > MAX_BODY_BYTES:
            return HttpResult.json(413, {"message": "Request Entity Too Large"}), ""
        found = self.routes.match(request.method, request.path)
        if found is None:
            return not_found(), ""
        route, path_parameters = found
        authorization: Authorization | None = None
        lambda_authorization: LambdaAuthorization | None = None
        try:
            if isinstance(route.authorizer, LambdaAuthorizerSpec):
                lambda_authorization = self.lambda_authorizers.authorize(
                    route.authorizer, request, route, path_parameters, request_id
                )
            elif route.authorizer is not None:
                headers = {key.lower(): value for key, value in request.headers}
                authorization = self.authorizer.authorize(route.authorizer, headers, route.scopes)
        except UnauthorizedError as exc:
            log.debug("401 on %s: %s", route.route_key, exc)
            return HttpResult.json(401, {"message": "Unauthorized"}, [("www-authenticate", "Bearer")]), ""
        except ForbiddenError:
            return HttpResult.json(403, {"message": "Forbidden"}), ""
        except AuthorizerFailed as exc:
            log.error("500 on %s: %s", route.route_key, exc)
            return HttpResult.json(500, {"message": "Internal Server Error"}), ""
        event = build_http_event(
            request,
            route_key=route.route_key,
            api_id=route.api.api_id,
            path_parameters=path_parameters,
            authorization=authorization,
            request_id=request_id,
            now=self.clock(),
        )
        if lambda_authorization is not None:
            event["requestContext"]["authorizer"] = {"lambda": lambda_authorization.context}
        return self._invoke(route, event, request_id), route.function

    def _invoke(self, route: Route, event: dict[str, Any], request_id: str) -> HttpResult:
        try:
            response = self.invoker.invoke(route.function, event)
        except InvocationTimeout as exc:
            self._after_invoke()
            return HttpResult.json(
                504, {"message": "Endpoint request timed out", "localStackError": exc.message}
            )
        except InvocationThrottled:
            return HttpResult.json(503, {"message": "Service Unavailable"})
        except InvocationError as exc:
            self._after_invoke()
            body: dict[str, Any] = {"message": "Internal Server Error"}
            if exc.during_import:
                # Not what API Gateway says, but the one thing a developer needs to see locally.
                body["localStackError"] = exc.message
            return HttpResult.json(500, body)
        self._after_invoke()
        try:
            return HttpResult.from_lambda(response)
        except (TypeError, ValueError) as exc:
            log.error("%s returned a response API Gateway cannot map: %s", route.function, exc)
            return HttpResult.json(500, {"message": "Internal Server Error"})

    def _after_invoke(self) -> None:
        if self.after_invoke is not None:
            self.after_invoke()

    # -- CORS ---------------------------------------------------------------------------------

    def _preflight(self, request: HttpRequest) -> HttpResult | None:
        origin = request.header("origin")
        requested_method = request.header("access-control-request-method")
        if request.method.upper() != "OPTIONS" or not origin or not requested_method:
            return None
        cors = self.routes.cors_for(request.path)
        if cors is None:
            return None
        result = HttpResult(204)
        if not cors.origin_allowed(origin):
            return result
        methods = cors.allow_methods or ("*",)
        if "*" not in methods and requested_method.upper() not in methods:
            return result
        result.headers.append(("access-control-allow-origin", cors.allow_origin_value(origin)))
        result.headers.append(("access-control-allow-methods", ",".join(methods)))
        requested_headers = request.header("access-control-request-headers")
        if cors.allow_headers:
            allowed = (
                requested_headers
                if "*" in cors.allow_headers and requested_headers
                else ",".join(cors.allow_headers)
            )
            result.headers.append(("access-control-allow-headers", allowed))
        if cors.max_age is not None:
            result.headers.append(("access-control-max-age", str(cors.max_age)))
        if cors.allow_credentials:
            result.headers.append(("access-control-allow-credentials", "true"))
        return result

    def _add_cors(self, request: HttpRequest, result: HttpResult) -> None:
        origin = request.header("origin")
        if not origin or result.header("access-control-allow-origin") is not None:
            return
        cors: CorsConfig | None = self.routes.cors_for(request.path)
        if cors is None or not cors.origin_allowed(origin):
            return
        result.headers.append(("access-control-allow-origin", cors.allow_origin_value(origin)))
        if cors.expose_headers:
            result.headers.append(("access-control-expose-headers", ",".join(cors.expose_headers)))
        if cors.allow_credentials:
            result.headers.append(("access-control-allow-credentials", "true"))


class BadRequestError(Exception):
    """The request's framing is broken: answered 400, and the connection closed."""


class _RequestHandler(BaseHTTPRequestHandler):
    server: GatewayServer
    protocol_version = "HTTP/1.1"
    server_version = "TallyLocal"
    sys_version = ""
    timeout = IDLE_TIMEOUT_S  # a stalled client costs a thread for this long at most

    def _content_length(self) -> int:
        values = {
            value.strip()
            for header in self.headers.get_all("Content-Length") or []
            for value in header.split(",")
        }
        if not values:
            return 0
        if len(values) > 1:
            raise BadRequestError("conflicting Content-Length values")
        (text,) = values
        if not (text.isascii() and text.isdigit()):
            raise BadRequestError(f"Content-Length {text!r} is not a number")
        return int(text)

    def _line(self) -> bytes:
        line = self.rfile.readline(MAX_LINE_BYTES + 1)
        if not line.endswith(b"\n"):
            raise BadRequestError("the chunked body ends early or has an over-long line")
        return line

    def _read_chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        total = 0
        while True:
            size_text = self._line().split(b";", 1)[0].strip()
            if not size_text or not set(size_text) <= _HEX_DIGITS:
                raise BadRequestError(f"bad chunk size {size_text[:20]!r}")
            size = int(size_text, 16)
            if size == 0:
                while self._line() not in (b"\r\n", b"\n"):  # trailers, then the blank line
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                return None
            data = self.rfile.read(size)
            if len(data) < size or self._line() not in (b"\r\n", b"\n"):
                raise BadRequestError("a chunk is shorter than its size")
            chunks.append(data)

    def _read_body(self) -> bytes | None:
        """The body (None: too large); BadRequestError when its framing is broken."""
        encodings = [
            part.strip().lower()
            for header in self.headers.get_all("Transfer-Encoding") or []
            for part in header.split(",")
            if part.strip()
        ]
        if encodings:
            if encodings[-1] != "chunked":
                raise BadRequestError(f"unsupported Transfer-Encoding {', '.join(encodings)}")
            if self.headers.get("Content-Length") is not None:  # both: a smuggling attempt or a bug
                raise BadRequestError("both Transfer-Encoding and Content-Length")
            return self._read_chunked()
        length = self._content_length()
        if length > MAX_BODY_BYTES:
            return None
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            raise BadRequestError("the body is shorter than its Content-Length")
        return body

    def _serve(self) -> None:
        started = time.monotonic()
        try:
            body = self._read_body()
        except BadRequestError as exc:
            log.info("%s %s 400: %s", self.command, self.path, exc)
            self.close_connection = True
            self._write(HttpResult.json(400, {"message": "Bad Request"}))
            return
        if body is None:
            self.close_connection = True
            self._write(HttpResult.json(413, {"message": "Request Entity Too Large"}))
            return
        request = HttpRequest(
            method=self.command,
            target=self.path,
            headers=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
            protocol=self.request_version,
            server_port=self.server.server_address[1],
        )
        try:
            result = self.server.gateway.handle(request)
        except Exception:
            log.exception("the local gateway failed on %s %s", self.command, self.path)
            result = HttpResult.json(500, {"message": "Internal Server Error"})
        self._write(result)
        elapsed_ms = (time.monotonic() - started) * 1000
        log.debug("%s %s served in %.0f ms", self.command, self.path, elapsed_ms)

    def _write(self, result: HttpResult) -> None:
        self.send_response_only(
            result.status, HTTPStatus(result.status).phrase if _known(result.status) else ""
        )
        self.send_header("Date", self.date_time_string())
        names = {key.lower() for key, _ in result.headers}
        for key, value in result.headers:
            if key.lower() not in {"content-length", "connection", "transfer-encoding"}:
                self.send_header(key, value)
        if "content-type" not in names and result.body:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(result.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and result.body:
            self.wfile.write(result.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are logged by the gateway in one line; the stdlib's access log stays quiet."""

    def __getattr__(self, name: str) -> Any:
        """Every method (`do_GET`, `do_POST`, ... any verb) goes through the gateway."""
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)


def _known(status: int) -> bool:
    try:
        HTTPStatus(status)
    except ValueError:
        return False
    return True


class GatewayServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # the listen backlog: 50 clients connecting at once are all accepted

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-request is no error of ours; anything else is logged."""
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        log.exception("the local gateway failed serving %s", client_address)

    def __init__(self, host: str, port: int, gateway: Gateway | None = None) -> None:
        super().__init__((host, port), _RequestHandler)
        self._gateway = gateway

    @property
    def gateway(self) -> Gateway:
        if self._gateway is None:
            raise RuntimeError("the gateway is not ready")
        return self._gateway

    @gateway.setter
    def gateway(self, gateway: Gateway) -> None:
        self._gateway = gateway

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"
