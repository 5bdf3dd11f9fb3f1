"""`StripeSandbox`: the local Stripe, one object to construct, start and stop.

    with StripeSandbox(webhook_secret="whsec_…", webhook_url=f"{api}/v1/webhooks/stripe") as sandbox:
        client = stripe.StripeClient("sk_test_…", base_addresses={"api": sandbox.base_url})

It binds its port when constructed (so `base_url` is known before anything starts), serves from
`start()`, and delivers events from a background thread. With `tick_interval`, a second thread
runs what falls due on the sandbox's own clock (renewals, retries, session expiry) as time passes.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

from local.stripe.billing import Billing
from local.stripe.delivery import DEFAULT_RETRY_DELAYS, Deliverer
from local.stripe.server import App, SandboxServer

log = logging.getLogger("local.stripe")

DEFAULT_PORT = 12111


def _system_now() -> datetime:
    return datetime.now(UTC)


def new_webhook_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(24)}"


def new_secret_key() -> str:
    return f"sk_test_local_{secrets.token_urlsafe(18)}"


class StripeSandbox:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        secret_key: str | None = None,
        webhook_secret: str | None = None,
        webhook_url: str | None = None,
        now: Callable[[], datetime] = _system_now,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        tick_interval: float | None = None,
        signature_clock: Callable[[], float] = time.time,
    ) -> None:
        """`secret_key`: the one key accepted (None: any `sk_test_…`); `webhook_url`: where events go
        (None: recorded, not delivered); `now`: the sandbox's clock for objects on no test clock;
        `signature_clock`: the time in `Stripe-Signature` (Stripe's is the wall clock's)."""
        self.secret_key = secret_key
        self.webhook_secret = webhook_secret or new_webhook_secret()
        self.tick_interval = tick_interval
        self._server = SandboxServer(host, port)
        self.deliverer = Deliverer(
            self.webhook_secret, webhook_url, retry_delays=retry_delays, signature_clock=signature_clock
        )
        self.billing = Billing(
            base_url=self._server.base_url,
            now=now,
            publish=self.deliverer.enqueue,
            has_endpoint=lambda: bool(self.deliverer.url),
        )
        self.app = App(self.billing, self.deliverer, secret_key=secret_key)
        self._server.app = self.app
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    @property
    def base_url(self) -> str:
        return self._server.base_url

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def webhook_url(self) -> str | None:
        return self.deliverer.url

    @webhook_url.setter
    def webhook_url(self, url: str | None) -> None:
        self.deliverer.url = url

    def start(self) -> Self:
        self._stopping.clear()
        self.deliverer.start()
        serving = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="stripe-sandbox",
            daemon=True,
        )
        serving.start()
        self._threads = [serving]
        if self.tick_interval:
            ticking = threading.Thread(target=self._tick, name="stripe-sandbox-clock", daemon=True)
            ticking.start()
            self._threads.append(ticking)
        return self

    def _tick(self) -> None:
        assert self.tick_interval
        while not self._stopping.wait(self.tick_interval):
            try:
                self.billing.tick()
            except Exception:  # one bad object must not stop the clock for the others
                log.exception("stripe sandbox: running what fell due failed")

    def stop(self) -> None:
        self._stopping.set()
        if self._threads:
            self._server.shutdown()
            for thread in self._threads:
                thread.join(5)
            self._threads = []
        self._server.server_close()
        self.deliverer.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
