"""Emails once per ledger key, and alarm metrics: the applier's adapters over
tally.notifications and Powertools Metrics."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from tally.notifications.email import Email
from tally.notifications.ledger import LedgerKey, SendOutcome, SendResult


class SendsOnce(Protocol):
    """tally.notifications.ledger.EmailLedger, or an in-memory stand-in."""

    def send_once(self, email: Email, key: LedgerKey) -> SendResult: ...


class RendersEmail(Protocol):
    """tally.notifications.render.render's signature."""

    def __call__(
        self, template: str, locale: str, *, to: str, entity_id: str | None = None, **context: Any
    ) -> Email: ...


class LedgerNotifier:
    """Renders the template (jinja2 is imported on the first email only) and sends it through
    the email ledger (tally.notifications.ledger.EmailLedger.send_once), built on first use."""

    def __init__(self, ledger: Callable[[], SendsOnce], *, render: RendersEmail | None = None) -> None:
        self._factory = ledger
        self._ledger: SendsOnce | None = None
        self._render = render

    def send(
        self, template: str, locale: str, to: str, key: LedgerKey, context: Mapping[str, Any]
    ) -> SendOutcome:
        if self._render is None:
            from tally.notifications.render import render

            self._render = render
        email = self._render(template, locale, to=to, entity_id=key.entity_id, **context)
        if self._ledger is None:
            self._ledger = self._factory()
        return self._ledger.send_once(email, key).outcome


class PowertoolsAlerts:
    """Counts on the process's Powertools Metrics (namespace POWERTOOLS_METRICS_NAMESPACE);
    the worker's handler flushes them (`@metrics.log_metrics`)."""

    def __init__(self) -> None:
        from aws_lambda_powertools import Metrics

        self._metrics = Metrics()

    def count(self, name: str) -> None:
        from aws_lambda_powertools.metrics import MetricUnit

        self._metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
