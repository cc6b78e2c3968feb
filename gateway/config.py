"""Configuration: a TOML file validated at start, with environment overrides for secrets.

Every error names the file, the key and what is wrong, e.g.
``conf/gateway.toml: webdav.port: expected an integer from 1 to 65535, got 'x'``.
Unknown keys are errors (a typo must not silently fall back to a default).
Relative paths are resolved against the directory of the configuration file.

Without an explicit path the file is looked for in $LUMANOX_CONFIG, then
``./conf/gateway.toml``, then ``/etc/lumanox/gateway.toml``; finding none is an error
naming those places (never a silent fallback that would create data in the working folder).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.config_alerts import AlertsSection, validate_alerts
from gateway.config_features import (
    AdminAPISection as AdminAPISection,
    MetricsSection as MetricsSection,
    RetentionSection as RetentionSection,
)
from gateway.config_notify import NotifySection, validate_notify
from gateway.errors import ConfigError
from gateway.proxyproto import validate_proxy

ENV_CONFIG = "LUMANOX_CONFIG"
ENV_DATA_DIR = "LUMANOX_DATA_DIR"
ENV_CATALOG_URL = "LUMANOX_CATALOG_URL"
ENV_MASTER_KEY_FILE = "LUMANOX_MASTER_KEY_FILE"
MAX_INLINE_BYTES = 1024 * 1024
#: where the configuration is looked for, in order, after $LUMANOX_CONFIG
SEARCH_PATHS = (Path("conf/gateway.toml"), Path("/etc/lumanox/gateway.toml"))


@dataclass
class GatewaySection:
    data_dir: str = "var"
    node_name: str = ""
    # serve's supervisor refreshes this node's row in the catalog this often (0: never)
    node_heartbeat_s: int = 15
    # a node silent this long is dead: its session slots are freed (0: never)
    node_stale_after_s: int = 60


@dataclass
class CatalogSection:
    url: str = ""  # default: sqlite:///<data_dir>/catalog.db
    auto_migrate: bool = True
    pool_size: int = 8


@dataclass
class StorageSection:
    backend: str = "local"  # a name in gateway.backends.registry; its options: [storage.<name>]
    path: str = ""  # older spelling of [storage.local] path; default: <data_dir>/blobs
    gc_grace_seconds: int = 3600
    # files up to this size are encrypted into the catalog row itself (0: never)
    inline_max_bytes: int = 65536
    # no file may grow larger than this, whatever the quota (0: no limit)
    max_file_bytes: int = 64 * 1024 ** 3
    # region label of this (the "default") store, for data residency (docs/storage.md)
    region: str = "local"


@dataclass
class KeysSection:
    master_key_file: str = ""  # default: <data_dir>/master.key


@dataclass
class AuditSection:
    log: str = "stdout"  # stdout | off | a file path
    batch_max_events: int = 256
    batch_max_delay_ms: int = 20
    checkpoint_file: str = ""  # default: <data_dir>/audit-checkpoint.json (gateway/auditv2)
    checkpoint_interval_s: int = 60  # the checkpoint is rewritten at most this often
    export_interval_ms: int = 250  # serve exports new events to `log` this often


@dataclass
class TLSSection:
    cert_file: str = "certs/gateway.crt"
    key_file: str = "certs/gateway.key"


@dataclass
class WebDAVSection:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8443
    tls: bool = True
    workers: int = 0  # 0 = one per core
    block_size: int = 262144
    threads: int = 32  # request threads per worker process
    # listener limits (gateway/webdav/listener.py, gateway/webdav/limits.py)
    handshake_timeout_s: int = 10  # a TLS handshake must finish within this
    request_head_timeout_s: int = 15  # the whole request head must arrive within this
    keepalive_timeout_s: int = 30  # an idle keep-alive connection is closed after this
    max_header_bytes: int = 65536  # request line + headers; larger: 431
    max_xml_body_bytes: int = 1048576  # body of every method but PUT; larger: 413
    max_connections_per_address: int = 128  # open connections from one client address
    max_lock_timeout_s: int = 3600  # longest LOCK lifetime granted/refreshed ("Infinite" too)
    proxy_protocol: bool = False  # PROXY v1/v2 header required (gateway/proxyproto.py)
    proxy_trusted: list[str] = field(default_factory=list)  # load balancers' networks


@dataclass
class SFTPSection:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 2222
    host_keys: list[str] = field(
        default_factory=lambda: ["certs/ssh_host_ed25519_key", "certs/ssh_host_ecdsa_key"]
    )
    workers: int = 0
    # algorithm lists (gateway/sftp/algorithms.py); empty = the set of `profile`
    kex_algs: list[str] = field(default_factory=list)
    encryption_algs: list[str] = field(default_factory=list)
    mac_algs: list[str] = field(default_factory=list)
    signature_algs: list[str] = field(default_factory=list)
    login_timeout: int = 60  # seconds to finish authentication
    max_auth_attempts: int = 6  # failed auth attempts per SSH connection, then disconnect
    io_threads: int = 16  # thread pool per worker for core calls
    # algorithm profile: compatible (adds AES-CTR + SHA-2 HMACs) | modern (AEAD only)
    profile: str = "compatible"
    # resource limits per SSH connection (gateway/sftp/limits.py)
    max_channels_per_connection: int = 10
    max_handles_per_connection: int = 128
    max_write_buffer_bytes_per_connection: int = 16 * 1024 * 1024
    proxy_protocol: bool = False  # PROXY v1/v2 header required (gateway/proxyproto.py)
    proxy_trusted: list[str] = field(default_factory=list)  # load balancers' networks


@dataclass
class PolicySection:
    """Identity and policy knobs (see docs/policy.md)."""

    credential_cache_ttl_s: int = 60  # positive login cache of authenticate_basic; 0 = off
    credential_cache_size: int = 10000
    ldap_cache_ttl_s: int = 0  # positive LDAP bind cache (salted hash only); 0 = off
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 4
    app_password_secret_file: str = ""  # default: <data_dir>/app-password.key
    defender_max_score: int = 10  # failures from one address before it is banned
    defender_account_max_score: int = 4  # failures on one account (keep < LDAP lockout)
    defender_window_s: int = 600
    defender_ban_s: int = 900
    session_recheck_s: int = 30  # long-lived sessions re-decide their login this often


@dataclass
class Config:
    """The whole configuration. ``base_dir`` anchors relative paths."""

    base_dir: Path = field(default_factory=Path.cwd)
    source: str = "<defaults>"
    gateway: GatewaySection = field(default_factory=GatewaySection)
    catalog: CatalogSection = field(default_factory=CatalogSection)
    storage: StorageSection = field(default_factory=StorageSection)
    keys: KeysSection = field(default_factory=KeysSection)
    audit: AuditSection = field(default_factory=AuditSection)
    tls: TLSSection = field(default_factory=TLSSection)
    webdav: WebDAVSection = field(default_factory=WebDAVSection)
    sftp: SFTPSection = field(default_factory=SFTPSection)
    policy: PolicySection = field(default_factory=PolicySection)
    notify: NotifySection = field(default_factory=NotifySection)
    admin_api: AdminAPISection = field(default_factory=AdminAPISection)
    metrics: MetricsSection = field(default_factory=MetricsSection)
    alerts: AlertsSection = field(default_factory=AlertsSection)
    retention: RetentionSection = field(default_factory=RetentionSection)
    #: [storage.<name>] tables: each blob store's own options, checked by that store
    storage_backends: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: [stores.<name>] tables: further named blob stores (gateway/backends/stores.py)
    stores: dict[str, dict[str, Any]] = field(default_factory=dict)

    def backend_options(self, name: str, defaults: dict[str, Any]) -> dict[str, Any]:
        """The ``[storage.<name>]`` options over the store's defaults."""
        return {**defaults, **self.storage_backends.get(name, {})}

    # --- derived paths ----------------------------------------------------------------
    def path(self, value: str) -> Path:
        p = Path(value).expanduser()
        return (p if p.is_absolute() else self.base_dir / p).resolve()

    @property
    def data_dir(self) -> Path:
        return self.path(os.environ.get(ENV_DATA_DIR) or self.gateway.data_dir)

    @property
    def catalog_url(self) -> str:
        url = os.environ.get(ENV_CATALOG_URL) or self.catalog.url
        return url or f"sqlite:///{self.data_dir / 'catalog.db'}"

    @property
    def blob_dir(self) -> Path:
        """The local store's folder: [storage.local] path, else [storage] path."""
        value = self.storage_backends.get("local", {}).get("path") or self.storage.path
        return self.path(value) if value else self.data_dir / "blobs"

    @property
    def tmp_dir(self) -> Path:
        return self.data_dir / "tmp"

    @property
    def audit_checkpoint_file(self) -> Path:
        value = self.audit.checkpoint_file
        return self.path(value) if value else self.data_dir / "audit-checkpoint.json"

    @property
    def master_key_file(self) -> Path:
        env = os.environ.get(ENV_MASTER_KEY_FILE)
        if env:
            return Path(env)
        value = self.keys.master_key_file
        return self.path(value) if value else self.data_dir / "master.key"


