"""The AWS calls the functions really make, against the IAM grants template.yaml gives them.

Every function's flows run in-process against the moto stack while a botocore hook records each
call as IAM sees it (a transaction as its per-item actions, with each item's partition key).
Each call must be allowed by its function's grants, as IAM would evaluate them
(dynamodb:LeadingKeys included), and each grant must be used by some call: no missing
permission, and none to spare.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from importlib import resources
from typing import Any

import pytest

from local.mailbox import MAILBOX
from local.template import load_template
from tally import clock
from tally.accounts.dynamo.accounts import DynamoAccountStore
from tally.auth.claims import unverified_claims
from tally.clock import FixedClock
from tally.errors import Conflict
from tally.storage import clients, keys
from tests.support.events import FakeContext, http_event
from tests.support.inprocess import TOKEN
from tests.support.policies import Grant, allows, grants
from tests.support.stack import ROOT, Stack, stream_batch
from tests.support.tenancy import User, reset_function_caches, seed_member, staff
from tests.support.totp import current_code
from tests.support.world import build_tenant, expect

EMAIL = "owner@example.com"
PASSWORD = "Correct-Horse-9!"
ACCOUNT = "acc_demo"

# Granted for a code path these flows cannot reach: Powertools Idempotency's GetItem fallback
# (used only when a conditional Put does not return the existing record).
NOT_EXERCISED = {
    ("AccountsFunction", "dynamodb:GetItem", "idempotency#*"),
    ("BillingFunction", "dynamodb:GetItem", "idempotency#*"),
    # The email ledger gives its claim back when SES refuses or fails a send (none does here).
    ("InvoicesFunction", "dynamodb:DeleteItem", "EMAIL#*"),
    # Settling an overdue invoice while the account has another one overdue (none here).
    ("InvoicesFunction", "dynamodb:ConditionCheckItem", "INVOICE#*"),
    ("CheckoutFunction", "dynamodb:GetItem", "idempotency#*"),
    ("JobsWorkerFunction", "dynamodb:DeleteItem", "EMAIL#*"),
    # Subscriptions past a trial's grace period are read only when the seller sets one (none here).
    ("JobsPlannerFunction", "dynamodb:Query", "TRIAL_GRACE_DUE"),
    # A card payment checks the account's other overdue invoices unchanged only when it has some
    # (the renewal's is its only one here).
    ("JobsWorkerFunction", "dynamodb:ConditionCheckItem", "INVOICE#*"),
    # The Stripe applier is driven with a fake reader (no Stripe key read), its emails all go, and
    # no completion arrives after its reservation was reclaimed (the seat taken back).
    ("WebhookWorkerFunction", "secretsmanager:GetSecretValue", None),
    ("WebhookWorkerFunction", "dynamodb:DeleteItem", "EMAIL#*"),
    ("WebhookWorkerFunction", "dynamodb:PutItem", "PLACEMENT#*"),
}
# What Lambda itself does with the function's role (stream polling), not the function's code.
LAMBDA_ACTIONS = {
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
}

_TRANSACT_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}


@dataclass(frozen=True)
class Call:
    function: str
    action: str
    resource: str
    partition_key: str | None


@dataclass
class Recorder:
    """Records the calls made while `function` is set, named as IAM authorises them."""

    names: dict[str, str]  # physical name or ARN -> logical id
    function: str | None = None
    last_function: str | None = None
    calls: set[Call] = field(default_factory=set)
    updates: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (function, UpdateItem params)

    def __call__(self, **kwargs: Any) -> None:
        params: dict[str, Any] = kwargs["params"]
        model: Any = kwargs["model"]
        if self.function is None or model.auth_type == "none":  # unsigned calls (InitiateAuth) need no IAM
            return
        service = model.service_model.signing_name
        if model.name == "UpdateItem":
            self.updates.append((self.function, dict(params)))
        for action, resource, key in _as_iam(service, model.name, params):
            self.calls.add(Call(self.function, action, self._logical(resource), key))

    def _logical(self, resource: str) -> str:
        table, _, index = resource.partition("/index/")
        logical = self.names.get(table, table)
        return f"{logical}/index/{index}" if index else logical

    @contextmanager
    def running(self, function: str) -> Iterator[None]:
        self.function = function
        try:
            yield
        finally:
            self.function = None


def _partition_key(key: dict[str, Any] | None) -> str | None:
    return str(key["PK"]["S"]) if key and "PK" in key else None


def _queried(params: dict[str, Any]) -> tuple[str, str]:
    """The resource a Query reads (the table, or <table>/index/<index>) and its partition key value,
    which IAM's dynamodb:LeadingKeys sees."""
    names = params.get("ExpressionAttributeNames") or {}
    found = re.search(r"(#?\w+)\s*=\s*(:\w+)", params["KeyConditionExpression"])
    assert found, params["KeyConditionExpression"]
    key_name = names.get(found[1], found[1])
    index = params.get("IndexName")
    # GSI1PK, GSI2PK; the due index's DUEPK (issue 10).
    expected = {"DueIndex": "DUEPK"}.get(index or "", f"{index}PK" if index else "PK")
    assert key_name == expected, params
    resource = f"{params['TableName']}/index/{index}" if index else params["TableName"]
    return resource, str(params["ExpressionAttributeValues"][found[2]]["S"])


def _as_iam(service: str, operation: str, params: dict[str, Any]) -> Iterator[tuple[str, str, str | None]]:
    if service == "secretsmanager":
        yield f"secretsmanager:{operation}", str(params["SecretId"]), None
    elif service == "cognito-idp":  # the admin API is authorised on the user pool
        yield f"cognito-idp:{operation}", str(params["UserPoolId"]), None
    elif service == "ses":  # SESv2 SendEmail is authorised on the sender's identity
        yield f"ses:{operation}", parseaddr(str(params["FromEmailAddress"]))[1], None
    elif service == "sqs":
        # Batch calls are authorised as their single form (SendMessageBatch as SendMessage).
        action = operation.removesuffix("Batch")
        yield f"sqs:{action}", str(params["QueueUrl"]), None
    elif service == "s3":
        # HeadObject is authorised as GetObject, and answers 404 for a missing key only with
        # ListBucket on the bucket (403 otherwise); a presigned GET is signed for GetObject.
        if operation == "HeadObject":
            yield "s3:ListBucket", str(params["Bucket"]), None
        action = "GetObject" if operation == "HeadObject" else operation
        yield f"s3:{action}", str(params["Bucket"]), str(params["Key"])
    elif operation == "TransactWriteItems":
        for item in params["TransactItems"]:
            [(kind, body)] = item.items()
            yield (
                _TRANSACT_ACTIONS[kind],
                body["TableName"],
                _partition_key(body.get("Item") or body.get("Key")),
            )
    elif operation == "BatchGetItem":
        for table, request in params["RequestItems"].items():
            for key in request["Keys"]:
                yield "dynamodb:BatchGetItem", table, _partition_key(key)
    elif operation == "Query":
        resource, partition = _queried(params)
        yield "dynamodb:Query", resource, partition
    elif service == "cognito-idp":
        yield f"cognito-idp:{operation}", str(params["UserPoolId"]), None
    else:
        yield (
            f"{service}:{operation}",
            str(params.get("TableName", "")),
            _partition_key(params.get("Item") or params.get("Key")),
        )


