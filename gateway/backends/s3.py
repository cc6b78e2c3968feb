"""S3-compatible blob store (AWS S3, MinIO, Ceph RGW; tested against moto's server).

Layout: one object per blob, key ``<prefix><blob id>``. Writes stream as multipart uploads
with bounded memory, reads are ranged GETs with read-ahead (``gateway.backends.s3_transfer``);
the client, credentials and retries are in ``gateway.backends.s3_client``. Options are in
``[storage.s3]`` (see docs/storage-s3.md); boto3 comes with the ``s3`` extra.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from gateway.backends import s3_client as c
from gateway.backends.base import BlobInfo, BlobSink, BlobSource, BlobStore, TempSweep
from gateway.backends.s3_transfer import S3BlobSink, S3BlobSource
from gateway.errors import BackendError

if TYPE_CHECKING:
    from gateway.config import Config

_BLOB_ID = re.compile(r"\A[0-9a-f]{32}\Z")
MiB = 1024 * 1024
#: key: (minimum, maximum) for the integer options
LIMITS = {"part_size": (5 * MiB, 5 * 1024 * MiB), "parts_in_flight": (1, 64),
          "read_ahead": (64 * 1024, 256 * MiB), "max_attempts": (1, 20),
          "timeout_s": (1, 600)}


class S3BlobStore(BlobStore):
    name: ClassVar[str] = "s3"
    options: ClassVar[dict[str, Any]] = {
        "endpoint_url": "", "bucket": "", "prefix": "", "region": "",
        "addressing_style": "auto", "part_size": 8 * MiB, "parts_in_flight": 4,
        "read_ahead": 4 * MiB, "credentials_file": "", "profile": "default",
        "max_attempts": 5, "timeout_s": 30,
    }

    @classmethod
    def validate_options(cls, config: Config, options: dict[str, Any]) -> str | None:
        if not options["bucket"] and config.storage.backend == "s3":
            return "storage.s3.bucket: required; set the name of an existing bucket"
        if options["addressing_style"] not in ("auto", "path", "virtual"):
            return "storage.s3.addressing_style: must be auto, path or virtual"
        url = options["endpoint_url"]
        if url and not re.match(r"\Ahttps?://[^/@\s]+(/\S*)?\Z", url):
            return ("storage.s3.endpoint_url: must be http(s)://host[:port] without user "
                    "info (credentials go in the environment or storage.s3.credentials_file)")
        if options["prefix"].startswith("/"):
            return "storage.s3.prefix: must not start with '/' (e.g. \"lumanox/\")"
        for key, (lo, hi) in LIMITS.items():
            if not lo <= options[key] <= hi:
                return f"storage.s3.{key}: must be between {lo} and {hi}"
        return None

    @classmethod
    def from_config(cls, config: Config, options: dict[str, Any]) -> S3BlobStore:
        creds: dict[str, str] = {}
        if options["credentials_file"]:
            creds = c.read_credentials(config.path(options["credentials_file"]),
                                       options["profile"])
        return cls(options, creds)

    def __init__(self, options: dict[str, Any], credentials: dict[str, str]) -> None:
        self.opts = {**self.options, **options}
        self.bucket: str = self.opts["bucket"]
        self.prefix: str = self.opts["prefix"]
        self.client = c.make_client(self.opts, credentials)
        self.pool = ThreadPoolExecutor(max_workers=max(4, 2 * self.opts["parts_in_flight"]),
                                       thread_name_prefix="s3-part")

    def key_of(self, blob_id: str) -> str:
        if not _BLOB_ID.match(blob_id):
            raise BackendError("invalid blob id")
        return self.prefix + blob_id

    def _id_of(self, key: str) -> str | None:
        rest = key[len(self.prefix):] if key.startswith(self.prefix) else ""
        return rest if _BLOB_ID.match(rest) else None

    def create(self, blob_id: str) -> BlobSink:
        return S3BlobSink(self, self.key_of(blob_id))

    def open(self, blob_id: str) -> BlobSource:
        return S3BlobSource(self, self.key_of(blob_id))

    def delete(self, blob_id: str) -> None:
        key = self.key_of(blob_id)  # S3 answers 204 for a missing key too
        c.call("delete", self.client.delete_object, Bucket=self.bucket, Key=key)

    def enumerate(self) -> Iterator[BlobInfo]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix)
        for page in c.pages("list", pages):
            for obj in page.get("Contents", []):
                blob_id = self._id_of(obj["Key"])
                if blob_id:
                    yield BlobInfo(blob_id, int(obj["Size"]), _aware(obj["LastModified"]))

    def _uploads(self) -> Iterator[dict[str, Any]]:
        pages = self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=self.prefix)
        for page in c.pages("list-multipart-uploads", pages):
            yield from page.get("Uploads", [])

    def _parts(self, key: str, upload_id: str) -> tuple[int, datetime | None]:
        """Bytes uploaded so far and the time of the latest part."""
        pages = self.client.get_paginator("list_parts").paginate(
            Bucket=self.bucket, Key=key, UploadId=upload_id)
        size, latest = 0, None
        try:
            for page in c.pages("list-parts", pages):
                for part in page.get("Parts", []):
                    size += int(part["Size"])
                    when = _aware(part["LastModified"])
                    latest = when if latest is None or when > latest else latest
        except BackendError:  # aborted or completed meanwhile
            pass
        return size, latest

    def sweep_temp(self, min_age_s: float, dry_run: bool) -> TempSweep:
        """Abort multipart uploads idle for more than ``min_age_s`` (writers that crashed):
        idle since the later of their start and their latest part, so a long upload that
        is still sending parts is never cut off."""
        now = datetime.now(UTC)
        removed = removed_bytes = young = 0
        for up in list(self._uploads()):
            if self._id_of(up["Key"]) is None:
                continue
            size, latest = self._parts(up["Key"], up["UploadId"])
            active = max(_aware(up["Initiated"]), latest or _aware(up["Initiated"]))
            if (now - active).total_seconds() <= min_age_s:
                young += 1
                continue
            if not dry_run:
                c.call("abort-multipart-upload", self.client.abort_multipart_upload,
                       Bucket=self.bucket, Key=up["Key"], UploadId=up["UploadId"])
            removed += 1
            removed_bytes += size
        return TempSweep(removed, removed_bytes, young)

    def check(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (c.ClientError, c.BotoCoreError) as exc:
            raise BackendError(f"s3 bucket {self.bucket!r} is not usable ({c.error_code(exc)}):"
                               f" check storage.s3.bucket, endpoint_url and the credentials"
                               ) from None

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "endpoint_url": self.opts["endpoint_url"] or "aws",
                "bucket": self.bucket, "prefix": self.prefix,
                "region": self.opts["region"] or "default"}


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
