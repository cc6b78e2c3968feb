"""``lumanox-gateway``: set up, administer and run the gateway.

Errors are one line on stderr naming the problem and the fix; the exit code is non-zero.
Tables are printed for people; ``--json`` prints JSON for scripts. The configuration comes
from ``--config``, else $LUMANOX_CONFIG, ./conf/gateway.toml or /etc/lumanox/gateway.toml;
only ``init`` creates a catalog.

This module only wires: the commands live in one module per group, each adding itself
with ``register(sub, common)`` (``EXTENSIONS``); what they share (opening the core,
output, parsers of dates, lists and logins) is ``gateway.cli.common``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from gateway.cli.common import EXIT_ERROR, EXIT_USAGE
from gateway.config import load_config
from gateway.errors import GatewayError

__all__ = ["EXIT_ERROR", "EXIT_USAGE", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    # accepted before and after the subcommand; SUPPRESS keeps a subcommand's default from
    # overwriting a value given before it
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", "-c", default=argparse.SUPPRESS,
                        help="configuration file (default: $LUMANOX_CONFIG, "
                        "./conf/gateway.toml, /etc/lumanox/gateway.toml)")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print JSON instead of tables")

    p = argparse.ArgumentParser(prog="lumanox-gateway", parents=[common],
                                description="Lumanox Gateway: WebDAV + SFTP for business files")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in EXTENSIONS:
        importlib.import_module(module).register(sub, common)
    return p


#: modules that add their own subcommands through ``register(sub, common)``
EXTENSIONS = (
    "gateway.cli.service_cmds", "gateway.cli.admin_cmds", "gateway.cli.audit_cmds",
    "gateway.cli.files_cmds", "gateway.cli.locks_cmds", "gateway.cli.policy_cmds",
    "gateway.cli.credential_cmds", "gateway.cli.notify_cmds", "gateway.cli.token_cmds",
    "gateway.cli.metrics_cmds",
    "gateway.cli.alert_cmds",
    "gateway.cli.retention_cmds",
    "gateway.cli.storage_cmds",
    "gateway.cli.subject_cmds",
    "gateway.cli.report_cmds",
    "gateway.cli.breach_cmds",
)


def _silence_stdout() -> None:
    """After the reader of our output went away (``| head``): drop what is left, quietly."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.config = getattr(args, "config", None)
    args.json = getattr(args, "json", False)
    try:
        cfg = load_config(args.config)
        return args.func(args, cfg)
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except GatewayError as exc:
        print(f"lumanox-gateway: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except ValueError as exc:
        print(f"lumanox-gateway: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one line for the admin; the traceback only when asked for
        if os.environ.get("LUMANOX_DEBUG"):
            raise
        print(f"lumanox-gateway: unexpected {type(exc).__name__}: {exc} "
              "(set LUMANOX_DEBUG=1 for the traceback)", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