SECTIONS = {
    f.name: f.type for f in dataclasses.fields(Config)
    if f.name not in ("base_dir", "source", "storage_backends", "stores")
}


def find_config() -> Path:
    """The configuration file to use: $LUMANOX_CONFIG, else the first of SEARCH_PATHS."""
    env = os.environ.get(ENV_CONFIG)
    if env:
        return Path(env)
    for candidate in SEARCH_PATHS:
        if candidate.is_file():
            return candidate
    places = ", ".join(str(p) if p.is_absolute() else f"./{p}" for p in SEARCH_PATHS)
    raise ConfigError(f"no configuration found (looked at ${ENV_CONFIG}: not set, {places}): "
                      f"pass --config FILE or set {ENV_CONFIG}")


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Load and validate the configuration; ``None`` finds it (``find_config``)."""
    p = Path(path) if path else find_config()
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: configuration file not found; pass --config or run init") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    return config_from_dict(raw, base_dir=p.resolve().parent, source=str(p))


def config_from_dict(raw: dict[str, Any], *, base_dir: Path, source: str) -> Config:
    cfg = Config(base_dir=base_dir, source=source)
    for section_name, values in raw.items():
        if section_name == "stores":
            from gateway.backends.stores import parse_stores

            cfg.stores = parse_stores(source, values)
            continue
        if section_name not in SECTIONS:
            raise ConfigError(
                f"{source}: unknown section [{section_name}]; known: {', '.join(SECTIONS)}"
            )
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: {section_name} must be a table ([{section_name}])")
        section = getattr(cfg, section_name)
        known = {f.name: f for f in dataclasses.fields(section)}
        for key, value in values.items():
            if section_name == "storage" and isinstance(value, dict):
                cfg.storage_backends[key] = _backend_section(source, key, value)
                continue
            if key not in known:
                raise ConfigError(
                    f"{source}: {section_name}.{key}: unknown key; known keys: {', '.join(known)}"
                )
            if dataclasses.is_dataclass(getattr(section, key)):  # a [section.sub] table
                _set_subsection(source, f"{section_name}.{key}", getattr(section, key), value)
                continue
            setattr(section, key, _check_type(source, f"{section_name}.{key}",
                                              getattr(section, key), value))
    _validate(cfg)
    return cfg


def _set_subsection(source: str, name: str, section: Any, values: Any) -> None:
    """Fill a nested section (e.g. ``[notify.smtp]``) from its table."""
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: {name} must be a table ([{name}])")
    known = {f.name for f in dataclasses.fields(section)}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"{source}: {name}.{key}: unknown key; known keys: "
                              f"{', '.join(sorted(known))}")
        setattr(section, key, _check_type(source, f"{name}.{key}", getattr(section, key),
                                          value))


def _backend_section(source: str, name: str, values: dict[str, Any]) -> dict[str, Any]:
    """A ``[storage.<name>]`` table checked against that store's option defaults."""
    from gateway.backends import registry

    try:
        defaults = registry.store_class(name).options
    except ConfigError as exc:
        if name in registry.BUILTIN:  # an optional store not installed: checked once chosen
            return dict(values)
        raise ConfigError(f"{source}: [storage.{name}]: {exc}") from None
    for key, value in values.items():
        if key not in defaults:
            raise ConfigError(f"{source}: storage.{name}.{key}: unknown key; known keys: "
                              f"{', '.join(defaults) or '(none)'}")
        _check_type(source, f"storage.{name}.{key}", defaults[key], value)
    return dict(values)


