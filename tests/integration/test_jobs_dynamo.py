"""The scheduled jobs over moto, through the production wiring: the planner's SQS messages
delivered to the worker, the DueIndex read by range, invoices, emails (SES, the local mailbox),
runs recorded, dead letters listed and replayed through the admin routes.

Each job runs twice for the same day, and concurrently, and changes nothing the second time; a
year of monthly renewals of an XOF subscription gives twelve invoices numbered in sequence and
twelve emails; the planner's reads are the same with ten times more subscriptions not due.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest

from local.mailbox import MAILBOX
from tally import clock
from tally.accounts.dynamo.accounts import DynamoAccountStore
from tally.billing.catalogue_files import load_catalogue
from tally.billing.subscription_state import Subscription
from tally.clock import FixedClock
from tally.jobs import wiring
from tally.jobs.base import JobName
from tally.jobs.planner import run_planner
from tally.jobs.registry import job_for
from tally.jobs.runs import JobRun
from tally.jobs.worker import JobWorker
from tally.plans.dynamo import DynamoPlanStore
from tally.plans.service import CatalogueService
from tally.storage import clients, keys
from tally.storage.items import from_item
from tally.subscriptions.dynamo import subscription_item
from tally.subscriptions.service import SubscriptionService
from tests.support.billing import CONTEXT
from tests.support.events import FakeContext, http_event
from tests.support.jobs import drain
from tests.support.stack import Stack
from tests.support.tenancy import User, seed_account, seed_member, staff

AT = datetime(2026, 1, 15, 10, tzinfo=UTC)  # Africa/Dakar: UTC all year
OWNER = User("sub-owner", "owner@acme.sn")
ADMIN = User("sub-admin", "admin@acme.sn")
BILLING = "billing@acme.sn"


class World:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.clock = FixedClock(AT)
        clock.set_clock(self.clock)
        wiring.reset()
        self.deps = wiring.deps()
        self.table = wiring.table()
        seller = self.deps.settings.current().model_dump(mode="json")
        numbering = {"format": "INV-{NNNNN}", "reset": "never"}
        self.deps.settings.replace(
            seller | {"time_zone": "Africa/Dakar", "invoice_numbering": numbering}, CONTEXT
        )
        catalogue = CatalogueService(DynamoPlanStore(self.table))
        catalogue.import_catalogue(load_catalogue("smartqueue"), CONTEXT)
        self.service = SubscriptionService(
            self.deps.subscriptions, catalogue, DynamoAccountStore(self.table), time_zone="Africa/Dakar"
        )
        self.sqs = clients.sqs()
        self.queue_url = stack.ref("JobsQueue")
        self.worker = JobWorker(lambda name: job_for(name, self.deps), wiring.runs())

    def account(self, account_id: str = "acc1", status: str = "active") -> None:
        seed_account(
            self.stack,
            account_id,
            name="Acme SARL",
            email=BILLING,
            country="SN",
            currency="XOF",
            status=status,
        )
        seed_member(self.stack, account_id, OWNER)
        seed_member(self.stack, account_id, ADMIN)
        members = self.table.client
        members.update_item(
            TableName=self.table.name,
            Key=keys.member(account_id, ADMIN.sub),
            UpdateExpression="SET #role = :admin",
            ExpressionAttributeNames={"#role": "role"},
            ExpressionAttributeValues={":admin": {"S": "admin"}},
        )

    def run(self, name: JobName, as_of: datetime) -> JobRun:
        self.clock.at = as_of
        run = run_planner(job_for(name, self.deps), as_of, wiring.queue(), wiring.runs())
        drain(self.sqs, self.queue_url, self.worker)
        return run

    def current(self, account_id: str = "acc1") -> Subscription:
        subscription = self.deps.subscriptions.current(account_id)
        assert subscription is not None
        return subscription

    def invoices(self, account_id: str = "acc1") -> list[dict[str, Any]]:
        answer = self.table.client.query(
            TableName=self.table.name,
            IndexName="GSI1",
            KeyConditionExpression="GSI1PK = :pk",
            ExpressionAttributeValues={":pk": {"S": f"{keys.INVOICES_OF_ACCOUNT}{account_id}"}},
        )
        bodies = [json.loads(str(from_item(item)["body"])) for item in answer["Items"]]
        return sorted(bodies, key=lambda body: str(body["period_start"]))

    def snapshot(self) -> tuple[Any, ...]:
        return (
            [(i["id"], i["number"], i["status"]) for i in self.invoices()],
            len(MAILBOX.messages()),
            self.current().model_dump(),
        )


@pytest.fixture
def world(stack: Stack) -> Iterator[World]:
    with stack.environment("JobsPlannerFunction"):
        try:
            yield World(stack)
        finally:
            clock.set_clock(None)
            wiring.reset()


def test_a_year_of_monthly_renewals_twice_a_day_and_concurrently(world: World) -> None:
    world.account()
    world.service.start("acc1", "essential", "monthly", "XOF", CONTEXT, active_reason="Deal")
    stored = world.table.get(keys.subscription("acc1", world.current().id))
    assert stored is not None
    assert stored["DUEPK"]["S"] == "RENEWALS_DUE"
    assert stored["DUESK"]["S"].startswith("2026-02-15T10:00:00.000000Z#sub_")

    renewal = datetime(2026, 2, 15, 2, tzinfo=UTC)
    for month in range(12):
        day = renewal.replace(year=2026 + (1 + month) // 12, month=(1 + month) % 12 + 1)
        # Two overlapping runs on the renewal day: one invoice, one email between them.
        with ThreadPoolExecutor(max_workers=2) as pool:
            planned = [run.planned for run in pool.map(partial(world.run, "recurring-invoicing"), [day, day])]
        assert 1 <= sum(planned) <= 2
        assert len(world.invoices()) == month + 1
        before = world.snapshot()
        # The same day again: nothing is due any more, nothing changes.
        assert world.run("recurring-invoicing", day).planned == 0
        assert world.snapshot() == before

    invoices = world.invoices()
    assert [invoice["number"] for invoice in invoices] == [f"INV-{n:05d}" for n in range(1, 13)]
    assert {invoice["currency"] for invoice in invoices} == {"XOF"}
    assert {invoice["status"] for invoice in invoices} == {"open"}
    issued = [m for m in MAILBOX.messages(BILLING) if "INV-" in m.subject]
    assert len(issued) == 12
    assert world.current().current_period_start == datetime(2027, 1, 15, 10, tzinfo=UTC)
    runs, _cursor = wiring.runs().page("recurring-invoicing", limit=100)
    assert len(runs) == 36
    assert runs[0].started_at >= runs[-1].started_at  # newest first
    # Every item planned was worked (some twice: two workers may receive one message, as SQS
    # may deliver one twice); twelve of them did something.
    assert sum(run.done - run.skipped for run in runs) == 12


def test_the_same_items_worked_concurrently_make_one_invoice_and_one_email(world: World) -> None:
    world.account()
    world.service.start("acc1", "essential", "monthly", "XOF", CONTEXT, active_reason="Deal")
    day = datetime(2026, 2, 15, 2, tzinfo=UTC)
    world.clock.at = day
    job = job_for("recurring-invoicing", world.deps)
    [item] = list(job.plan(day))
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = sorted(w.outcome for w in pool.map(lambda _: job.work(item, day), range(4)))
    assert outcomes == ["done", "skipped", "skipped", "skipped"]
    assert len(world.invoices()) == 1
    assert len(MAILBOX.messages(BILLING)) == 1


def test_trials_remind_owners_and_admins_then_end_incomplete_with_the_first_invoice(world: World) -> None:
    world.account()
    trial = world.service.start("acc1", "essential", "monthly", "XOF", CONTEXT)
    assert trial.trial_end == AT + timedelta(days=14)
    for offset in range(1, 16):
        day = (AT + timedelta(days=offset)).replace(hour=2)
        world.run("trials", day)
        before = world.snapshot()
        world.run("trials", day)
        assert world.snapshot() == before
    for who in (OWNER, ADMIN):
        subjects = [m.subject for m in MAILBOX.messages(who.email)]
        assert len(subjects) == 3, subjects
    ended = world.current()
    assert ended.status == "incomplete"
    [invoice] = world.invoices()
    assert datetime.fromisoformat(invoice["period_start"]) == AT + timedelta(days=14)
    assert invoice["status"] == "open"
    assert len(MAILBOX.messages(BILLING)) == 1


def test_expiry_reminds_then_ends_the_subscription_and_cancels_the_account(world: World) -> None:
    world.account()
    world.service.start("acc1", "essential", "monthly", "XOF", CONTEXT, active_reason="Deal")
    world.clock.at = AT + timedelta(days=1)
    world.service.cancel("acc1", True, "Moving on", CONTEXT)
    for offset in range(2, 32):
        day = (AT + timedelta(days=offset)).replace(hour=2)
        world.run("expiry", day)
        world.run("expiry", day)
    assert len(MAILBOX.messages(OWNER.email)) == 3
    assert len(MAILBOX.messages(ADMIN.email)) == 3
    assert world.current().status == "canceled"
    account = world.table.get(keys.account("acc1"))
    assert account is not None
    assert account["status"]["S"] == "cancelled"


def _reads(world: World, as_of: datetime) -> int:
    """Items the planner's queries read (Count of each DueIndex Query)."""
    counted: list[int] = []

    def count(**kwargs: Any) -> None:
        if kwargs["model"].name == "Query":
            counted.append(int(kwargs["parsed"].get("ScannedCount", kwargs["parsed"].get("Count", 0))))

    client = clients.dynamodb()
    client.meta.events.register("after-call.dynamodb.Query", count)
    try:
        list(job_for("recurring-invoicing", world.deps).plan(as_of))
    finally:
        client.meta.events.unregister("after-call.dynamodb.Query", count)
    return sum(counted)


