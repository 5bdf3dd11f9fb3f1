"""`python -m local` (`make dev`): run the local stack until Ctrl-C or SIGTERM.

Settings: PORT (3000), AWS_DEFAULT_REGION (eu-west-1), TALLY_ADMIN_EMAIL and
TALLY_ADMIN_PASSWORD (the seeded platform admin), TALLY_LOCAL_CONCURRENCY (instances per
function, 4), TALLY_LOCAL_QUEUE_RETRY_SECONDS (how soon a message a function failed on is
retried, 1), STRIPE_PORT or --stripe-port (the local Stripe, 12111; 0 = any free port);
`--parameter Name=Value` overrides a template parameter. Prints one line,
"Tally local stack ready at <url> (admin <email>)", once it serves, then where the local Stripe is.
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

log = logging.getLogger("local")

ROOT = Path(__file__).resolve().parents[1]


def _parameter(text: str) -> tuple[str, str]:
    name, separator, value = text.partition("=")
    if not separator or not name:
        raise argparse.ArgumentTypeError(f"expected Name=Value, got {text!r}")
    return name, value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def _seconds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number of seconds, got {text!r}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    parser.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION") or "eu-west-1")
    parser.add_argument(
        "--concurrency",
        type=_positive,
        default=os.environ.get("TALLY_LOCAL_CONCURRENCY") or "4",  # a str default goes through `type`
        help="instances (worker processes) per function at most; never above ReservedConcurrentExecutions",
    )
    parser.add_argument(
        "--queue-retry-seconds",
        type=_seconds,
        default=os.environ.get("TALLY_LOCAL_QUEUE_RETRY_SECONDS") or "1",
        help="a message a function failed on is visible again after this (or the queue's VisibilityTimeout"
        " when shorter)",
    )
    parser.add_argument(
        "--parameter",
        type=_parameter,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a template parameter (repeatable)",
    )
    parser.add_argument(
        "--stripe-port",
        type=int,
        default=int(os.environ.get("STRIPE_PORT") or "12111"),
        help="the local Stripe's port (0: any free port)",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(message)s",
        datefmt="%H:%M:%S",
    )
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 <pid>`: every thread's stack
    # Imported once the signal handlers are in place: moto and boto3 take seconds to import.
    from local.seed import DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD
    from local.stack import LocalStack

    stack = LocalStack(
        port=args.port,
        host=args.host,
        template=args.template,
        region=args.region,
        parameters=dict(args.parameter),
        concurrency=args.concurrency,
        queue_retry_visibility=args.queue_retry_seconds,
        stripe_port=args.stripe_port,
        admin_email=os.environ.get("TALLY_ADMIN_EMAIL") or DEFAULT_ADMIN_EMAIL,
        admin_password=os.environ.get("TALLY_ADMIN_PASSWORD") or DEFAULT_ADMIN_PASSWORD,
    )
    try:
        stack.start()
    except Exception as exc:
        log.exception("the local stack could not start: %s", exc)
        return 1
    try:
        print(stack.ready_line(), flush=True)
        stripe_line = stack.stripe_line()
        if stripe_line:
            print(stripe_line, flush=True)
        while not stopping.wait(0.5):
            pass
        log.info("stopping")
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
