"""``python -m gateway.sftp``: serve SFTP/SCP until SIGTERM (config from $LUMANOX_CONFIG)."""

from __future__ import annotations

import logging
import os
import sys

from gateway.config import load_config
from gateway.errors import ConfigError
from gateway.sftp.workers import PREFIX, serve


def main() -> int:
    level = os.environ.get("LUMANOX_SFTP_LOG", "warning").upper()
    logging.basicConfig(level=getattr(logging, level, logging.WARNING), stream=sys.stderr,
                        format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
    if level == "DEBUG":
        import asyncssh

        asyncssh.set_debug_level(2)
    try:
        config = load_config(None)
    except ConfigError as exc:
        print(f"{PREFIX}: {exc}", file=sys.stderr)
        return 2
    if not config.sftp.enabled:
        print(f"{PREFIX}: disabled in the configuration (sftp.enabled = false)",
              file=sys.stderr)
        return 2
    return serve(config)


if __name__ == "__main__":
    sys.exit(main())
