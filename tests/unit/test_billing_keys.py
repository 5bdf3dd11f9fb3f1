"""The storage contract of plans and subscriptions (docs/billing.md "Storage"): the usage half
reads these keys exactly as spelled here."""

from __future__ import annotations

import pytest

from tally.storage import keys


def test_plan_and_version_keys() -> None:
    assert keys.plan("essential") == {"PK": {"S": "PLAN#essential"}, "SK": {"S": "PLAN"}}
    assert keys.plan_version("essential", 12) == {
        "PK": {"S": "PLAN#essential"},
        "SK": {"S": "VERSION#000012"},
    }
    assert keys.plan_index_sk(1, "essential") == "0001#essential"
    assert keys.PLANS_INDEX_PK == "PLANS"


def test_subscription_keys() -> None:
    assert keys.subscription("acc1", "sub_1") == {
        "PK": {"S": "ACCOUNT#acc1"},
        "SK": {"S": "SUBSCRIPTION#sub_1"},
    }
    assert keys.current_subscription("acc1") == {
        "PK": {"S": "ACCOUNT#acc1"},
        "SK": {"S": "SUBSCRIPTION#CURRENT"},
    }
    with pytest.raises(ValueError, match="CURRENT"):
        keys.subscription("acc1", "CURRENT")


def test_coupon_keys() -> None:
    assert keys.coupon("WELCOME10") == {"PK": {"S": "COUPON#WELCOME10"}, "SK": {"S": "COUPON"}}
    assert keys.coupon_account("WELCOME10", "acc1") == {
        "PK": {"S": "COUPON#WELCOME10"},
        "SK": {"S": "ACCOUNT#acc1"},
    }
    assert keys.redemption("WELCOME10", "red_1") == {
        "PK": {"S": "COUPON#WELCOME10"},
        "SK": {"S": "REDEMPTION#red_1"},
    }
    assert keys.COUPONS_INDEX_PK == "COUPONS"
