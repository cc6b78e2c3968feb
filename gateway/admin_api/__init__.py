"""The admin HTTP API: a third front-end (JSON over HTTPS, bearer tokens) that calls the
same service functions as the CLI. See docs/admin-api.md."""

#: the front-end can run in this installation (``serve`` asks each front-end package)
AVAILABLE = True
