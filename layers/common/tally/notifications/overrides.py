"""Email templates overridden per deployment from an S3 prefix, without a rebuild.

`S3OverrideLoader` looks for `{prefix}{template name}` (e.g. `email-templates/invoice-issued.fr.html`,
or `_layout.html` to restyle every email) and falls back to the packaged templates. A warm
container keeps what it read, an override or its absence, for `ttl_seconds`: an edit shows within
that time, and a burst of emails costs one GetObject per template part, not one per email.

An S3 error never stops an email: a missing object (404, or 403 without s3:ListBucket), a
throttle or an outage all mean the packaged template, until the TTL runs out. The functions need
s3:GetObject on `arn:aws:s3:::{bucket}/{prefix}*`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError
from jinja2 import BaseLoader, Environment

from tally.storage.errors import error_code

LOGGER = logging.getLogger(__name__)
_ABSENT = frozenset({"NoSuchKey", "404", "AccessDenied", "403", "NoSuchBucket"})


class S3Reader(Protocol):
    """The part of boto3's S3 client the loader uses."""

    def get_object(self, *, Bucket: str, Key: str) -> Mapping[str, Any]: ...  # noqa: N803 - boto3


@dataclass(frozen=True)
class _Read:
    at: float
    source: str | None  # None: no override


class S3OverrideLoader(BaseLoader):
    def __init__(
        self,
        client: S3Reader,
        bucket: str,
        prefix: str,
        fallback: BaseLoader,
        *,
        ttl_seconds: float = 60,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._bucket = bucket
        self._prefix = prefix if not prefix or prefix.endswith("/") else f"{prefix}/"
        self._fallback = fallback
        self._ttl = ttl_seconds
        self._clock = clock
        self._reads: dict[str, _Read] = {}

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool]]:
        read = self._reads.get(template)
        if read is None or not self._fresh(read):
            read = _Read(self._clock(), self._fetch(template))
            self._reads[template] = read

        # Jinja keeps the compiled template while this says True, then asks again.
        def uptodate() -> bool:
            return self._fresh(read)

        if read.source is None:
            source, filename, _ = self._fallback.get_source(environment, template)
            return source, filename, uptodate
        return read.source, f"s3://{self._bucket}/{self._prefix}{template}", uptodate

    def _fresh(self, read: _Read) -> bool:
        return self._clock() - read.at < self._ttl

    def _fetch(self, template: str) -> str | None:
        key = f"{self._prefix}{template}"
        try:
            answer = self._client.get_object(Bucket=self._bucket, Key=key)
            body = answer["Body"].read()
        except ClientError as exc:
            if error_code(exc) not in _ABSENT:
                LOGGER.warning("Email template override unreadable; using the packaged one", exc_info=True)
            return None
        except BotoCoreError:
            LOGGER.warning("Email template override unreadable; using the packaged one", exc_info=True)
            return None
        return bytes(body).decode("utf-8")
