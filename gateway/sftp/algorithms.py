"""The SSH algorithm policy: strict by default, overridable per deployment.

Defaults: hybrid post-quantum / curve25519 key exchange, AES-GCM first then
ChaCha20-Poly1305, encrypt-then-MAC MACs only (used only if an AEAD cipher is not
chosen), no SHA-1 anywhere and no CBC. ``[sftp]`` keys ``kex_algs``,
``encryption_algs``, ``mac_algs`` and ``signature_algs`` replace a list; every name
must be one asyncssh knows, else startup fails with the offending name.
"""

from __future__ import annotations

from dataclasses import dataclass

from asyncssh.encryption import get_encryption_algs
from asyncssh.kex import get_kex_algs
from asyncssh.mac import get_mac_algs
from asyncssh.public_key import get_public_key_algs

from gateway.config import Config
from gateway.errors import ConfigError

DEFAULT_KEX = ("mlkem768x25519-sha256", "sntrup761x25519-sha512@openssh.com",
               "sntrup761x25519-sha512", "curve25519-sha256",
               "curve25519-sha256@libssh.org")
DEFAULT_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com",
                   "chacha20-poly1305@openssh.com")
DEFAULT_MACS = ("hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com",
                "umac-128-etm@openssh.com")
DEFAULT_SIGNATURES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                      "ecdsa-sha2-nistp521", "rsa-sha2-512", "rsa-sha2-256",
                      "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com")
FORBIDDEN_MARKERS = ("-cbc", "sha1", "md5", "arcfour", "ssh-rsa", "ssh-dss", "group1-")


@dataclass(frozen=True)
class AlgorithmPolicy:
    kex: list[str]
    ciphers: list[str]
    macs: list[str]
    signatures: list[str]

    def options(self) -> dict[str, list[str]]:
        """Keyword arguments for ``asyncssh.listen``."""
        return {"kex_algs": self.kex, "encryption_algs": self.ciphers,
                "mac_algs": self.macs, "signature_algs": self.signatures}


def _pick(source: str, key: str, configured: list[str], default: tuple[str, ...],
          known: list[bytes]) -> list[str]:
    names = {k.decode("ascii") for k in known}
    if configured:
        bad = [n for n in configured if n not in names]
        if bad:
            raise ConfigError(f"{source}: sftp.{key}: unknown algorithm(s) {', '.join(bad)}")
        return list(configured)
    return [n for n in default if n in names]


def policy_from_config(config: Config) -> AlgorithmPolicy:
    s, src = config.sftp, config.source
    return AlgorithmPolicy(
        kex=_pick(src, "kex_algs", s.kex_algs, DEFAULT_KEX, get_kex_algs()),
        ciphers=_pick(src, "encryption_algs", s.encryption_algs, DEFAULT_CIPHERS,
                      get_encryption_algs()),
        macs=_pick(src, "mac_algs", s.mac_algs, DEFAULT_MACS, get_mac_algs()),
        signatures=_pick(src, "signature_algs", s.signature_algs, DEFAULT_SIGNATURES,
                         get_public_key_algs()),
    )
