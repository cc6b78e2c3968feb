"""``python -m gateway.webdav``: serve WebDAV until SIGTERM ($LUMANOX_CONFIG names the config).

``main`` is also what ``serve`` runs in a forked child (``gateway.frontends``)."""

from __future__ import annotations


def main() -> int:
    from gateway.webdav.server import main as serve_webdav

    return serve_webdav()


if __name__ == "__main__":
    raise SystemExit(main())
