"""Wire models of the API-key routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field

from tally.apikeys.domain import ApiKey
from tally.apikeys.scopes import SCOPES, Scope
from tally.http.fields import Name, WireModel


def _each_once(scopes: list[Scope]) -> list[Scope]:
    if len(set(scopes)) != len(scopes):
        raise ValueError("Name each scope once")
    return scopes


Scopes = Annotated[
    list[Scope],
    Field(min_length=1, max_length=len(SCOPES), json_schema_extra={"uniqueItems": True}),
    AfterValidator(_each_once),
]


class ApiKeyIn(WireModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "billing server", "scopes": ["usage:write", "stats:read"]}]}
    )

    name: Annotated[Name, Field(max_length=100, description="What the key is for, e.g. 'billing server'")]
    scopes: Annotated[
        Scopes,
        Field(
            description=(
                "What the key may do: `usage:write`, `usage:read`, `stats:read`, `billing:read` "
                "(each grants the permission of the same name, in this account only)"
            )
        ),
    ]


class ApiKeyOut(WireModel):
    id: str
    name: str
    prefix: Annotated[str, Field(description="The key's first characters, to tell keys apart")]
    scopes: list[Scope]
    created_at: datetime
    last_used_at: Annotated[
        datetime | None, Field(description="When the key last worked (kept to the minute, at most)")
    ] = None
    revoked_at: datetime | None = None


class ApiKeyCreatedOut(ApiKeyOut):
    secret: Annotated[
        str,
        Field(
            description=(
                "The key itself (`tally_sk_…`), shown this once: Tally keeps only a keyed hash. "
                "Send it as `Authorization: Bearer <secret>`."
            )
        ),
    ]


class ApiKeyListOut(WireModel):
    api_keys: Annotated[list[ApiKeyOut], Field(description="Newest first, revoked keys included")]


def key_out(key: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(
        id=key.id,
        name=key.name,
        prefix=key.prefix,
        scopes=[scope for scope in SCOPES if scope in key.scopes],
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
    )