@pytest.fixture
def recorder(stack: Stack) -> Iterator[Recorder]:
    names = {
        stack.ref(logical): logical
        for logical in (
            "BillingTable",
            "EventsTable",
            "VisitorSaltSecret",
            "SenderEmailIdentity",
            "ApiKeyPepperSecret",
            "StripeSecretKeySecret",  # issue 9
            "UserPool",
            "DocumentsBucket",
            "JobsQueue",  # issue 10: queues by URL
            "JobsDeadLetterQueue",
            "WebhookQueue",  # issue 9
            "StripeWebhookSecretsSecret",
        )
    }
    recording = Recorder(names)
    session = clients.session()  # the session every function's clients come from
    # Clients copy the session's hooks when they are created: forget the cached ones first.
    _reset_caches()
    session.register("before-parameter-build", recording)
    try:
        yield recording
    finally:
        session.unregister("before-parameter-build", recording)
        _reset_caches()


def _reset_caches() -> None:
    from tally import parameters

    reset_function_caches()
    parameters.secrets_provider.cache_clear()


def _invoke(stack: Stack, recorder: Recorder, function: str, event: dict[str, Any]) -> tuple[int, Any]:
    module = {
        "TrackingFunction": "tracking.app",
        "TrackingCounterFunction": "tracking.counter",
        "AccountsFunction": "accounts.app",
        "AuthFunction": "auth.app",
        "DocsFunction": "docs.app",
        "AuthorizerFunction": "authorizer.app",
        "UsageFunction": "usage.app",  # issue 7, usage half
        "BillingFunction": "billing.app",
        "InvoicesFunction": "invoices.app",  # issue 8
        "CheckoutFunction": "checkout.app",  # issue 9
        "JobsPlannerFunction": "jobs.planner",  # issue 10
        "JobsWorkerFunction": "jobs.worker",
        "JobsFunction": "jobs.app",
        "WebhooksFunction": "webhooks.app",  # issue 9
        "WebhookWorkerFunction": "webhooks.worker",
    }[function]
    handler = __import__(module, fromlist=["lambda_handler"]).lambda_handler
    if recorder.last_function not in (None, function):
        # Functions share this process here, not in Lambda: what one cached (the policy's
        # memberships and staff MFA, clients) must not spare the next one its own calls.
        _reset_caches()
    recorder.last_function = function
    with stack.environment(function), recorder.running(function):
        answer = handler(event, FakeContext())
    if "statusCode" not in answer:  # a stream batch's or an authorizer's answer
        return 200, answer
    return answer["statusCode"], json.loads(answer["body"] or "null")


