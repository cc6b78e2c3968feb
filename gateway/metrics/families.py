"""The metric families. Imported only in processes that count (after ``serve`` named the
multiprocess folder) or that render: prometheus_client decides at its first import
whether values live in that folder."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PREFIX = "lumanox"
#: not in prometheus_client's default registry: the exposition reads the multiprocess
#: folder (exposition.py), and a module imported again must not register twice
_NO = None
#: seconds; a small-file operation takes milliseconds, a large upload minutes
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0, 60.0, 300.0)
STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                 2.5, 10.0)

SESSIONS = Gauge(f"{PREFIX}_sessions_open", "Sessions open now (SSH connections admitted, "
                 "WebDAV requests being served)", ["protocol", "tenant"],
                 multiprocess_mode="livesum", registry=_NO)
LOGINS = Counter(f"{PREFIX}_logins", "Login decisions (partial: one factor of several)",
                 ["protocol", "method", "result"], registry=_NO)
BYTES = Counter(f"{PREFIX}_transfer_bytes", "File content bytes moved by completed reads "
                "(out) and writes (in)", ["protocol", "direction"], registry=_NO)
OPERATIONS = Counter(f"{PREFIX}_operations", "Audited operations by outcome (ok, denied, "
                     "miss, error, failed)", ["protocol", "action", "result"], registry=_NO)
ERRORS = Counter(f"{PREFIX}_errors", "Audited operations that failed (result error)",
                 ["protocol", "action"], registry=_NO)
LATENCY = Histogram(f"{PREFIX}_operation_seconds", "Duration of audited operations",
                    ["protocol", "action"], buckets=LATENCY_BUCKETS, registry=_NO)
AUDIT_QUEUE = Gauge(f"{PREFIX}_audit_queue_depth", "Audit events waiting for the "
                    "background writer", multiprocess_mode="livesum", registry=_NO)
AUDIT_BATCH = Histogram(f"{PREFIX}_audit_batch_seconds", "Time to store one batch of "
                        "queued audit events", buckets=STORE_BUCKETS, registry=_NO)
BANS = Counter(f"{PREFIX}_defender_bans", "Addresses or accounts banned by the defender",
               ["protocol"], registry=_NO)
ALERTS = Counter(f"{PREFIX}_alerts_fired", "Alerts fired, by rule", ["rule"], registry=_NO)
STORE = Histogram(f"{PREFIX}_blob_store_seconds", "Time spent in the blob store per blob "
                  "(put: create to commit, get: open to close, delete), by configured store "
                  "(default or a [stores.<name>])", ["op", "store"],
                  buckets=STORE_BUCKETS, registry=_NO)
BUILD = Gauge(f"{PREFIX}_build_info", "Version of the running gateway",
              ["version", "python"], multiprocess_mode="livemax", registry=_NO)
