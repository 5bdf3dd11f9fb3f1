"""The one module that owns the key schema of both tables.

Billing table (generic single-table design; docs/identity.md "Items"):
    ACCOUNT#{id}            PROFILE                     an account (tenant, tracked business)
    ACCOUNT#{id}            MEMBER#{sub}                a member of the account and their role
    ACCOUNT#{id}            INVITATION#{invitation id}  an invitation (any status)
    ACCOUNT#{id}            INVITEE#{email}             the pending invitation for this email
    ACCOUNT#{id}            JOIN#{request id}           a request to join the account
    USER#{sub}              PROFILE                     a user's profile (name, phone, locale, signed_out_at)
    USER#{sub}              MEMBERSHIP#{account}        mirror of a member item, read by the directory
    USER#{sub}              JOIN#{account}              mirror of the user's pending join request
    INVITE#{token hash}     INVITE                      an invitation's token, until accepted or expired
    SIREN#{siren}           CLAIM                       the one account holding a SIREN
    SIRET#{siret}           CLAIM                       the one account holding a SIRET
    ACCOUNT#{id}            APIKEY#{key id}             an API key: name, scopes, prefix, hash, dates
    APIKEYHASH#{hmac}       APIKEY                      the key's lookup by its keyed hash
    AUDIT#{account|_platform} {at}#{audit id}           an audit record (GSI1: every record, GSI2:
                                                        the entity's records)
    idempotency#{function}  {key hash}                  Powertools Idempotency's records

Events table (high volume, TTL on `expires_at`, stream feeds the counters):
    EVENTS#{account}#{day}  {iso-ts}#{event id}         a raw tracking event (kind=event)
    DEDUP#{fingerprint}     DEDUP                       repeat-window claim for one visitor+page
    STATS#{account}         TOTAL                       all-time counters
    STATS#{account}         DAY#{yyyy-mm-dd}            daily counters
    STATS#{account}         SPONSORSHIP#{id}            per-sponsorship click/impression counters
"""

from __future__ import annotations

from datetime import UTC, date, datetime

Key = dict[str, dict[str, str]]

PK = "PK"
SK = "SK"


def _key(pk: str, sk: str) -> Key:
    return {PK: {"S": pk}, SK: {"S": sk}}


# --- billing table -------------------------------------------------------------------------


def account(account_id: str) -> Key:
    return _key(account_pk(account_id), PROFILE_SK)


CLAIM_SK = "CLAIM"


def siren_claim(siren: str) -> Key:
    return _key(f"SIREN#{siren}", CLAIM_SK)


def siret_claim(siret: str) -> Key:
    return _key(f"SIRET#{siret}", CLAIM_SK)


# --- tenancy: members, users, invitations, join requests -------------------------------------

ACCOUNT_PREFIX = "ACCOUNT#"
PROFILE_SK = "PROFILE"
MEMBER_PREFIX = "MEMBER#"
MEMBERSHIP_PREFIX = "MEMBERSHIP#"
INVITATION_PREFIX = "INVITATION#"
INVITEE_PREFIX = "INVITEE#"
JOIN_PREFIX = "JOIN#"
USER_PREFIX = "USER#"


def account_pk(account_id: str) -> str:
    return f"{ACCOUNT_PREFIX}{account_id}"


def member(account_id: str, subject: str) -> Key:
    return _key(account_pk(account_id), f"{MEMBER_PREFIX}{subject}")


def user_pk(subject: str) -> str:
    return f"{USER_PREFIX}{subject}"


def user_profile(subject: str) -> Key:
    return _key(user_pk(subject), PROFILE_SK)


def membership(subject: str, account_id: str) -> Key:
    return _key(user_pk(subject), f"{MEMBERSHIP_PREFIX}{account_id}")


def invitation(account_id: str, invitation_id: str) -> Key:
    return _key(account_pk(account_id), f"{INVITATION_PREFIX}{invitation_id}")


