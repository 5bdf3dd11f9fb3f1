"""The core's DynamoDB and Cognito adapters against moto: transactions, the policy's reads, the audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tally.audit.reader import AuditQuery, AuditReader
from tally.audit.records import Actor, AuditContext
from tally.clock import FixedClock
from tally.identity.cognito import CognitoMfaSettings
from tally.identity.dynamo import DynamoAccountStates, DynamoUserRecords
from tally.identity.ports import AccountState
from tally.identity.roles import Role
from tally.storage import clients, keys
from tally.storage.items import to_item
from tally.storage.transaction import Transaction, TransactionRefused
from tests.support.stack import Stack
from tests.support.totp import current_code

CONTEXT = AuditContext(Actor("user", "sub-1", "jo@example.com"), "req-1", "203.0.113.0", None)
START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def table(stack: Stack) -> str:
    return stack.ref("BillingTable")


def items(stack: Stack) -> list[dict[str, Any]]:
    return list(clients.dynamodb().scan(TableName=table(stack))["Items"])


def write_account(stack: Stack, account: str, at: datetime = START, **values: Any) -> Transaction:
    transaction = Transaction(table(stack), CONTEXT, FixedClock(at))
    transaction.put(
        keys.account(account) | to_item({"kind": "account", "id": account, **values}),
        condition="attribute_not_exists(PK)",
        label="account",
    )
    transaction.audit(
        "account.created", "account", account, account_id=account, changes={"status": (None, "pending")}
    )
    transaction.commit(clients.dynamodb())
    return transaction


def test_a_refused_condition_writes_neither_the_change_nor_its_record(stack: Stack) -> None:
    write_account(stack, "acc_1", owner_count=1)
    before = items(stack)

    again = Transaction(table(stack), CONTEXT)
    again.put(keys.siren_claim("732829320") | to_item({"account_id": "acc_1"}), label="siren")
    again.put(
        keys.account("acc_1") | to_item({"kind": "account"}),
        condition="attribute_not_exists(PK)",
        label="account",
    )
    again.audit("account.created", "account", "acc_1", account_id="acc_1")
    with pytest.raises(TransactionRefused) as refused:
        again.commit(clients.dynamodb())

    refusal = refused.value.refused("account")
    assert refusal is not None
    assert refusal.old is not None
    assert refusal.old["owner_count"] == 1
    assert refused.value.refused("siren") is None
    assert items(stack) == before


def test_the_users_partition_and_the_accounts_status(stack: Stack) -> None:
    client = clients.dynamodb()
    signed_out = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    for item in (
        keys.user_profile("sub-1") | to_item({"kind": "user", "signed_out_at": signed_out.isoformat()}),
        keys.membership("sub-1", "acc_1")
        | to_item({"kind": "membership", "account_id": "acc_1", "role": "owner"}),
        keys.membership("sub-1", "acc_2")
        | to_item({"kind": "membership", "account_id": "acc_2", "role": "viewer"}),
        keys.user_join_request("sub-1", "acc_3") | to_item({"kind": "join_mirror", "account_id": "acc_3"}),
        keys.account("acc_1")
        | to_item({"kind": "account", "status": "suspended", "status_reason": "Unpaid"}),
        keys.account("acc_old") | to_item({"kind": "account"}),
    ):
        client.put_item(TableName=table(stack), Item=item)

    record = DynamoUserRecords(client, table(stack)).user_record("sub-1")
    states = DynamoAccountStates(client, table(stack))

    assert record.memberships == {"acc_1": Role.OWNER, "acc_2": Role.VIEWER}
    assert record.signed_out_at == signed_out
    assert DynamoUserRecords(client, table(stack)).user_record("sub-new").memberships == {}
    assert states.state("acc_1") == AccountState("suspended", "Unpaid")
    assert states.state("acc_old") == AccountState("active", None)  # stored before statuses existed
    assert states.state("acc_nobody") is None


def test_totp_is_read_from_cognitos_admin_api(stack: Stack) -> None:
    pool, client_id = stack.ref("UserPool"), stack.ref("UserPoolClient")
    cognito = stack.client("cognito-idp")
    subs = {}
    for email in ("on@example.com", "off@example.com"):
        created = cognito.admin_create_user(UserPoolId=pool, Username=email, MessageAction="SUPPRESS")
        subs[email] = next(a["Value"] for a in created["User"]["Attributes"] if a["Name"] == "sub")
        cognito.admin_set_user_password(
            UserPoolId=pool, Username=email, Password="Correct-Horse-9!", Permanent=True
        )
    signed_in = cognito.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "on@example.com", "PASSWORD": "Correct-Horse-9!"},
    )
    access = signed_in["AuthenticationResult"]["AccessToken"]
    secret = cognito.associate_software_token(AccessToken=access)["SecretCode"]
    cognito.verify_software_token(AccessToken=access, UserCode=current_code(secret))
    cognito.admin_set_user_mfa_preference(
        UserPoolId=pool,
        Username="on@example.com",
        SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True},
    )

    settings = CognitoMfaSettings(clients.cognito(), pool)

    assert settings.totp_enabled(subs["on@example.com"]) is True
    assert settings.totp_enabled(subs["off@example.com"]) is False
    assert settings.totp_enabled("no-such-user") is False


def test_the_audit_newest_first_by_pages_of_fixed_size(stack: Stack) -> None:
    for minute in range(7):
        write_account(stack, f"acc_{minute}", START + timedelta(minutes=minute))
    for minute in range(3):  # one account's changes
        transaction = Transaction(table(stack), CONTEXT, FixedClock(START + timedelta(minutes=10 + minute)))
        transaction.update(
            keys.account("acc_0"), "SET #n = :n", names={"#n": "name"}, values={":n": f"v{minute}"}
        )
        transaction.audit("account.updated", "account", "acc_0", account_id="acc_0")
        transaction.commit(clients.dynamodb())
    reader = AuditReader(clients.dynamodb(), table(stack))

    every: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = reader.page(AuditQuery(account_id=None, entity=None, cursor=cursor, limit=4))
        every += [record.entity_id for record in page.records]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    account = reader.page(AuditQuery(account_id="acc_0", entity=None, limit=10))
    entity = reader.page(AuditQuery(account_id=None, entity=("account", "acc_0"), limit=10))
    elsewhere = reader.page(AuditQuery(account_id="acc_5", entity=("account", "acc_0"), limit=10))
    window = reader.page(
        AuditQuery(
            account_id=None,
            entity=None,
            start=START + timedelta(minutes=2),
            end=START + timedelta(minutes=4),
            limit=10,
        )
    )

    assert every == ["acc_0"] * 3 + [f"acc_{minute}" for minute in reversed(range(7))]
    assert pages == 3
    assert [r.action for r in account.records] == ["account.updated"] * 3 + ["account.created"]
    assert [r.at for r in entity.records] == [r.at for r in account.records]
    assert elsewhere.records == []
    assert [r.entity_id for r in window.records] == ["acc_4", "acc_3", "acc_2"]
