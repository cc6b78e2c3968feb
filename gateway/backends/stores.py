"""Several named blob stores at once, each with a region label (data residency).

The ``[storage]`` store is the one named ``default`` (region ``[storage] region``); each
``[stores.<name>]`` table adds one more (``backend``, ``region`` and that backend's own
options). Every store is built once per process. ``StoreSet`` is itself a ``BlobStore``
for callers that know only a blob id: ``create`` writes to the default store, ``open``
looks in the default store first, then the others; ``delete`` removes the id from every
store (ids are random, so it can only be that blob); ``enumerate`` lists them all. Code
that knows where a blob lives (the catalog's ``blobs.store``) asks ``named(name)``.

A tenant's placement (which store takes its new blobs, which regions it allows) is kept
in its ``settings`` JSON under ``"storage"``; ``placement_of`` reads it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.backends import registry
from gateway.backends.base import BlobInfo, BlobSink, BlobSource, BlobStore, TempSweep
from gateway.errors import BlobNotFound, ConfigError, PermissionDenied

if TYPE_CHECKING:
    from gateway.config import Config

DEFAULT = "default"
#: keys of a [stores.<name>] table besides its backend's own options
COMMON_KEYS = ("backend", "region")


class ResidencyRefused(PermissionDenied):
    """A blob would be written to a store outside the tenant's allowed regions."""


@dataclass(frozen=True)
class Placement:
    """Where a tenant's new blobs go (``store``) and which regions it allows (empty: any)."""

    store: str = DEFAULT
    regions: tuple[str, ...] = ()

    def allows(self, region: str) -> bool:
        return not self.regions or region in self.regions


def placement_of(settings: dict[str, Any] | str | None) -> Placement:
    """The placement recorded in a tenant's ``settings`` (defaults when none)."""
    s = json.loads(settings) if isinstance(settings, str) else (settings or {})
    st = s.get("storage") or {}
    return Placement(st.get("store") or DEFAULT, tuple(st.get("regions") or ()))


