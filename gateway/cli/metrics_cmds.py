"""``metrics``: the Prometheus exposition of the running gateway (read-only)."""

from __future__ import annotations

import argparse
import sys

from gateway.cli.common import emit
from gateway.config import Config


def cmd_metrics(args: argparse.Namespace, cfg: Config) -> int:
    from gateway.metrics.exposition import collect, render

    if args.json:
        families = [{"name": f.name, "type": f.type, "help": f.documentation,
                     "samples": [{"name": s.name, "labels": s.labels, "value": s.value}
                                 for s in f.samples]} for f in collect(cfg)]
        emit(args, families, "")
        return 0
    body, _content_type = render(cfg)
    sys.stdout.write(body.decode("utf-8"))
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``metrics``."""
    sub.add_parser("metrics", parents=[common],
                   help="print the Prometheus metrics of the running gateway") \
        .set_defaults(func=cmd_metrics)
