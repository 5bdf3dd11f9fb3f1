"""The cold-start subject, run by cold_start.py as a script in a fresh interpreter.

`python cold_child.py handler MODULE EVENT_JSON_PATH` imports MODULE (a function's app, as Lambda
imports its handler) and serves one request with its `lambda_handler`;
`python cold_child.py floor KEY_JSON_PATH` is the floor: it imports boto3, creates a DynamoDB
client and makes one GetItem on the billing table (`BILLING_TABLE_NAME`);
`python cold_child.py stack KEY_JSON_PATH` is the least an HTTP function on Tally's stack can
do: a Powertools resolver with validation, a Logger and a pydantic body model, whose one route
reads the same item through a botocore client. The clock starts on the
first line, before any import; the result is one `BENCH-RESULT {json}` line on stdout (handlers
also print their EMF metrics there). Markers on stderr split the phases for `-X importtime`.
Nothing from benchmarks/ or tests/ is imported here: only what Lambda would.
"""

from __future__ import annotations

import sys
import time

T0 = time.perf_counter()

MARK = "BENCH-PHASE"
RESULT = "BENCH-RESULT"


def _mark(phase: str) -> None:
    sys.stderr.write(f"{MARK} {phase}\n")
    sys.stderr.flush()


class _TimeAwsCalls:
    """Times what is spent inside AWS calls (round trips to moto) on any thread, however the
    clients were made. It wraps botocore's BaseClient._make_api_call as soon as botocore.client
    is imported (an entry of sys.meta_path that steps aside after that one module), so the
    measurement itself imports nothing the function would not."""

    # Annotated with `object` and reached through getattr: importing typing here would move its
    # import out of the function's own.

    def __init__(self) -> None:
        self.spent = 0.0
        sys.meta_path.insert(0, self)  # type: ignore[arg-type]

    def find_spec(self, name: str, path: object, target: object = None) -> object:
        if name != "botocore.client":
            return None
        sys.meta_path.remove(self)  # type: ignore[arg-type]
        spec = next(
            (found for finder in sys.meta_path if (found := finder.find_spec(name, path, target))),  # type: ignore[arg-type]
            None,
        )
        loader = getattr(spec, "loader", None)
        if loader is not None:
            execute = loader.exec_module

            def exec_module(module: object) -> None:
                execute(module)
                self._wrap(getattr(module, "BaseClient"))  # noqa: B009

            loader.exec_module = exec_module
        return spec

    def _wrap(self, client_class: object) -> None:
        make_api_call = getattr(client_class, "_make_api_call")  # noqa: B009

        def timed(client: object, operation: str, params: dict[str, object]) -> object:
            started = time.perf_counter()
            try:
                return make_api_call(client, operation, params)
            finally:
                self.spent += time.perf_counter() - started

        setattr(client_class, "_make_api_call", timed)  # noqa: B010


class _Context:
    """What Lambda's context object offers the handlers (Powertools reads these)."""

    function_name = "cold-start"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:cold-start"
    aws_request_id = "cold-start"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def handler(module_name: str, event_path: str) -> dict[str, object]:
    aws = _TimeAwsCalls()
    _mark("import")
    # __import__, as the `import` statement: importlib.import_module bypasses -X importtime's timer.
    __import__(module_name)
    app = sys.modules[module_name]

    imported = time.perf_counter()
    _mark("request")
    import json

    with open(event_path, encoding="utf-8") as source:
        event = json.load(source)
    requested = time.perf_counter()
    answer = app.lambda_handler(event, _Context())
    served = time.perf_counter()
    _mark("done")
    return {
        "imported": imported,
        "requested": requested,
        "ready": served,
        "aws_s": aws.spent,
        "status": _status(answer),
    }


def _status(answer: dict[str, object]) -> object:
    """An HTTP function's status; a Lambda authorizer's answer as the status API Gateway would
    give the request (200: it goes on to the route with a caller, 401 in words, 403 denied)."""
    if "isAuthorized" not in answer:
        return answer.get("statusCode")
    context = answer.get("context")
    kind = context.get("kind") if isinstance(context, dict) else None
    if not answer["isAuthorized"]:
        return 403
    return 401 if kind == "invalid_key" else 200


def floor(key_path: str) -> dict[str, object]:
    _mark("import")
    import boto3

    imported = time.perf_counter()
    _mark("request")
    import json
    import os

    with open(key_path, encoding="utf-8") as source:
        key = json.load(source)
    requested = time.perf_counter()
    client = boto3.client("dynamodb")
    started = time.perf_counter()
    answer = client.get_item(TableName=os.environ["BILLING_TABLE_NAME"], Key=key)
    ready = time.perf_counter()
    _mark("done")
    return {
        "imported": imported,
        "requested": requested,
        "ready": ready,
        "aws_s": ready - started,
        "status": 200 if "Item" in answer else 404,
    }


def stack(key_path: str) -> dict[str, object]:
    aws = _TimeAwsCalls()
    _mark("import")
    import os

    import botocore.session
    from aws_lambda_powertools import Logger
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
    from pydantic import BaseModel

    class Body(BaseModel):
        account_id: str

    logger = Logger()
    app = APIGatewayHttpResolver(enable_validation=True)

    def read(body: Body) -> dict[str, object]:
        client = botocore.session.get_session().create_client("dynamodb")
        answer = client.get_item(TableName=os.environ["BILLING_TABLE_NAME"], Key=key)  # type: ignore[attr-defined]
        return {"found": "Item" in answer, "account_id": body.account_id}

    # This module's annotations are strings (postponed) that Powertools would resolve in the
    # module's globals, where Body is not: give it the classes.
    read.__annotations__ = {"body": Body, "return": dict[str, object]}
    app.post("/v1/stack")(read)

    @logger.inject_lambda_context
    def lambda_handler(event: dict[str, object], context: object) -> dict[str, object]:
        return app.resolve(event, context)  # type: ignore[arg-type]

    imported = time.perf_counter()
    _mark("request")
    import json

    with open(key_path, encoding="utf-8") as source:
        key = json.load(source)
    event = {
        "version": "2.0",
        "routeKey": "POST /v1/stack",
        "rawPath": "/v1/stack",
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "http": {"method": "POST", "path": "/v1/stack", "sourceIp": "203.0.113.7"},
            "routeKey": "POST /v1/stack",
            "stage": "$default",
        },
        "body": json.dumps({"account_id": "acc_bench"}),
        "isBase64Encoded": False,
    }
    requested = time.perf_counter()
    answer = lambda_handler(event, _Context())
    ready = time.perf_counter()
    _mark("done")
    return {
        "imported": imported,
        "requested": requested,
        "ready": ready,
        "aws_s": aws.spent,
        "status": answer.get("statusCode"),
    }


def main() -> None:
    mode = sys.argv[1]
    if mode == "handler":
        result = handler(sys.argv[2], sys.argv[3])
    else:
        result = stack(sys.argv[2]) if mode == "stack" else floor(sys.argv[2])
    import json

    sys.stdout.write(f"\n{RESULT} {json.dumps({'t0': T0, **result})}\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
