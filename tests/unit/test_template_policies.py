"""Each function's IAM grants exactly what its code calls, on its own resources and key prefixes.

`CODE_CALLS` is the list of AWS actions each function's code makes, read from the code (the
adapters in layers/common/tally and Powertools Idempotency); this test holds template.yaml to it,
and tests/integration/test_template_policies_observed.py holds the code to the template by
recording the calls the functions really make.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from local.template import Resource, Template, load_template
from tests.support.policies import Grant, as_list, grants, statements

ROOT = Path(__file__).resolve().parents[2]

CODE_CALLS: dict[str, set[Grant]] = {
    "TrackingFunction": {
        # tally.tracking.dynamo.DynamoEventLedger: the event and its dedup claim (transaction of
        # two Puts, or a lone Put).
        ("dynamodb:PutItem", "EventsTable", frozenset({"EVENTS#*", "DEDUP#*"})),
        # DynamoCounterStore.read: one Query over the account's counters.
        ("dynamodb:Query", "EventsTable", frozenset({"STATS#*"})),
        # DynamoAccountDirectory: BatchGetItem of ACCOUNT# profiles.
        ("dynamodb:BatchGetItem", "BillingTable", frozenset({"ACCOUNT#*"})),
        # tally.parameters.SecretString: the visitor salt.
        ("secretsmanager:GetSecretValue", "VisitorSaltSecret", None),
        # The stats route's policy (tally.identity): DynamoUserRecords (Query of USER#<sub>),
        # DynamoAccountStates (GetItem of the account), CognitoMfaSettings (staff only).
        ("dynamodb:Query", "BillingTable", frozenset({"USER#*"})),
        ("dynamodb:GetItem", "BillingTable", frozenset({"ACCOUNT#*"})),
        ("cognito-idp:AdminGetUser", "UserPool", None),
    },
    "TrackingCounterFunction": {
        # DynamoCounterStore.apply: Updates (mark the events, add to the counters) in one
        # transaction.
        ("dynamodb:UpdateItem", "EventsTable", frozenset({"EVENTS#*", "STATS#*"})),
    },
    "AccountsFunction": {
        # tally.accounts.dynamo: each write one Transaction with its AUDIT# record. Puts: accounts,
        # members, invitations and their slots, join requests (ACCOUNT#), mirrors and profiles
        # (USER#), SIREN#/SIRET# claims, invitation tokens (INVITE#); Powertools Idempotency's
        # in-progress record ("idempotency#<function name>").
        (
            "dynamodb:PutItem",
            "BillingTable",
            frozenset(
                {"ACCOUNT#*", "USER#*", "SIREN#*", "SIRET#*", "INVITE#*", "APIKEYHASH#*", "AUDIT#*"}
                | {"idempotency#*"}
            ),
        ),
        # API keys (tally.apikeys.dynamo): a key, its lookup by keyed hash (APIKEYHASH#) and the
        # audit record in one transaction; revoking updates the first two.
        # Roles, statuses, owner counts, decisions, profiles, sign-outs; Idempotency completes.
        (
            "dynamodb:UpdateItem",
            "BillingTable",
            frozenset({"ACCOUNT#*", "USER#*", "APIKEYHASH#*", "idempotency#*"}),
        ),
        # Removed members and mirrors, withdrawn invitations and tokens; Idempotency's cleanup.
        (
            "dynamodb:DeleteItem",
            "BillingTable",
            frozenset({"ACCOUNT#*", "USER#*", "INVITE#*", "idempotency#*"}),
        ),
        # DynamoMemberStore: an owner acting on owners is still one.
        ("dynamodb:ConditionCheckItem", "BillingTable", frozenset({"ACCOUNT#*"})),
        # Single items (BillingTable.get), the policy's account status; Idempotency's fallback.
        (
            "dynamodb:GetItem",
            "BillingTable",
            frozenset({"ACCOUNT#*", "USER#*", "SIREN#*", "SIRET#*", "INVITE#*", "idempotency#*"}),
        ),
        # /v1/me's accounts and members' names (BillingTable.batch_get).
        ("dynamodb:BatchGetItem", "BillingTable", frozenset({"ACCOUNT#*", "USER#*"})),
        # An account's members, invitations and requests; a user's memberships; an account's audit.
        ("dynamodb:Query", "BillingTable", frozenset({"ACCOUNT#*", "USER#*", "AUDIT#*"})),
        # AuditReader: every record (GSI1), one entity's records (GSI2).
        ("dynamodb:Query", "BillingTable/index/GSI1", frozenset({"AUDIT"})),
        ("dynamodb:Query", "BillingTable/index/GSI2", frozenset({"AUDIT#*"})),
        # CognitoMfaSettings (staff MFA) and CognitoSignOut (sign out everywhere).
        ("cognito-idp:AdminGetUser", "UserPool", None),
        ("cognito-idp:AdminUserGlobalSignOut", "UserPool", None),
        # tally.accounts.emails.Notifier through SesMailer: from the sender identity only.
        ("ses:SendEmail", "SenderEmailIdentity", None),
        # The pepper of the keys' hashes (tally.parameters.SecretString).
        ("secretsmanager:GetSecretValue", "ApiKeyPepperSecret", None),
    },
    "AuthFunction": {
        # tally.notifications.mailer.SesMailer: the notice to an address's owner, from the sender
        # identity only. Its Cognito calls (SignUp, InitiateAuth, ...) need no IAM permission, and
        # it reaches no table at all.
        ("ses:SendEmail", "SenderEmailIdentity", None),
    },
    "DocsFunction": set(),
    "AuthorizerFunction": {
        # tally.apikeys.lookup.DynamoKeyLookup.find: one GetItem of the key's lookup by its hash.
        ("dynamodb:GetItem", "BillingTable", frozenset({"APIKEYHASH#*"})),
        # DynamoKeyLookup.touch: the key's last_used_at, at most once a minute (the attributes
        # it may write are held by test_the_authorizer_writes_only_a_keys_last_use).
        ("dynamodb:UpdateItem", "BillingTable", frozenset({"ACCOUNT#*"})),
        # tally.parameters.SecretString: the pepper of the keys' hashes.
        ("secretsmanager:GetSecretValue", "ApiKeyPepperSecret", None),
    },
    # --- issue 7, usage half (tally.usage.dynamo.DynamoUsageStore) -------------------------
    "UsageFunction": {
        # An event's idempotency item, unique claim, notice marker, violation (USAGE#); a metric
        # (METRIC#) or overrides (ACCOUNT#) with its AUDIT# record (Transaction).
        ("dynamodb:PutItem", "BillingTable", frozenset({"USAGE#*", "METRIC#*", "ACCOUNT#*", "AUDIT#*"})),
        # The aggregate's conditional update in the event's transaction; notices noted on it.
        ("dynamodb:UpdateItem", "BillingTable", frozenset({"USAGE#*"})),
        # An aggregate, an event's first result, the plan version, overrides, the account status.
        ("dynamodb:GetItem", "BillingTable", frozenset({"USAGE#*", "PLAN#*", "ACCOUNT#*"})),
        # Subscription pointer + overrides; a batch's metrics; managers' profiles.
        ("dynamodb:BatchGetItem", "BillingTable", frozenset({"ACCOUNT#*", "METRIC#*", "USER#*"})),
        # A period's aggregates, violations, managers; the caller's memberships.
        ("dynamodb:Query", "BillingTable", frozenset({"USAGE#*", "ACCOUNT#*", "USER#*"})),
        # Metrics and the violations feed (GSI1).
        ("dynamodb:Query", "BillingTable/index/GSI1", frozenset({"METRICS", "QUOTA_VIOLATIONS"})),
        ("cognito-idp:AdminGetUser", "UserPool", None),
        ("ses:SendEmail", "SenderEmailIdentity", None),
    },
    # --- issue 7, catalogue half -----------------------------------------------------------
    "BillingFunction": {
        # tally.plans.dynamo / tally.subscriptions.dynamo: each write one Transaction with its
        # AUDIT# record. Puts: plans and versions (PLAN#), subscriptions and the account's
        # SUBSCRIPTION#CURRENT pointer (ACCOUNT#); tally.coupons.dynamo: coupons and redemption
        # records (COUPON#); Idempotency's in-progress record of a start.
        (
            "dynamodb:PutItem",
            "BillingTable",
            frozenset({"PLAN#*", "ACCOUNT#*", "COUPON#*", "AUDIT#*", "idempotency#*"}),
        ),
        # The account's status following its subscription (accounts' add_status_change); a
        # coupon's terms and its redemption counters; Idempotency completes its record.
        ("dynamodb:UpdateItem", "BillingTable", frozenset({"ACCOUNT#*", "COUPON#*", "idempotency#*"})),
        # DynamoCouponStore.delete: a coupon never redeemed; Idempotency removes a failed start's
        # record, so a retry runs again.
        ("dynamodb:DeleteItem", "BillingTable", frozenset({"COUPON#*", "idempotency#*"})),
        # A plan, a version, an account, its subscription and pointer; the policy's account state;
        # a coupon and an account's count of it; Idempotency's fallback read of its record; the
        # seller's renewal anchor at a start (issue 10).
        (
            "dynamodb:GetItem",
            "BillingTable",
            frozenset({"PLAN#*", "ACCOUNT#*", "COUPON#*", "SETTINGS#*", "idempotency#*"}),
        ),
        # A plan's versions; the policy's DynamoUserRecords (Query of USER#<sub>).
        ("dynamodb:Query", "BillingTable", frozenset({"PLAN#*", "USER#*"})),
        # DynamoPlanStore.listed: the catalogue by tier rank (GSI1PK=PLANS); DynamoCouponStore.listed
        # (GSI1PK=COUPONS).
        ("dynamodb:Query", "BillingTable/index/GSI1", frozenset({"PLANS", "COUPONS"})),
        # CognitoMfaSettings (staff MFA).
        ("cognito-idp:AdminGetUser", "UserPool", None),
    },
    # --- issue 8, invoices ------------------------------------------------------------------
    "InvoicesFunction": {
        # tally.invoices.dynamo: every change one Transaction with its AUDIT# record. Puts: the
        # settings (SETTINGS#), invoices and credit notes (INVOICE#), a period's claim
        # (SUBSCRIPTION#), the subscription a payment or a renewal moves and its pointer
        # (ACCOUNT#), a coupon's redemption record (COUPON#); the email ledger's claim (EMAIL#).
        (
            "dynamodb:PutItem",
            "BillingTable",
            frozenset(
                {"SETTINGS#*", "INVOICE#*", "SUBSCRIPTION#*", "ACCOUNT#*", "COUPON#*", "AUDIT#*", "EMAIL#*"}
            ),
        ),
        # A number drawn (SEQUENCE#), the account's status following its subscription, a coupon's
        # counters, an email marked sent.
        (
            "dynamodb:UpdateItem",
            "BillingTable",
            frozenset({"SEQUENCE#*", "ACCOUNT#*", "COUPON#*", "EMAIL#*"}),
        ),
        # The email ledger gives a claim back when a send fails.
        ("dynamodb:DeleteItem", "BillingTable", frozenset({"EMAIL#*"})),
        # Settling an overdue invoice: the account's other overdue invoices checked unchanged.
        ("dynamodb:ConditionCheckItem", "BillingTable", frozenset({"INVOICE#*"})),
        (
            "dynamodb:GetItem",
            "BillingTable",
            frozenset({"SETTINGS#*", "INVOICE#*", "SEQUENCE#*", "ACCOUNT#*", "COUPON#*", "PLAN#*"}),
        ),
        # Credit notes (INVOICE#), memberships (USER#), a closing period's usage (USAGE#).
        ("dynamodb:Query", "BillingTable", frozenset({"INVOICE#*", "USER#*", "USAGE#*"})),
        ("dynamodb:Query", "BillingTable/index/GSI1", frozenset({"INVOICES#*"})),
        ("dynamodb:Query", "BillingTable/index/GSI2", frozenset({"INVOICES#*"})),
        ("dynamodb:BatchGetItem", "BillingTable", frozenset({"METRIC#*"})),
        # PDFs at their deterministic keys; HeadObject's 404 needs ListBucket.
        ("s3:PutObject", "DocumentsBucket", frozenset({"invoices/*"})),
        ("s3:PutObject", "DocumentsBucket", frozenset({"credit-notes/*"})),
        ("s3:GetObject", "DocumentsBucket", frozenset({"invoices/*"})),
        ("s3:GetObject", "DocumentsBucket", frozenset({"credit-notes/*"})),
        ("s3:ListBucket", "DocumentsBucket", None),
        ("ses:SendEmail", "SenderEmailIdentity", None),
        ("cognito-idp:AdminGetUser", "UserPool", None),
    },
    # --- issue 9, checkout ------------------------------------------------------------------
    "CheckoutFunction": {
        # tally.checkout.dynamo, tally.placements.seats, tally.subscriptions.dynamo: every change one
        # Transaction with its AUDIT# record. Puts: Stripe ids (STRIPE#), the account's customer,
        # checkouts and mirrored subscription (ACCOUNT#), a seat (PLACEMENT#) and its reservation
        # (RESERVATION#); Idempotency's in-progress record of a checkout.
        (
            "dynamodb:PutItem",
            "BillingTable",
            frozenset({"STRIPE#*", "ACCOUNT#*", "PLACEMENT#*", "RESERVATION#*", "AUDIT#*", "idempotency#*"}),
        ),
        # A checkout's session (ACCOUNT#), a placement's counter, a reclaimed reservation's state.
        (
            "dynamodb:UpdateItem",
            "BillingTable",
            frozenset({"ACCOUNT#*", "PLACEMENT#*", "RESERVATION#*", "idempotency#*"}),
        ),
        # A reclaimed seat; Idempotency removes a failed checkout's record.
        ("dynamodb:DeleteItem", "BillingTable", frozenset({"PLACEMENT#*", "idempotency#*"})),
        (
            "dynamodb:GetItem",
            "BillingTable",
            frozenset(
                {
                    "ACCOUNT#*",
                    "PLAN#*",
                    "COUPON#*",
                    "SETTINGS#*",
                    "STRIPE#*",
                    "PLACEMENT#*",
                    "RESERVATION#*",
                    "idempotency#*",
                }
            ),
        ),
        # A placement's seats; the policy's memberships.
        ("dynamodb:Query", "BillingTable", frozenset({"PLACEMENT#*", "USER#*"})),
        # tally.payments.stripe_client: Stripe's secret key, its only secret.
        ("secretsmanager:GetSecretValue", "StripeSecretKeySecret", None),
        ("cognito-idp:AdminGetUser", "UserPool", None),
    },
    # --- issue 10, scheduled jobs -------------------------------------------------------------
    "JobsPlannerFunction": {
        # tally.jobs.due.DynamoDueIndex: one Query per window of a due partition.
        (
            "dynamodb:Query",
            "BillingTable/index/DueIndex",
            frozenset(
                {
                    "RENEWALS_DUE",
                    "TRIALS_DUE",
                    "TRIAL_GRACE_DUE",
                    "EXPIRIES_DUE",
                    "INVOICES_DUE",
                    "PAYMENT_RETRIES_DUE",
                }
            ),
        ),
        # The seller's settings (time zone, grace period).
        ("dynamodb:GetItem", "BillingTable", frozenset({"SETTINGS#*"})),
        # tally.jobs.runs.DynamoRunStore: the run's record at its start (Put) and end (Update).
        ("dynamodb:PutItem", "BillingTable", frozenset({"JOBRUN#*"})),
        ("dynamodb:UpdateItem", "BillingTable", frozenset({"JOBRUN#*"})),
        # tally.jobs.queue.SqsJobQueue: SendMessageBatch, authorised as SendMessage.
        ("sqs:SendMessage", "JobsQueue", None),
    },
    "JobsWorkerFunction": {
        # The jobs' changes, each one Transaction with its AUDIT# record (a period's invoice and
        # claim, the subscription and its pointer), the email ledger's claims, an item's last error;
        # tally.retries.dynamo.DynamoRetryStore.schedule: attempt 0 of a card charge (PAYRETRY#).
        (
            "dynamodb:PutItem",
            "BillingTable",
            frozenset(
                {"INVOICE#*", "SUBSCRIPTION#*", "ACCOUNT#*", "AUDIT#*", "EMAIL#*", "JOBFAIL#*", "PAYRETRY#*"}
            ),
        ),
        # A number drawn, the account's status, an email marked sent, the run's counters (ADD), a
        # card charge's attempts (DynamoRetryStore.add_attempt, close).
        (
            "dynamodb:UpdateItem",
            "BillingTable",
            frozenset({"SEQUENCE#*", "ACCOUNT#*", "EMAIL#*", "JOBRUN#*", "DUNNING#*", "PAYRETRY#*"}),
        ),
        ("dynamodb:DeleteItem", "BillingTable", frozenset({"EMAIL#*"})),
        (
            "dynamodb:GetItem",
            "BillingTable",
            frozenset(
                {"SETTINGS#*", "INVOICE#*", "SEQUENCE#*", "ACCOUNT#*", "PLAN#*", "DUNNING#*", "PAYRETRY#*"}
            ),
        ),
        # A card payment settling an invoice (InvoiceService.record_payment): the account's other
        # overdue invoices (DynamoInvoiceStore.overdue), checked unchanged in its transaction.
        ("dynamodb:Query", "BillingTable/index/GSI1", frozenset({"INVOICES#*"})),
        ("dynamodb:ConditionCheckItem", "BillingTable", frozenset({"INVOICE#*"})),
        # tally.payments.stripe_client: Stripe's secret key (the payment retries' charges).
        ("secretsmanager:GetSecretValue", "StripeSecretKeySecret", None),
        # An account's owners and admins; a closing period's usage.
        ("dynamodb:Query", "BillingTable", frozenset({"ACCOUNT#*", "USAGE#*"})),
        # Metrics' names; the account and its managers' profiles.
        ("dynamodb:BatchGetItem", "BillingTable", frozenset({"METRIC#*", "ACCOUNT#*", "USER#*"})),
        ("s3:PutObject", "DocumentsBucket", frozenset({"invoices/*"})),
        ("ses:SendEmail", "SenderEmailIdentity", None),
    },
    "JobsFunction": {
        # A job's runs (JOBRUN#); the policy's DynamoUserRecords (USER#).
        ("dynamodb:Query", "BillingTable", frozenset({"JOBRUN#*", "USER#*"})),
        # tally.jobs.runs.DynamoRunStore.failures: the dead letters' reasons.
        ("dynamodb:BatchGetItem", "BillingTable", frozenset({"JOBFAIL#*"})),
        # A replay's mark and its AUDIT# record (Transaction).
        ("dynamodb:UpdateItem", "BillingTable", frozenset({"JOBFAIL#*"})),
        ("dynamodb:PutItem", "BillingTable", frozenset({"AUDIT#*"})),
        # tally.jobs.dead_letters.DeadLetters: read (visibility 0), hold and release, remove.
        ("sqs:ReceiveMessage", "JobsDeadLetterQueue", None),
        ("sqs:ChangeMessageVisibility", "JobsDeadLetterQueue", None),
        ("sqs:DeleteMessage", "JobsDeadLetterQueue", None),
        ("sqs:SendMessage", "JobsQueue", None),
        ("cognito-idp:AdminGetUser", "UserPool", None),
    },
    # --- issue 9, the webhook pipeline (tally.payments.webhooks) ------------------------------
    "WebhooksFunction": {
        # DynamoWebhookLedger.record (a conditional Put of WEBHOOK#<provider>#<event id>) and
        # mark_queued (a conditional Update).
        ("dynamodb:PutItem", "BillingTable", frozenset({"WEBHOOK#*"})),
        ("dynamodb:UpdateItem", "BillingTable", frozenset({"WEBHOOK#*"})),
        # SqsEventQueue.send.
        ("sqs:SendMessage", "WebhookQueue", None),
        # tally.parameters.SecretString: Stripe's signing secrets.
        ("secretsmanager:GetSecretValue", "StripeWebhookSecretsSecret", None),
    },
    "WebhookWorkerFunction": {
        # DynamoWebhookLedger.entry (GetItem: applied already?) and mark_applied (UpdateItem).
        # The Stripe applier's own calls (tally.payments.stripe_events) are granted with it.
        # The Stripe applier (tally.payments.stripe_events): docs/billing.md, "Operations and the
        # worker's IAM policy".
        ("dynamodb:GetItem", "BillingTable", frozenset({"WEBHOOK#*"})),
        ("dynamodb:UpdateItem", "BillingTable", frozenset({"WEBHOOK#*"})),
        (
            "dynamodb:GetItem",
            "BillingTable",
            frozenset(
                {
                    "ACCOUNT#*",
                    "INVOICE#*",
                    "COUPON#*",
                    "SETTINGS#*",
                    "PLAN#*",
                    "SEQUENCE#*",
                    "RESERVATION#*",
                }
            ),
        ),
        ("dynamodb:Query", "BillingTable", frozenset({"ACCOUNT#*"})),
        (
            "dynamodb:PutItem",
            "BillingTable",
            frozenset(
                {
                    "CHECKOUT#*",
                    "ACCOUNT#*",
                    "USER#*",
                    "COUPON#*",
                    "INVOICE#*",
                    "AUDIT#*",
                    "EMAIL#*",
                    "PLACEMENT#*",
                }
            ),
        ),
        (
            "dynamodb:UpdateItem",
            "BillingTable",
            frozenset(
                {
                    "ACCOUNT#*",
                    "COUPON#*",
                    "SEQUENCE#*",
                    "EMAIL#*",
                    "RESERVATION#*",
                    "PLACEMENT#*",
                }
            ),
        ),
        ("dynamodb:DeleteItem", "BillingTable", frozenset({"PLACEMENT#*", "EMAIL#*"})),
        ("secretsmanager:GetSecretValue", "StripeSecretKeySecret", None),
        ("ses:SendEmail", "SenderEmailIdentity", None),
    },
}

# The counter's own role also carries what Lambda itself does for it.
COUNTER_INFRASTRUCTURE = {
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
    "sqs:SendMessage",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
}
# What Lambda's SQS event source mapping does with the jobs worker's own role.
WORKER_INFRASTRUCTURE = {
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ChangeMessageVisibility",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
}


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template(ROOT / "template.yaml")


def _functions(template: Template) -> list[Resource]:
    return template.of_type("AWS::Serverless::Function")


def test_every_function_is_listed(template: Template) -> None:
    assert {function.logical_id for function in _functions(template)} == set(CODE_CALLS)


@pytest.mark.parametrize("function_id", sorted(CODE_CALLS))
def test_function_grants_only_what_its_code_calls(template: Template, function_id: str) -> None:
    held = grants(template, template.resources[function_id])
    if function_id == "TrackingCounterFunction":
        held = {grant for grant in held if grant[0] not in COUNTER_INFRASTRUCTURE}
    if function_id == "JobsWorkerFunction":
        held = {grant for grant in held if grant[0] not in WORKER_INFRASTRUCTURE}
    assert held == CODE_CALLS[function_id]


def test_no_function_grants_a_wildcard(template: Template) -> None:
    for function in _functions(template):
        for statement in statements(template, function):
            for action in as_list(statement["Action"]):
                assert "*" not in action, f"{function.logical_id}: {action}"
            for resource in as_list(statement["Resource"]):
                assert resource != "*", f"{function.logical_id}: Resource '*' for {statement['Action']}"


def test_every_item_write_is_limited_to_key_prefixes(template: Template) -> None:
    """Writes carry dynamodb:LeadingKeys: the public tracking function cannot touch STATS# counters."""
    writes = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
    for function in _functions(template):
        for action, _, prefixes in grants(template, function):
            if action in writes:
                assert prefixes, f"{function.logical_id}: {action} without dynamodb:LeadingKeys"
    tracking = grants(template, template.resources["TrackingFunction"])
    for action, _, prefixes in tracking:
        if action in writes:
            assert prefixes is not None
            assert not any(prefix.startswith("STATS#") for prefix in prefixes)


