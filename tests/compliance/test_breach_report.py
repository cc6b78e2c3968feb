"""``breach report`` over a scripted incident on a real gateway (``serve``: WebDAV + SFTP).

A stolen app password of alice is used over WebDAV from a new address (127.0.0.2: curl
binds its socket there) to list /finance and download its 50 documents; a partner's SSH
key (pat) is used over SFTP from the same address to list /partner, fetch two files,
delete one and drop one. Meanwhile bob, carol and alice herself work normally from
127.0.0.1, in the same window, some of them on the same files. The report for
``--addresses 127.0.0.2/32`` must name exactly the attacker's accounts, address, sessions
and files, none of the normal traffic, and mark the files never read as only encrypted
at rest.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import localnet
import pytest
from localnet import free_port

from gateway import admin
from gateway.config import load_config
from gateway.core import Core
from gateway.policy import apppasswords, manage, sshkeys

ROOT = Path(__file__).resolve().parents[2]
ATTACKER = "127.0.0.2"
FINANCE = [f"/finance/f{i:02d}.txt" for i in range(50)]
LISTED_ONLY = ["/finance/keep-<b>0.txt", "/finance/keep1.txt"]
PASSWORDS = {"alice": "alice-pw-Secret-1", "bob": "bob-pw-Secret-2", "carol": "carol-pw-3x!"}
SSH = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
       "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "-o", "ConnectTimeout=20"]


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI requires {tool}")
        pytest.skip(f"{tool} is not installed")
    return path


class Incident:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.wport, self.sport = free_port(), free_port()
        self.config = base / "gateway.toml"
        self.config.write_text(
            f'[gateway]\ndata_dir = "var"\n[audit]\nlog = "off"\nbatch_max_delay_ms = 2\n'
            f'[tls]\ncert_file = "certs/gw.crt"\nkey_file = "certs/gw.key"\n'
            f'[webdav]\nport = {self.wport}\nworkers = 1\n'
            f'[sftp]\nport = {self.sport}\nworkers = 1\n'
            f'host_keys = ["certs/ssh_host_ed25519_key", "certs/ssh_host_ecdsa_key"]\n')
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("LUMANOX_")}
        self.env.update(LUMANOX_CONFIG=str(self.config), PYTHONPATH=str(ROOT))
        self.cli("init")
        self.key = base / "pat_key"
        subprocess.run([need("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-f",
                        str(self.key)], check=True)
        with Core.open(load_config(self.config), audit_log="off") as core:
            admin.create_tenant(core, "acme")
            for user, pw in PASSWORDS.items():
                admin.create_user(core, "acme", user, password=pw)
            admin.create_user(core, "acme", "pat", kind="machine")  # the partner's
            manage.set_user_policy(core, "acme", "pat", networks=["127.0.0.0/8"])
            sshkeys.add_key(core, "acme", "pat", (base / "pat_key.pub").read_text())
            _, self.app_password = apppasswords.create(core, "acme", "alice", "laptop")
            s = core.session(admin.principal_for(core, "acme", "alice"), "test", "127.0.0.1")
            for folder in ("/finance", "/partner", "/team"):
                s.mkdir(folder)
            for i, path in enumerate(FINANCE + LISTED_ONLY):
                s.write_file(path, f"invoice {i} of a customer\n".encode() * (i + 1))
            for i in range(4):
                s.write_file(f"/partner/p{i}.txt", f"partner data {i}\n".encode() * 40)
                s.write_file(f"/team/t{i}.txt", f"team notes {i}\n".encode() * 30)

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        p = subprocess.run([sys.executable, "-m", "gateway", *args], env=self.env, cwd=self.base,
                           capture_output=True, text=True, timeout=timeout)
        assert p.returncode == 0, f"{args}: {p.stderr}"
        return p

    def curl(self, source: str, login: str, password: str, *args: str) -> None:
        subprocess.run([need("curl"), "-sSf", "-k", "--interface", source, "-u",
                        f"{login}:{password}", *args], check=True, capture_output=True,
                       timeout=120)

    def url(self, path: str) -> str:
        from urllib.parse import quote

        return f"https://127.0.0.1:{self.wport}{quote(path)}"

    def sftp(self, login: str, source: str, commands: str, *extra: str) -> None:
        p = subprocess.run([need("sftp"), *SSH, *extra, "-o", f"BindAddress={source}",
                            "-P", str(self.sport), "-b", "-", f"{login}@127.0.0.1"],
                           input=commands, text=True, capture_output=True, timeout=120,
                           cwd=self.base, start_new_session=True)
        assert p.returncode == 0, p.stderr


def _fetch(inc: Incident, paths: list[str], prefix: Path) -> list[str]:
    """curl arguments that GET each path (one connection) into ``prefix<N>``."""
    args: list[str] = []
    for i, path in enumerate(paths):
        args += [inc.url(path), "-o", f"{prefix}{i}"]
    return args


def _play(inc: Incident, tmp: Path) -> None:
    """Normal work from 127.0.0.1 interleaved with the attack from 127.0.0.2."""
    out = tmp / "dl"
    out.mkdir()
    inc.curl("127.0.0.1", "bob@acme", PASSWORDS["bob"], *_fetch(
        inc, [f"/team/t{i}.txt" for i in range(4)], out / "b"))
    inc.curl("127.0.0.1", "alice@acme", PASSWORDS["alice"], inc.url(FINANCE[0]),
             "-o", str(out / "alice-own"))
    # the attacker: the stolen app password, a listing, then every document
    inc.curl(ATTACKER, "alice@acme", inc.app_password, "-X", "PROPFIND", "-H", "Depth: 1",
             inc.url("/finance/"), "-o", str(out / "listing.xml"))
    inc.curl(ATTACKER, "alice@acme", inc.app_password, *_fetch(inc, FINANCE, out / "x"))
    inc.curl("127.0.0.1", "bob@acme", PASSWORDS["bob"], "-T", str(out / "b0"),
             inc.url("/team/new.txt"))
    (tmp / "drop.txt").write_text("dropped by the intruder\n")
    inc.sftp("pat@acme", ATTACKER, f"ls /partner\nget /partner/p0.txt {out}/p0\n"
             f"get /partner/p1.txt {out}/p1\nrm /partner/p3.txt\n"
             f"put {tmp}/drop.txt /partner/dropped.txt\n",
             "-i", str(inc.key), "-o", "IdentitiesOnly=yes",
             "-o", "PreferredAuthentications=publickey")
    inc.curl("127.0.0.1", "carol@acme", PASSWORDS["carol"], inc.url("/partner/p1.txt"),
             "-o", str(out / "c1"))


@pytest.mark.slow
def test_report_names_exactly_the_intruders_traffic(tmp_path: Path) -> None:
    inc = Incident(tmp_path)
    since = datetime.now(UTC)
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve"], env=inc.env,
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for port in (inc.wport, inc.sport):
            localnet.wait_port(port, 60)
        _play(inc, tmp_path)
    finally:
        proc.send_signal(signal.SIGTERM)  # stops after its audit writers drained
        assert proc.wait(timeout=60) == 0, proc.stderr.read()  # type: ignore[union-attr]
    until = datetime.now(UTC) + timedelta(seconds=1)
    inc.cli("app-password", "revoke", "alice@acme", "laptop")  # a measure taken
    discovered = "2026-12-06T12:00:00+00:00"
    args = ["breach", "report", "--tenant", "acme", "--since", since.isoformat(),
            "--until", until.isoformat(), "--addresses", f"{ATTACKER}/32",
            "--discovered", discovered]
    report = json.loads(inc.cli(*args).stdout)

    assert [a["account"] for a in report["accounts"]] == ["alice", "pat"]
    assert [a["address"] for a in report["addresses"]] == [ATTACKER]
    by_account = {a["account"]: a for a in report["accounts"]}
    assert by_account["alice"]["login_methods"] == ["app-password"]
    assert by_account["alice"]["logins_ok"] >= 1 and by_account["pat"]["logins_ok"] == 1
    assert by_account["pat"]["login_methods"] == ["publickey"]
    assert {(x["account"], x["address"], x["method"], x["result"]) for x in report["logins"]} \
        == {("alice", ATTACKER, "app-password", "ok"), ("pat", ATTACKER, "publickey", "ok")}
    assert by_account["alice"]["files_read"] == 50 and by_account["pat"]["files_read"] == 2
    assert {(s["account"], s["protocol"], s["address"]) for s in report["sessions"]} == \
        {("alice", "webdav", ATTACKER), ("pat", "sftp", ATTACKER)}

    files = {f["path"]: f for f in report["files"]}
    partner = {"/partner/p0.txt", "/partner/p1.txt", "/partner/p2.txt", "/partner/p3.txt",
               "/partner/dropped.txt"}
    assert set(files) == set(FINANCE) | set(LISTED_ONLY) | partner, \
        sorted(set(files) ^ (set(FINANCE) | set(LISTED_ONLY) | partner))
    with Core.open(load_config(inc.config), audit_log="off") as core:
        s = core.session(admin.principal_for(core, "acme", "alice"), "test", "127.0.0.1")
        sizes = {p: s.stat(p).size for p in [*FINANCE, "/partner/p0.txt", "/partner/p1.txt"]}
    for path in FINANCE:  # alice's own read from 127.0.0.1 of f00 is not in it
        assert files[path]["exposure"] == "read"
        assert files[path]["read_by"] == [{
            "account": "alice", "address": ATTACKER, "protocol": "webdav", "reads": 1,
            "bytes": sizes[path], "first": files[path]["read_by"][0]["first"],
            "last": files[path]["read_by"][0]["last"]}]
    for path in ("/partner/p0.txt", "/partner/p1.txt"):  # carol's read of p1 is not in it
        assert [(r["account"], r["address"], r["protocol"]) for r in files[path]["read_by"]] \
            == [("pat", ATTACKER, "sftp")]
        assert files[path]["bytes_read"] == sizes[path]
    at_rest = {p for p, f in files.items() if f["encrypted_at_rest_only"]}
    assert at_rest == set(LISTED_ONLY) | {"/partner/p2.txt", "/partner/p3.txt",
                                          "/partner/dropped.txt"}
    assert all(f["exposure"] == "encrypted-at-rest-only" for p, f in files.items()
               if p in at_rest)
    assert files["/partner/p3.txt"]["changes"] == {"delete": 1}
    assert not files["/partner/p3.txt"]["exists_now"]
    assert files["/partner/dropped.txt"]["changes"] == {"write": 1}
    assert files[LISTED_ONLY[1]]["at_rest"].startswith("AES-256-GCM")

    c = report["counts"]
    assert (c["files_read"], c["files_deleted"], c["files_changed"]) == (52, 1, 1)
    assert c["bytes_read"] == sum(sizes.values())
    form = report["authority_form"]
    assert form["nature"] == {"confidentiality": True, "integrity": True, "availability": True}
    assert form["notification_deadline"] == "2026-12-09T12:00:00+00:00"
    assert form["accounts_whose_credentials_were_used"] == ["alice", "pat"]
    assert [x.split(" ", 1)[1] for x in form["administrative_actions_since_breach_began"]] \
        == ["app-password-revoke alice"]
    for blank in ("contact_point", "likely_consequences", "categories_of_data_subjects",
                  "measures_taken", "approximate_number_of_data_subjects"):
        assert form[blank] == "TO BE COMPLETED BY THE CONTROLLER"

    # the same incident seen by its accounts: the normal traffic of alice is in it now
    by_acct = json.loads(inc.cli("breach", "report", "--tenant", "acme", "--since",
                                 since.isoformat(), "--until", until.isoformat(),
                                 "--accounts", "pat").stdout)
    assert [a["account"] for a in by_acct["accounts"]] == ["pat"]
    assert set(f["path"] for f in by_acct["files"]) == partner

    html = tmp_path / "report.html"
    inc.cli(*args, "--format", "html", "--out", str(html))
    _check_html(html)


def _check_html(html: Path) -> None:
    text = html.read_text()
    assert "<script" not in text.lower()
    assert "http://" not in text and "https://" not in text and "src=" not in text
    assert "keep-&lt;b&gt;0.txt" in text and "<b>0" not in text
    assert text.count("TO BE COMPLETED BY THE CONTROLLER") >= 5
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return
    dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                          "--dump-dom", html.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    assert dom.count("class=\"read\">read decrypted") == 52  # one per file read
    assert dom.count("class=\"rest\">only ever encrypted") == 5
    assert "<script" not in dom