class RecordedApi:
    """The accounts function invoked with the recorder on (a tests.support.world.TenancyApi)."""

    def __init__(self, stack: Stack, recorder: Recorder) -> None:
        self.stack = stack
        self.recorder = recorder
        self.users = 0

    def new_user(self, label: str) -> User:
        self.users += 1
        return User(f"sub-{label}-{self.users}", f"{label}-{self.users}@example.com")

    def email_of(self, who: User) -> str:
        return who.email

    def call(
        self,
        who: User | None,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        claims = who.claims() if who else None
        event = http_event(method, path, body=body, claims=claims, headers=headers, query=query)
        return _invoke(self.stack, self.recorder, "AccountsFunction", event)

    def invitation_token(self, email: str) -> str:
        found = TOKEN.search(MAILBOX.messages(email)[0].text)
        assert found
        return found.group(1)


def _drive_every_flow(stack: Stack, recorder: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    clients.dynamodb().put_item(
        TableName=stack.ref("BillingTable"), Item=keys.account(ACCOUNT) | {"kind": {"S": "account"}}
    )
    pool = stack.ref("UserPool")
    cognito = stack.client("cognito-idp")
    cognito.admin_create_user(UserPoolId=pool, Username=EMAIL, MessageAction="SUPPRESS")
    cognito.admin_set_user_password(UserPoolId=pool, Username=EMAIL, Password=PASSWORD, Permanent=True)
    admin = staff(stack)  # with TOTP on: staff powers are asked of Cognito
    reader = User("stats-reader", "reader@example.com")
    seed_member(stack, ACCOUNT, reader)

    def track(event: dict[str, Any]) -> tuple[int, Any]:
        return _invoke(stack, recorder, "TrackingFunction", event)

    click = {"account_id": ACCOUNT, "source": "seo", "page_url": "/p"}
    assert track(http_event("POST", "/v1/track/click", body=click))[1]["counted"] is True
    assert track(http_event("POST", "/v1/track/click", body=click))[1]["reason"] == "duplicate"
    bot = http_event(
        "POST", "/v1/track/view", body={"account_id": ACCOUNT, "source": "seo"}, user_agent="Googlebot"
    )
    assert track(bot)[1]["reason"] == "bot"
    batch = {"events": [{"type": "view", "account_id": ACCOUNT, "source": "city"}]}
    assert track(http_event("POST", "/v1/track/events", body=batch))[0] == 202
    status, _ = _invoke(
        stack, recorder, "TrackingCounterFunction", {"Records": stream_batch(stack, "EventsTable")}
    )
    assert status == 200
    # Stats as a member (their memberships, the account's status) and as staff (MFA).
    for claims in (reader.claims(), admin.claims()):
        stats = http_event("GET", "/v1/track/stats", query={"account_id": ACCOUNT}, claims=claims)
        assert track(stats)[1]["clicks_total"] == 1

    _drive_api_keys(stack, recorder, reader, admin)
    _drive_usage(stack, recorder, reader, admin)

    _drive_sign_in(stack, recorder)
    _drive_tenancy(RecordedApi(stack, recorder), admin, monkeypatch)

    _drive_jobs(stack, recorder, admin, monkeypatch)

    assert _invoke(stack, recorder, "DocsFunction", http_event("GET", "/v1/openapi.json"))[0] == 200
    _drive_webhooks(stack, recorder, monkeypatch)


def _drive_webhooks(stack: Stack, recorder: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 9: a Stripe event delivered (recorded, queued), delivered again (a duplicate), and
    one that does not verify; the worker applies the queued one (with a fake applier: the
    pipeline's own calls; the Stripe applier's are driven on their own)."""
    from webhooks import wiring

    from tests.support.webhooks import SECRET, FakeApplier, signed_headers, sqs_record, stripe_event

    monkeypatch.setitem(wiring.BUILDERS, "stripe", FakeApplier)

    secret = stack.ref("StripeWebhookSecretsSecret")
    stack.client("secretsmanager").put_secret_value(SecretId=secret, SecretString=SECRET)
    payload = stripe_event("evt_observed")
    for headers, status in (
        (signed_headers(payload), 200),
        (signed_headers(payload), 200),
        (signed_headers(payload, "whsec_other"), 400),
    ):
        event = http_event("POST", "/v1/webhooks/stripe", raw_body=payload, headers=headers)
        assert _invoke(stack, recorder, "WebhooksFunction", event)[0] == status
    queue = stack.ref("WebhookQueue")
    [message] = stack.client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    arn = stack.registry.lookup("WebhookQueue", "Arn")
    batch = {"Records": [sqs_record(message["Body"], arn, message["MessageId"])]}
    assert _invoke(stack, recorder, "WebhookWorkerFunction", batch)[1] == {"batchItemFailures": []}
    _drive_stripe_applier(stack, recorder, monkeypatch, arn)


def _drive_stripe_applier(
    stack: Stack, recorder: Recorder, monkeypatch: pytest.MonkeyPatch, arn: str
) -> None:
    """The worker with the real Stripe applier and its DynamoDB, SES and seat adapters (Stripe's
    answers from a fake reader): a subscription's life from checkout to deletion, with a failed
    payment, a refund and a dispute; then every event again (the ledger says applied)."""
    from decimal import Decimal

    from webhooks import wiring

    from tally.accounts.domain import Account, Member
    from tally.accounts.dynamo.accounts import DynamoAccountStore
    from tally.accounts.dynamo.table import BillingTable
    from tally.billing.coupons import Coupon
    from tally.coupons.dynamo import DynamoCouponStore
    from tally.identity.roles import Role
    from tally.payments.stripe_events import reader
    from tally.payments.stripe_events.wiring import applier_from_environment
    from tally.payments.webhooks import to_message
    from tally.placements.seats import DynamoPlacementSeats
    from tally.storage import clients
    from tests.support.billing import CONTEXT
    from tests.support.stripe_events import (
        ACCOUNT as STRIPE_ACCOUNT,
    )
    from tests.support.stripe_events import (
        END,
        NEXT_END,
        SESSION,
        START,
        SUBSCRIPTION,
        FakeStripe,
        charge_object,
        dispute_object,
        invoice_object,
        session_object,
        stripe_event,
        subscription_object,
    )
    from tests.support.webhooks import sqs_record

    fake = FakeStripe()
    monkeypatch.setattr(reader, "SdkStripeReader", lambda _client: fake)
    monkeypatch.setitem(wiring.BUILDERS, "stripe", applier_from_environment)
    wiring.set_appliers(None)
    name = stack.ref("BillingTable")
    table = BillingTable(clients.dynamodb(), name)
    account = Account(
        id=STRIPE_ACCOUNT,
        name="Acme SARL",
        email="billing@acme.example",
        country="FR",
        currency="EUR",
        created_at=START,
        owner_count=1,
        created_by="user_owner",
    )
    DynamoAccountStore(table).create(
        account, Member(STRIPE_ACCOUNT, "user_owner", EMAIL, Role.OWNER, START), CONTEXT
    )
    coupon = Coupon(code="WELCOME10", name="Welcome", percent_off=Decimal(10), duration="once")
    DynamoCouponStore(table).create(coupon, CONTEXT)
    DynamoPlacementSeats(clients.dynamodb(), name).reserve(
        "dakar", "plumbers", STRIPE_ACCOUNT, until=START + timedelta(minutes=31), capacity=5, at=START,
        reservation_id="res_1", context=CONTEXT,
    )  # fmt: skip
    fake.put(
        subscription_object(reservation="res_1", coupon="WELCOME10"),
        session_object(coupon="WELCOME10", reservation="res_1", user_id="user_buyer", discount=180),
        invoice_object(id="in_1", status="paid"),
    )
    delivered: list[str] = []

    def deliver(kind: str, object_id: str) -> None:
        body = to_message(stripe_event(kind, {"id": object_id}, id=f"evt_observed_{len(delivered)}"))
        delivered.append(body)
        batch = {"Records": [sqs_record(body, arn)]}
        assert _invoke(stack, recorder, "WebhookWorkerFunction", batch)[1] == {"batchItemFailures": []}

    deliver("checkout.session.completed", SESSION)
    deliver("invoice.paid", "in_1")
    fake.put(
        subscription_object(
            status="past_due", start=END, end=NEXT_END, reservation="res_1", coupon="WELCOME10"
        ),
        invoice_object(id="in_2", status="open", start=END, end=NEXT_END, number="ABCD-0002"),
    )
    deliver("invoice.payment_failed", "in_2")
    fake.put(
        subscription_object(
            status="active", start=END, end=NEXT_END, reservation="res_1", coupon="WELCOME10"
        ),
        invoice_object(
            id="in_2", status="paid", start=END, end=NEXT_END, number="ABCD-0002", attempt_count=2
        ),
        charge_object(invoice="in_2", refunds=[("re_1", 600)]),
        dispute_object(),
    )
    deliver("invoice.paid", "in_2")
    deliver("charge.refunded", "ch_1")
    deliver("charge.dispute.created", "dp_1")
    fake.put(
        subscription_object(
            status="canceled", start=END, end=NEXT_END, reservation="res_1", coupon="WELCOME10",
            cancel_at_period_end=True, canceled_at=END, ended_at=NEXT_END,
        ),
        dispute_object(status="won"),
    )  # fmt: skip
    deliver("charge.dispute.closed", "dp_1")
    deliver("customer.subscription.deleted", SUBSCRIPTION)
    again = {"Records": [sqs_record(body, arn) for body in delivered[:10]]}
    assert _invoke(stack, recorder, "WebhookWorkerFunction", again)[1] == {"batchItemFailures": []}


def _drive_tenancy(api: RecordedApi, admin: User, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every accounts route, as a tenant and as staff."""
    tenant = build_tenant(api, "t")  # create, invite, accept, members, join (pending)
    account = f"/v1/accounts/{tenant.account_id}"
    expect(api.call(tenant.owner, "GET", account), 200)
    expect(api.call(tenant.owner, "PATCH", account, {"name": "Renamed"}), 200)
    expect(api.call(tenant.owner, "GET", "/v1/me"), 200)  # profile made; accounts batch-read
    expect(api.call(tenant.owner, "PATCH", "/v1/me", {"locale": "en"}), 200)
    expect(api.call(tenant.owner, "GET", f"{account}/members"), 200)  # names: profiles batch-read
    viewer = tenant.member_ids["viewer"]
    expect(api.call(tenant.owner, "PATCH", f"{account}/members/{viewer}", {"role": "owner"}), 200)
    expect(api.call(tenant.owner, "PATCH", f"{account}/members/{viewer}", {"role": "member"}), 200)
    assert api.call(tenant.owner, "DELETE", f"{account}/members/{viewer}")[0] == 204
    invitations = f"{account}/invitations"
    expect(api.call(tenant.owner, "GET", invitations), 200)
    assert api.call(tenant.owner, "DELETE", f"{invitations}/{tenant.pending_invitation_id}")[0] == 204
    expect(api.call(tenant.owner, "GET", f"{account}/join-requests"), 200)
    expect(
        api.call(tenant.owner, "POST", f"{account}/join-requests/{tenant.pending_join_request_id}/approve"),
        200,
    )
    other = api.new_user("other")
    rejected = expect(api.call(other, "POST", "/v1/accounts/join", {"siren": tenant.siren}), 201)
    expect(api.call(tenant.owner, "POST", f"{account}/join-requests/{rejected['id']}/reject"), 200)
    expect(api.call(tenant.owner, "GET", "/v1/audit", query={"account_id": tenant.account_id}), 200)
    expect(api.call(tenant.owner, "GET", "/v1/audit", query={"entity": f"account:{tenant.account_id}"}), 200)
    expect(api.call(tenant.member, "POST", "/v1/auth/logout"), 200)

    # Staff: accounts for others (SIREN/SIRET claims; a second claim is a 409), the verified
    # domain, the status machine, every audit record.
    company = {"name": "Dupont SAS", "email": "contact@dupont.fr", "country": "FR", "currency": "EUR"}
    numbers = {"siren": "732829320", "siret": "73282932000074"}
    expect(api.call(admin, "POST", "/v1/accounts", {**company, **numbers}), 201)
    assert api.call(admin, "POST", "/v1/accounts", {**company, **numbers})[0] == 409
    expect(api.call(api.new_user("contact"), "POST", "/v1/accounts/join", {"siret": numbers["siret"]}), 201)
    expect(api.call(admin, "PATCH", account, {"email_domain": "t.example.com"}), 200)
    expect(api.call(admin, "POST", f"{account}/status", {"status": "active", "reason": "KYC done"}), 200)
    expect(api.call(admin, "GET", "/v1/audit"), 200)
    expect(api.call(admin, "POST", "/v1/auth/logout"), 200)  # a Cognito user: AdminUserGlobalSignOut

    _drive_billing(api, admin, tenant.owner)
    _drive_checkout(api, admin, tenant.owner)

    # Client retries: the second is answered from the idempotency record.
    once = {"idempotency-key": "k1"}
    assert api.call(tenant.owner, "POST", "/v1/accounts", company, once)[0] == 201
    assert api.call(tenant.owner, "POST", "/v1/accounts", company, once)[0] == 201

    def refuse(*_: object) -> None:
        raise Conflict("taken")

    # A failed create removes its idempotency record, so a retry can run again.
    monkeypatch.setattr(DynamoAccountStore, "create", refuse)
    assert api.call(tenant.owner, "POST", "/v1/accounts", company, {"idempotency-key": "k2"})[0] == 409
    monkeypatch.undo()


def _drive_billing(api: RecordedApi, admin: User, owner: User) -> None:
    """Issue 7, catalogue half: the catalogue as staff and the public, a subscription as an owner
    of a new account (which follows it: pending -> active), with a coupon (issue 8)."""
    company = {"name": "Trial SARL", "email": "trial@example.com", "country": "SN", "currency": "XOF"}
    account_id = expect(api.call(owner, "POST", "/v1/accounts", company), 201)["id"]

    def billing(
        who: User | None, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        event = http_event(method, path, body=body, claims=who.claims() if who else None, headers=headers)
        return _invoke(api.stack, api.recorder, "BillingFunction", event)

    catalogue = json.loads(
        resources.files("tally.billing.catalogues").joinpath("smartqueue.json").read_text()
    )
    assert billing(admin, "POST", "/v1/plans/import", catalogue)[0] == 200
    assert billing(None, "GET", "/v1/plans")[0] == 200
    assert billing(admin, "GET", "/v1/plans/essential/versions")[0] == 200
    # Issue 8: coupons, one redeemed with the subscription, one never used and deleted.
    coupon = {"code": "welcome", "name": "Welcome", "percent_off": "10", "max_redemptions": 5}
    assert billing(admin, "POST", "/v1/coupons", coupon)[0] == 201
    assert billing(admin, "POST", "/v1/coupons", {**coupon, "code": "spare"})[0] == 201
    assert billing(admin, "GET", "/v1/coupons")[0] == 200
    assert billing(admin, "PATCH", "/v1/coupons/welcome", {"max_per_account": 1})[0] == 200
    assert billing(admin, "DELETE", "/v1/coupons/spare")[0] == 204
    start = {"plan": "essential", "cycle": "monthly", "currency": "XOF", "coupon": "WELCOME"}
    path = f"/v1/accounts/{account_id}/subscription"
    # A retried start is answered from its idempotency record; a refused one (the account has a
    # live subscription now) removes its record.
    assert billing(owner, "POST", path, start, {"idempotency-key": "s1"})[0] == 201
    assert billing(owner, "POST", path, start, {"idempotency-key": "s1"})[0] == 201
    assert billing(owner, "POST", path, start, {"idempotency-key": "s2"})[0] == 409
    assert billing(admin, "POST", "/v1/coupons/welcome/deactivate")[0] == 200
    assert billing(admin, "POST", "/v1/coupons", {**coupon, "code": "oneoff", "percent_off": "5"})[0] == 201
    _drive_invoices(api, admin, owner, account_id)


def _drive_checkout(api: RecordedApi, admin: User, owner: User) -> None:
    """Issue 9: checkouts with a coupon and a placement until it is full, an expired reservation
    reclaimed, a retry answered from its idempotency record, the placement read, and the
    self-service routes of a subscription paid through Stripe, whose key is read from Secrets
    Manager (Stripe itself is a stub of its HTTP API under the real SDK)."""
    import os

    import stripe
    from checkout import wiring

    from tally.accounts.dynamo.table import BillingTable
    from tally.audit.records import Actor, AuditContext
    from tally.billing import subscription_state as machine
    from tally.billing.periods import Period
    from tally.parameters import SecretString
    from tally.payments.stripe_gateway import StripeGateway
    from tally.subscriptions.dynamo import DynamoSubscriptionStore
    from tests.support.stripe_http import StubStripeHttp

    http = StubStripeHttp()

    def client() -> stripe.StripeClient:
        key = SecretString(os.environ["STRIPE_SECRET_KEY_ARN"], "STRIPE_SECRET_KEY_ARN")()
        return stripe.StripeClient(key, http_client=http, max_network_retries=0)

    company = {"name": "Plombiers SARL", "email": "p@example.com", "country": "SN", "currency": "EUR"}
    account_id = expect(api.call(owner, "POST", "/v1/accounts", company), 201)["id"]

    def checkout(who: User, method: str, path: str, body: Any = None, key: str | None = None) -> int:
        headers = {"x-account-id": account_id} | ({"idempotency-key": key} if key else {})
        event = http_event(method, path, body=body, claims=who.claims(), headers=headers)
        event["requestContext"]["requestId"] = f"req-{path}-{key}-{len(http.requests)}"
        return _invoke(api.stack, api.recorder, "CheckoutFunction", event)[0]

    urls = {"success_url": "https://app.example.com/ok", "cancel_url": "https://app.example.com/ko"}
    placed = {
        "plan": "bronze",
        "cycle": "monthly",
        "currency": "EUR",
        "coupon": "ONEOFF",
        "placement": {"location_id": "dakar", "category_id": "bakers"},
        **urls,
    }
    wiring.use_stripe(StripeGateway(client))
    try:
        for index in range(5):
            assert checkout(owner, "POST", "/v1/billing/checkout", placed, f"c{index}") == 201
        assert checkout(owner, "POST", "/v1/billing/checkout", placed, "c0") == 201  # a retry
        assert checkout(owner, "POST", "/v1/billing/checkout", placed, "c5") == 409  # full
        clock.set_clock(FixedClock(datetime.now(UTC) + timedelta(minutes=32)))
        try:
            assert checkout(owner, "POST", "/v1/billing/checkout", placed, "c6") == 201  # reclaims
        finally:
            clock.set_clock(None)
        assert checkout(owner, "GET", "/v1/placements/dakar/bakers") == 200
        plain = {"plan": "bronze", "cycle": "monthly", "currency": "EUR", **urls}
        assert checkout(admin, "POST", "/v1/billing/checkout", plain, "a1") == 201  # staff (MFA)
        now = datetime.now(UTC)
        subscription = machine.start_active(
            id="sub_observed",
            account_id=account_id,
            plan_code="bronze",
            plan_version=1,
            cycle="monthly",
            currency="EUR",
            time_zone="Europe/Paris",
            period=Period(0, now - timedelta(days=1), now + timedelta(days=29)),
            at=now,
            reason="Checkout completed",
            collection="stripe",
        ).model_copy(update={"stripe_subscription_id": "sub_stripe", "stripe_customer_id": "cus_1"})
        table = BillingTable(clients.dynamodb(), api.stack.ref("BillingTable"))
        DynamoSubscriptionStore(table).create(
            subscription, None, None, AuditContext(Actor.system("t"), "r", None, None)
        )
        base = "/v1/billing/subscription"
        assert checkout(owner, "GET", base) == 200
        assert checkout(owner, "POST", f"{base}/cancel") == 200
        assert checkout(owner, "POST", f"{base}/resume") == 200
        assert checkout(owner, "POST", f"{base}/preview-change", {"plan": "silver"}) == 200
        assert checkout(owner, "POST", f"{base}/change", {"plan": "silver"}) == 200
        assert (
            checkout(owner, "POST", "/v1/billing/portal", {"return_url": "https://app.example.com/b"}) == 200
        )
    finally:
        wiring.use_stripe(None)


def _drive_invoices(api: RecordedApi, admin: User, owner: User, account_id: str) -> None:
    """Issue 8: the seller's settings, a one-off invoice with a coupon from draft to paid (PDF and
    emails), a credit note, and the readers' routes."""

    def invoices(who: User, method: str, path: str, body: Any = None, query: Any = None) -> Any:
        event = http_event(method, path, body=body, claims=who.claims(), query=query)
        status, answer = _invoke(api.stack, api.recorder, "InvoicesFunction", event)
        assert status < 300 or status == 302, (method, path, status, answer)
        return answer

    settings = invoices(admin, "GET", "/v1/settings/billing")
    invoices(admin, "PUT", "/v1/settings/billing", {**settings, "payment_terms_days": 30})
    line = {"description": "Onboarding", "unit_amount": 150000, "tax_rate": "sn_vat_18"}
    body = {"account_id": account_id, "currency": "XOF", "lines": [line], "coupon": "ONEOFF"}
    draft = invoices(admin, "POST", "/v1/invoices", body)
    one = f"/v1/invoices/{draft['id']}"
    invoices(admin, "PATCH", one, {"memo": "PO 12"})
    invoice = invoices(admin, "POST", f"{one}/finalize")
    payment = {
        "amount": 1000,
        "method": "bank_transfer",
        "reference": "VIR 1",
        "received_at": "2026-01-02T00:00:00Z",
    }
    invoices(admin, "POST", f"{one}/payments", payment)
    rest = {**payment, "amount": invoice["amount_due"] - 1000, "reference": "VIR 2"}
    invoices(admin, "POST", f"{one}/payments", rest)
    invoices(admin, "POST", f"{one}/credit-notes", {"amount": 500, "reason": "Goodwill", "refund": True})
    invoices(owner, "GET", one)
    invoices(owner, "GET", f"{one}/credit-notes")
    invoices(owner, "GET", f"/v1/accounts/{account_id}/invoices", query={"status": "paid"})
    invoices(admin, "GET", "/v1/invoices")
    invoices(admin, "GET", "/v1/invoices", query={"account_id": account_id})
    other = invoices(admin, "POST", "/v1/invoices", {**body, "coupon": None})
    invoices(admin, "POST", f"/v1/invoices/{other['id']}/finalize")
    invoices(admin, "POST", f"/v1/invoices/{other['id']}/mark-uncollectible", {"reason": "Gone"})
    invoices(admin, "POST", f"/v1/invoices/{other['id']}/void", {})
    invoices(owner, "GET", f"{one}/pdf")
    invoices(admin, "POST", f"{one}/pdf")
    note = invoices(owner, "GET", f"{one}/credit-notes")["credit_notes"][0]
    invoices(owner, "GET", f"{one}/credit-notes/{note['id']}/pdf", query={"redirect": "1"})
    _drive_subscription_invoices(api, admin, owner, invoices)


def _drive_subscription_invoices(api: RecordedApi, admin: User, owner: User, invoices: Any) -> None:
    """A card-less trial's plan starts incomplete: its first invoice, paid, activates it (and the
    account follows); a period later, the next invoice rolls it over with last period's usage."""

    def billing(who: User, method: str, path: str, body: Any = None) -> Any:
        event = http_event(method, path, body=body, claims=who.claims())
        status, answer = _invoke(api.stack, api.recorder, "BillingFunction", event)
        assert status < 300, (method, path, status, answer)
        return answer

    catalogue = json.loads(
        resources.files("tally.billing.catalogues").joinpath("esxi-backup.json").read_text()
    )
    billing(admin, "POST", "/v1/plans/import", catalogue)
    company = {"name": "Backup SARL", "email": "backup@example.com", "country": "FR", "currency": "EUR"}
    account_id = expect(api.call(owner, "POST", "/v1/accounts", company), 201)["id"]
    start = {"plan": "silver", "cycle": "monthly", "currency": "EUR"}
    started = billing(owner, "POST", f"/v1/accounts/{account_id}/subscription", start)
    assert started["status"] == "incomplete"
    path = f"/v1/accounts/{account_id}/subscription/invoice"
    first = invoices(admin, "POST", path)["invoice"]
    opened = invoices(admin, "POST", f"/v1/invoices/{first['id']}/finalize")
    paid = {
        "amount": opened["amount_due"],
        "method": "cash",
        "reference": "R1",
        "received_at": "2026-01-02T00:00:00Z",
    }
    invoices(admin, "POST", f"/v1/invoices/{first['id']}/payments", paid)
    period_end = datetime.fromisoformat(started["current_period_end"])
    clock.set_clock(FixedClock(period_end + timedelta(days=1)))
    try:
        assert invoices(admin, "POST", path)["invoice"]["period_start"] == started["current_period_end"]
    finally:
        clock.set_clock(None)


def _drive_api_keys(stack: Stack, recorder: Recorder, owner: User, admin: User) -> None:
    """An owner creates, lists and revokes a key; the authorizer checks it; stats read with it."""
    path = f"/v1/accounts/{ACCOUNT}/api-keys"
    route = "/v1/accounts/{account_id}/api-keys"

    def accounts(method: str, *, key_id: str = "", body: Any = None, claims: Any = None) -> tuple[int, Any]:
        event = http_event(
            method,
            f"{path}/{key_id}" if key_id else path,
            body=body,
            claims=claims or owner.claims(),
            route=f"{method} {route}" + ("/{key_id}" if key_id else ""),
            path_parameters={"account_id": ACCOUNT, **({"key_id": key_id} if key_id else {})},
        )
        return _invoke(stack, recorder, "AccountsFunction", event)

    def authorize(secret: str) -> dict[str, Any]:
        header = f"Bearer {secret}"
        event = {
            "version": "2.0",
            "type": "REQUEST",
            "identitySource": [header],
            "headers": {"authorization": header},
        }
        answer: dict[str, Any] = _invoke(stack, recorder, "AuthorizerFunction", event)[1]
        return answer

    status, created = accounts("POST", body={"name": "server", "scopes": ["stats:read"]})
    assert status == 201
    assert accounts("GET")[0] == 200
    allowed = authorize(created["secret"])
    assert allowed["context"]["kind"] == "api_key"
    stats = http_event("GET", "/v1/track/stats", query={"account_id": ACCOUNT})
    stats["requestContext"]["authorizer"] = {"lambda": allowed["context"]}
    assert _invoke(stack, recorder, "TrackingFunction", stats)[0] == 200
    assert accounts("DELETE", key_id=created["id"])[0] == 200
    assert accounts("GET", claims=admin.claims())[0] == 200  # staff with MFA on (asked of Cognito)


def _drive_sign_in(stack: Stack, recorder: Recorder) -> None:
    """Every auth route: Cognito's user-facing calls (no IAM) and the SES notice (IAM)."""

    def auth(path: str, body: dict[str, Any], claims: dict[str, Any] | None = None) -> tuple[int, Any]:
        return _invoke(stack, recorder, "AuthFunction", http_event("POST", path, body=body, claims=claims))

    def code() -> str:
        found = re.search(r"\b(\d{6})\b", MAILBOX.messages("new@example.com")[0].text)
        assert found
        return found.group(1)

    new = {"email": "new@example.com", "password": PASSWORD, "name": "New"}
    assert auth("/v1/auth/register", new)[0] == 202
    assert auth("/v1/auth/resend-code", {"email": new["email"]})[0] == 202
    assert auth("/v1/auth/confirm", {"email": new["email"], "code": code()})[0] == 200
    assert auth("/v1/auth/register", {**new, "email": EMAIL})[0] == 202  # confirmed: SES notice
    assert MAILBOX.messages(EMAIL)[0].source == "ses"
    assert auth("/v1/auth/password-reset", {"email": new["email"]})[0] == 202
    reset = {"email": new["email"], "code": code(), "new_password": PASSWORD + "x"}
    assert auth("/v1/auth/password-reset/confirm", reset)[0] == 200
    status, tokens = auth("/v1/auth/login", {"email": EMAIL, "password": PASSWORD})
    assert status == 200
    assert auth("/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]})[0] == 200
    claims = {"sub": unverified_claims(tokens["id_token"])["sub"], "email": EMAIL}
    status, setup = auth("/v1/me/mfa/setup", {"access_token": tokens["access_token"]}, claims)
    assert status == 200
    verify = {"access_token": tokens["access_token"], "code": current_code(setup["secret"])}
    assert auth("/v1/me/mfa/verify", verify, claims)[0] == 200
    status, challenge = auth("/v1/auth/login", {"email": EMAIL, "password": PASSWORD})
    assert challenge["mfa_required"] is True
    answer = {"email": EMAIL, "session": challenge["session"], "code": current_code(setup["secret"])}
    assert auth("/v1/auth/login/mfa", answer)[0] == 200


def test_calls_and_grants_match(stack: Stack, recorder: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    _drive_every_flow(stack, recorder, monkeypatch)
    template = load_template(ROOT / "template.yaml")
    granted: dict[str, set[Grant]] = {
        function.logical_id: grants(template, function)
        for function in template.of_type("AWS::Serverless::Function")
    }

    denied = [
        call
        for call in recorder.calls
        if not allows(granted[call.function], call.action, call.resource, call.partition_key)
    ]
    assert denied == [], "\n".join(map(str, denied))

    unused = []
    for function, held in granted.items():
        for action, resource, prefixes in held:
            if (
                not action.startswith(("dynamodb:", "secretsmanager:", "ses:", "cognito-idp:", "s3:"))
                or action in LAMBDA_ACTIONS
            ):
                continue  # logs, the DLQ and stream reads are Lambda's doing, not the code's
            for pattern in sorted(prefixes) if prefixes else [None]:
                if (function, action, pattern) in NOT_EXERCISED:
                    continue
                single: set[Grant] = {(action, resource, frozenset({pattern}) if pattern else None)}
                if not any(
                    call.function == function
                    and allows(single, call.action, call.resource, call.partition_key)
                    for call in recorder.calls
                ):
                    unused.append((function, action, resource, pattern))
    assert unused == [], "\n".join(map(str, unused))
    assert not any(call.function == "DocsFunction" for call in recorder.calls)
    # Cognito's user-facing calls are unsigned: the auth function's only IAM-checked call is SES's.
    assert {(call.action, call.resource) for call in recorder.calls if call.function == "AuthFunction"} == {
        ("ses:SendEmail", "SenderEmailIdentity")
    }
    # The recording is real: the transaction's items and the salt read were seen.
    assert Call("TrackingFunction", "dynamodb:PutItem", "EventsTable", None) not in recorder.calls
    assert {call.action for call in recorder.calls if call.function == "TrackingFunction"} == {
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:BatchGetItem",
        "dynamodb:GetItem",
        "secretsmanager:GetSecretValue",
        "cognito-idp:AdminGetUser",
    }
    # The authorizer's UpdateItem touches only what its dynamodb:Attributes condition allows.
    authorizer_updates = [params for function, params in recorder.updates if function == "AuthorizerFunction"]
    assert authorizer_updates
    for params in authorizer_updates:
        expressions = re.sub(r":\w+", "", f"{params['UpdateExpression']} {params['ConditionExpression']}")
        named = set(re.findall(r"\b[A-Za-z_]+\b", expressions)) - {
            "SET",
            "AND",
            "OR",
            "attribute_exists",
            "attribute_not_exists",
        }
        assert named <= {"PK", "SK", "last_used_at"}, named
        assert params.get("ReturnValues", "NONE") == "NONE"
    # Every audit record went in a transaction with its change (never a lone PutItem call).
    assert Call("AccountsFunction", "dynamodb:PutItem", "BillingTable", None) not in recorder.calls


# --- issue 7, usage half -------------------------------------------------------------------------


def _drive_usage(stack: Stack, recorder: Recorder, owner: User, admin: User) -> None:
    """Every usage route: metrics, events under hard and soft quotas (the soft one's emails and
    violation), checks, usage, charges, entitlements, overrides, violations."""
    from datetime import UTC, datetime, timedelta

    from tests.support.usage import plan_version, plan_version_item, subscription_item

    table = stack.ref("BillingTable")
    start = datetime.now(UTC) - timedelta(days=1)
    clients.dynamodb().put_item(TableName=table, Item=plan_version_item("starter", 1, plan_version()))
    clients.dynamodb().put_item(
        TableName=table,
        Item=subscription_item(
            ACCOUNT, "starter", 1, anchor=start, period_start=start, period_end=start + timedelta(days=30)
        ),
    )

    def usage(method: str, path: str, who: Any, body: Any = None, query: Any = None) -> tuple[int, Any]:
        if isinstance(who, dict):
            event = http_event(method, path, body=body, query=query)
            event["requestContext"]["authorizer"] = {"lambda": who}
        else:
            event = http_event(method, path, body=body, query=query, claims=who.claims())
        return _invoke(stack, recorder, "UsageFunction", event)

    key = {"kind": "api_key", "key_id": "key_obs", "account_id": ACCOUNT, "scopes": "usage:write usage:read"}
    for code, aggregation in (("api_calls", "sum"), ("sms", "count")):
        body = {"code": code, "name": code, "aggregation": aggregation}
        assert usage("POST", "/v1/metrics", admin, body)[0] == 201
    assert usage("GET", "/v1/metrics", key)[0] == 200
    events = [{"id": f"obs-{n}", "metric": "sms"} for n in range(11)] + [
        {"id": "obs-api", "metric": "api_calls", "quantity": 500}
    ]
    status, answer = usage("POST", "/v1/usage", key, {"events": events})
    assert status == 202
    assert [r["status"] for r in answer["results"]][-1] == 409
    assert usage("POST", "/v1/quotas/check", key, {"metric": "api_calls", "quantity": 1})[0] == 200
    account = f"/v1/accounts/{ACCOUNT}"
    for path in ("usage", "usage/charges", "entitlements", "quota-violations"):
        assert usage("GET", f"{account}/{path}", owner)[0] == 200, path
    overrides = {"reason": "Observed", "quotas": {"sms": None}}
    assert usage("PUT", f"{account}/overrides", admin, overrides)[0] == 200
    assert usage("GET", "/v1/quota-violations", admin)[0] == 200


# --- issue 10, scheduled jobs ------------------------------------------------------------------


def _drive_jobs(stack: Stack, recorder: Recorder, admin: User, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each daily job planned (the planner) and worked (the worker, fed from JobsQueue as the event
    source mapping feeds it): a renewal, a trial's reminders and end, an expiry; the renewal's
    invoice overdue (dunning), then charged to the saved card (payment retries, against the local
    Stripe sandbox, the key read from Secrets Manager); an item failing until it is
    dead-lettered; its listing and replay, and the runs (JobsFunction)."""
    import os

    import stripe

    from local.stripe import StripeSandbox
    from tally.accounts.dynamo.table import BillingTable
    from tally.billing.catalogue_files import load_catalogue
    from tally.checkout.dynamo import DynamoCheckoutStore
    from tally.jobs import wiring
    from tally.parameters import SecretString
    from tally.plans.dynamo import DynamoPlanStore
    from tally.plans.service import CatalogueService
    from tally.retries import wiring as retries_wiring
    from tally.subscriptions.service import SubscriptionService
    from tests.support.billing import CONTEXT
    from tests.support.jobs import sqs_event
    from tests.support.tenancy import seed_account

    start = datetime(2026, 3, 1, 10, tzinfo=UTC)
    clock.set_clock(FixedClock(start))
    try:
        with stack.environment("JobsPlannerFunction"):
            wiring.reset()
            table = wiring.table()
            catalogue = CatalogueService(DynamoPlanStore(table))
            catalogue.import_catalogue(load_catalogue("smartqueue"), CONTEXT)
            service = SubscriptionService(
                wiring.deps().subscriptions, catalogue, DynamoAccountStore(table), time_zone="Europe/Paris"
            )
            for account_id in ("acc_renews", "acc_trial", "acc_ends"):
                seed_account(
                    stack, account_id, email=f"{account_id}@example.com", country="SN", currency="XOF"
                )
                seed_member(stack, account_id, User(f"sub-{account_id}", f"owner-{account_id}@example.com"))
                active = "Deal" if account_id != "acc_trial" else None
                service.start(account_id, "essential", "monthly", "XOF", CONTEXT, active_reason=active)
            service.cancel("acc_ends", True, "Moving on", CONTEXT)
            wiring.reset()
        # Payment retries (issue 10, job 3): acc_renews has a Stripe customer with a saved card.
        sandbox = StripeSandbox(port=0).start()
        stack.client("secretsmanager").put_secret_value(
            SecretId=stack.ref("StripeSecretKeySecret"), SecretString="sk_test_observed"
        )

        def sandbox_client() -> stripe.StripeClient:
            key = SecretString(os.environ["STRIPE_SECRET_KEY_ARN"], "STRIPE_SECRET_KEY_ARN")()
            return stripe.StripeClient(key, base_addresses={"api": sandbox.base_url}, max_network_retries=0)

        monkeypatch.setattr(retries_wiring, "stripe_client", sandbox_client)
        customer = stripe.StripeClient("sk_test_observed", base_addresses={"api": sandbox.base_url})
        card: Any = {
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
        saved = customer.v1.customers.create(params=card)
        billing_table = BillingTable(clients.dynamodb(), stack.ref("BillingTable"))
        DynamoCheckoutStore(billing_table).link_customer("acc_renews", saved.id, CONTEXT)
        queue, dead_letters = stack.ref("JobsQueue"), stack.ref("JobsDeadLetterQueue")
        sqs = clients.sqs()

        def plan(job: str, as_of: datetime) -> None:
            clock.set_clock(FixedClock(as_of))
            _invoke(stack, recorder, "JobsPlannerFunction", {"job": job, "as_of": as_of.isoformat()})

        def work() -> None:
            while messages := sqs.receive_message(
                QueueUrl=queue,
                MaxNumberOfMessages=10,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            ).get("Messages", []):
                event = sqs_event([m["Body"] for m in messages], ids=[m["MessageId"] for m in messages])
                answer = _invoke(stack, recorder, "JobsWorkerFunction", event)[1]
                assert answer == {"batchItemFailures": []}, answer
                for message in messages:
                    sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])

        trial_end = start + timedelta(days=14)
        plan("trials", trial_end - timedelta(days=7))  # a reminder to the owner
        plan("trials", trial_end)  # the end: incomplete, its first invoice
        work()
        period_end = datetime(2026, 4, 1, 10, tzinfo=UTC)
        plan("recurring-invoicing", period_end)
        plan("expiry", period_end)  # the end: canceled, the account cancelled
        work()

        # Dunning (issue 10, its job registered here): the renewal's invoice, unpaid a day past due.
        renewed = [
            json.loads(str(item["body"]["S"]))
            for item in clients.dynamodb().query(
                TableName=stack.ref("BillingTable"),
                IndexName="GSI1",
                KeyConditionExpression="GSI1PK = :pk",
                ExpressionAttributeValues={":pk": {"S": "INVOICES#acc_renews"}},
            )["Items"]
        ]
        [(due, renewed_id)] = [
            (invoice["due_date"], invoice["id"]) for invoice in renewed if invoice["status"] == "open"
        ]
        overdue = datetime.fromisoformat(due).replace(hour=10, tzinfo=UTC) + timedelta(days=1)
        plan("dunning", overdue)
        work()
        # Attempt 0 (scheduled by the renewal, run late here): the card pays the overdue invoice,
        # which restores the past-due subscription.
        plan("payment-retries", overdue)
        work()
        stored = clients.dynamodb().get_item(
            TableName=stack.ref("BillingTable"), Key=keys.invoice(renewed_id)
        )
        paid = json.loads(str(stored["Item"]["body"]["S"]))
        assert paid["status"] == "paid", paid
        sandbox.stop()

        # An item that fails every attempt: its reason kept, counted failed, dead-lettered.
        run_id = "20260401T100000.000000Z-obs"
        broken = json.dumps(
            {"job": "trials", "key": "broken", "data": {}, "as_of": period_end.isoformat(), "run": run_id}
        )
        sqs.send_message(QueueUrl=queue, MessageBody=broken)
        for attempt in (1, 2, 3):
            [message] = sqs.receive_message(QueueUrl=queue, VisibilityTimeout=0)["Messages"]
            answer = _invoke(stack, recorder, "JobsWorkerFunction", sqs_event([message["Body"]], attempt))[1]
            assert len(answer["batchItemFailures"]) == 1
        assert sqs.receive_message(QueueUrl=queue).get("Messages", []) == []  # moved to the DLQ

        def jobs(method: str, path: str, query: dict[str, str] | None = None) -> Any:
            event = http_event(method, path, claims=admin.claims(), query=query)
            status, answer = _invoke(stack, recorder, "JobsFunction", event)
            assert status == 200, (path, answer)
            return answer

        jobs("GET", "/v1/jobs/runs", {"job": "trials"})
        [letter] = jobs("GET", "/v1/jobs/dead-letters")["dead_letters"]
        assert letter["reason"].startswith("KeyError")
        jobs("POST", f"/v1/jobs/dead-letters/{letter['id']}/replay")
        assert sqs.receive_message(QueueUrl=dead_letters, VisibilityTimeout=0).get("Messages", []) == []
    finally:
        clock.set_clock(None)