def test_leading_keys_use_the_key_schema_prefixes() -> None:
    """The prefixes granted are the ones tally.storage.keys writes (a renamed prefix fails here)."""
    from datetime import UTC, date, datetime

    from tally.storage import keys

    at = datetime(2026, 1, 1, tzinfo=UTC)
    audit = keys.audit("a", at, "aud_1", "account", "a")
    written = {
        keys.account("a")["PK"]["S"],
        keys.event("a", at, "e")["PK"]["S"],
        keys.dedup("f")["PK"]["S"],
        keys.stats_day("a", date(2026, 1, 1))["PK"]["S"],
        keys.siren_claim("732829320")["PK"]["S"],
        keys.siret_claim("73282932000074")["PK"]["S"],
        keys.user_profile("sub")["PK"]["S"],
        keys.invite_token("hash")["PK"]["S"],
        keys.api_key("a", "k")["PK"]["S"],
        keys.api_key_lookup("h")["PK"]["S"],
        audit["PK"]["S"],
        audit["GSI1PK"]["S"],
        audit["GSI2PK"]["S"],
        # issue 7, usage half
        keys.metric("api_calls")["PK"]["S"],
        keys.usage_pk("a"),
        keys.plan_version("bronze", 1)["PK"]["S"],
        keys.METRICS_FEED,
        keys.VIOLATIONS_FEED,
        # issue 7, catalogue half
        keys.plan("p")["PK"]["S"],
        keys.PLANS_INDEX_PK,
        # issue 8, coupons
        keys.coupon("WELCOME")["PK"]["S"],
        keys.COUPONS_INDEX_PK,
        # issue 8, invoices
        keys.seller_settings()["PK"]["S"],
        keys.invoice("inv_1")["PK"]["S"],
        keys.sequence("INV#2026-01")["PK"]["S"],
        keys.subscription_invoice_claim("sub_1", at)["PK"]["S"],
        keys.email_sent("invoice-issued", "inv_1")["PK"]["S"],
        keys.INVOICES_OF_ACCOUNT,
        keys.INVOICES_IN_STATUS,
        # issue 9, checkout
        keys.stripe_object("price", "tally:p:1:monthly:EUR")["PK"]["S"],
        keys.placement_counter("loc", "cat")["PK"]["S"],
        keys.reservation("rsv_1")["PK"]["S"],
        keys.checkout_provisioned("cs_1")["PK"]["S"],
        keys.webhook_event("stripe", "evt_1")["PK"]["S"],
        # issue 10, scheduled jobs
        keys.RENEWALS_DUE,
        keys.TRIALS_DUE,
        keys.TRIAL_GRACE_DUE,
        keys.EXPIRIES_DUE,
        keys.job_run("trials", "r")["PK"]["S"],
        keys.job_failure("trials", "sub_1#end")["PK"]["S"],
        keys.dunning("inv_1")["PK"]["S"],
        keys.INVOICES_DUE,
        keys.payment_retry("inv_1")["PK"]["S"],
        keys.PAYMENT_RETRIES_DUE,
        # issue 9, the webhook ledger
        keys.webhook_event("stripe", "evt_1")["PK"]["S"],
    }
    granted = {
        prefix
        for grants in CODE_CALLS.values()
        for _, _, prefixes in grants
        for prefix in prefixes or ()
        if prefix != "idempotency#*"  # Powertools Idempotency's, not tally.storage.keys'
        and "/" not in prefix  # an S3 object key pattern (invoices/*), not a partition key
    }
    for prefix in granted:
        assert any(value.startswith(prefix.removesuffix("*")) for value in written), prefix