def backend_options(values: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """A ``[stores.<name>]`` table's options for its backend: every key but the common
    ones; a backend option named like a common key is spelled ``<backend>_<key>`` there
    (``s3_region``: the S3 signing region, while ``region`` is the residency label)."""
    prefix = f"{values['backend']}_"
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in COMMON_KEYS:
            continue
        bare = key.removeprefix(prefix)
        out[bare if bare in COMMON_KEYS and bare in defaults else key] = value
    return out


def _spelled(values: dict[str, Any], defaults: dict[str, Any]) -> list[str]:
    """The backend's option keys as a ``[stores.<name>]`` table spells them."""
    return [f"{values['backend']}_{k}" if k in COMMON_KEYS else k for k in defaults]


def parse_stores(source: str, raw: Any) -> dict[str, dict[str, Any]]:
    """The ``[stores.<name>]`` tables, checked: a known backend, a region, known options."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: stores must hold tables ([stores.<name>])")
    out: dict[str, dict[str, Any]] = {}
    for name, values in raw.items():
        where = f"{source}: [stores.{name}]"
        if name == DEFAULT:
            raise ConfigError(f"{where}: the name 'default' is the [storage] store; "
                              "pick another name")
        if not isinstance(values, dict) or not isinstance(values.get("backend"), str):
            raise ConfigError(f"{where}: needs backend = \"<name>\" (known: "
                              f"{', '.join(registry.known())})")
        if not isinstance(values.get("region"), str) or not values["region"]:
            raise ConfigError(f"{where}: needs region = \"<label>\" (e.g. \"eu-central\")")
        try:
            defaults = registry.store_class(values["backend"]).options
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        for key, value in backend_options(values, defaults).items():
            if key not in defaults:
                raise ConfigError(f"{where}: unknown key {key!r}; known keys: "
                                  f"{', '.join((*COMMON_KEYS, *_spelled(values, defaults)))}")
            if type(value) is not type(defaults[key]):
                raise ConfigError(f"{where}: {key}: expected {type(defaults[key]).__name__}, "
                                  f"got {value!r}")
        if values["backend"] == "local" and not values.get("path"):
            raise ConfigError(f"{where}: a local store needs its own path = \"<folder>\"")
        out[name] = dict(values)
    return out


class StoreSet(BlobStore):
    """Every configured store by name, plus blob-id routing for callers without a name."""

    name = "stores"

    def __init__(self, stores: dict[str, BlobStore], regions: dict[str, str]) -> None:
        self._stores = stores
        self._regions = regions

    @classmethod
    def from_config(cls, config: Config, options: dict[str, Any]) -> StoreSet:
        return load_stores(config)

    def __getattr__(self, attr: str) -> Any:
        """Anything else is the default store's (e.g. a local store's ``root``)."""
        if attr.startswith("_"):
            raise AttributeError(attr)
        return getattr(self._stores[DEFAULT], attr)

    def mapped(self, wrap: Callable[[str, BlobStore], BlobStore]) -> StoreSet:
        """The same stores, each replaced by ``wrap(name, store)`` (e.g. timed)."""
        return StoreSet({n: wrap(n, s) for n, s in self._stores.items()}, self._regions)

    # --- by name --------------------------------------------------------------------------
    def names(self) -> list[str]:
        return list(self._stores)

    def named(self, name: str) -> BlobStore:
        """The store called ``name``; a name the configuration lacks is a ``ConfigError``."""
        try:
            return self._stores[name]
        except KeyError:
            raise ConfigError(f"no blob store named {name!r} is configured (known: "
                              f"{', '.join(self._stores)}); add [stores.{name}] to the "
                              "configuration") from None

    def region(self, name: str) -> str:
        self.named(name)
        return self._regions[name]

    def check_residency(self, placement: Placement, store: str | None = None) -> str:
        """The store a tenant's new blob goes to (``store`` or its own); raises
        ``ResidencyRefused`` if that store's region is not one the tenant allows."""
        target = store or placement.store
        region = self.region(target)
        if not placement.allows(region):
            raise ResidencyRefused(
                f"store {target!r} is in region {region!r}, outside the tenant's allowed "
                f"regions ({', '.join(placement.regions)}): choose a store in an allowed "
                "region (tenant set --store) or widen --regions")
        return target

    # --- BlobStore by id --------------------------------------------------------------------
    def create(self, blob_id: str) -> BlobSink:
        return self._stores[DEFAULT].create(blob_id)

    def open(self, blob_id: str) -> BlobSource:
        for store in self._stores.values():
            try:
                return store.open(blob_id)
            except BlobNotFound:
                continue
        raise BlobNotFound(f"blob {blob_id} is in no configured store")

    def delete(self, blob_id: str) -> None:
        for store in self._stores.values():
            store.delete(blob_id)

    def enumerate(self) -> Iterator[BlobInfo]:
        for store in self._stores.values():
            yield from store.enumerate()

    def check(self) -> None:
        for store in self._stores.values():
            store.check()

    def describe(self) -> dict[str, Any]:
        desc = self._stores[DEFAULT].describe()
        if len(self._stores) > 1:
            desc["stores"] = {n: {**s.describe(), "region": self._regions[n]}
                              for n, s in self._stores.items()}
        return desc

    def free_bytes(self) -> int | None:
        return self._stores[DEFAULT].free_bytes()

    def sweep_temp(self, min_age_s: float, dry_run: bool) -> TempSweep | None:
        sweeps = [s.sweep_temp(min_age_s, dry_run) for s in self._stores.values()]
        done = [s for s in sweeps if s is not None]
        if not done:
            return None
        return TempSweep(sum(s.removed for s in done), sum(s.removed_bytes for s in done),
                         sum(s.kept_young for s in done))


def load_stores(config: Config) -> StoreSet:
    """Build the default store and every ``[stores.<name>]`` once."""
    stores: dict[str, BlobStore] = {DEFAULT: registry.load(config)}
    regions = {DEFAULT: config.storage.region}
    for name, values in config.stores.items():
        cls = registry.store_class(values["backend"])
        options = {**cls.options, **backend_options(values, cls.options)}
        # (local's own check concerns the older [storage] path spelling only)
        problem = None if values["backend"] == "local" else cls.validate_options(config, options)
        if problem:
            raise ConfigError(f"[stores.{name}]: {problem}")
        stores[name] = cls.from_config(config, options)
        regions[name] = values["region"]
    return StoreSet(stores, regions)
