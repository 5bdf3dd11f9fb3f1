"""A create retried with the same `Idempotency-Key` gets the first answer (Powertools Idempotency).

Powertools is imported on first use: only a request that carries a key pays for it (~30 ms of
boto3), and importing a route module touches no AWS client. Each operation gets its own
idempotent function, so its records ("idempotency#<function>.<operation>#…") never mix with
another's, and the key is scoped to the caller: two callers may pick the same key.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

Compute = Callable[[dict[str, Any]], dict[str, Any]]


def once(
    operation: str, scope: str, key: str, body: dict[str, Any], lambda_context: Any, compute: Compute
) -> dict[str, Any]:
    """`compute(body)` the first time (scope, key) is seen; the stored answer on a retry with the
    same body; 422 for the key reused with another body; 409 while the first is in progress.
    `compute` answers JSON-ready data (a model's `model_dump(mode="json")`)."""
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    from tally.http import idempotency

    # Powertools reads the remaining time from the invocation's context (in-progress expiry).
    idempotency.config.register_lambda_context(lambda_context)
    request = {"scope": scope, "key": key, "body": body}
    try:
        return _idempotent(operation)(request=request, compute=compute)
    except (IdempotencyValidationError, IdempotencyAlreadyInProgressError) as exc:
        raise idempotency.translate(exc) from exc


@cache
def _idempotent(operation: str) -> Callable[..., dict[str, Any]]:
    from aws_lambda_powertools.utilities.idempotency import idempotent_function

    from tally.http import idempotency

    def run(request: dict[str, Any], compute: Compute) -> dict[str, Any]:
        return compute(request["body"])

    # Powertools names the records after the function: one name per operation.
    run.__name__ = run.__qualname__ = operation
    return idempotent_function(  # type: ignore[no-any-return]
        data_keyword_argument="request",
        config=idempotency.config,
        persistence_store=idempotency.persistence(),
    )(run)