def test_stream_consumer_has_its_own_role_scoped_to_the_events_stream(template: Template) -> None:
    counter = template.resources["TrackingCounterFunction"]
    assert counter.properties["Role"] == {"Fn::GetAtt": ["TrackingCounterRole", "Arn"]}
    role = template.resources["TrackingCounterRole"].properties
    managed = [str(arn) for arn in role.get("ManagedPolicyArns") or []]
    assert not any("AWSLambdaDynamoDBExecutionRole" in arn or "BasicExecutionRole" in arn for arn in managed)
    held = list(statements(template, counter))
    stream = [s for s in held if "dynamodb:GetRecords" in as_list(s["Action"])]
    assert [s["Resource"] for s in stream] == [{"Fn::Sub": "${EventsTable.Arn}/stream/*"}]
    sends = [s for s in held if "sqs:SendMessage" in as_list(s["Action"])]
    assert [s["Resource"] for s in sends] == [{"Fn::GetAtt": ["TrackingCounterDLQ", "Arn"]}]
    logs = [s for s in held if any(a.startswith("logs:") for a in as_list(s["Action"]))]
    assert [s["Resource"] for s in logs] == [{"Fn::GetAtt": ["TrackingCounterFunctionLogGroup", "Arn"]}]
    assert counter.properties["LoggingConfig"]["LogGroup"] == {"Ref": "TrackingCounterFunctionLogGroup"}


