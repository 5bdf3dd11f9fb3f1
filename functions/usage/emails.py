"""Soft-quota emails: owners and admins at 80 % and at 100 %, once each per period and metric
(the caller holds the marker), each in the recipient's profile locale (English without one).

A failed send is logged (template and provider's error code, never an address) and not retried:
the marker is taken, the usage route shows the state, and the violation is recorded."""

from __future__ import annotations

from collections.abc import Callable

from aws_lambda_powertools import Logger

from tally.errors import ServiceUnavailable
from tally.notifications.mailer import EmailNotSent, Mailer
from tally.usage.dynamo import DynamoUsageStore
from tally.usage.service import ThresholdNotice

logger = Logger()
TEMPLATE = "quota-threshold"


class QuotaMailer:
    def __init__(self, store: DynamoUsageStore, mailer: Callable[[], Mailer]) -> None:
        self._store = store
        self._mailer = mailer

    def __call__(self, notice: ThresholdNotice) -> None:
        # jinja2 is imported only when an email is sent (decision 11).
        from tally.notifications.render import render

        managers = self._store.managers(notice.account_id)
        for email, locale in managers.recipients:
            try:
                self._mailer().send(
                    render(
                        TEMPLATE,
                        locale or "en",
                        to=email,
                        entity_id=f"{notice.account_id}:{notice.period}:{notice.metric}:{notice.threshold}",
                        account=managers.account_name or notice.account_id,
                        metric=notice.metric,
                        period=notice.period,
                        threshold=notice.threshold,
                        value=notice.value,
                        limit=notice.limit,
                    )
                )
            except (EmailNotSent, ServiceUnavailable) as exc:
                code = exc.code if isinstance(exc, EmailNotSent) else "unavailable"
                logger.warning("An email was not sent", extra={"template": TEMPLATE, "error_code": code})
