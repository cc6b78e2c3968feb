"""``[notify]`` and ``[notify.smtp]``: loaded from the file, checked with one-line errors;
the SMTP password has no key in the file at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import load_config
from gateway.errors import ConfigError


def _load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    return load_config(path)


def test_the_nested_smtp_table_is_read(tmp_path: Path) -> None:
    cfg = _load(tmp_path, '[notify]\nmax_attempts = 3\n[notify.smtp]\nhost = "mail.example"\n'
                          'from_address = "gw@example.com"\npassword_env = "SMTP_PW"\n')
    assert cfg.notify.max_attempts == 3
    assert (cfg.notify.smtp.host, cfg.notify.smtp.port, cfg.notify.smtp.starttls) == (
        "mail.example", 587, True)


@pytest.mark.parametrize(("text", "message"), [
    ('[notify.smtp]\npassword = "hunter2"\n', "notify.smtp.password: unknown key"),
    ('[notify.smtp]\nhost = "mail.example"\n', "notify.smtp.from_address: required"),
    ('[notify]\nsmtp = "mail.example"\n', "notify.smtp must be a table"),
    ('[notify]\nmax_attempts = 0\n', "notify.max_attempts: expected 1 to 100"),
    ('[notify]\nclaim_lease_s = 10\n', "notify.claim_lease_s: must exceed"),
    ('[notify.smtp]\npassword_env = "A"\npassword_file = "b"\n', "not both"),
])
def test_mistakes_are_refused_with_one_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        _load(tmp_path, text)
