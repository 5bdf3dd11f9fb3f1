"""`LocalStack`: moto, the template's resources, the gateway, the stream and queue pollers,
the schedules, one object.

    with LocalStack(port=0, template=Path("template.yaml")) as stack:
        requests.get(f"{stack.base_url}/_local/health")

Starting it points this process at moto (AWS_ENDPOINT_URL, fake credentials, region), which
every function instance (a worker process, see local.invoker) inherits; stopping it shuts
everything down, workers included, and restores the environment. moto runs in this process,
with the local fixes installed: DynamoDB (local.moto_dynamodb), Cognito's codes
(local.cognito_codes) and the mailbox they and SES write to (local.mailbox).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from moto.server import ThreadedMotoServer

from local import cognito_codes
from local.authorizer import JwksCache, JwtAuthorizer
from local.catalogue_seed import seed_catalogues
from local.clock import LocalClock
from local.control import Control
from local.functions import FunctionSpec, build_functions
from local.gateway import Gateway, GatewayServer
from local.instances import OutputSink, print_output
from local.intrinsics import Pseudo, Resolver, parameter_values
from local.invoker import DEFAULT_CONCURRENCY, Invoker, capacity
from local.mailbox import MAILBOX, install_ses_capture
from local.metrics_seed import seed_metrics
from local.moto_dynamodb import install as install_moto_fixes
from local.queues import DEFAULT_RETRY_VISIBILITY, QueuePoller, QueuePollers, poller_workers
from local.resources import ResourceRegistry
from local.routes import RouteTable, build_routes
from local.schedules import Schedules
from local.seed import DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD, SeededAdmin, seed_admin
from local.streams import StreamPoller, StreamPollers
from local.template import Template, load_template

if TYPE_CHECKING:
    from local.stripe import StripeSandbox

log = logging.getLogger("local")

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TEMPLATE = ROOT / "template.yaml"
DEFAULT_REGION = "eu-west-1"

# Fake credentials for moto; the real ones must never be picked up by a local run.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
}
_DROPPED_VARIABLES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI")

# The local Stripe's wiring (docs: local/README.md, "The local Stripe"): the template parameter that
# points the functions at it, and the secrets the stack writes its key and webhook secret into.
STRIPE_API_BASE_PARAMETER = "StripeApiBase"
STRIPE_KEY_SECRET = "StripeSecretKeySecret"  # noqa: S105 - a logical id, not a secret
STRIPE_WEBHOOK_SECRETS_SECRET = "StripeWebhookSecretsSecret"  # noqa: S105 - a logical id
STRIPE_WEBHOOK_PATH = "/v1/webhooks/stripe"


def quiet_library_logs() -> None:
    """moto's werkzeug access log and botocore's chatter would drown the gateway's lines."""
    for name in ("werkzeug", "moto", "botocore", "boto3", "urllib3"):
        logging.getLogger(name).setLevel(logging.ERROR)