def invitee(account_id: str, email: str) -> Key:
    return _key(account_pk(account_id), f"{INVITEE_PREFIX}{email}")


def invite_token(token_hash: str) -> Key:
    return _key(f"INVITE#{token_hash}", "INVITE")


def join_request(account_id: str, request_id: str) -> Key:
    return _key(account_pk(account_id), f"{JOIN_PREFIX}{request_id}")


def user_join_request(subject: str, account_id: str) -> Key:
    return _key(user_pk(subject), f"{JOIN_PREFIX}{account_id}")


# --- audit ---------------------------------------------------------------------------------

AUDIT_PREFIX = "AUDIT#"
PLATFORM_AUDIT = "_platform"  # the partition of records that belong to no account
AUDIT_ALL = "AUDIT"  # GSI1PK of every audit record: the platform-wide feed
GSI1 = "GSI1"
GSI2 = "GSI2"


def audit_pk(account_id: str | None) -> str:
    return f"{AUDIT_PREFIX}{account_id or PLATFORM_AUDIT}"


def audit_sk(at: datetime, audit_id: str) -> str:
    """Sorts by time (ISO-8601 UTC with microseconds, fixed width), then by id."""
    return f"{at.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')}#{audit_id}"


def audit_entity_pk(entity_type: str, entity_id: str) -> str:
    return f"{AUDIT_PREFIX}{entity_type}#{entity_id}"


def audit(account_id: str | None, at: datetime, audit_id: str, entity_type: str, entity_id: str) -> Key:
    """The record's key with its two index keys: GSI1 (every record), GSI2 (the entity's records)."""
    sort = audit_sk(at, audit_id)
    return _key(audit_pk(account_id), sort) | {
        "GSI1PK": {"S": AUDIT_ALL},
        "GSI1SK": {"S": sort},
        "GSI2PK": {"S": audit_entity_pk(entity_type, entity_id)},
        "GSI2SK": {"S": sort},
    }


# --- API keys ------------------------------------------------------------------------------

API_KEY_SK_PREFIX = "APIKEY#"
API_KEY_LOOKUP_SK = "APIKEY"


def api_key(account_id: str, key_id: str) -> Key:
    """A key as its account lists it (name, scopes, prefix, dates), with its keyed hash so that
    revoking it reaches its lookup."""
    return _key(account_pk(account_id), f"{API_KEY_SK_PREFIX}{key_id}")


def api_key_lookup(key_hash: str) -> Key:
    """What the authorizer reads by the key's keyed hash: account, key id, scopes, revoked."""
    return _key(f"APIKEYHASH#{key_hash}", API_KEY_LOOKUP_SK)


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


# --- billing: plans catalogue and subscriptions (issue 7, catalogue half) --------------------
# Billing table:
#   PLAN#{code}             PLAN                        a plan (GSI1PK=PLANS, GSI1SK={tier_rank:04d}#{code})
#   PLAN#{code}             VERSION#{n:06d}             an immutable version: version, content_hash,
#                                                       terms (PlanVersion JSON), published_at
#   ACCOUNT#{id}            SUBSCRIPTION#{sub id}       a subscription (every field, flat)
#   ACCOUNT#{id}            SUBSCRIPTION#CURRENT        the account's current subscription: its id,
#                                                       plan, version, status, cycle, currency, period

PLAN_PREFIX = "PLAN#"
PLAN_SK = "PLAN"
PLAN_VERSION_PREFIX = "VERSION#"
PLANS_INDEX_PK = "PLANS"
SUBSCRIPTION_PREFIX = "SUBSCRIPTION#"
CURRENT_SUBSCRIPTION_SK = f"{SUBSCRIPTION_PREFIX}CURRENT"


def plan_pk(code: str) -> str:
    return f"{PLAN_PREFIX}{code}"


def plan(code: str) -> Key:
    return _key(plan_pk(code), PLAN_SK)


def plan_index_sk(tier_rank: int, code: str) -> str:
    return f"{tier_rank:04d}#{code}"


