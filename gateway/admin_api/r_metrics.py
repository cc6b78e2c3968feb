"""``/metrics``: the Prometheus exposition of the running ``serve`` (gateway/metrics).

Any token for every tenant may scrape it (the numbers cover all tenants, so a token limited
to one tenant is refused); with ``metrics.loopback_without_token`` a scraper on this machine
needs none. Scrapes are not audited: they read counters, never a file or a
person's data, and a scraper every 15 s would drown the trail. When metrics are disabled or
nothing counts into this data directory, 503 names the fix.
"""

from __future__ import annotations

from gateway.admin_api.calls import Call
from gateway.admin_api.routes import Registry, Reply


def register(api: Registry) -> None:
    @api.route("GET", "/metrics", scope="read", global_only=True, audited=False,
               loopback_open=lambda config: config.metrics.loopback_without_token,
               summary="Prometheus metrics of the running gateway (text exposition format); "
               "503 when metrics are disabled")
    def metrics(call: Call) -> Reply:
        from gateway.metrics.exposition import MetricsUnavailable, render

        try:
            body, content_type = render(call.core.config)
        except MetricsUnavailable as exc:
            return Reply({"error": {"code": "metrics_unavailable", "message": str(exc)}}, 503)
        return Reply(body, content_type=content_type)