def test_visitor_salt_is_a_generated_secret_only_tracking_reads(template: Template) -> None:
    secret = template.resources["VisitorSaltSecret"]
    assert secret.type == "AWS::SecretsManager::Secret"
    assert "GenerateSecretString" in secret.properties
    assert "SecretString" not in secret.properties
    readers = [
        function.logical_id
        for function in _functions(template)
        if any(grant[1] == "VisitorSaltSecret" for grant in grants(template, function))
    ]
    assert readers == ["TrackingFunction"]
    environment = template.resources["TrackingFunction"].properties["Environment"]["Variables"]
    assert environment["VISITOR_SALT_SECRET_ARN"] == {"Ref": "VisitorSaltSecret"}
    text = (ROOT / "template.yaml").read_text() + (ROOT / "samconfig.toml").read_text()
    assert "VISITOR_SALT:" not in text
    assert "AWS::StackId" not in text


def test_the_sign_in_function_reaches_no_table_and_sends_only_from_the_sender_identity(
    template: Template,
) -> None:
    auth = template.resources["AuthFunction"]
    held = list(statements(template, auth))

    assert not any(action.startswith("dynamodb:") for s in held for action in as_list(s["Action"]))
    identity = "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${SenderEmailIdentity}"
    assert [s["Resource"] for s in held] == [{"Fn::Sub": identity}]
    assert template.resources["SenderEmailIdentity"].properties == {"EmailIdentity": {"Ref": "SenderEmail"}}


