"""Name validation and normalisation: the catalog, not the OS, decides what a name is."""

from __future__ import annotations

import unicodedata

import pytest

from gateway.errors import InvalidName
from gateway.names import MAX_NAME_BYTES, name_key, normalize_name, normalize_path, split_path


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "a\x00b", "tab\there", "x" * 256,
                                 "é" * 128])
def test_bad_names_are_refused(bad: str) -> None:
    with pytest.raises(InvalidName):
        normalize_name(bad)


def test_names_are_nfc_normalised() -> None:
    decomposed = unicodedata.normalize("NFD", "Résumé.txt")
    assert decomposed != "Résumé.txt"
    assert normalize_name(decomposed) == "Résumé.txt"


def test_name_length_counts_utf8_bytes() -> None:
    assert normalize_name("a" * MAX_NAME_BYTES)
    with pytest.raises(InvalidName):
        normalize_name("a" * (MAX_NAME_BYTES - 1) + "é")


def test_case_folding_only_for_case_insensitive_tenants() -> None:
    assert name_key("Straße.TXT", True) == name_key("STRASSE.txt", True)
    assert name_key("A.txt", False) != name_key("a.txt", False)


def test_paths_cannot_climb_out_of_the_tenant_root() -> None:
    with pytest.raises(InvalidName):
        split_path("/a/../../etc/passwd")
    with pytest.raises(InvalidName):
        split_path("/a/./b")
    assert normalize_path("//a///b/") == "/a/b"
    assert split_path("/") == []
