"""Wire models of the signed-in user's own routes: /v1/me and signing out."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from tally.accounts.domain import AccountStatus
from tally.accounts.fields import NOT_NULL
from tally.accounts.profiles import Me
from tally.auth.models import Phone
from tally.http.fields import Name, WireModel
from tally.identity.roles import Role


class MembershipOut(WireModel):
    account_id: str
    name: str
    role: Role
    status: AccountStatus = Field(description="The account's status")


class MeOut(WireModel):
    id: str
    email: str
    name: str | None = None
    phone: str | None = None
    locale: Literal["en", "fr"] | None = Field(default=None, description="The language of Tally's emails")
    memberships: list[MembershipOut]


def me_out(me: Me) -> MeOut:
    profile = me.profile
    return MeOut(
        id=profile.user_id,
        email=profile.email,
        name=profile.name,
        phone=profile.phone,
        locale=profile.locale,
        memberships=[
            MembershipOut(
                account_id=view.account.id, name=view.account.name, role=view.role, status=view.account.status
            )
            for view in me.memberships
        ],
    )


class MePatchIn(WireModel):
    """The fields to change, at least one; `phone: null` removes the number."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "Jo Martin", "phone": "+33612345678", "locale": "fr"}],
            "minProperties": 1,
        },
    )

    name: Annotated[Name | SkipJsonSchema[None], NOT_NULL] = None
    phone: Phone | None = None
    locale: Annotated[Literal["en", "fr"] | SkipJsonSchema[None], NOT_NULL] = Field(
        default=None, description="The language of Tally's emails"
    )


class SignedOutOut(WireModel):
    signed_out_at: str
    message: str
