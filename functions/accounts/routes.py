"""Accounts API routes: create and read accounts."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Annotated, Any, cast

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Header, Path

from tally.accounts.dynamo import DynamoAccountRepository
from tally.accounts.models import AccountIn, AccountOut
from tally.accounts.service import AccountService, account_out
from tally.http.auth import principal_from_event
from tally.http.patterns import IDENTIFIER
from tally.http.responses import BODY, PRIVATE, responses
from tally.settings import get_settings
from tally.storage import clients

router = Router()

BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]


@lru_cache(maxsize=1)
def service() -> AccountService:
    settings = get_settings()
    return AccountService(
        accounts=DynamoAccountRepository(clients.on_first_use(clients.dynamodb), settings.billing_table_name),
    )


@router.post(
    "/v1/accounts",
    summary="Create an account (platform admin)",
    tags=["accounts"],
    security=BEARER,
    status_code=201,
    responses=responses(
        201,
        "Created (or, for a retry with the same Idempotency-Key and body, the first answer)",
        (*PRIVATE, *BODY, 409),
        {
            409: "The SIREN or SIRET already belongs to an account, or a request with this "
            "Idempotency-Key is still in progress",
            422: "Invalid input, or an Idempotency-Key reused with a different body",
        },
    ),
)
def create_account(
    body: AccountIn,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="idempotency-key",
            min_length=1,
            max_length=255,
            description="Retries with the same key return the first answer instead of a second account",
        ),
    ] = None,
) -> AccountOut:
    principal = principal_from_event(router.current_event)
    principal.require_platform_admin()
    if idempotency_key is None:
        return account_out(service().create(body))
    # Imported here: Powertools Idempotency loads boto3 (~30 ms), which only a create that carries
    # an Idempotency-Key needs.
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    from tally.http import idempotency

    # Powertools reads the remaining time from the invocation's context (in-progress expiry).
    idempotency.config.register_lambda_context(router.lambda_context)
    request = {"scope": principal.subject, "key": idempotency_key, "body": body.model_dump()}
    try:
        created = _create_once()(request=request)
    except (IdempotencyValidationError, IdempotencyAlreadyInProgressError) as exc:
        raise idempotency.translate(exc) from exc
    return AccountOut.model_validate(created)


@lru_cache(maxsize=1)
def _create_once() -> Callable[..., dict[str, Any]]:
    """The idempotent create, built on first use so importing the module touches no AWS client
    and loads no Powertools Idempotency."""
    from aws_lambda_powertools.utilities.idempotency import idempotent_function

    from tally.http import idempotency

    @idempotent_function(
        data_keyword_argument="request",
        config=idempotency.config,
        persistence_store=idempotency.persistence(),
    )
    def create(request: dict[str, Any]) -> dict[str, Any]:
        return account_out(service().create(AccountIn.model_validate(request["body"]))).model_dump()

    return cast(Callable[..., dict[str, Any]], create)


@router.get(
    "/v1/accounts/<account_id>",
    summary="Read an account",
    tags=["accounts"],
    security=BEARER,
    responses=responses(200, "The account", (*PRIVATE, 404, 422)),
)
def get_account(
    account_id: Annotated[str, Path(min_length=1, max_length=64, pattern=IDENTIFIER)],
) -> AccountOut:
    principal_from_event(router.current_event).require_account(account_id)
    return account_out(service().get(account_id))