def _validate_storage(cfg: Config) -> None:
    from gateway.backends import registry

    src = cfg.source
    try:
        store_class = registry.store_class(cfg.storage.backend)
    except ConfigError as exc:
        raise ConfigError(f"{src}: storage.backend: {exc}") from None
    for name in {cfg.storage.backend, *cfg.storage_backends}:
        if name != cfg.storage.backend and not registry.loadable(name):
            continue  # the section of an optional store that is not installed (nor chosen)
        cls = store_class if name == cfg.storage.backend else registry.store_class(name)
        problem = cls.validate_options(cfg, cfg.backend_options(name, cls.options))
        if problem:
            raise ConfigError(f"{src}: {problem}")


def _check_type(source: str, key: str, default: Any, value: Any) -> Any:
    expected = type(default)
    if expected is bool and not isinstance(value, bool):
        raise ConfigError(f"{source}: {key}: expected true or false, got {value!r}")
    if expected is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{source}: {key}: expected an integer, got {value!r}")
    if expected is str and not isinstance(value, str):
        raise ConfigError(f"{source}: {key}: expected a string, got {value!r}")
    if expected is list and not (
        isinstance(value, list) and all(isinstance(v, str) for v in value)
    ):
        raise ConfigError(f"{source}: {key}: expected a list of strings, got {value!r}")
    return value


