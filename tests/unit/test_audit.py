"""Audit records: the actor, the request's context, the stored item, the reader's cursor."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from tally.audit.context import context_from_event
from tally.audit.items import audit_item, record_of
from tally.audit.reader import AuditQuery, _plan, decode_cursor, encode_cursor
from tally.audit.records import Actor, AuditRecord, Change, changes_of
from tally.errors import InvalidInput
from tally.storage import keys
from tests.support.events import http_event
from tests.support.identity import api_key, user


def test_actors_say_who() -> None:
    assert str(Actor.of(user("sub-1"))) == "user:sub-1"
    assert Actor.of(user("sub-1")).email == "sub-1@example.com"
    assert str(Actor.of(api_key("acc_1", key_id="key_9"))) == "api_key:key_9"
    assert str(Actor.system("dunning")) == "system:dunning"
    assert str(Actor.provider("stripe")) == "provider:stripe"


def test_the_context_of_a_request() -> None:
    event = http_event(
        "POST", "/v1/x", headers={"X-Audit-Reason": "  Customer asked  "}, source_ip="198.51.100.77"
    )

    context = context_from_event(event, user("sub-1"))
    own_reason = context_from_event(event, user("sub-1"), reason="Unpaid")
    ipv6 = context_from_event(http_event("GET", "/", source_ip="2001:db8:1234:5678::1"), user())

    assert (context.request_id, context.ip_prefix, context.reason) == (
        "req-1",
        "198.51.100.0",
        "Customer asked",
    )
    assert own_reason.reason == "Unpaid"
    assert (ipv6.ip_prefix, ipv6.reason) == ("2001:db8:1234::", None)


def test_unchanged_fields_are_not_recorded() -> None:
    assert changes_of({"name": ("a", "b"), "phone": (None, None)}) == {"name": Change("a", "b")}


def test_a_record_survives_the_table() -> None:
    record = AuditRecord(
        id="aud_1",
        at=datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=UTC),
        actor=Actor("user", "sub-1", "jo@example.com"),
        action="member.role_changed",
        entity_type="member",
        entity_id="sub-2",
        account_id="acc_1",
        request_id="req-1",
        ip_prefix=None,
        reason=None,
        changes={"role": Change("admin", "owner"), "seats": Change(None, 3)},
    )

    item = audit_item(record)

    assert item["SK"] == {"S": "2026-11-20T10:00:00.123456Z#aud_1"}
    assert item["GSI2PK"] == {"S": "AUDIT#member#sub-2"}
    assert record_of(item) == record


def test_platform_records_have_their_own_partition() -> None:
    assert keys.audit_pk(None) == "AUDIT#_platform"


def test_cursors_cannot_leave_their_query() -> None:
    mine = _plan(AuditQuery(account_id="acc_1", entity=None))
    last = {"PK": {"S": "AUDIT#acc_1"}, "SK": {"S": "2026-11-20T10:00:00.000000Z#aud_1"}}
    cursor = encode_cursor(last)

    assert decode_cursor(cursor, mine) == last
    theirs = _plan(AuditQuery(account_id="acc_2", entity=None))
    forged = base64.urlsafe_b64encode(json.dumps({"PK": "ACCOUNT#acc_1", "SK": "PROFILE"}).encode()).decode()
    for bad, plan in ((cursor, theirs), ("not base64!", mine), (forged, mine), ("e30", mine)):
        with pytest.raises(InvalidInput) as refused:
            decode_cursor(bad, plan)
        assert refused.value.field == "cursor"
