"""Blob stores by name: ``load(config)`` builds the one ``[storage] backend`` names.

Built-in stores are imported only when chosen, so an optional store's dependencies (an S3
client, say) are needed only by those who use it. A new store adds one line to ``BUILTIN``
(or calls ``register`` from its package) and joins tests/backends/test_contract.py.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from gateway.errors import ConfigError

if TYPE_CHECKING:
    from gateway.backends.base import BlobStore
    from gateway.config import Config

#: name -> "module:Class"
BUILTIN: dict[str, str] = {"local": "gateway.backends.local:LocalBlobStore",
                           "s3": "gateway.backends.s3:S3BlobStore"}
_registered: dict[str, type[BlobStore]] = {}


def register(store_class: type[BlobStore]) -> None:
    """Make a store selectable by its ``name``."""
    _registered[store_class.name] = store_class


def known() -> list[str]:
    """Every selectable store name, sorted."""
    return sorted({*BUILTIN, *_registered})


def store_class(name: str) -> type[BlobStore]:
    """The store class called ``name``; an unknown name is a one-line ``ConfigError``."""
    if name in _registered:
        return _registered[name]
    target = BUILTIN.get(name)
    if target is None:
        raise ConfigError(f"unknown backend {name!r}; known: {', '.join(known())}")
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:  # an optional store whose client library is not installed
        raise ConfigError(f"backend {name!r} cannot be loaded ({exc}); install its extra: "
                          f"pip install 'lumanox-gateway[{name}]'") from None
    cls: type[BlobStore] = getattr(module, attr)
    return cls


def loadable(name: str) -> bool:
    """Whether the store ``name`` can be built here (an optional store's library may be
    missing: its ``[storage.<name>]`` section is then left alone until it is chosen)."""
    try:
        store_class(name)
    except ConfigError:
        return False
    return True


def load(config: Config) -> BlobStore:
    """The blob store the configuration selects, built from its ``[storage.<name>]``."""
    name = config.storage.backend
    cls = store_class(name)
    return cls.from_config(config, config.backend_options(name, cls.options))
