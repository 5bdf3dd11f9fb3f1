"""Field types of the tenancy API: each constraint is in the schema and checked with words."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from tally.http.fields import checked
from tally.http.patterns import VISIBLE_TEXT

DOMAIN = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$"
TOKEN = r"^[A-Za-z0-9_-]{43}$"  # noqa: S105 - a pattern: secrets.token_urlsafe(32)
PUBLIC_ID = r"^[a-z]{2,3}_[0-9a-f]{32}$"
USER_ID = r"^[A-Za-z0-9-]{1,64}$"  # a Cognito sub


def _not_null(value: Any) -> Any:
    """A field one may leave out but not send as null (the schema does not allow null)."""
    if value is None:
        raise ValueError("Leave this field out rather than sending null")
    return value


NOT_NULL = BeforeValidator(_not_null)

Domain = Annotated[
    str,
    Field(
        min_length=3,
        max_length=253,
        description="An email domain in lower case, e.g. dupont.fr (verified by a platform admin)",
        json_schema_extra={"pattern": DOMAIN},
    ),
    AfterValidator(checked(DOMAIN, "Expected a domain in lower case, such as dupont.fr")),
]
Reason = Annotated[
    str,
    Field(
        min_length=1,
        max_length=500,
        pattern=VISIBLE_TEXT,
        description="Why, in words (kept in the audit trail)",
    ),
]
InvitationToken = Annotated[
    str,
    Field(
        min_length=43,
        max_length=43,
        description="The `token` of the invitation link",
        json_schema_extra={"pattern": TOKEN},
    ),
    AfterValidator(checked(TOKEN, "Send the token exactly as the invitation link holds it")),
]
