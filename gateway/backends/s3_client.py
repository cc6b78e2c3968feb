"""The boto3 client of the s3 store: credentials, retries, timeouts, and error mapping.

Credentials come from ``[storage.s3] credentials_file`` (AWS shared-credentials format,
section ``profile``) or, when it is empty, from boto3's usual chain (``AWS_ACCESS_KEY_ID``/
``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``, ``AWS_PROFILE``...). They are handed to
boto3 only: never logged, never put in an error message or ``describe()``.
"""

from __future__ import annotations

import configparser
import random
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from gateway.errors import BackendError, BlobNotFound

T = TypeVar("T")
#: rounds of the outer loop of ``call_retrying`` (each round is botocore's own retries)
OUTER_ATTEMPTS = 3
_NOT_FOUND = {"NoSuchKey", "404", "NotFound", "NoSuchUpload"}
_RETRYABLE = {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout",
              "InternalError", "ServiceUnavailable", "500", "502", "503", "504"}


def read_credentials(path: Path, profile: str) -> dict[str, str]:
    """Keys from a shared-credentials file; a problem is a one-line ``BackendError`` that
    names the file and the missing key, never a value."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with path.open(encoding="utf-8") as f:
            parser.read_file(f)
    except (OSError, configparser.Error) as exc:
        raise BackendError(f"storage.s3.credentials_file: cannot read {path.name} "
                           f"({type(exc).__name__})") from None
    if not parser.has_section(profile):
        raise BackendError(f"storage.s3.credentials_file: no [{profile}] section; set "
                           f"storage.s3.profile to the section holding the keys")
    section = parser[profile]
    creds = {}
    for key in ("aws_access_key_id", "aws_secret_access_key"):
        if not section.get(key):
            raise BackendError(f"storage.s3.credentials_file: [{profile}] lacks {key}")
        creds[key] = section[key].strip()
    if section.get("aws_session_token"):
        creds["aws_session_token"] = section["aws_session_token"].strip()
    return creds


def make_client(options: dict[str, Any], credentials: dict[str, str]) -> Any:
    """A thread-safe S3 client with botocore's standard retry mode (throttling, 5xx,
    connection errors, exponential back-off with jitter) and bounded timeouts."""
    boto_config = BotoConfig(
        region_name=options["region"] or None,
        retries={"mode": "standard", "max_attempts": options["max_attempts"]},
        connect_timeout=options["timeout_s"], read_timeout=options["timeout_s"],
        s3={"addressing_style": options["addressing_style"]},
        max_pool_connections=max(10, options["parts_in_flight"] * 4),
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    session = boto3.session.Session()
    return session.client("s3", endpoint_url=options["endpoint_url"] or None,
                          config=boto_config, **credentials)


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return str(err.get("Code") or exc.response.get("ResponseMetadata", {})
                   .get("HTTPStatusCode", "error"))
    return type(exc).__name__


def translate(exc: BaseException, operation: str) -> BackendError:
    """A one-line ``BackendError`` naming the operation and S3's error code only (botocore
    messages can quote request details; none of them are passed on)."""
    code = error_code(exc)
    if code in _NOT_FOUND:
        return BlobNotFound("blob is missing from the store")
    return BackendError(f"s3 {operation} failed: {code}")


def call(operation: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run one client call; map its failure to ``BackendError``/``BlobNotFound``."""
    try:
        return fn(*args, **kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, operation) from None


def call_retrying(operation: str, attempts: int, fn: Callable[..., T], *args: Any,
                  **kwargs: Any) -> T:
    """Like ``call`` with an outer back-off loop for streaming transfers (a part upload):
    botocore already retried each request; this rides out a longer outage of a few
    seconds (throttling, a restarting endpoint) before the upload gives up."""
    delay = 0.2
    attempts = min(attempts, OUTER_ATTEMPTS)
    for attempt in range(1, attempts + 1):
        try:
            return fn(*args, **kwargs)
        except (ClientError, BotoCoreError) as exc:
            code = error_code(exc)
            retryable = code in _RETRYABLE or not isinstance(exc, ClientError)
            if not retryable or attempt == attempts:
                raise translate(exc, operation) from None
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 5.0)
    raise AssertionError("unreachable")


def pages(operation: str, paginator_pages: Iterable[T]) -> Iterator[T]:
    """Iterate a paginator (each page is a request), mapping failures like ``call``."""
    it = iter(paginator_pages)
    while True:
        try:
            page = next(it)
        except StopIteration:
            return
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, operation) from None
        yield page
