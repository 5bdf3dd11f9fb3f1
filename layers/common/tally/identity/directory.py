"""Memberships as a cached lookup, and the staff MFA check, per function instance.

A user's memberships and sign-out time are read with one consistent Query and kept for
`ttl_seconds` (MEMBERSHIP_CACHE_SECONDS, 60): a removed member loses access, and a token issued
before a sign-out everywhere stops working, within that bound (the issue's is 5 minutes). The
instance that changes a membership or signs a user out forgets its entry at once; another
instance finds a membership granted since (an account just created or joined, through the
accounts function) at once too: a miss re-reads the record, at most once every
`REFRESH_SECONDS` per user and account asked for (per user only, two accounts made within a
second would leave the second out), so probing an account that is not yours costs one Query a
second at most (and the cache holds `MAX_ENTRIES` of them). Staff MFA is
checked with Cognito and kept for the same time once found on; a staff user without it is asked
again on each staff action, so turning it on takes effect at once.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from tally.errors import NotAuthenticated
from tally.identity.ports import MfaSettings, UserRecord, UserRecords
from tally.identity.principal import Principal

MAX_ENTRIES = 4096  # users per instance: bounds the memory a long-lived instance keeps
REFRESH_SECONDS = 1.0  # a membership miss re-reads the record at most this often per user
SIGNED_OUT = "You signed out everywhere after this token was issued: sign in again"

Monotonic = Callable[[], float]


class _TtlCache[Value]:
    def __init__(self, ttl_seconds: float, monotonic: Monotonic) -> None:
        self._ttl = ttl_seconds
        self._monotonic = monotonic
        self._entries: OrderedDict[str, tuple[float, Value]] = OrderedDict()

    def get(self, key: str) -> Value | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if self._monotonic() >= expires:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def put(self, key: str, value: Value) -> None:
        if self._ttl <= 0:
            return
        self._entries[key] = (self._monotonic() + self._ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > MAX_ENTRIES:
            self._entries.popitem(last=False)

    def forget(self, key: str) -> None:
        self._entries.pop(key, None)


class MembershipDirectory:
    def __init__(
        self, source: UserRecords, ttl_seconds: float = 60, monotonic: Monotonic = time.monotonic
    ) -> None:
        self._source = source
        self._cache: _TtlCache[UserRecord] = _TtlCache(ttl_seconds, monotonic)
        self._refreshed: _TtlCache[bool] = _TtlCache(REFRESH_SECONDS, monotonic)

    def record(self, principal: Principal) -> UserRecord:
        """The user's record; NotAuthenticated when their token was issued before they signed out
        everywhere (a token issued in the second of the sign-out itself is still taken: `iat`
        counts whole seconds)."""
        return self._checked(principal, self._lookup(principal.subject)[0])

    def record_in(self, principal: Principal, account_id: str | None) -> UserRecord:
        """The user's record, read again when a cached one lacks the membership asked for (any
        membership when `account_id` is None): what another instance granted since counts."""
        record, fresh = self._lookup(principal.subject)
        missing = not record.memberships if account_id is None else account_id not in record.memberships
        asked = f"{principal.subject}\x00{account_id or ''}"
        if missing and not fresh and self._refreshed.get(asked) is None:
            self._refreshed.put(asked, True)
            self._cache.forget(principal.subject)
            record, _ = self._lookup(principal.subject)
        return self._checked(principal, record)

    def _lookup(self, subject: str) -> tuple[UserRecord, bool]:
        record = self._cache.get(subject)
        if record is not None:
            return record, False
        record = self._source.user_record(subject)
        self._cache.put(subject, record)
        return record, True

    def _checked(self, principal: Principal, record: UserRecord) -> UserRecord:
        if record.signed_out_at is not None and (
            principal.issued_at is None or principal.issued_at < int(record.signed_out_at.timestamp())
        ):
            raise NotAuthenticated(SIGNED_OUT)
        return record

    def forget(self, subject: str) -> None:
        """Read this user again on their next request (this instance changed their record)."""
        self._cache.forget(subject)


class StaffMfa:
    def __init__(
        self, source: MfaSettings, ttl_seconds: float = 60, monotonic: Monotonic = time.monotonic
    ) -> None:
        self._source = source
        self._enabled: _TtlCache[bool] = _TtlCache(ttl_seconds, monotonic)

    def enabled(self, subject: str) -> bool:
        if self._enabled.get(subject):
            return True
        enabled = self._source.totp_enabled(subject)
        if enabled:
            self._enabled.put(subject, True)
        return enabled