def test_the_authorizer_writes_only_a_keys_last_use(template: Template) -> None:
    """IAM cannot name a sort key: the authorizer's UpdateItem on ACCOUNT# items is held to the
    attributes of a key's last use, and may not read anything back beyond what it wrote."""
    authorizer = template.resources["AuthorizerFunction"]
    [update] = [s for s in statements(template, authorizer) if s["Action"] == "dynamodb:UpdateItem"]
    condition = update["Condition"]
    assert condition["ForAllValues:StringEquals"] == {"dynamodb:Attributes": ["PK", "SK", "last_used_at"]}
    assert condition["StringEqualsIfExists"] == {
        "dynamodb:ReturnValues": ["NONE", "UPDATED_OLD", "UPDATED_NEW"]
    }


def test_the_key_pepper_is_a_generated_secret_and_api_gateway_alone_invokes_the_authorizer(
    template: Template,
) -> None:
    secret = template.resources["ApiKeyPepperSecret"]
    assert secret.type == "AWS::SecretsManager::Secret"
    assert "GenerateSecretString" in secret.properties
    assert "SecretString" not in secret.properties
    environment = template.resources["AuthorizerFunction"].properties["Environment"]["Variables"]
    assert environment["API_KEY_PEPPER_SECRET_ARN"] == {"Ref": "ApiKeyPepperSecret"}
    permission = template.resources["AuthorizerFunctionInvokePermission"].properties
    assert permission["Principal"] == "apigateway.amazonaws.com"
    assert permission["FunctionName"] == {"Fn::GetAtt": ["AuthorizerFunction", "Arn"]}
    api = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${HttpApi}"
    assert permission["SourceArn"] == {"Fn::Sub": f"{api}/authorizers/*"}


