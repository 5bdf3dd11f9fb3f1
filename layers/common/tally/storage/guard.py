"""Turn transient AWS failures into the domain's ServiceUnavailable at the adapter boundary."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

from tally.errors import ServiceUnavailable
from tally.storage.errors import is_transient


@contextmanager
def transient_as_unavailable() -> Iterator[None]:
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        if is_transient(exc):
            raise ServiceUnavailable() from exc
        raise
