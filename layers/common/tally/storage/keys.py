"""The one module that owns the key schema of both tables.

Billing table (generic single-table design):
    ACCOUNT#{id}            PROFILE                     an account (tenant, tracked business)
    SIREN#{siren}           CLAIM                       the one account holding a SIREN
    SIRET#{siret}           CLAIM                       the one account holding a SIRET
    ACCOUNT#{id}            APIKEY#{key id}             an API key: name, scopes, prefix, dates
    APIKEYHASH#{hmac}       APIKEY                      the key's lookup by its keyed hash
    IDEMPOTENCY#{scope}     {key}                       client retry ledger (later issues)

Events table (high volume, TTL on `expires_at`, stream feeds the counters):
    EVENTS#{account}#{day}  {iso-ts}#{event id}         a raw tracking event (kind=event)
    DEDUP#{fingerprint}     DEDUP                       repeat-window claim for one visitor+page
    STATS#{account}         TOTAL                       all-time counters
    STATS#{account}         DAY#{yyyy-mm-dd}            daily counters
    STATS#{account}         SPONSORSHIP#{id}            per-sponsorship click/impression counters
"""

from __future__ import annotations

from datetime import date, datetime

Key = dict[str, dict[str, str]]

PK = "PK"
SK = "SK"


def _key(pk: str, sk: str) -> Key:
    return {PK: {"S": pk}, SK: {"S": sk}}


# --- billing table -------------------------------------------------------------------------


def account(account_id: str) -> Key:
    return _key(f"ACCOUNT#{account_id}", "PROFILE")


CLAIM_SK = "CLAIM"


def siren_claim(siren: str) -> Key:
    return _key(f"SIREN#{siren}", CLAIM_SK)


def siret_claim(siret: str) -> Key:
    return _key(f"SIRET#{siret}", CLAIM_SK)


# --- events table --------------------------------------------------------------------------

STATS_TOTAL_SK = "TOTAL"
STATS_DAY_PREFIX = "DAY#"
STATS_SPONSORSHIP_PREFIX = "SPONSORSHIP#"


def event(account_id: str, occurred_at: datetime, event_id: str) -> Key:
    return _key(
        f"EVENTS#{account_id}#{occurred_at.date().isoformat()}", f"{occurred_at.isoformat()}#{event_id}"
    )


def dedup(fingerprint: str) -> Key:
    return _key(f"DEDUP#{fingerprint}", "DEDUP")


def stats_pk(account_id: str) -> str:
    return f"STATS#{account_id}"


def stats_total(account_id: str) -> Key:
    return _key(stats_pk(account_id), STATS_TOTAL_SK)


def stats_day_sk(day: date) -> str:
    return f"{STATS_DAY_PREFIX}{day.isoformat()}"


def stats_day(account_id: str, day: date) -> Key:
    return _key(stats_pk(account_id), stats_day_sk(day))


def stats_sponsorship(account_id: str, sponsorship_id: str) -> Key:
    return _key(stats_pk(account_id), f"{STATS_SPONSORSHIP_PREFIX}{sponsorship_id}")


# --- API keys ------------------------------------------------------------------------------

API_KEY_SK_PREFIX = "APIKEY#"
API_KEY_LOOKUP_SK = "APIKEY"


def api_key(account_id: str, key_id: str) -> Key:
    """A key as its account lists it: name, scopes, prefix, dates (never the hash)."""
    return _key(f"ACCOUNT#{account_id}", f"{API_KEY_SK_PREFIX}{key_id}")


def api_key_lookup(key_hash: str) -> Key:
    """What the authorizer reads by the key's keyed hash: account, key id, scopes, revoked."""
    return _key(f"APIKEYHASH#{key_hash}", API_KEY_LOOKUP_SK)
