"""The template's resources created in moto (mock_aws), with each function's environment.

Integration tests use the same loader as the local stack, so tables, indexes, streams and
the user pool are exactly what template.yaml declares.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import boto3
import requests
from moto.server import ThreadedMotoServer

from local import cognito_codes
from local.functions import FunctionSpec, build_functions
from local.intrinsics import Pseudo, Resolver, parameter_values
from local.mailbox import MAILBOX, install_ses_capture
from local.moto_dynamodb import install as install_moto_fixes
from local.resources import ResourceRegistry
from local.template import load_template
from tally.settings import get_settings
from tally.storage import clients

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"


@dataclass
class Stack:
    registry: ResourceRegistry
    functions: dict[str, FunctionSpec]

    def ref(self, logical_id: str) -> str:
        return str(self.registry.lookup(logical_id, None))

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION)  # type: ignore[call-overload]

    @contextmanager
    def environment(self, function: str) -> Iterator[None]:
        """The function's environment variables, as Lambda would set them."""
        saved = dict(os.environ)
        os.environ.update(self.functions[function].environment)
        get_settings.cache_clear()
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)
            get_settings.cache_clear()


@lru_cache(maxsize=1)
def moto_endpoint() -> str:
    """One moto server per test session (server mode: streams and JWKS work as in the local stack),
    with the local stack's DynamoDB fixes, so tests and the local stack see the same DynamoDB."""
    install_moto_fixes()
    cognito_codes.install()
    install_ses_capture()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    atexit.register(server.stop)
    return f"http://{host}:{port}"


@contextmanager
def moto_stack() -> Iterator[Stack]:
    saved = dict(os.environ)
    endpoint = moto_endpoint()
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION,
        AWS_ENDPOINT_URL=endpoint,
        POWERTOOLS_METRICS_NAMESPACE="Tally",
        MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP="true",
    )
    requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
    MAILBOX.clear()
    clients.reset_clients()
    template = load_template(ROOT / "template.yaml")
    pseudo = Pseudo(region=REGION)
    registry = ResourceRegistry(template, pseudo)
    resolver = Resolver(template, pseudo, parameter_values(template), registry.lookup)
    registry.create_all(resolver)
    functions = {spec.logical_id: spec for spec in build_functions(template, resolver, registry)}
    try:
        yield Stack(registry, functions)
    finally:
        clients.reset_clients()
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()


def stream_batch(stack: Stack, table_logical_id: str, after: str | None = None) -> list[dict[str, Any]]:
    """Every record of the table's stream (after a sequence number), shaped as Lambda delivers them."""
    streams = stack.client("dynamodbstreams")
    arn = stack.registry.lookup(table_logical_id, "StreamArn")
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator)
            if not page["Records"]:
                break
            for record in page["Records"]:
                change = dict(record["dynamodb"])
                change.pop("ApproximateCreationDateTime", None)
                records.append({**record, "dynamodb": change, "eventSourceARN": arn})
            iterator = page.get("NextShardIterator")
    if after is not None:
        records = [r for r in records if int(r["dynamodb"]["SequenceNumber"]) > int(after)]
    return records
