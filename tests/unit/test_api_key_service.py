"""Creating, listing and revoking keys: what is kept, what is shown once, what is audited."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tally import clock
from tally.apikeys.secret import is_well_formed, key_hash
from tally.apikeys.service import ApiKeyService
from tally.audit.records import Actor, AuditContext
from tally.clock import FixedClock
from tally.errors import NotFound
from tests.support.apikeys import PEPPER, InMemoryApiKeyRepository

CONTEXT = AuditContext(Actor("user", "owner-1", "owner@example.com"), "req-1", "203.0.113.0", None)
START = datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
def at() -> Iterator[FixedClock]:
    fixed = FixedClock(START)
    clock.set_clock(fixed)
    yield fixed
    clock.set_clock(None)


def test_a_created_key_is_shown_once_and_kept_as_its_hash_and_prefix(at: FixedClock) -> None:
    repository = InMemoryApiKeyRepository()
    created = ApiKeyService(repository, lambda: PEPPER).create(
        "acc_1", "billing server", ["stats:read"], CONTEXT
    )

    assert is_well_formed(created.secret)
    key = created.key
    assert key.id.startswith("key_")
    assert (key.account_id, key.name, key.scopes) == ("acc_1", "billing server", frozenset({"stats:read"}))
    assert key.prefix == created.secret[:12]
    assert key.created_at == START.replace(microsecond=0)
    assert (key.last_used_at, key.revoked_at) == (None, None)
    assert repository.hashes[key.id] == key_hash(created.secret, PEPPER)
    assert created.secret not in repr(repository.keys)
    assert repository.audited == [("api_key.created", key.id, CONTEXT)]


def test_keys_are_listed_newest_first_per_account(at: FixedClock) -> None:
    service = ApiKeyService(InMemoryApiKeyRepository(), lambda: PEPPER)
    first = service.create("acc_1", "first", ["stats:read"], CONTEXT).key
    at.advance(timedelta(minutes=1))
    second = service.create("acc_1", "second", ["usage:write"], CONTEXT).key
    service.create("acc_2", "elsewhere", ["stats:read"], CONTEXT)

    assert [key.id for key in service.list("acc_1")] == [second.id, first.id]
    assert service.list("acc_3") == []


def test_revoking_is_audited_once_and_answers_the_same_twice(at: FixedClock) -> None:
    repository = InMemoryApiKeyRepository()
    service = ApiKeyService(repository, lambda: PEPPER)
    key = service.create("acc_1", "server", ["stats:read"], CONTEXT).key
    at.advance(timedelta(minutes=5))

    revoked = service.revoke("acc_1", key.id, CONTEXT)
    assert revoked.revoked_at == (START + timedelta(minutes=5)).replace(microsecond=0)
    at.advance(timedelta(minutes=5))
    assert service.revoke("acc_1", key.id, CONTEXT) == revoked
    assert [action for action, _, _ in repository.audited] == ["api_key.created", "api_key.revoked"]


def test_revoking_an_unknown_key_or_another_accounts_key_is_404(at: FixedClock) -> None:
    service = ApiKeyService(InMemoryApiKeyRepository(), lambda: PEPPER)
    key = service.create("acc_1", "server", ["stats:read"], CONTEXT).key
    with pytest.raises(NotFound) as unknown:
        service.revoke("acc_1", "key_nope", CONTEXT)
    assert unknown.value.field == "key_id"
    with pytest.raises(NotFound):
        service.revoke("acc_2", key.id, CONTEXT)
