"""One delivery attempt: a signed webhook POST, or an e-mail over SMTP with STARTTLS.

Each returns an ``Outcome``; nothing here raises for a failed delivery, and no error text
carries a secret (the signature, the endpoint secret or the SMTP password are never part
of one).
"""

from __future__ import annotations

import http.client
import json
import os
import smtplib
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import urlsplit

from gateway.config import Config
from gateway.errors import ConfigError
from gateway.notify import signing

USER_AGENT = "Lumanox-Gateway-Webhooks/1"
#: a receiver answering this has gone for good: no more retries
GONE = 410


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status: int | None = None  # HTTP status / SMTP reply code
    error: str | None = None
    permanent: bool = False  # no retry would help
    duration_ms: int = 0


def _failure(exc: BaseException) -> str:
    text = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def post_webhook(url: str, secret: str, msg_id: str, body: bytes, timeout_s: float,
                 ca_file: str | None = None) -> Outcome:
    """POST ``body`` (JSON) with the Standard Webhooks headers; 2xx is success. Redirects
    are not followed (a 3xx is a failure), the certificate is verified (against
    ``ca_file`` if given, else the system CAs)."""
    started = time.monotonic()
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    head = {"content-type": "application/json", "user-agent": USER_AGENT,
            **signing.headers(secret, msg_id, int(time.time()), body)}
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(parts.hostname or "", parts.port, timeout=timeout_s,
                                           context=ssl.create_default_context(cafile=ca_file))
    else:
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout_s)
    try:
        conn.request("POST", target, body=body, headers=head)
        response = conn.getresponse()
        response.read(65536)
        status = response.status
    except (OSError, http.client.HTTPException) as exc:
        return Outcome(False, None, _failure(exc), duration_ms=_ms(started))
    finally:
        conn.close()
    if 200 <= status < 300:
        return Outcome(True, status, duration_ms=_ms(started))
    reason = "redirect not followed" if 300 <= status < 400 else "not accepted"
    return Outcome(False, status, f"HTTP {status} ({reason})", permanent=status == GONE,
                   duration_ms=_ms(started))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def smtp_password(config: Config) -> str | None:
    """The SMTP password from the environment variable or file the configuration names."""
    smtp = config.notify.smtp
    if smtp.password_env:
        value = os.environ.get(smtp.password_env)
        if value is None:
            raise ConfigError(f"notify.smtp.password_env: ${smtp.password_env} is not set")
        return value
    if smtp.password_file:
        try:
            return config.path(smtp.password_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"notify.smtp.password_file: cannot read it "
                              f"({exc.strerror})") from None
    return None


def message_of(kind: str, payload: dict, sender: str, to: str) -> EmailMessage:
    """The e-mail for a payload: its ``subject`` and ``text`` when it has them, else the
    kind and the payload as JSON."""
    msg = EmailMessage()
    msg["From"], msg["To"] = sender, to
    msg["Subject"] = str(payload.get("subject") or f"[Lumanox Gateway] {kind}")
    msg.set_content(str(payload.get("text") or json.dumps(payload, indent=2, sort_keys=True)))
    return msg


def send_mail(config: Config, to: str, kind: str, payload: dict) -> Outcome:
    """Send one message over SMTP (STARTTLS verified against ``notify.smtp.ca_file``)."""
    smtp = config.notify.smtp
    started = time.monotonic()
    if not smtp.host:
        return Outcome(False, None, "e-mail is off (notify.smtp.host is empty)",
                       permanent=True)
    try:
        password = smtp_password(config)
        context = ssl.create_default_context(
            cafile=str(config.path(smtp.ca_file)) if smtp.ca_file else None)
        with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s) as client:
            client.ehlo()
            if smtp.starttls:
                client.starttls(context=context)
                client.ehlo()
            if smtp.user:
                client.login(smtp.user, password or "")
            client.send_message(message_of(kind, payload, smtp.from_address, to))
    except smtplib.SMTPResponseException as exc:
        permanent = 500 <= exc.smtp_code < 600
        return Outcome(False, exc.smtp_code, f"SMTP {exc.smtp_code}", permanent=permanent,
                       duration_ms=_ms(started))
    except (OSError, smtplib.SMTPException, ConfigError, ssl.SSLError) as exc:
        return Outcome(False, None, _failure(exc), duration_ms=_ms(started))
    return Outcome(True, 250, duration_ms=_ms(started))
