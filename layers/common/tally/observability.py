"""Logging set-up that every function's app applies before it handles anything.

With LogLevel=DEBUG, Lambda's runtime (JSON log format) sets the root logger to DEBUG, and the
AWS SDK's own debug lines would then write request and response bodies to CloudWatch:
InitiateAuth's password, Cognito's tokens, emails (decision 10: no PII and no secrets in logs at
any level). The SDK's loggers stay at WARNING whatever the function's level; the application's
own DEBUG lines (Powertools Logger) are unaffected.
"""

from __future__ import annotations

import logging

SDK_LOGGERS = ("boto3", "botocore", "urllib3", "s3transfer")


def quiet_sdk_loggers() -> None:
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
