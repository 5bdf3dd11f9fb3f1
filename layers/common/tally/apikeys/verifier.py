"""The authorizer's check of an API key: keyed hash, one cached read, the last use recorded.

Revocation must bite within 60 s (the issue's bound): API Gateway caches the authorizer's answer
for 30 s, so a valid key's record is kept here for at most 30 s more. Only valid keys are cached
(a revoked or unknown key costs a read each time API Gateway asks, which its own cache limits),
and the cache holds hashes, never secrets. `last_used_at` is bookkeeping: written at most once a
minute per key, never a reason to refuse a request.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from tally import clock
from tally.apikeys.domain import KeyRecord
from tally.apikeys.lookup import TOUCH_EVERY
from tally.apikeys.secret import key_hash
from tally.storage.errors import is_transient

logger = Logger(child=True)

CACHE_FOR = timedelta(seconds=30)
CACHE_SIZE = 1024
UNKNOWN = "This API key is not valid: no such key exists (was it copied whole?)"
REVOKED = "This API key was revoked: create a new one"


class KeyLookup(Protocol):
    def find(self, key_hash: str) -> KeyRecord | None: ...

    def touch(self, account_id: str, key_id: str, at: datetime) -> bool: ...


@dataclass(frozen=True)
class Accepted:
    record: KeyRecord


@dataclass(frozen=True)
class Refused:
    reason: str  # in words, for the 401 the function answers


class KeyVerifier:
    def __init__(
        self,
        lookup: KeyLookup,
        pepper: Callable[[], str],
        *,
        cache_for: timedelta = CACHE_FOR,
        touch_every: timedelta = TOUCH_EVERY,
        cache_size: int = CACHE_SIZE,
        now: Callable[[], datetime] = clock.now,
    ) -> None:
        self._lookup = lookup
        self._pepper = pepper
        self._cache_for = cache_for
        self._touch_every = touch_every
        self._cache_size = cache_size
        self._now = now
        self._valid: OrderedDict[str, tuple[KeyRecord, datetime]] = OrderedDict()
        self._touched: dict[str, datetime] = {}

    def verify(self, secret: str) -> Accepted | Refused:
        """A well-formed key's verdict; a failing read raises (API Gateway answers 500, uncached)."""
        now = self._now()
        hashed = key_hash(secret, self._pepper())
        record = self._cached(hashed, now)
        if record is None:
            record = self._lookup.find(hashed)
            if record is None:
                return Refused(UNKNOWN)
            if record.revoked:
                return Refused(REVOKED)
            self._remember(hashed, record, now)
        self._touch(record, now)
        return Accepted(record)

    def _cached(self, hashed: str, now: datetime) -> KeyRecord | None:
        entry = self._valid.get(hashed)
        if entry is None:
            return None
        record, fetched_at = entry
        # A clock moved backwards must not stretch the bound either.
        if not timedelta(0) <= now - fetched_at < self._cache_for:
            del self._valid[hashed]
            return None
        return record

    def _remember(self, hashed: str, record: KeyRecord, now: datetime) -> None:
        self._valid[hashed] = (record, now)
        self._valid.move_to_end(hashed)
        while len(self._valid) > self._cache_size:
            self._valid.popitem(last=False)

    def _touch(self, record: KeyRecord, now: datetime) -> None:
        last = self._touched.get(record.key_id)
        if last is not None and timedelta(0) <= now - last < self._touch_every:
            return
        # Remembered whatever happens next: a throttled write is tried again a minute later,
        # not on every request meanwhile.
        self._touched[record.key_id] = now
        if len(self._touched) > self._cache_size:
            self._touched.pop(next(iter(self._touched)))
        try:
            self._lookup.touch(record.account_id, record.key_id, now)
        except (ClientError, BotoCoreError) as exc:
            if is_transient(exc):
                logger.warning("API key last use not recorded: DynamoDB throttled or unavailable")
            else:
                logger.exception("API key last use not recorded", extra={"key_id": record.key_id})
