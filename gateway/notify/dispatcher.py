"""The delivery dispatcher: a thread of ``serve``'s supervisor (on every node) that claims
due outbox entries and delivers them (``notify.outbox``, ``notify.delivery``).

Webhook bodies follow Standard Webhooks: ``{"type": kind, "timestamp": ..., "data":
payload}``, signed, with ``webhook-id`` = ``msg_<outbox id>`` on every retry of one entry.
A dead-lettered entry is audited (action ``notify-dead``); its error never carries a secret.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

from gateway.audit import NO_TENANT_CHAIN, AuditEvent
from gateway.config import Config
from gateway.core import Core
from gateway.errors import GatewayError
from gateway.notify import delivery, outbox, registry
from gateway.notify.webhooks import endpoint_with_secret

log = logging.getLogger(__name__)


def holder_name(config: Config) -> str:
    """Who holds a claim: node, process and a random part (unique per dispatcher)."""
    node = config.gateway.node_name or socket.gethostname()
    return f"{node}:{os.getpid()}:{secrets.token_hex(3)}"[:128]


def webhook_body(item: outbox.Entry) -> bytes:
    return json.dumps({"type": item.kind, "timestamp": item.created_at.isoformat(),
                       "data": item.payload}, sort_keys=True).encode()


class Dispatcher:
    """Delivers due entries; ``run_once`` is one round (used by tests and ``serve``)."""

    def __init__(self, config: Config, core: Core | None = None) -> None:
        self.config = config
        self.settings = config.notify
        self._own_core = core is None
        self.core = core or Core.open(config)
        self.holder = holder_name(config)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="notify-dispatch", daemon=True)
        self._pool = ThreadPoolExecutor(self.settings.delivery_threads,
                                        thread_name_prefix="notify-deliver")

    def deliver(self, item: outbox.Entry) -> delivery.Outcome:
        kind, _, dest = item.target.partition(":")
        if kind == "mail":
            return delivery.send_mail(self.config, dest, item.kind, item.payload)
        found = endpoint_with_secret(self.core, dest)
        if found is None:
            return delivery.Outcome(False, error="webhook endpoint removed", permanent=True)
        endpoint, secret = found
        if not endpoint.accepts(item.kind):
            return delivery.Outcome(False, error=f"endpoint does not take {item.kind}",
                                    permanent=True)
        try:
            registry.check_url(endpoint.url, allow_plain_http=self.settings.allow_plain_http)
        except GatewayError as exc:
            return delivery.Outcome(False, error=str(exc), permanent=True)
        ca = self.settings.webhook_ca_file
        return delivery.post_webhook(endpoint.url, secret, f"msg_{item.id}",
                                     webhook_body(item), self.settings.webhook_timeout_s,
                                     str(self.config.path(ca)) if ca else None)

    def run_once(self) -> int:
        """Claim and deliver what is due now, ``delivery_threads`` at a time; how many
        entries were attempted."""
        items = outbox.claim(self.core.catalog, self.holder, self.settings.claim_lease_s,
                             limit=4 * self.settings.delivery_threads)
        if len(items) <= 1:
            for item in items:
                self._attempt(item)
        else:
            list(self._pool.map(self._attempt, items))
        return len(items)

    def _attempt(self, item: outbox.Entry) -> None:
        try:
            result = self.deliver(item)
        except GatewayError as exc:  # e.g. a sealed secret whose tenant key is gone
            result = delivery.Outcome(False, error=str(exc), permanent=True)
        state = outbox.finish(self.core.catalog, self.settings, item, self.holder,
                              ok=result.ok, status=result.status, error=result.error,
                              duration_ms=result.duration_ms, permanent=result.permanent)
        if state == "dead":
            self._audit_dead(item, result)

    def _audit_dead(self, item: outbox.Entry, result: delivery.Outcome) -> None:
        with self.core.catalog.read() as conn:
            names = registry.tenant_names(conn)
        tenant = names.get(item.tenant_id) if item.tenant_id else None
        self.core.record(AuditEvent(
            action="notify-dead", protocol="notify", result="error",
            chain=item.tenant_id if tenant else NO_TENANT_CHAIN, tenant=tenant,
            user="gateway", path=item.target,
            reason=f"{item.kind} #{item.id} dead-lettered: {result.error}"))

    def _run(self) -> None:
        interval = self.settings.poll_interval_ms / 1000
        while not self._stopping.is_set():
            try:
                busy = self.run_once()
            except Exception:  # the catalog keeps every entry: next round retries
                log.exception("notify: delivery round failed")
                busy = 0
            if not busy:
                self._stopping.wait(interval)

    def start(self) -> Dispatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._stopping.set()
            self._thread.join(timeout=60)
        self._pool.shutdown(wait=True)
        if self._own_core:
            self.core.close()
