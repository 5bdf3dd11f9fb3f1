from __future__ import annotations

import pytest

from tally.errors import Forbidden, NotAuthenticated
from tally.http.auth import Principal


@pytest.mark.parametrize(
    "groups",
    [
        "[platform-admin]",
        "[viewers platform-admin]",
        ["platform-admin"],
        '["platform-admin"]',
        "platform-admin",
    ],
)
def test_groups_in_every_shape_api_gateway_or_cognito_sends(groups: object) -> None:
    assert Principal.from_claims({"sub": "u", "cognito:groups": groups}).is_platform_admin


def test_a_tenant_sees_only_its_account() -> None:
    tenant = Principal.from_claims({"sub": "u", "custom:account_id": "acc_1"})

    tenant.require_account("acc_1")
    with pytest.raises(Forbidden):
        tenant.require_account("acc_2")
    with pytest.raises(Forbidden):
        tenant.require_platform_admin()


def test_platform_admin_sees_every_account() -> None:
    Principal.from_claims({"sub": "a", "cognito:groups": "[platform-admin]"}).require_account("acc_any")


def test_no_claims_is_not_authenticated() -> None:
    with pytest.raises(NotAuthenticated):
        Principal.from_claims({})