WEBDAV_LIMITS = {  # key: (minimum, maximum)
    "handshake_timeout_s": (1, 300),
    "request_head_timeout_s": (1, 600),
    "keepalive_timeout_s": (1, 3600),
    "max_header_bytes": (4096, 1024 * 1024),
    "max_xml_body_bytes": (4096, 64 * 1024 * 1024),
    "max_connections_per_address": (1, 100000),
}


def _validate_webdav_limits(cfg: Config) -> None:
    for key, (low, high) in WEBDAV_LIMITS.items():
        value = getattr(cfg.webdav, key)
        if not low <= value <= high:
            raise ConfigError(f"{cfg.source}: webdav.{key}: expected {low} to {high}, "
                              f"got {value}")


def _validate_heartbeat(cfg: Config) -> None:
    beat, stale = cfg.gateway.node_heartbeat_s, cfg.gateway.node_stale_after_s
    if not 0 <= beat <= 3600:
        raise ConfigError(f"{cfg.source}: gateway.node_heartbeat_s: expected 0 (off) to 3600 "
                          f"seconds, got {beat}")
    if stale < 0 or (stale and beat and stale < 2 * beat):
        raise ConfigError(f"{cfg.source}: gateway.node_stale_after_s: expected 0 (never) or "
                          f"at least twice gateway.node_heartbeat_s ({2 * beat} s), got "
                          f"{stale}: a live node must not look dead")


