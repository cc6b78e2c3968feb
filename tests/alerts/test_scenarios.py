"""Each rule fires on a scripted attack through the real front-ends of a running ``serve``
(curl over WebDAV, paramiko over SFTP), appears in ``alert list`` and as an audit event;
an attack that goes on is one alert per window; normal traffic fires nothing."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from sftp.conftest import need

from alerts.harness import PW, AlertGateway, start
from gateway import admin
from gateway.core import Core
from gateway.policy import apppasswords, sshkeys

BIG = 200 * 1024  # kept in the blob store (larger than storage.inline_max_bytes)
EXPIRED_SECRET: list[str] = []  # the app password of ap@acme that expired yesterday
EXPIRED_KEY = ed25519.Ed25519PrivateKey.generate()  # the SSH key of ks@acme, expired too


def cast(core: Core) -> None:
    admin.create_tenant(core, "acme")
    for user in ("wd", "sf", "dd", "dl", "nn", "fl", "ap", "ks"):
        admin.create_user(core, "acme", user, password=PW)
    dl = core.session(admin.principal_for(core, "acme", "dl"), "test", "127.0.0.1")
    for i in range(60):
        dl.write_file(f"/f{i:02}.txt", b"x" * 1000)
    fl = core.session(admin.principal_for(core, "acme", "fl"), "test", "127.0.0.1")
    fl.write_file("/big.bin", bytes(range(256)) * (BIG // 256))
    public = EXPIRED_KEY.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                   serialization.PublicFormat.OpenSSH).decode()
    sshkeys.add_key(core, "acme", "ks", public, expires_at=datetime.now(UTC) - timedelta(days=1))
    EXPIRED_SECRET[:] = [apppasswords.create(
        core, "acme", "ap", "old-nas", expires_at=datetime.now(UTC) - timedelta(days=1))[1]]


@pytest.fixture(scope="module")
def agw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertGateway]:
    gw = start(tmp_path_factory.mktemp("alerts"), cast)
    try:
        yield gw
    finally:
        gw.close()


def curl(agw: AlertGateway, login: str, password: str, *paths: str,
         interface: str | None = None) -> list[str]:
    """One curl process requesting every path (keep-alive); the HTTP status of each."""
    argv = [need("curl"), "-k", "-sS", "-u", f"{login}:{password}",
            "-w", "%{http_code}\\n", *(["--interface", interface] if interface else [])]
    for p in paths:
        argv += ["-o", "/dev/null", agw.gw.url + p]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    return out.stdout.split()


def sftp_login(agw: AlertGateway, login: str, password: str) -> bool:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # noqa: S507
    try:
        client.connect("127.0.0.1", port=agw.gw.sftp_port, username=login, password=password,
                       look_for_keys=False, allow_agent=False, timeout=20)
        client.open_sftp().listdir("/")
        return True
    except paramiko.AuthenticationException:
        return False
    finally:
        client.close()


def fired_one(agw: AlertGateway, rule: str, subject: str) -> None:
    """Exactly one alert of ``rule`` for ``subject``, in `alert list` and in the audit log."""
    agw.settle()
    got = agw.alerts(rule, subject)
    assert len(got) == 1, [(a.rule, a.subject) for a in agw.alerts()]
    listed = json.loads(agw.cli("alert", "list", "--tenant", "acme", "--json").stdout)
    assert any(a["id"] == got[0].id and a["delivery"] == {"log": "sent"} for a in listed)
    assert any(e["reason"].startswith(f"{rule}: ") and f"#{got[0].id})" in e["reason"]
               for e in agw.alert_events())
    assert f"alert #{got[0].id} {rule} tenant=acme subject={subject}:" in agw.gw.output()


def test_wrong_passwords_over_webdav(agw: AlertGateway) -> None:
    assert curl(agw, "wd@acme", "wrong", *["/"] * 10) == ["401"] * 10
    fired_one(agw, "failed_logins_account", "wd@acme")


def test_wrong_passwords_over_sftp(agw: AlertGateway) -> None:
    assert not any(sftp_login(agw, "sf@acme", "wrong") for _ in range(10))
    fired_one(agw, "failed_logins_account", "sf@acme")


def test_fifty_failures_make_one_alert(agw: AlertGateway) -> None:
    assert curl(agw, "dd@acme", "wrong", *["/"] * 50) == ["401"] * 50
    fired_one(agw, "failed_logins_account", "dd@acme")
    assert agw.gw.output().count("failed_logins_account tenant=acme subject=dd@acme:") == 1


def test_sixty_downloads_in_a_minute(agw: AlertGateway) -> None:
    assert curl(agw, "dl@acme", PW, *[f"/f{i:02}.txt" for i in range(60)]) == ["200"] * 60
    fired_one(agw, "mass_download", "dl@acme")


def test_login_from_a_new_network(agw: AlertGateway) -> None:
    assert curl(agw, "nn@acme", PW, "/") == ["200"]
    agw.settle()
    assert agw.alerts("new_network") == []  # the first network is history, not an alert
    # 127.0.0.2 is in the same /24 as 127.0.0.1: the client binds to another /24 of lo
    assert curl(agw, "nn@acme", PW, "/", interface="127.0.1.2") == ["200"]
    fired_one(agw, "new_network", "nn@acme 127.0.1.0/24")


def test_a_flipped_byte_in_a_blob_read_over_webdav(agw: AlertGateway) -> None:
    from sqlalchemy import select

    from gateway.catalog.tables import nodes, tenants

    with agw.catalog.read() as conn:
        blob_id = conn.execute(select(nodes.c.blob_id).join(
            tenants, tenants.c.id == nodes.c.tenant_id).where(
            tenants.c.name == "acme", nodes.c.name == "big.bin")).scalar()
    path = agw.gw.data_dir / "blobs" / blob_id[:2] / blob_id[2:4] / blob_id
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    curl(agw, "fl@acme", PW, "/big.bin")  # the transfer breaks off mid-way
    fired_one(agw, "decrypt_failure", "content")


def test_an_expired_app_password_tried(agw: AlertGateway) -> None:
    assert curl(agw, "ap@acme", EXPIRED_SECRET[0], "/") == ["401"]
    fired_one(agw, "expired_credential", "ap@acme")


def test_an_expired_ssh_key_tried(agw: AlertGateway, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """OpenSSH asks whether the key would do before it signs: that probe is audited too."""
    key = tmp_path / "id_ed25519"
    key.write_bytes(EXPIRED_KEY.private_bytes(serialization.Encoding.PEM,
                                              serialization.PrivateFormat.OpenSSH,
                                              serialization.NoEncryption()))
    key.chmod(0o600)
    p = subprocess.run([need("sftp"), "-o", "StrictHostKeyChecking=no", "-o",
                        "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o",
                        "IdentitiesOnly=yes", "-o", "PreferredAuthentications=publickey",
                        "-i", str(key), "-P", str(agw.gw.sftp_port), "-b", "-",
                        "ks@acme@127.0.0.1"], input="ls\n", capture_output=True, text=True,
                       timeout=60)
    assert p.returncode != 0
    fired_one(agw, "expired_credential", "ks@acme")


def test_fired_alerts_are_counted_in_the_metrics(agw: AlertGateway) -> None:
    """Each stored alert (not its de-duplicated repeats) moves ``alerts_fired`` once, in
    the running serve's metrics (the evaluator runs in the supervisor process)."""
    import re
    from collections import Counter

    assert curl(agw, "wd@acme", "wrong", *["/"] * 10) == ["401"] * 10
    agw.wait_alert("failed_logins_account", "wd@acme")
    agw.settle()
    fired = Counter(a.rule for a in agw.alerts())
    text = agw.cli("metrics").stdout
    counted = {m[1]: float(m[2]) for m in re.finditer(
        r'^lumanox_alerts_fired_total\{rule="([^"]+)"\} (\S+)$', text, re.M)}
    assert counted == {rule: float(n) for rule, n in fired.items()}
