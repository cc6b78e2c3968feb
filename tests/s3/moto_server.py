"""A real S3 endpoint for tests: moto's standalone server (``ThreadedMotoServer``) on
127.0.0.1 with an ephemeral port, that a test can stop (connections refused) and start
again on the same port. Its buckets live in this process, so they survive a restart.
Everything else talks to it over HTTP like to any S3 endpoint."""

from __future__ import annotations

import atexit
import secrets
import threading
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer

CREDENTIALS = {"aws_access_key_id": "AKIATESTLUMANOX00001",
               "aws_secret_access_key": "lumanox-test-secret-" + "x" * 20}


class MotoS3:
    def __init__(self) -> None:
        self.port = 0
        self._server: ThreadedMotoServer | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        server.start()
        self.port = server.get_host_and_port()[1]
        self._server = server

    def stop(self) -> None:
        """Stop serving and close the listening socket: new connections are refused."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()
            inner = server._server  # the werkzeug server: release the port too
            if inner is not None:
                inner.server_close()

    def client(self):  # type: ignore[no-untyped-def]
        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1",
                            **CREDENTIALS)

    def new_bucket(self) -> str:
        name = "lumanox-" + secrets.token_hex(6)
        self.client().create_bucket(Bucket=name)
        return name

    def options(self, bucket: str, **extra: object) -> dict[str, object]:
        return {"endpoint_url": self.url, "bucket": bucket, "region": "us-east-1",
                "addressing_style": "path", **extra}


def write_credentials(path: Path) -> Path:
    path.write_text("[default]\n" + "".join(f"{k} = {v}\n" for k, v in CREDENTIALS.items()))
    path.chmod(0o600)
    return path


_shared: MotoS3 | None = None
_lock = threading.Lock()


def shared() -> MotoS3:
    """One server for the whole test process (started on first use)."""
    global _shared
    with _lock:
        if _shared is None:
            _shared = MotoS3()
            atexit.register(_shared.stop)
        return _shared