def _validate(cfg: Config) -> None:
    src = cfg.source
    for name in ("webdav", "sftp", "admin_api"):
        port = getattr(cfg, name).port
        if not 1 <= port <= 65535:
            raise ConfigError(f"{src}: {name}.port: expected 1 to 65535, got {port}")
        if getattr(getattr(cfg, name), "workers", 0) < 0:
            raise ConfigError(f"{src}: {name}.workers: must be 0 (one per core) or more")
    _validate_heartbeat(cfg)
    _validate_storage(cfg)
    if not 0 <= cfg.storage.inline_max_bytes <= MAX_INLINE_BYTES:
        raise ConfigError(f"{src}: storage.inline_max_bytes: must be between 0 and "
                          f"{MAX_INLINE_BYTES} (small files kept in the catalog)")
    if cfg.storage.max_file_bytes < 0:
        raise ConfigError(f"{src}: storage.max_file_bytes: must be 0 (no limit) or a number "
                          "of bytes, e.g. 68719476736 for 64 GiB")
    if cfg.storage.gc_grace_seconds < 0:
        raise ConfigError(f"{src}: storage.gc_grace_seconds: must be >= 0")
    _validate_sftp(cfg)
    validate_proxy(src, {"webdav": cfg.webdav, "sftp": cfg.sftp})
    validate_notify(src, cfg.notify)
    validate_alerts(src, cfg.alerts)
    if not 4096 <= cfg.webdav.block_size <= 16 * 1024 * 1024:
        raise ConfigError(f"{src}: webdav.block_size: expected 4096 to 16777216 bytes")
    _validate_webdav_limits(cfg)
    if not 1 <= cfg.sftp.max_auth_attempts <= 100:
        raise ConfigError(f"{src}: sftp.max_auth_attempts: expected 1 to 100 failed "
                          "attempts per connection (default 6)")
    if not 1 <= cfg.webdav.max_lock_timeout_s <= 7 * 24 * 3600:
        raise ConfigError(f"{src}: webdav.max_lock_timeout_s: expected 1 to 604800 seconds "
                          "(clients refresh longer locks)")
    if cfg.audit.batch_max_events < 1 or cfg.audit.batch_max_delay_ms < 0:
        raise ConfigError(f"{src}: audit.batch_*: must be positive")
    if not 10 <= cfg.audit.export_interval_ms <= 60000:
        raise ConfigError(f"{src}: audit.export_interval_ms: expected 10 to 60000 "
                          f"milliseconds, got {cfg.audit.export_interval_ms}")
    if not 1 <= cfg.audit.checkpoint_interval_s <= 86400:
        raise ConfigError(f"{src}: audit.checkpoint_interval_s: expected 1 to 86400 seconds "
                          "(default 60)")
    if not 0 <= cfg.metrics.status_errors <= 1000:
        raise ConfigError(f"{src}: metrics.status_errors: expected 0 to 1000 events")
    pol = cfg.policy
    for key in ("credential_cache_ttl_s", "ldap_cache_ttl_s"):
        if getattr(pol, key) < 0:
            raise ConfigError(f"{src}: policy.{key}: must be 0 (off) or more seconds")
    for key in ("credential_cache_size", "argon2_time_cost", "argon2_parallelism",
                "defender_max_score", "defender_account_max_score", "defender_window_s",
                "defender_ban_s"):
        if getattr(pol, key) < 1:
            raise ConfigError(f"{src}: policy.{key}: must be 1 or more")
    if pol.argon2_memory_kib < 8 * pol.argon2_parallelism:
        raise ConfigError(f"{src}: policy.argon2_memory_kib: must be at least 8 x parallelism")


SFTP_PROFILES = ("compatible", "modern")


def _validate_sftp(cfg: Config) -> None:
    src, s = cfg.source, cfg.sftp
    if s.profile not in SFTP_PROFILES:
        raise ConfigError(f"{src}: sftp.profile: expected one of {', '.join(SFTP_PROFILES)}, "
                          f"got {s.profile!r}")
    for key, low, high in (("max_channels_per_connection", 1, 1000),
                           ("max_handles_per_connection", 1, 100000),
                           ("max_write_buffer_bytes_per_connection", 1024 * 1024, 1 << 34)):
        value = getattr(s, key)
        if not low <= value <= high:
            raise ConfigError(f"{src}: sftp.{key}: expected {low} to {high}, got {value}")
