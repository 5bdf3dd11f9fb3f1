"""The scheduled jobs' resources in template.yaml (issue 10, decision 8)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import pytest

from local.template import Template, load_template
from tally.jobs.base import JobName
from tally.jobs.registry import JOBS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template(ROOT / "template.yaml")


def _schedules(template: Template) -> dict[str, dict[str, Any]]:
    events = template.resources["JobsPlannerFunction"].properties["Events"]
    return {
        event["Properties"]["Name"]: event["Properties"]
        for event in events.values()
        if event["Type"] == "ScheduleV2"
    }


def test_one_daily_schedule_per_job_named_by_it_with_retries_and_a_dead_letter_queue(
    template: Template,
) -> None:
    schedules = _schedules(template)
    assert set(schedules) == set(get_args(JobName))
    for name, schedule in schedules.items():
        assert schedule["Input"] == f'{{"job": "{name}"}}'
        assert schedule["ScheduleExpressionTimezone"] == {"Ref": "JobsTimeZone"}
        assert schedule["GroupName"] == {"Ref": "JobsScheduleGroup"}
        assert schedule["RetryPolicy"]["MaximumRetryAttempts"] >= 1
        assert schedule["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["JobsScheduleDeadLetterQueue", "Arn"]}}
    # A schedule runs only a job the registry knows (the others wait, disabled, for their branch).
    enabled = {name for name, schedule in schedules.items() if schedule.get("State", "ENABLED") == "ENABLED"}
    assert enabled == set(JOBS)


def test_the_worker_reports_partial_batches_and_failures_end_in_the_dead_letter_queue(
    template: Template,
) -> None:
    [event] = template.resources["JobsWorkerFunction"].properties["Events"].values()
    assert event["Type"] == "SQS"
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": ["JobsQueue", "Arn"]}
    assert event["Properties"]["BatchSize"] == 10
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue = template.resources["JobsQueue"].properties
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["JobsDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 3,
    }
    worker_timeout = template.resources["JobsWorkerFunction"].properties["Timeout"]
    assert queue["VisibilityTimeout"] >= 6 * worker_timeout


def test_the_queues_are_encrypted_and_both_dead_letter_queues_alarm(template: Template) -> None:
    for queue in ("JobsQueue", "JobsDeadLetterQueue", "JobsScheduleDeadLetterQueue"):
        assert template.resources[queue].properties["SqsManagedSseEnabled"] is True
    watched = {
        alarm.properties["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for alarm in template.of_type("AWS::CloudWatch::Alarm")
        if alarm.properties.get("Namespace") == "AWS/SQS"
    }
    assert {"JobsDeadLetterQueue", "JobsScheduleDeadLetterQueue"} <= watched
