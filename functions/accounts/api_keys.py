"""API-key routes: an account's owners and admins create, list and revoke its keys for servers.

The secret is in the create answer only (`Cache-Control: no-store`) and is never logged; Tally
keeps its keyed hash. Creating and revoking are audited in the same transaction as the change.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from tally.apikeys.dynamo import DynamoApiKeyRepository
from tally.apikeys.models import ApiKeyCreatedOut, ApiKeyIn, ApiKeyListOut, ApiKeyOut, key_out
from tally.apikeys.service import ApiKeyService
from tally.audit.context import context_from_event
from tally.http.patterns import IDENTIFIER
from tally.http.responses import BODY, PRIVATE, responses
from tally.http.security import BEARER
from tally.identity.policy import Access, Permission
from tally.identity.principal import principal_from_event
from tally.identity.wiring import access_policy
from tally.parameters import SecretString
from tally.settings import get_settings
from tally.storage import clients

router = Router()

TAGS = ["api keys"]
NO_STORE = {"Cache-Control": "no-store"}
WHO = {
    403: "The caller is not an owner or admin of this account (platform admins may act on any)",
    404: "Unknown account (platform admins), or no such key in this account",
}

AccountId = Annotated[str, Path(min_length=1, max_length=64, pattern=IDENTIFIER)]
KeyId = Annotated[str, Path(min_length=1, max_length=64, pattern=IDENTIFIER)]


@lru_cache(maxsize=1)
def service() -> ApiKeyService:
    settings = get_settings()
    repository = DynamoApiKeyRepository(clients.on_first_use(clients.dynamodb), settings.billing_table_name)
    # Read from Secrets Manager on the first create, then cached.
    pepper = SecretString(settings.api_key_pepper_secret_arn, "API_KEY_PEPPER_SECRET_ARN")
    return ApiKeyService(repository, pepper)


def _authorize(account_id: str) -> Access:
    """Owners and admins (api_keys:write), for listing too: a key's name and scopes are theirs."""
    principal = principal_from_event(router.current_event)
    return access_policy().authorize(principal, Permission.API_KEYS_WRITE, account_id)


def _created_responses() -> dict[int, OpenAPIResponse]:
    documented = responses(201, "Created: the key and its secret, shown once", (*PRIVATE, *BODY, 404), WHO)
    documented[201]["headers"] = {
        "Cache-Control": {
            "description": "`no-store`: the secret is kept by no cache",
            "schema": {"type": "string"},
        }
    }
    return documented


@router.post(
    "/v1/accounts/<account_id>/api-keys",
    summary="Create an API key (owner or admin)",
    description=(
        "Answers the key's secret (`tally_sk_…`) this once: store it where your server reads it and "
        "send it as `Authorization: Bearer <secret>`. Tally keeps only a keyed hash and the prefix."
    ),
    tags=TAGS,
    security=BEARER,
    status_code=201,
    responses=_created_responses(),
)
def create_api_key(account_id: AccountId, body: ApiKeyIn) -> Response[ApiKeyCreatedOut]:
    access = _authorize(account_id)
    created = service().create(
        access.account_id, body.name, body.scopes, context_from_event(router.current_event, access.principal)
    )
    answer = ApiKeyCreatedOut(**key_out(created.key).model_dump(), secret=created.secret)
    return Response(
        status_code=201, content_type=content_types.APPLICATION_JSON, body=answer, headers=NO_STORE
    )


@router.get(
    "/v1/accounts/<account_id>/api-keys",
    summary="List an account's API keys (owner or admin)",
    description="Never their secrets. `last_used_at` is kept to the minute at most.",
    tags=TAGS,
    security=BEARER,
    responses=responses(200, "The account's keys, newest first", (*PRIVATE, 404, 422), WHO),
)
def list_api_keys(account_id: AccountId) -> ApiKeyListOut:
    access = _authorize(account_id)
    return ApiKeyListOut(api_keys=[key_out(key) for key in service().list(access.account_id)])


@router.delete(
    "/v1/accounts/<account_id>/api-keys/<key_id>",
    summary="Revoke an API key (owner or admin)",
    description=(
        "The key stops working within 60 seconds. Revoking a revoked key answers the same, and "
        "changes nothing."
    ),
    tags=TAGS,
    security=BEARER,
    responses=responses(200, "The key, revoked", (*PRIVATE, 404, 422), WHO),
)
def revoke_api_key(account_id: AccountId, key_id: KeyId) -> ApiKeyOut:
    access = _authorize(account_id)
    context = context_from_event(router.current_event, access.principal)
    return key_out(service().revoke(access.account_id, key_id, context))