def test_only_the_webhook_route_reads_the_webhook_secrets_and_no_secret_is_in_the_template(
    template: Template,
) -> None:
    for logical_id in ("StripeWebhookSecretsSecret", "StripeSecretKeySecret"):
        secret = template.resources[logical_id]
        assert secret.type == "AWS::SecretsManager::Secret"
        assert "SecretString" not in secret.properties  # put by an operator (docs/webhooks.md)
    readers = [
        function.logical_id
        for function in _functions(template)
        if any(grant[1] == "StripeWebhookSecretsSecret" for grant in grants(template, function))
    ]
    assert readers == ["WebhooksFunction"]
    route = template.resources["WebhooksFunction"].properties["Environment"]["Variables"]
    assert route["STRIPE_WEBHOOK_SECRETS_ARN"] == {"Ref": "StripeWebhookSecretsSecret"}
    assert route["WEBHOOK_QUEUE_URL"] == {"Ref": "WebhookQueue"}
    worker = template.resources["WebhookWorkerFunction"].properties["Environment"]["Variables"]
    assert worker["STRIPE_SECRET_KEY_ARN"] == {"Ref": "StripeSecretKeySecret"}
    assert worker["STRIPE_API_BASE"] == {"Ref": "StripeApiBase"}
    assert template.parameters["StripeApiBase"]["Default"] == ""
    text = (ROOT / "template.yaml").read_text() + (ROOT / "samconfig.toml").read_text()
    assert "whsec_" not in text.replace("whsec_…", "").replace("whsec_new", "").replace("whsec_old", "")
    assert "sk_live" not in text
    assert "sk_test" not in text


def test_only_the_functions_that_create_or_check_keys_read_the_pepper(template: Template) -> None:
    readers = [
        function.logical_id
        for function in _functions(template)
        if any(grant[1] == "ApiKeyPepperSecret" for grant in grants(template, function))
    ]
    assert sorted(readers) == ["AccountsFunction", "AuthorizerFunction"]
    environment = template.resources["AccountsFunction"].properties["Environment"]["Variables"]
    assert environment["API_KEY_PEPPER_SECRET_ARN"] == {"Ref": "ApiKeyPepperSecret"}
