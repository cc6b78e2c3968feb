"""A minimal WebDAV client on http.client (no third-party HTTP library needed)."""

from __future__ import annotations

import base64
import http.client
import ssl
from dataclasses import dataclass
from urllib.parse import quote


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class DavClient:
    """One keep-alive connection; Basic auth on every request."""

    def __init__(self, host: str, port: int, login: str, password: str, *,
                 tls: bool = True) -> None:
        self.host, self.port, self.tls = host, port, tls
        token = base64.b64encode(f"{login}:{password}".encode()).decode()
        self.auth = f"Basic {token}"
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.tls:
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                self._conn = http.client.HTTPSConnection(self.host, self.port, context=ctx,
                                                         timeout=60)
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        return self._conn

    def url(self, path: str) -> str:
        return quote(path)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None, *, auth: bool = True) -> Response:
        hdrs = {"Authorization": self.auth} if auth else {}
        hdrs.update(headers or {})
        for attempt in range(2):
            conn = self._connection()
            try:
                conn.request(method, self.url(path), body=body, headers=hdrs)
                resp = conn.getresponse()
                data = resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt:
                    raise
                continue
            result = Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
            if resp.will_close:
                self.close()
            return result
        raise AssertionError("unreachable")

    def put(self, path: str, data: bytes, headers: dict[str, str] | None = None) -> Response:
        return self.request("PUT", path, data, headers)

    def get(self, path: str, headers: dict[str, str] | None = None) -> Response:
        return self.request("GET", path, None, headers)

    def lock(self, path: str, *, scope: str = "exclusive", timeout: str = "Second-600",
             depth: str = "0") -> Response:
        body = (f'<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:">'
                f'<D:lockscope><D:{scope}/></D:lockscope><D:locktype><D:write/></D:locktype>'
                f'<D:owner>test</D:owner></D:lockinfo>').encode()
        return self.request("LOCK", path, body, {"Timeout": timeout, "Depth": depth,
                                                 "Content-Type": "application/xml"})

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