def _seed_subscriptions(world: World, count: int, period_end: datetime, prefix: str) -> None:
    template = Subscription(
        id="sub_x",
        account_id="acc_x",
        plan_code="essential",
        plan_version=1,
        cycle="monthly",
        currency="XOF",
        status="active",
        billing_anchor=period_end - timedelta(days=31),
        time_zone="Africa/Dakar",
        current_period_start=period_end - timedelta(days=31),
        current_period_end=period_end,
        created_at=AT,
    )
    items = [
        subscription_item(
            template.model_copy(update={"id": f"sub_{prefix}{n}", "account_id": f"acc_{prefix}{n}"})
        )
        for n in range(count)
    ]
    for start in range(0, len(items), 25):
        world.table.client.batch_write_item(
            RequestItems={
                world.table.name: [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
            }
        )


def test_the_planner_reads_what_is_due_not_the_table(world: World) -> None:
    today = datetime(2026, 3, 1, 10, tzinfo=UTC)
    _seed_subscriptions(world, 10, today, "due")
    _seed_subscriptions(world, 90, today + timedelta(days=10), "later")
    few = _reads(world, today)
    _seed_subscriptions(world, 900, today + timedelta(days=20), "more")
    assert _reads(world, today) == few == 10


def test_a_failing_item_is_dead_lettered_with_its_reason_and_replayed(world: World, stack: Stack) -> None:
    world.account()
    world.service.start("acc1", "essential", "monthly", "XOF", CONTEXT, active_reason="Deal")
    day = datetime(2026, 2, 15, 2, tzinfo=UTC)
    real = world.deps.invoicing

    def broken(_clock: Any) -> Any:
        raise RuntimeError("the invoicing is down")

    object.__setattr__(world.deps, "invoicing", broken)
    run = world.run("recurring-invoicing", day)
    dead_letters = stack.ref("JobsDeadLetterQueue")
    recorded = {r.run_id: r for r in wiring.runs().page("recurring-invoicing")[0]}[run.run_id]
    assert (recorded.planned, recorded.done, recorded.failed) == (1, 0, 1)

    admin = staff(stack)
    with stack.environment("JobsFunction"):
        from jobs import app

        wiring.reset()

        def call(method: str, path: str, query: dict[str, str] | None = None) -> tuple[int, Any]:
            event = http_event(method, path, claims=admin.claims(), query=query)
            answer = app.lambda_handler(event, FakeContext())  # type: ignore[arg-type]
            return answer["statusCode"], json.loads(answer["body"] or "null")

        status, listed = call("GET", "/v1/jobs/dead-letters")
        assert status == 200
        [letter] = listed["dead_letters"]
        assert letter["job"] == "recurring-invoicing"
        assert letter["reason"] == "RuntimeError: the invoicing is down"
        assert letter["receive_count"] >= 3
        again = call("GET", "/v1/jobs/dead-letters")[1]["dead_letters"]
        assert [d["id"] for d in again] == [letter["id"]]  # reading removes nothing
        status, runs = call("GET", "/v1/jobs/runs", {"job": "recurring-invoicing"})
        assert status == 200
        assert runs["runs"][0]["failed"] == 1
        assert call("GET", "/v1/jobs/runs", {"job": "nope"})[0] == 422

        object.__setattr__(world.deps, "invoicing", real)
        status, replayed = call("POST", f"/v1/jobs/dead-letters/{letter['id']}/replay")
        assert status == 200, replayed
        assert replayed["replayed"]["key"] == letter["key"]
        assert call("POST", f"/v1/jobs/dead-letters/{letter['id']}/replay")[0] == 404
    assert world.sqs.receive_message(QueueUrl=dead_letters, VisibilityTimeout=0).get("Messages", []) == []
    drain(world.sqs, world.queue_url, world.worker)
    assert len(world.invoices()) == 1
    audit = world.table.client.query(
        TableName=world.table.name,
        IndexName="GSI2",
        KeyConditionExpression="GSI2PK = :pk",
        ExpressionAttributeValues={
            ":pk": {"S": keys.audit_entity_pk("job_item", f"recurring-invoicing#{letter['key']}")}
        },
    )
    assert [from_item(item)["action"] for item in audit["Items"]] == ["job.dead_letter_replayed"]