def plan_version_sk(number: int) -> str:
    return f"{PLAN_VERSION_PREFIX}{number:06d}"


def plan_version(code: str, number: int) -> Key:
    return _key(plan_pk(code), plan_version_sk(number))


def subscription(account_id: str, subscription_id: str) -> Key:
    if subscription_id == "CURRENT":
        raise ValueError("'CURRENT' names the pointer, not a subscription")
    return _key(account_pk(account_id), f"{SUBSCRIPTION_PREFIX}{subscription_id}")


def current_subscription(account_id: str) -> Key:
    return _key(account_pk(account_id), CURRENT_SUBSCRIPTION_SK)


# --- usage metering and quotas (issue 7, usage half; docs/billing.md "Usage storage") --------
#
#   METRIC#{code}           METRIC                      a billable metric (GSI1PK=METRICS)
#   ACCOUNT#{id}            OVERRIDES                   a platform admin's per-account overrides
#   USAGE#{account}         AGG#{period}#{metric}       a metric's aggregate in a period
#                                                       (period `YYYY-MM`, or `ALL` for never-reset)
#   USAGE#{account}         EVENT#{client event id}     an accepted event's first result (idempotency)
#   USAGE#{account}         UNIQUE#{period}#{metric}#{value}  a unique_count value's claim
#   USAGE#{account}         NOTICE#{period}#{metric}#{threshold}  a soft-quota email sent once
#   USAGE#{account}         VIOLATION#{at}#{id}         a quota violation (GSI1PK=QUOTA_VIOLATIONS)

METRIC_PREFIX = "METRIC#"
METRIC_SK = "METRIC"
METRICS_FEED = "METRICS"  # GSI1PK of every metric
OVERRIDES_SK = "OVERRIDES"
USAGE_PREFIX = "USAGE#"
AGGREGATE_PREFIX = "AGG#"
USAGE_EVENT_PREFIX = "EVENT#"
UNIQUE_PREFIX = "UNIQUE#"
NOTICE_PREFIX = "NOTICE#"
VIOLATION_PREFIX = "VIOLATION#"
VIOLATIONS_FEED = "QUOTA_VIOLATIONS"  # GSI1PK of every violation; GSI1SK `{at}#{id}`
FOREVER = "ALL"  # the period key of a metric that never resets


def metric(code: str) -> Key:
    return _key(f"{METRIC_PREFIX}{code}", METRIC_SK)


def overrides(account_id: str) -> Key:
    return _key(account_pk(account_id), OVERRIDES_SK)


def usage_pk(account_id: str) -> str:
    return f"{USAGE_PREFIX}{account_id}"


def aggregate_prefix(period: str) -> str:
    return f"{AGGREGATE_PREFIX}{period}#"


def aggregate(account_id: str, period: str, metric_code: str) -> Key:
    return _key(usage_pk(account_id), f"{aggregate_prefix(period)}{metric_code}")


def usage_event(account_id: str, event_id: str) -> Key:
    return _key(usage_pk(account_id), f"{USAGE_EVENT_PREFIX}{event_id}")


def unique_claim(account_id: str, period: str, metric_code: str, value: str) -> Key:
    return _key(usage_pk(account_id), f"{UNIQUE_PREFIX}{period}#{metric_code}#{value}")


def notice(account_id: str, period: str, metric_code: str, threshold: int) -> Key:
    return _key(usage_pk(account_id), f"{NOTICE_PREFIX}{period}#{metric_code}#{threshold}")


def violation_sk(at: datetime, violation_id: str) -> str:
    return f"{VIOLATION_PREFIX}{at.astimezone(UTC).isoformat(timespec='microseconds')}#{violation_id}"


def violation(account_id: str, at: datetime, violation_id: str) -> Key:
    return _key(usage_pk(account_id), violation_sk(at, violation_id))


