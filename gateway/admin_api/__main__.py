"""``python -m gateway.admin_api``: serve the admin API until SIGTERM ($LUMANOX_CONFIG names
the config). ``main`` is also what ``serve`` runs in a forked child (``gateway.frontends``)."""

from __future__ import annotations


def main() -> int:
    from gateway.admin_api.server import main as serve_admin_api

    return serve_admin_api()


if __name__ == "__main__":
    raise SystemExit(main())
