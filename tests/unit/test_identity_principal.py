"""Who is calling, from either shape API Gateway hands over (docs/identity.md "Contracts")."""

from __future__ import annotations

from typing import Any

import pytest

from tally.errors import NotAuthenticated
from tally.identity.principal import Principal, parse_groups, principal_from_event, token_profile


def jwt_event(claims: dict[str, Any]) -> dict[str, Any]:
    return {"requestContext": {"authorizer": {"jwt": {"claims": claims, "scopes": None}}}}


def lambda_event(context: dict[str, Any]) -> dict[str, Any]:
    return {"requestContext": {"authorizer": {"lambda": context}}}


def test_a_user_from_the_jwt_authorizers_claims() -> None:
    principal = principal_from_event(
        jwt_event(
            {
                "sub": "abc",
                "email": "Jo@Example.com",
                "cognito:groups": "[platform-admin platform-manager]",
                "iat": "1790000000",
                "token_use": "id",
            }
        )
    )

    assert principal == Principal(
        kind="user",
        subject="abc",
        email="jo@example.com",
        groups=frozenset({"platform-admin", "platform-manager"}),
        account_id=None,
        scopes=frozenset(),
        issued_at=1_790_000_000,
    )
    assert principal.is_platform_admin
    assert principal.is_platform_manager


def test_a_user_from_the_lambda_authorizers_context() -> None:
    principal = principal_from_event(
        lambda_event(
            {
                "kind": "user",
                "sub": "abc",
                "email": "jo@example.com",
                "groups": "platform-manager",
                "iat": "5",
            }
        )
    )

    assert (principal.kind, principal.subject, principal.groups, principal.issued_at) == (
        "user",
        "abc",
        frozenset({"platform-manager"}),
        5,
    )
    assert not principal.is_platform_admin


def test_an_api_key_from_the_lambda_authorizers_context() -> None:
    principal = principal_from_event(
        lambda_event(
            {"kind": "api_key", "key_id": "key_1", "account_id": "acc_1", "scopes": "stats:read usage:write"}
        )
    )

    assert (principal.kind, principal.subject, principal.account_id, principal.scopes) == (
        "api_key",
        "key_1",
        "acc_1",
        frozenset({"stats:read", "usage:write"}),
    )
    assert principal.staff_groups == frozenset()


def test_an_unknown_or_revoked_key_is_401_in_words() -> None:
    with pytest.raises(NotAuthenticated) as refused:
        principal_from_event(lambda_event({"kind": "invalid_key", "reason": "This API key was revoked"}))
    assert refused.value.message == "This API key was revoked"
    assert refused.value.status_code == 401

    with pytest.raises(NotAuthenticated, match="unknown or was revoked"):
        principal_from_event(lambda_event({"kind": "invalid_key"}))


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"requestContext": {}},
        jwt_event({"email": "no-sub@example.com"}),
        jwt_event({"sub": "abc", "token_use": "access"}),
        lambda_event({"kind": "api_key", "key_id": "key_1"}),
        lambda_event({"kind": "something else", "sub": "abc"}),
    ],
)
def test_anything_else_is_not_a_caller(event: dict[str, Any]) -> None:
    with pytest.raises(NotAuthenticated):
        principal_from_event(event)


@pytest.mark.parametrize(
    ("raw", "groups"),
    [
        (None, set()),
        (["a", "b"], {"a", "b"}),
        ("[a b]", {"a", "b"}),
        ('["a","b"]', {"a", "b"}),
        ("a b", {"a", "b"}),
        ("[]", set()),
    ],
)
def test_groups_in_every_form_they_arrive(raw: Any, groups: set[str]) -> None:
    assert parse_groups(raw) == groups


def test_the_token_profile_is_read_from_the_id_token() -> None:
    event = jwt_event({"sub": "a", "name": "Jo", "locale": "fr", "phone_number": "+33612345678"})

    assert token_profile(event).name == "Jo"
    assert token_profile(event).locale == "fr"
    assert token_profile(event).phone == "+33612345678"
    assert token_profile(lambda_event({"kind": "user", "sub": "a"})).name is None