# --- the email ledger (issue 8; tally.notifications.ledger) ---------------------------------
#
#   EMAIL#{entity id}       SENT#{template}#{step}      at most one email per (template, entity,
#                                                       step): status `sending` (a claim, with
#                                                       claim_token and claim_expires_at) or `sent`
#                                                       (message_id, sent_at); step `-` when none

EMAIL_PREFIX = "EMAIL#"
EMAIL_SENT_PREFIX = "SENT#"
NO_STEP = "-"


def email_sent(template: str, entity_id: str, step: str | None = None) -> Key:
    """The ledger item of one email: the template, what it is about (an invoice id, an account
    id), and the step of a series ("J+7" of the dunning ladder), if any."""
    if not entity_id:
        raise ValueError("An email in the ledger is about an entity")
    return _key(f"{EMAIL_PREFIX}{entity_id}", f"{EMAIL_SENT_PREFIX}{template}#{step or NO_STEP}")


# --- invoices, credit notes, seller settings (issue 8; docs/billing.md "Invoices") -----------
#
#   SETTINGS#BILLING        SETTINGS                    the seller's billing settings (absent: the
#                                                       shipped defaults apply)
#   INVOICE#{id}            INVOICE                     an invoice, every field, and `fingerprint`;
#                                                       GSI1PK=INVOICES#{account}, GSI2PK=INVOICES#{status},
#                                                       both SK `{created_at}#{id}`; while open and
#                                                       in the dunning ladder, DUEPK=INVOICES_DUE,
#                                                       DUESK=`{next dunning date}#{id}`
#   DUNNING#{invoice id}    DUNNING                     the ladder's steps run (`done`) and passed over
#                                                       (`skipped`) for one invoice (tally.dunning)
#   INVOICE#{id}            CREDITNOTE#{credit note id} a credit note of the invoice
#   SUBSCRIPTION#{id}       INVOICE#{period start}      claim: the one invoice of a subscription's period
#   SEQUENCE#{INV|CN}#{period}  SEQUENCE                a gapless counter: `value`, the last number drawn
#                                                       (period `YYYY-MM`, `YYYY` or `ALL`: the reset)

SELLER_SETTINGS_SK = "SETTINGS"
INVOICE_PREFIX = "INVOICE#"
INVOICE_SK = "INVOICE"
CREDIT_NOTE_PREFIX = "CREDITNOTE#"
INVOICES_OF_ACCOUNT = "INVOICES#"  # GSI1PK prefix: an account's invoices
INVOICES_IN_STATUS = "INVOICES#"  # GSI2PK prefix: every invoice in one status (the platform's view)
INVOICES_DUE = "INVOICES_DUE"  # DUEPK of open invoices, by due date (dunning)
SEQUENCE_SK = "SEQUENCE"


def seller_settings() -> Key:
    return _key("SETTINGS#BILLING", SELLER_SETTINGS_SK)


def invoice_pk(invoice_id: str) -> str:
    return f"{INVOICE_PREFIX}{invoice_id}"


def invoice(invoice_id: str) -> Key:
    return _key(invoice_pk(invoice_id), INVOICE_SK)


def invoice_index_sk(created_at: datetime, invoice_id: str) -> str:
    """Newest first when read backwards: fixed-width UTC instant, then the id."""
    return f"{created_at.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')}#{invoice_id}"


def invoice_index(
    account_id: str, status: str, created_at: datetime, invoice_id: str, due: date | None
) -> dict[str, dict[str, str]]:
    """The invoice's index attributes: by account (GSI1), by status (GSI2), and while it is open
    with a dunning date (`due`: the day the ladder's next step falls due), by that date
    (DueIndex, sparse: the dunning job reads only the invoices with a step due)."""
    sort = invoice_index_sk(created_at, invoice_id)
    attributes = {
        "GSI1PK": {"S": f"{INVOICES_OF_ACCOUNT}{account_id}"},
        "GSI1SK": {"S": sort},
        "GSI2PK": {"S": f"{INVOICES_IN_STATUS}{status}"},
        "GSI2SK": {"S": sort},
    }
    if status == "open" and due is not None:
        attributes |= {"DUEPK": {"S": INVOICES_DUE}, "DUESK": {"S": due_sort(due, invoice_id)}}
    return attributes


