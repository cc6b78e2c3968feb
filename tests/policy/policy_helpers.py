"""Helpers shared by the policy tests (a uniquely named module: every test folder has its
own ``conftest``, so tests import helpers from here, not from ``conftest``)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import pyotp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from gateway.config import Config
from gateway.core import Core
from gateway.policy import totp

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PW = "correct horse battery"


def new_key() -> tuple[ed25519.Ed25519PrivateKey, str]:
    """A fresh ed25519 key and its OpenSSH public line."""
    k = ed25519.Ed25519PrivateKey.generate()
    line = k.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                       serialization.PublicFormat.OpenSSH).decode()
    return k, line + " test@key"


def code(secret: str, offset: int = 0) -> str:
    """The TOTP code ``offset`` steps from now."""
    return pyotp.TOTP(secret).at(time.time() + offset * totp.STEP_S)


@dataclass
class Enrolled:
    secret: str
    recovery: list[str]


def enroll(core: Core, tenant: str, user: str) -> Enrolled:
    """Enrol and confirm with the code of the PREVIOUS step, so the current and next step
    codes stay usable for the test."""
    e = totp.enroll(core, tenant, user)
    rec = totp.confirm(core, tenant, user, code(e.secret, -1))
    return Enrolled(e.secret, rec)


def write_config(config: Config) -> str:
    """A TOML file for the CLI pointing at the test's catalog and keys."""
    path = Path(config.base_dir) / "gateway.toml"
    path.write_text(
        f'[gateway]\ndata_dir = "{config.data_dir}"\n[catalog]\nurl = "{config.catalog_url}"\n'
        f'[keys]\nmaster_key_file = "{config.master_key_file}"\n[audit]\nlog = "off"\n')
    return str(path)
