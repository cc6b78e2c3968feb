"""CLI commands of the identity and policy layer (registered by ``gateway.cli.main``)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add the policy subcommands (none yet)."""
