"""The authorizer's key check: one read by hash, a 30 s positive cache, last use once a minute."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tally.apikeys.domain import KeyRecord
from tally.apikeys.secret import new_secret
from tally.apikeys.verifier import REVOKED, UNKNOWN, Accepted, KeyVerifier, Refused
from tests.support.apikeys import PEPPER, InMemoryKeyLookup, MovingClock

RECORD = KeyRecord("key_1", "acc_1", frozenset({"stats:read"}), revoked=False)


def _verifier(lookup: InMemoryKeyLookup, clock: MovingClock, reads: list[int] | None = None) -> KeyVerifier:
    def pepper() -> str:
        if reads is not None:
            reads.append(1)
        return PEPPER

    return KeyVerifier(lookup, pepper, now=clock)


@pytest.fixture
def clock() -> MovingClock:
    return MovingClock(datetime(2026, 11, 20, 10, 0, tzinfo=UTC))


def test_a_known_key_is_accepted_an_unknown_one_refused_in_words(clock: MovingClock) -> None:
    lookup = InMemoryKeyLookup()
    secret = new_secret()
    lookup.add(secret, RECORD)
    verifier = _verifier(lookup, clock)

    assert verifier.verify(secret) == Accepted(RECORD)
    assert verifier.verify(new_secret()) == Refused(UNKNOWN)
    assert "no such key" in UNKNOWN


def test_a_key_hashed_with_another_pepper_is_unknown(clock: MovingClock) -> None:
    lookup = InMemoryKeyLookup()
    secret = new_secret()
    lookup.add(secret, RECORD, pepper="another pepper")
    assert _verifier(lookup, clock).verify(secret) == Refused(UNKNOWN)


def test_a_valid_key_is_cached_for_30_s_so_a_revocation_bites_within_that(clock: MovingClock) -> None:
    lookup = InMemoryKeyLookup()
    secret = new_secret()
    lookup.add(secret, RECORD)
    verifier = _verifier(lookup, clock)
    assert isinstance(verifier.verify(secret), Accepted)
    lookup.revoke("key_1")

    clock.advance(29)
    assert isinstance(verifier.verify(secret), Accepted)  # from the cache
    assert lookup.finds == 1
    clock.advance(1)
    assert verifier.verify(secret) == Refused(REVOKED)
    assert lookup.finds == 2
    clock.advance(1)
    assert verifier.verify(secret) == Refused(REVOKED)  # a refusal is never cached
    assert lookup.finds == 3


def test_a_clock_moved_back_does_not_stretch_the_cache(clock: MovingClock) -> None:
    lookup = InMemoryKeyLookup()
    secret = new_secret()
    lookup.add(secret, RECORD)
    verifier = _verifier(lookup, clock)
    verifier.verify(secret)
    clock.advance(-3600)
    verifier.verify(secret)
    assert lookup.finds == 2


def test_last_use_is_written_at_most_once_a_minute_per_key(clock: MovingClock) -> None:
    lookup = InMemoryKeyLookup()
    secret = new_secret()
    lookup.add(secret, RECORD)
    verifier = _verifier(lookup, clock)
    for _ in range(5):
        verifier.verify(secret)
        clock.advance(10)
    assert [touch[2] for touch in lookup.touches] == [datetime(2026, 11, 20, 10, 0, tzinfo=UTC)]
    clock.advance(20)  # 70 s after the first use
    verifier.verify(secret)
    assert len(lookup.touches) == 2
    assert lookup.last_used["key_1"] == clock.at


def _throttled() -> ClientError:
    response: dict[str, Any] = {
        "Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"},
        "ResponseMetadata": {"HTTPStatusCode": 400},
    }
    return ClientError(response, "UpdateItem")  # type: ignore[arg-type]


def test_a_failed_last_use_write_never_refuses_the_key_and_is_not_retried_at_once(
    clock: MovingClock,
) -> None:
    lookup = InMemoryKeyLookup(touch_error=_throttled())
    secret = new_secret()
    lookup.add(secret, RECORD)
    verifier = _verifier(lookup, clock)
    assert isinstance(verifier.verify(secret), Accepted)
    clock.advance(5)
    assert isinstance(verifier.verify(secret), Accepted)
    assert len(lookup.touches) == 1

    lookup.touch_error = ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "UpdateItem"
    )
    clock.advance(60)
    assert isinstance(verifier.verify(secret), Accepted)
    assert len(lookup.touches) == 2


def test_the_pepper_is_read_when_a_key_is_checked(clock: MovingClock) -> None:
    reads: list[int] = []
    verifier = _verifier(InMemoryKeyLookup(), clock, reads)
    assert reads == []
    verifier.verify(new_secret())
    assert reads == [1]


def test_the_cache_is_bounded(clock: MovingClock) -> None:
    lookup = InMemoryKeyLookup()
    secrets = [new_secret() for _ in range(5)]
    for index, secret in enumerate(secrets):
        lookup.add(secret, KeyRecord(f"key_{index}", "acc_1", frozenset({"stats:read"}), revoked=False))
    verifier = KeyVerifier(lookup, lambda: PEPPER, now=clock, cache_size=3)
    for secret in secrets:
        verifier.verify(secret)
    verifier.verify(secrets[-1])
    assert lookup.finds == 5
    verifier.verify(secrets[0])  # evicted: read again
    assert lookup.finds == 6