def due_sort(on: date, invoice_id: str) -> str:
    return f"{on.isoformat()}#{invoice_id}"


DUNNING_PREFIX = "DUNNING#"
DUNNING_SK = "DUNNING"


def dunning(invoice_id: str) -> Key:
    """The dunning record of an invoice: which steps of the ladder ran, which were passed over."""
    return _key(f"{DUNNING_PREFIX}{invoice_id}", DUNNING_SK)


def credit_note(invoice_id: str, credit_note_id: str) -> Key:
    return _key(invoice_pk(invoice_id), f"{CREDIT_NOTE_PREFIX}{credit_note_id}")


def subscription_invoice_claim(subscription_id: str, period_start: datetime) -> Key:
    start = period_start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return _key(f"{SUBSCRIPTION_PREFIX}{subscription_id}", f"{INVOICE_PREFIX}{start}")


def sequence(sequence_key: str) -> Key:
    """`sequence_key` from tally.billing.numbering.sequence_key (`INV#2026-04`)."""
    return _key(f"SEQUENCE#{sequence_key}", SEQUENCE_SK)


# --- coupons (issue 8; docs/billing.md "Coupons") ----------------------------------------------
#
#   COUPON#{CODE}           COUPON                      a coupon: terms (JSON), active, max_redemptions,
#                                                       redemptions (the counter), revision
#                                                       (GSI1PK=COUPONS, GSI1SK={CODE})
#   COUPON#{CODE}           ACCOUNT#{id}                an account's redemptions of the coupon (counter)
#   COUPON#{CODE}           REDEMPTION#{id}             one redemption: account, what it applies to,
#                                                       original, discount, final, currency, at

COUPON_PREFIX = "COUPON#"
COUPON_SK = "COUPON"
COUPONS_INDEX_PK = "COUPONS"
REDEMPTION_PREFIX = "REDEMPTION#"


def coupon_pk(code: str) -> str:
    return f"{COUPON_PREFIX}{code}"


def coupon(code: str) -> Key:
    """`code` upper-case (tally.billing.coupons.normal_code): one item per coupon, whatever the case."""
    return _key(coupon_pk(code), COUPON_SK)


def coupon_account(code: str, account_id: str) -> Key:
    return _key(coupon_pk(code), f"{ACCOUNT_PREFIX}{account_id}")


def redemption(code: str, redemption_id: str) -> Key:
    return _key(coupon_pk(code), f"{REDEMPTION_PREFIX}{redemption_id}")


# --- scheduled jobs (issue 10; tally.jobs) ----------------------------------------------------
#
# DueIndex entries of a subscription (on its ACCOUNT#{id} SUBSCRIPTION#{sub id} item, never on
# the pointer), at most one, chosen by tally.subscriptions.due from its state, and written in
# the same Put as every change of it; DUESK `{instant}#{subscription id}`, the instant fixed-width
# UTC, so a planner's `DUESK < {end of the day}` reads exactly what falls due by then:
#   RENEWALS_DUE   an invoice-collected active or past-due subscription, at its period's end
#   TRIALS_DUE     a trialing subscription, at its trial's end
#   TRIAL_GRACE_DUE an invoice-collected subscription left incomplete by its trial, at the
#                  trial's end (the trials job cancels it after the grace period, if any)
#   EXPIRIES_DUE   a subscription set to cancel at its period's end, at that end
#
#   JOBRUN#{job}            {run id}                    a job run: as_of, started_at, ended_at,
#                                                       planned, done, failed (the worker ADDs to
#                                                       the last two); the run id starts with its
#                                                       start instant, so runs read backwards are
#                                                       newest first
#   JOBFAIL#{job}#{item key} FAIL                       the last error of an item (the dead letters'
#                                                       reason), with its run and time; TTL 30 days

