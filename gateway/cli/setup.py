"""``init``: data directory, catalog, master key, TLS certificate and SSH host keys."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.config import Config
from gateway.keyring import create_master_key_file


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def ensure_tls_certificate(cert: Path, key: Path) -> bool:
    """A self-signed ECDSA P-256 certificate for localhost/127.0.0.1, unless present."""
    if cert.exists() and key.exists():
        return False
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Lumanox Gateway (self-signed)")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(private.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(private, hashes.SHA256())
    )
    _write_private(key, private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return True


def ensure_ssh_host_keys(paths: list[Path]) -> list[Path]:
    """Ed25519 / ECDSA host keys in OpenSSH format, for names that lack one."""
    made = []
    for path in paths:
        if path.exists():
            continue
        if "ed25519" in path.name:
            private = ed25519.Ed25519PrivateKey.generate()
        elif "ecdsa" in path.name:
            private = ec.generate_private_key(ec.SECP256R1())
        else:
            raise ValueError(f"{path.name}: host key names must contain ed25519 or ecdsa")
        _write_private(path, private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption()))
        path.with_name(path.name + ".pub").write_bytes(private.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH) + b"\n")
        made.append(path)
    return made


def initialise(config: Config) -> list[str]:
    """Create whatever is missing; returns one line per thing created."""
    done = []
    config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if create_master_key_file(config.master_key_file):
        done.append(f"master key: {config.master_key_file} (mode 0600) - back it up, "
                    "without it no file can be read")
    cert, key = config.path(config.tls.cert_file), config.path(config.tls.key_file)
    if ensure_tls_certificate(cert, key):
        done.append(f"TLS certificate: {cert} (self-signed)")
    for path in ensure_ssh_host_keys([config.path(p) for p in config.sftp.host_keys]):
        done.append(f"SSH host key: {path}")
    return done
