"""The SSH algorithm policy: two profiles, each list overridable per deployment.

``[sftp] profile``:

* ``compatible`` (default): what every maintained client library negotiates. The
  ``modern`` set plus AES-CTR with SHA-2 HMACs (plain and encrypt-then-MAC), and the
  NIST ECDH and SHA-2 Diffie-Hellman key exchanges (group exchange, groups 14/16/18).
  Needed by libssh2 before 1.11 (curl's ``sftp://`` on Debian 12, PHP ssh2, many
  backup/EDI tools), older JSch and SSH.NET, which have no AES-GCM, no ChaCha20 and no
  ``-etm`` MACs ("Unable to exchange encryption keys").
* ``modern``: hybrid post-quantum / curve25519 key exchange, AES-GCM then
  ChaCha20-Poly1305, encrypt-then-MAC MACs only (used only with a non-AEAD cipher).

Both: no SHA-1 anywhere, no CBC, no ``ssh-rsa``/DSA; strict key exchange
(``kex-strict-s-v00@openssh.com``, the Terrapin counter-measure) is offered by asyncssh
whatever the lists. A client's preference decides among the common algorithms, so
modern clients keep AES-GCM. ``[sftp]`` keys ``kex_algs``, ``encryption_algs``,
``mac_algs`` and ``signature_algs`` replace a list; every name must be one asyncssh
knows, else startup fails with the offending name.
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
COMPATIBLE_KEX = (*DEFAULT_KEX, "ecdh-sha2-nistp256", "ecdh-sha2-nistp384",
                  "ecdh-sha2-nistp521", "diffie-hellman-group-exchange-sha256",
                  "diffie-hellman-group16-sha512", "diffie-hellman-group18-sha512",
                  "diffie-hellman-group14-sha256")
COMPATIBLE_CIPHERS = (*DEFAULT_CIPHERS, "aes128-ctr", "aes192-ctr", "aes256-ctr")
COMPATIBLE_MACS = (*DEFAULT_MACS, "hmac-sha2-256", "hmac-sha2-512")
PROFILES = {
    "modern": (DEFAULT_KEX, DEFAULT_CIPHERS, DEFAULT_MACS),
    "compatible": (COMPATIBLE_KEX, COMPATIBLE_CIPHERS, COMPATIBLE_MACS),
}
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
    if s.profile not in PROFILES:
        raise ConfigError(f"{src}: sftp.profile: expected one of {', '.join(PROFILES)}, "
                          f"got {s.profile!r}")
    kex, ciphers, macs = PROFILES[s.profile]
    return AlgorithmPolicy(
        kex=_pick(src, "kex_algs", s.kex_algs, kex, get_kex_algs()),
        ciphers=_pick(src, "encryption_algs", s.encryption_algs, ciphers,
                      get_encryption_algs()),
        macs=_pick(src, "mac_algs", s.mac_algs, macs, get_mac_algs()),
        signatures=_pick(src, "signature_algs", s.signature_algs, DEFAULT_SIGNATURES,
                         get_public_key_algs()),
    )
