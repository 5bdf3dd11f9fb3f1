"""The cold-start subject, run by cold_start.py as a script in a fresh interpreter.

`python cold_child.py handler EVENT_JSON_PATH` imports tracking.app and serves one request;
`python cold_child.py baseline` only imports boto3 and creates a DynamoDB client. The clock
starts on the first line, before any import; the result is one `BENCH-RESULT {json}` line on
stdout (the handler also prints its EMF metrics there). Markers on stderr split the phases for
`-X importtime`. Nothing from benchmarks/ or tests/ is imported here: only what Lambda would.
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


def handler(event_path: str) -> dict[str, object]:
    _mark("import")
    import tracking.app

    imported = time.perf_counter()
    _mark("request")
    import json
    import types
    from typing import Any

    import botocore.client

    # Time spent inside DynamoDB calls (the round trips to moto), however the client was made.
    spent = [0.0]
    client_class: Any = botocore.client.BaseClient
    make_api_call = client_class._make_api_call

    def timed(client: Any, operation: str, params: dict[str, Any]) -> Any:
        started = time.perf_counter()
        try:
            return make_api_call(client, operation, params)
        finally:
            if client.meta.service_model.service_name == "dynamodb":
                spent[0] += time.perf_counter() - started

    client_class._make_api_call = timed

    with open(event_path, encoding="utf-8") as source:
        event = json.load(source)
    context = types.SimpleNamespace(
        function_name="tracking",
        memory_limit_in_mb=512,
        invoked_function_arn="arn:aws:lambda:eu-west-1:123456789012:function:tracking",
        aws_request_id="cold-start",
    )
    requested = time.perf_counter()
    answer = tracking.app.lambda_handler(event, context)
    served = time.perf_counter()
    _mark("done")
    return {
        "imported": imported,
        "requested": requested,
        "ready": served,
        "dynamodb_s": spent[0],
        "status": answer.get("statusCode"),
    }


def baseline() -> dict[str, object]:
    _mark("import")
    import boto3

    imported = time.perf_counter()
    _mark("request")
    boto3.client("dynamodb")
    ready = time.perf_counter()
    _mark("done")
    return {"imported": imported, "requested": imported, "ready": ready, "dynamodb_s": 0.0, "status": None}


def main() -> None:
    mode = sys.argv[1]
    result = handler(sys.argv[2]) if mode == "handler" else baseline()
    import json

    sys.stdout.write(f"\n{RESULT} {json.dumps({'t0': T0, **result})}\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