class LocalStack:
    def __init__(
        self,
        *,
        port: int = 3000,
        host: str = "127.0.0.1",
        template: Path = DEFAULT_TEMPLATE,
        region: str | None = None,
        parameters: Mapping[str, str] | None = None,
        admin_email: str = DEFAULT_ADMIN_EMAIL,
        admin_password: str = DEFAULT_ADMIN_PASSWORD,
        seed: bool = True,
        stream_interval: float = 0.1,
        concurrency: int = DEFAULT_CONCURRENCY,
        output: OutputSink = print_output,
        queue_retry_visibility: int = DEFAULT_RETRY_VISIBILITY,
        stripe_port: int | None = 0,
    ) -> None:
        self.port = port
        self.host = host
        self.template_path = Path(template)
        self.region = region or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
        self.parameters = dict(parameters or {})
        self.admin_email = admin_email
        self.admin_password = admin_password
        self.seed = seed
        self.stream_interval = stream_interval
        self.concurrency = concurrency  # instances per function at most (see local.invoker)
        self.output = output  # where the functions' stdout/stderr lines go
        # Seconds before a message a function failed on is visible again (when shorter than the
        # queue's VisibilityTimeout): local retries take a second, not minutes.
        self.queue_retry_visibility = queue_retry_visibility
        self.clock = LocalClock()
        self.stripe_port = stripe_port  # the local Stripe's port (0: any free one; None: no local Stripe)
        self.stripe: StripeSandbox | None = None

        self.template: Template | None = None
        self.registry: ResourceRegistry | None = None
        self.resolver: Resolver | None = None
        self.functions: dict[str, FunctionSpec] = {}
        self.routes: RouteTable | None = None
        self.invoker: Invoker | None = None
        self.streams: StreamPollers | None = None
        self.queues: QueuePollers | None = None
        self.schedules: Schedules | None = None
        self.admin: SeededAdmin | None = None
        self._moto: ThreadedMotoServer | None = None
        self._moto_endpoint = ""
        self._server: GatewayServer | None = None
        self._server_thread: threading.Thread | None = None
        self._saved_environment: dict[str, str] | None = None

    # -- addresses ----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the local stack is not started")
        return self._server.base_url

    @property
    def moto_endpoint(self) -> str:
        if not self._moto_endpoint:
            raise RuntimeError("the local stack is not started")
        return self._moto_endpoint

    def resources(self) -> dict[str, Any]:
        """GET /_local/resources: where moto is, and each created resource's local name and ARNs."""
        created = self.registry.physical.values() if self.registry is not None else []
        answer: dict[str, Any] = {
            "endpoint": self._moto_endpoint,
            "region": self.region,
            "resources": {
                resource.logical_id: {"type": resource.type, "ref": resource.ref, **resource.attributes}
                for resource in created
                if resource.created
            },
        }
        if self.stripe is not None:
            answer["stripe"] = {
                "api_base": self.stripe.base_url,
                "control": f"{self.stripe.base_url}/_control",
                "webhook_url": self.stripe.webhook_url,
                "secret_key": self.stripe.secret_key,  # a local test key, for curl against the sandbox
            }
        return answer

    def ready_line(self) -> str:
        who = f"admin {self.admin.email}" if self.admin else "no admin seeded"
        return f"Tally local stack ready at {self.base_url} ({who})"

    def stripe_line(self) -> str | None:
        """Printed right after the ready line: where the local Stripe is."""
        if self.stripe is None:
            return None
        return (
            f"Local Stripe at {self.stripe.base_url} (control {self.stripe.base_url}/_control/…,"
            f" events to {self.stripe.webhook_url})"
        )

    # -- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> Self:
        quiet_library_logs()
        self._saved_environment = dict(os.environ)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_moto(self) -> None:
        install_moto_fixes()
        cognito_codes.install()
        install_ses_capture()
        # The mailbox and Cognito's codes follow the stack's clock (POST /_local/clock).
        MAILBOX.clock = self.clock.now
        cognito_codes.use_clock(self.clock.now)
        # moto checks TOTP codes against its one fixed secret only when told to (read per call).
        os.environ["MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP"] = "true"
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        self._moto_endpoint = f"http://{host}:{port}"
        for name in _DROPPED_VARIABLES:
            os.environ.pop(name, None)
        os.environ.update(FAKE_CREDENTIALS)
        os.environ.update(
            AWS_ENDPOINT_URL=self._moto_endpoint,
            AWS_DEFAULT_REGION=self.region,
            AWS_REGION=self.region,
            AWS_EC2_METADATA_DISABLED="true",
        )

    def _start(self) -> None:
        self._start_moto()
        template = self.template = load_template(self.template_path)
        self._server = GatewayServer(self.host, self.port)
        if self.stripe_port is not None:
            self.stripe = self._start_stripe()
        parameters = self.template_parameters(template.parameters)
        pseudo = Pseudo(region=self.region)
        registry = self.registry = ResourceRegistry(template, pseudo, api_endpoint=self.base_url)
        resolver = self.resolver = Resolver(
            template, pseudo, parameter_values(template, parameters), registry.lookup
        )
        registry.create_all(resolver)
        if self.stripe is not None:
            self._write_stripe_secrets(registry, self.stripe)
        specs = build_functions(template, resolver, registry)
        self.functions = {spec.logical_id: spec for spec in specs}
        invoker = self.invoker = Invoker(
            self.functions,
            dict(os.environ),
            concurrency=self.concurrency,
            clock=self.clock,
            output=self.output,
        )
        routes = self.routes = build_routes(specs, template, resolver, registry)
        streams = self.streams = StreamPollers(
            [
                StreamPoller(source, invoker, self.region, interval=self.stream_interval)
                for spec in specs
                for source in spec.stream_sources
            ]
        )
        queues = self.queues = QueuePollers(
            [
                QueuePoller(
                    source,
                    invoker,
                    self.region,
                    workers=poller_workers(capacity(spec, self.concurrency), source),
                    retry_visibility=self.queue_retry_visibility,
                )
                for spec in specs
                for source in spec.queue_sources
            ]
        )
        schedules = self.schedules = Schedules(
            [schedule for spec in specs for schedule in spec.schedules], invoker, queues, streams
        )
        authorizer = JwtAuthorizer(JwksCache(self._moto_endpoint))
        control = Control(
            invoker,
            routes,
            streams,
            self.clock,
            self.resources,
            mailbox=MAILBOX,
            queues=queues,
            schedules=schedules,
            outbound=self.stripe.deliverer.wait_idle if self.stripe is not None else None,
        )
        self._server.gateway = Gateway(
            routes, invoker, authorizer, control=control, clock=self.clock.now, after_invoke=streams.wake
        )
        if self.seed:
            self.admin = seed_admin(template, resolver, registry, self.admin_email, self.admin_password)
            seed_metrics(registry)  # issue 7, usage half: the catalogues' billable metrics
            seed_catalogues(registry, self.functions.get("BillingFunction"))
        streams.start()
        queues.start()
        self._server_thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="gateway", daemon=True
        )
        self._server_thread.start()
        log.info(
            "%d function(s) (up to %d instance(s) each, started on demand), %d route(s),"
            " %d stream poller(s), %d queue poller(s), %d schedule(s); moto at %s",
            len(self.functions),
            self.concurrency,
            len(routes.routes),
            len(streams.pollers),
            len(queues.pollers),
            len(schedules.by_name),
            self._moto_endpoint,
        )

    def template_parameters(self, declared: Mapping[str, Any]) -> dict[str, str]:
        """The parameters given, and the local Stripe's address when the template takes it."""
        parameters = dict(self.parameters)
        if self.stripe is not None and STRIPE_API_BASE_PARAMETER in declared:
            parameters.setdefault(STRIPE_API_BASE_PARAMETER, self.stripe.base_url)
        return parameters

    def _start_stripe(self) -> StripeSandbox:
        """The local Stripe, on the stack's clock, delivering events to the API's webhook route."""
        from local.stripe import StripeSandbox, new_secret_key, new_webhook_secret  # only when wanted

        assert self.stripe_port is not None
        sandbox = StripeSandbox(
            host="127.0.0.1",
            port=self.stripe_port,
            secret_key=new_secret_key(),
            webhook_secret=new_webhook_secret(),
            webhook_url=f"{self.base_url}{STRIPE_WEBHOOK_PATH}",
            now=self.clock.now,
            tick_interval=1.0,  # renewals and expiries follow the clock (POST /_local/clock moves it)
        )
        return sandbox.start()

    def _write_stripe_secrets(self, registry: ResourceRegistry, sandbox: StripeSandbox) -> None:
        """The sandbox's key and webhook secret, into the template's secrets (skipped when it has none)."""
        values = {
            STRIPE_KEY_SECRET: sandbox.secret_key,
            STRIPE_WEBHOOK_SECRETS_SECRET: sandbox.webhook_secret,
        }
        manager = registry.client("secretsmanager")
        for logical_id, value in values.items():
            resource = registry.physical.get(logical_id)
            if resource is None or not resource.created or value is None:
                log.debug("no %s in the template: the local Stripe's value is not written", logical_id)
                continue
            manager.put_secret_value(SecretId=resource.ref, SecretString=value)

    def stop(self) -> None:
        if self.stripe is not None:
            self.stripe.stop()
            self.stripe = None
        if self._server is not None:
            if self._server_thread is not None:
                self._server.shutdown()
                self._server_thread.join(5)
            self._server.server_close()
            self._server = None
            self._server_thread = None
        if self.invoker is not None:  # first: an invocation in flight fails at once, freeing its caller
            self.invoker.close()
        if self.streams is not None:
            self.streams.stop()
            self.streams = None
        if self.queues is not None:
            self.queues.stop()
            self.queues = None
        if self._moto is not None:
            try:
                self._moto.stop()
            except Exception as exc:  # a half-started moto must not hide the original error
                log.debug("stopping moto: %s", exc)
            self._moto = None
        cognito_codes.use_clock(None)
        if self._saved_environment is not None:
            os.environ.clear()
            os.environ.update(self._saved_environment)
            self._saved_environment = None
