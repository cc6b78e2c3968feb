"""The shape of the code base: no module too long to read, no import circles.

* Every module under ``gateway/`` stays at or below ``MAX_LINES`` lines, except the
  commented ``OVERSIZED`` allow-list (to shrink, never to grow).
* No import circle among the modules' top-level imports, counting those under
  ``if TYPE_CHECKING:`` (an annotation-only circle is still two modules that cannot be
  understood one without the other) and the package ``__init__`` each import runs.
  Imports inside functions (deliberately lazy) do not count.
* Every module imports cleanly as the FIRST gateway module of a fresh interpreter, in a
  random order (the seed is printed on failure): a runtime circle breaks for some entry
  point only, which this finds whichever it is.
"""

from __future__ import annotations

import ast
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "gateway"
MAX_LINES = 450

#: modules still over MAX_LINES, path -> why (empty now: split a module instead of adding it)
OVERSIZED: dict[str, str] = {}


def _modules() -> dict[str, Path]:
    """Dotted name -> file of every gateway module (migrations are alembic scripts)."""
    out: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        if "migrations" in rel.parts:
            continue
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        out[".".join(parts)] = path
    return out


def _prefixes(dotted: str) -> set[str]:
    parts = dotted.split(".")
    return {".".join(parts[:k]) for k in range(1, len(parts) + 1)}


def _top_level_imports(name: str, path: Path) -> set[str]:
    """Modules (and their parent packages) imported at module level, TYPE_CHECKING too."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package[: len(package) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.If | ast.Try):
                visit(node.body)
                visit(node.orelse)
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return set().union(*(_prefixes(i) for i in found)) if found else set()


def _import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        own = _prefixes(name)  # a module's own packages always load first: no edge
        graph[name] = {i for i in _top_level_imports(name, path) if i in modules} - own
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            nxt = next(edges, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_module_is_over_the_line_limit() -> None:
    too_long = {}
    for path in _modules().values():
        rel = path.relative_to(ROOT).as_posix()
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES and rel not in OVERSIZED:
            too_long[rel] = lines
    assert not too_long, f"modules over {MAX_LINES} lines (split them): {too_long}"


def test_the_allow_list_names_only_modules_still_too_long() -> None:
    stale = [rel for rel in OVERSIZED if not (ROOT / rel).exists()
             or len((ROOT / rel).read_text(encoding="utf-8").splitlines()) <= MAX_LINES]
    assert not stale, f"no longer over {MAX_LINES} lines, drop from OVERSIZED: {stale}"


def test_no_import_circle_even_for_type_checking() -> None:
    assert _circles(_import_graph()) == []


def test_every_module_imports_first_in_a_fresh_interpreter() -> None:
    names = sorted(n for n in _modules() if n != "gateway.__main__")  # __main__ runs the CLI
    seed = random.SystemRandom().randrange(2**32)
    random.Random(seed).shuffle(names)
    script = (
        "import importlib, sys\n"
        "for name in sys.argv[1:]:\n"
        "    for loaded in [m for m in sys.modules if m.split('.')[0] == 'gateway']:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as exc:\n"
        "        sys.exit(f'importing {name} first failed: {type(exc).__name__}: {exc}')\n"
    )
    done = subprocess.run([sys.executable, "-c", script, *names], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, f"seed {seed}: {done.stderr[-2000:]}"