RENEWALS_DUE = "RENEWALS_DUE"
TRIALS_DUE = "TRIALS_DUE"
TRIAL_GRACE_DUE = "TRIAL_GRACE_DUE"
EXPIRIES_DUE = "EXPIRIES_DUE"
JOB_RUN_PREFIX = "JOBRUN#"
JOB_FAIL_PREFIX = "JOBFAIL#"


def due_instant(at: datetime) -> str:
    """A DUESK's instant: fixed-width UTC with microseconds, so strings sort as instants."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def subscription_due(partition: str, at: datetime, subscription_id: str) -> dict[str, dict[str, str]]:
    return {"DUEPK": {"S": partition}, "DUESK": {"S": f"{due_instant(at)}#{subscription_id}"}}


def job_run_pk(job: str) -> str:
    return f"{JOB_RUN_PREFIX}{job}"


def job_run_id(started_at: datetime, suffix: str) -> str:
    """`20261122T194100.123456Z-<suffix>`: sorts by start instant."""
    return f"{started_at.astimezone(UTC).strftime('%Y%m%dT%H%M%S.%fZ')}-{suffix}"


def job_run(job: str, run_id: str) -> Key:
    return _key(job_run_pk(job), run_id)


def job_failure(job: str, item_key: str) -> Key:
    return _key(f"{JOB_FAIL_PREFIX}{job}#{item_key}", "FAIL")


# --- payment retries (issue 10, job 3; tally.retries) ------------------------------------------
#
#   PAYRETRY#{invoice id}   PAYRETRY                    a native invoice's automatic card charges:
#                                                       `attempts` (n, at, outcome, decline code,
#                                                       PaymentIntent id), account_id, invoice_id;
#                                                       while an attempt is to come, DUEPK=
#                                                       PAYMENT_RETRIES_DUE, DUESK=`{instant}#{invoice id}`

PAYMENT_RETRY_PREFIX = "PAYRETRY#"
PAYMENT_RETRY_SK = "PAYRETRY"
PAYMENT_RETRIES_DUE = "PAYMENT_RETRIES_DUE"


def payment_retry(invoice_id: str) -> Key:
    return _key(f"{PAYMENT_RETRY_PREFIX}{invoice_id}", PAYMENT_RETRY_SK)


def payment_retry_due(at: datetime, invoice_id: str) -> dict[str, dict[str, str]]:
    return {"DUEPK": {"S": PAYMENT_RETRIES_DUE}, "DUESK": {"S": f"{due_instant(at)}#{invoice_id}"}}


# --- Stripe's webhook events applied (issue 9; tally.payments.stripe_events) -----------------
#
#   CHECKOUT#{session id}   PROVISIONED                 a completed checkout session provisioned:
#                                                       written once, with what it provisions
#   ACCOUNT#{id}            ORDER#{order id}            a one-off order paid through checkout
#                                                       (amount, currency, session, paid_at)
#   ACCOUNT#{id}            DISPUTE#{dispute id}        a payment dispute, for platform staff:
#                                                       status open | closed (GSI1PK=DISPUTES#{status},
#                                                       GSI1SK={opened_at}#{id}: the staff's list)

CHECKOUT_PREFIX = "CHECKOUT#"
PROVISIONED_SK = "PROVISIONED"
ORDER_PREFIX = "ORDER#"
DISPUTE_PREFIX = "DISPUTE#"
DISPUTES_IN_STATUS = "DISPUTES#"  # GSI1PK prefix: every dispute in one status (platform staff)


def checkout_provisioned(session_id: str) -> Key:
    return _key(f"{CHECKOUT_PREFIX}{session_id}", PROVISIONED_SK)


def order_payment(account_id: str, order_id: str) -> Key:
    return _key(account_pk(account_id), f"{ORDER_PREFIX}{order_id}")


def dispute(account_id: str, dispute_id: str) -> Key:
    return _key(account_pk(account_id), f"{DISPUTE_PREFIX}{dispute_id}")


def dispute_index(status: str, opened_at: datetime, dispute_id: str) -> dict[str, dict[str, str]]:
    at = opened_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"GSI1PK": {"S": f"{DISPUTES_IN_STATUS}{status}"}, "GSI1SK": {"S": f"{at}#{dispute_id}"}}


# --- issue 9, checkout: Stripe ids, checkout sessions, placements (docs/billing.md "Checkout") -
#
#   STRIPE#{kind}#{tally key}  STRIPE                   a Stripe object made from a Tally one
#                                                       (product: the plan code; price: its
#                                                       lookup_key; coupon: its Stripe id): stripe_id
#   ACCOUNT#{id}            STRIPE#CUSTOMER             the account's one Stripe customer: stripe_id
#   ACCOUNT#{id}            CHECKOUT#{checkout id}      a checkout started for the account: what was
#                                                       asked, until, and its Stripe session's id and URL
#   PLACEMENT#{loc}#{cat}   COUNTER                     seats held (reserved + active): taken, capacity
#   PLACEMENT#{loc}#{cat}   SEAT#{reservation id}       a held seat: state (reserved | active), until
#   RESERVATION#{id}        RESERVATION                 a reservation's placement, account and state
#                                                       (reserved | active | released | expired)

STRIPE_PREFIX = "STRIPE#"
STRIPE_SK = "STRIPE"
STRIPE_CUSTOMER_SK = "STRIPE#CUSTOMER"
# CHECKOUT_PREFIX ("CHECKOUT#", above) also begins the sort key of an account's checkouts.
PLACEMENT_PREFIX = "PLACEMENT#"
PLACEMENT_COUNTER_SK = "COUNTER"
SEAT_PREFIX = "SEAT#"
RESERVATION_PREFIX = "RESERVATION#"
RESERVATION_SK = "RESERVATION"


def stripe_object(kind: str, tally_key: str) -> Key:
    return _key(f"{STRIPE_PREFIX}{kind}#{tally_key}", STRIPE_SK)


def stripe_customer(account_id: str) -> Key:
    return _key(account_pk(account_id), STRIPE_CUSTOMER_SK)


def account_checkout(account_id: str, checkout_id: str) -> Key:
    return _key(account_pk(account_id), f"{CHECKOUT_PREFIX}{checkout_id}")


def placement_pk(location_id: str, category_id: str) -> str:
    """Ids are identifiers (no `#`): the two parts cannot run into each other."""
    return f"{PLACEMENT_PREFIX}{location_id}#{category_id}"


def placement_counter(location_id: str, category_id: str) -> Key:
    return _key(placement_pk(location_id, category_id), PLACEMENT_COUNTER_SK)


def placement_seat(location_id: str, category_id: str, reservation_id: str) -> Key:
    return _key(placement_pk(location_id, category_id), f"{SEAT_PREFIX}{reservation_id}")


def reservation(reservation_id: str) -> Key:
    return _key(f"{RESERVATION_PREFIX}{reservation_id}", RESERVATION_SK)


# --- the webhook ledger (issue 9; tally.payments.webhooks) -------------------------------------
#
#   WEBHOOK#{provider}#{event id}  EVENT               one provider notification, recorded by the
#                                                       route before it is enqueued: status
#                                                       `received` -> `queued` -> `applied` (with
#                                                       the applier's outcome), expires on `ttl`

WEBHOOK_PREFIX = "WEBHOOK#"
WEBHOOK_EVENT_SK = "EVENT"


def webhook_event(provider: str, event_id: str) -> Key:
    """The ledger item of one provider event (Stripe: `WEBHOOK#stripe#evt_…`)."""
    if not provider or not event_id:
        raise ValueError("A ledger entry names its provider and the provider's event id")
    return _key(f"{WEBHOOK_PREFIX}{provider}#{event_id}", WEBHOOK_EVENT_SK)
