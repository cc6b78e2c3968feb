"""``conf/gateway.toml`` documents every key the loader accepts, and only those.

The accepted keys are derived from the dataclasses of ``gateway.config`` (each field of
each section class of ``Config``, plus each registered blob store's ``[storage.<name>]``
options), so a new key added there fails this test until it is
documented in the shipped file with its default (and a key documented there that the
loader does not know fails it too). Values in the file must be the defaults, except the
path keys listed in ``PATHS_RELATIVE_TO_CONF`` (written relative to ``conf/``).
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

from gateway.backends import registry
from gateway.config import SECTIONS, Config, load_config

SHIPPED = Path(__file__).resolve().parents[1] / "conf" / "gateway.toml"
#: defaults that are relative to the working folder; the file writes them from conf/
PATHS_RELATIVE_TO_CONF = {"gateway.data_dir", "tls.cert_file", "tls.key_file",
                          "sftp.host_keys"}


def accepted_keys() -> dict[str, object]:
    """``section.key`` -> default, for every key the loader accepts."""
    cfg = Config()
    keys = {}
    for section in SECTIONS:
        for f in dataclasses.fields(getattr(cfg, section)):
            value = getattr(getattr(cfg, section), f.name)
            if dataclasses.is_dataclass(value):  # a nested [section.sub] table
                keys.update({f"{section}.{f.name}.{g.name}": getattr(value, g.name)
                             for g in dataclasses.fields(value)})
            else:
                keys[f"{section}.{f.name}"] = value
    for name in registry.known():  # each blob store's own [storage.<name>] section
        for key, default in registry.store_class(name).options.items():
            keys[f"storage.{name}.{key}"] = default
    return keys


def shipped_keys() -> dict[str, object]:
    raw = tomllib.loads(SHIPPED.read_text(encoding="utf-8"))
    keys = {}
    for section, values in raw.items():
        for key, value in values.items():
            if isinstance(value, dict):  # [section.sub] tables: blob stores, notify.smtp
                keys.update({f"{section}.{key}.{k}": v for k, v in value.items()})
            else:
                keys[f"{section}.{key}"] = value
    return keys


def test_every_accepted_key_is_documented_in_the_shipped_file() -> None:
    missing = sorted(set(accepted_keys()) - set(shipped_keys()))
    assert not missing, f"keys the loader accepts but conf/gateway.toml lacks: {missing}"


def test_every_documented_key_is_accepted_by_the_loader() -> None:
    unknown = sorted(set(shipped_keys()) - set(accepted_keys()))
    assert not unknown, f"keys in conf/gateway.toml the loader does not know: {unknown}"
    load_config(SHIPPED)  # and the loader takes the file as it is


def test_documented_values_are_the_defaults() -> None:
    defaults, shipped = accepted_keys(), shipped_keys()
    wrong = {k: (shipped[k], defaults[k]) for k in shipped
             if k in defaults and k not in PATHS_RELATIVE_TO_CONF and shipped[k] != defaults[k]}
    assert not wrong, f"conf/gateway.toml shows values that are not the defaults: {wrong}"


def test_every_key_line_has_an_explanation_nearby() -> None:
    """Each key has a comment on its line or on the line(s) right above it."""
    lines = SHIPPED.read_text(encoding="utf-8").splitlines()
    bare = []
    for i, line in enumerate(lines):
        m = re.match(r"^([a-z_0-9]+)\s*=", line)
        if not m:
            continue
        above = lines[i - 1].strip() if i else ""
        if "#" not in line and not above.startswith("#"):
            bare.append(m.group(1))
    allowed = {"enabled", "host", "port"}  # self-explanatory listener keys
    assert not [k for k in bare if k not in allowed], f"keys without a comment: {bare}"
