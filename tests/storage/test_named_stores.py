"""Several named stores at once: each blob's row names its store, reads go there, new
writes go to the tenant's store; data residency refuses (and audits) a store outside the
tenant's regions; ``tenant show`` says where the data lives. SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from storage_helpers import (
    blob_stores,
    core_of,
    events,
    make_env,
    session,
    stored_ids,
)

from gateway.backends.stores import ResidencyRefused
from gateway.config import load_config
from gateway.errors import ConfigError


def test_stores_listed_with_regions(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    rows = env.json("storage", "stores")
    assert [(r["store"], r["region"]) for r in rows] == [
        ("default", "eu-central"), ("ch1", "ch"), ("us1", "us-east")]


def test_new_writes_go_to_the_tenant_store_reads_to_the_blob_store(
        tmp_path: Path, db_url: str) -> None:
    env = make_env(tmp_path, db_url)
    with core_of(env) as core:
        session(core).write_file("/before.txt", b"in the default store")
    env.run("tenant", "set", "acme", "--store", "ch1")
    with core_of(env) as core:
        s = session(core)
        s.write_file("/after.txt", b"in ch1" * 1000)
        assert s.read_file("/before.txt") == b"in the default store"
        assert s.read_file("/after.txt") == b"in ch1" * 1000
    where = blob_stores(env)
    assert sorted(where.values()) == ["ch1", "default"]
    assert stored_ids(env, "ch1") == {b for b, s in where.items() if s == "ch1"}
    assert stored_ids(env, "default") == {b for b, s in where.items() if s == "default"}

    shown = env.json("tenant", "show", "acme")["storage"]
    assert shown["store"] == "ch1"
    assert {(e["store"], e["region"], e["files"], e["bytes"]) for e in shown["placement"]} == {
        ("default", "eu-central", 1, 20), ("ch1", "ch", 1, 6000)}
    text = env.run("tenant", "show", "acme").stdout
    assert "new files to ch1 (ch)" in text and "eu-central" in text


def test_store_outside_the_regions_is_refused_and_audited(
        tmp_path: Path, db_url: str) -> None:
    env = make_env(tmp_path, db_url)
    env.run("tenant", "set", "acme", "--regions", "eu-central,ch")
    p = env.run("tenant", "set", "acme", "--store", "us1", ok=False)
    assert p.returncode != 0
    assert "region 'us-east'" in p.stderr and "tenant set --store" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    p = env.run("tenant", "set", "acme", "--store", "ch1", "--regions", "us-east", ok=False)
    assert p.returncode != 0
    denied = [e for e in events(env, "tenant-placement") if e["result"] == "denied"]
    assert len(denied) == 2 and "us-east" in denied[0]["reason"]
    env.run("tenant", "set", "acme", "--store", "ch1")  # inside: accepted
    assert env.json("tenant", "show", "acme")["storage"]["regions"] == ["eu-central", "ch"]

    p = env.run("storage", "migrate", "--tenant", "acme", "--to", "us1", ok=False)
    assert p.returncode != 0 and "outside the tenant's allowed regions" in p.stderr
    assert [e["result"] for e in events(env, "storage-migrate")] == ["denied"]


def test_a_write_to_a_store_relabelled_outside_the_regions_is_refused(
        tmp_path: Path, db_url: str) -> None:
    env = make_env(tmp_path, db_url)
    env.run("tenant", "set", "acme", "--store", "ch1", "--regions", "ch")
    # the operator relabels ch1's region: the tenant's next write must not land there
    env.config.write_text(env.config.read_text().replace('region = "ch"', 'region = "us-east"'))
    with core_of(env) as core, pytest.raises(ResidencyRefused, match="outside the tenant's"):
        session(core).write_file("/x.txt", b"must not be stored in us-east")
    assert stored_ids(env, "ch1") == set() and blob_stores(env) == {}
    refused = [e for e in events(env, "upload") + events(env, "write")
               if e["result"] == "denied"]
    assert refused and "us-east" in refused[0]["reason"]


def test_store_config_is_checked(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    base = env.config.read_text()
    for bad, words in (('[stores.x]\nbackend = "local"\npath = "x"\n', "needs region"),
                       ('[stores.x]\nbackend = "nope"\nregion = "a"\n', "unknown backend"),
                       ('[stores.x]\nbackend = "local"\nregion = "a"\n', "own path"),
                       ('[stores.default]\nbackend = "local"\nregion = "a"\npath = "y"\n',
                        "pick another name")):
        env.config.write_text(base + bad)
        with pytest.raises(ConfigError, match=words):
            load_config(env.config)


def test_a_named_s3_store_takes_its_signing_region_apart_from_its_residency_label(
        tmp_path: Path) -> None:
    """In ``[stores.<name>]`` ``region`` is the residency label; the S3 client's own region
    is ``s3_region`` (botocore signs for it: a bucket outside us-east-1 needs it)."""
    from gateway.backends.stores import load_stores

    env = make_env(tmp_path)
    base = env.config.read_text()
    s3 = ('[stores.fra]\nbackend = "s3"\nregion = "eu-central"\ns3_region = "eu-central-1"\n'
          'endpoint_url = "http://127.0.0.1:9"\nbucket = "b"\n')
    env.config.write_text(base + s3)
    stores = load_stores(load_config(env.config))
    fra = stores.named("fra")
    assert stores.region("fra") == "eu-central"
    assert fra.client.meta.region_name == "eu-central-1"  # type: ignore[attr-defined]
    assert fra.describe()["region"] == "eu-central-1"
    env.config.write_text(base + s3.replace("s3_region", "s3_regoin"))
    with pytest.raises(ConfigError, match=r"unknown key 's3_regoin'.*s3_region"):
        load_config(env.config)
