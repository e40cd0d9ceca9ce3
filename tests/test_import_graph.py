"""No module of the package imports itself in a circle (issue 26), and the leaves stay leaves.

The graph is read from the source (`ast`, nothing is imported): an edge A → B for every
`import wordlm.B` / `from wordlm.B import x` / relative import in A, at module level AND inside
functions (a lazy import is a dependency too: it only moves the moment the circle would bite), and
an edge to each package above B that A is not itself inside (importing `wordlm.x.y` runs
`wordlm/x/__init__.py`). The root `wordlm/__init__.py` is left out: it imports lazily by name
(PEP 562) and is the front door, above everything. A cycle fails with its modules and edges listed.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "wordlm"


def modules() -> dict[str, tuple[Path, bool]]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return out


def import_graph() -> dict[str, set[str]]:
    mods = modules()

    def owner(name: str) -> str | None:  # the module a dotted name lives in
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, set[str]] = {m: set() for m in mods}

    def add(m: str, target: str | None) -> None:
        if target is None:
            return
        if target != m:
            edges[m].add(target)
        up = target.rpartition(".")[0]
        while up and up != "wordlm":
            if up != m and not m.startswith(up + "."):
                edges[m].add(up)
            up = up.rpartition(".")[0]

    for m, (path, is_package) in mods.items():
        here = m if is_package else m.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "wordlm":
                        add(m, owner(alias.name))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here
                    for _ in range(node.level - 1):
                        base = base.rpartition(".")[0]
                    name = base + ("." + node.module if node.module else "")
                else:
                    name = node.module or ""
                if name.split(".")[0] != "wordlm":
                    continue
                for alias in node.names:
                    full = f"{name}.{alias.name}"
                    add(m, full if full in mods else owner(name))
    edges.pop("wordlm", None)
    for targets in edges.values():
        targets.discard("wordlm")
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in edges:
                    continue
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    component = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        component.append(w)
                        if w == v:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_no_module_imports_itself_in_a_circle():
    edges = import_graph()
    found = cycles(edges)
    report = "\n".join(f"{len(c)} modules: " + "; ".join(f"{m} -> {sorted(edges[m] & set(c))}" for m in c)
                       for c in found)
    assert not found, "import circles:\n" + report


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_leaves_import_nothing_above_them():
    edges = import_graph()
    assert edges["wordlm.protocol"] == set()
    assert edges["wordlm.inference.rows"] == set()
    assert edges["wordlm.files"] <= {"wordlm.errors"}
    assert edges["wordlm.cli.app"] <= {"wordlm.cli.common"}
    for reader in ("wordlm.nbest.native", "wordlm.nbest.recognizers"):  # the format modules: the data types only
        assert {e for e in edges[reader] if e.startswith("wordlm.nbest")} == {"wordlm.nbest.types"}, reader
    assert not any(e.startswith("wordlm.saving") for m, es in edges.items() if m.startswith("wordlm.mixture") for e in es)
    # every model kind is loaded from one place
    assert {m for m, es in edges.items() if "wordlm.mixture.components" in es and "wordlm.saving" in es} <= {"wordlm.loading"}
