"""docs/core-api.md follows the code: every call the front-ends make on the core's public
surface (Access, Session, Gate, the SSH login flow, the session ticket) is documented there,
and every such call the page shows exists."""

from __future__ import annotations

import re
from pathlib import Path

from gateway.access import Access
from gateway.policy.gate import Gate, LoginFlow, SessionTicket
from gateway.session import Session

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "core-api.md"
#: the names front-end code gives these objects -> the class they are
SURFACE = {"access": Access, "session": Session, "gate": Gate, "flow": LoginFlow,
           "ticket": SessionTicket}
CALL = re.compile(r"\b_?(access|session|gate|flow|ticket)\)?\.([a-z]\w*)")


def _front_end_calls() -> set[tuple[str, str]]:
    found = set()
    for package in ("webdav", "sftp"):
        for path in (ROOT / "gateway" / package).glob("*.py"):
            found |= set(CALL.findall(path.read_text(encoding="utf-8")))
    return found


def _exists(cls: type, name: str) -> bool:
    """A class attribute, or an attribute its ``__init__``s assign (``self.name = ...``)."""
    if hasattr(cls, name):
        return True
    import inspect

    sources = [inspect.getsource(k) for k in cls.__mro__ if k.__module__.startswith("gateway")]
    return any(re.search(rf"self\.{name}\b\s*[:=]", s) for s in sources)


def test_every_front_end_call_is_documented() -> None:
    doc = DOC.read_text(encoding="utf-8")
    calls = {(obj, name) for obj, name in _front_end_calls() if _exists(SURFACE[obj], name)}
    assert len(calls) > 30  # the scan finds the front-ends' calls at all
    missing = sorted(f"{obj}.{name}" for obj, name in calls
                     if not re.search(rf"\b{obj}\.{name}\b", doc))
    assert not missing, f"used by a front-end, not in docs/core-api.md: {missing}"


def test_every_documented_call_exists() -> None:
    doc = DOC.read_text(encoding="utf-8")
    shown = set(CALL.findall(doc))
    stale = sorted(f"{obj}.{name}" for obj, name in shown if not _exists(SURFACE[obj], name))
    assert not stale, f"docs/core-api.md shows calls that do not exist: {stale}"


def test_front_ends_never_reach_behind_access() -> None:
    """import-linter stops imports; this stops attribute walks to the core at run time
    (``access._core``, ``gate.core``, ``session.core``: the catalog, store and keys)."""
    reach = re.compile(r"(?<!config)\.(_?core|catalog|store|keyring|audit)\b")  # config: values
    found = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
             for package in ("webdav", "sftp")
             for path in sorted((ROOT / "gateway" / package).glob("*.py"))
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if reach.search(line.split("#", 1)[0]) and not line.lstrip().startswith(
                 ("from ", "import ", '"', "'"))]
    assert not found, "\n".join(found)
