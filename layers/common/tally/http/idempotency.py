"""Client retries of a create are answered with the first answer (Powertools Idempotency).

A client sends `Idempotency-Key: <unique>`; the key is scoped to the caller, records live in
the billing table for 24 hours, and reusing a key with another body is refused.
"""

from __future__ import annotations

from functools import lru_cache

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from tally.errors import Conflict, DomainError
from tally.settings import get_settings
from tally.storage import clients

IDEMPOTENCY_HEADER = "idempotency-key"

# The data handed to an idempotent function is {"scope", "key", "body"}: the caller and its key
# identify the request; the body must match on a retry.
config = IdempotencyConfig(
    event_key_jmespath="[scope, key]",
    payload_validation_jmespath="body",
    raise_on_no_idempotency_key=True,
    expires_after_seconds=24 * 3600,
)


@lru_cache(maxsize=1)
def persistence() -> DynamoDBPersistenceLayer:
    return DynamoDBPersistenceLayer(
        table_name=get_settings().billing_table_name,
        key_attr="PK",
        sort_key_attr="SK",
        expiry_attr="ttl",
        boto3_client=clients.dynamodb(),
    )


class IdempotencyKeyReused(DomainError):
    status_code = 422
    code = "idempotency_key_reused"


def translate(exc: Exception) -> DomainError:
    if isinstance(exc, IdempotencyValidationError):
        return IdempotencyKeyReused(
            "This Idempotency-Key was already used with a different body", field=IDEMPOTENCY_HEADER
        )
    if isinstance(exc, IdempotencyAlreadyInProgressError):
        return Conflict("A request with this Idempotency-Key is still in progress; retry shortly")
    raise exc
