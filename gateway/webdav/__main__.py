"""``python -m gateway.webdav``: serve WebDAV until SIGTERM ($LUMANOX_CONFIG names the config)."""

from gateway.webdav.server import main

raise SystemExit(main())
