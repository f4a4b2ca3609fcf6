"""No import cycles among portal's modules, read from the source (ast), function-level imports included.

The one layout allowed: a package that makes its blueprint and imports its view modules in its LAST
statement (portal/contacts/__init__.py, as microblog does); the view modules import `bp` from it.
Function-level imports that break a real cycle are listed in ALLOWED_LAZY, each with its reason.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# (importing module, imported module) pairs allowed inside a function, each with the cycle it breaks.
ALLOWED_LAZY = set()


def _modules():
    found = {}
    for path in sorted((ROOT / "portal").rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _targets(node, modules):
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        names = [f"{node.module}.{a.name}" for a in node.names]
    out = []
    for name in names:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        if name:
            out.append(name)
    return out


def _graph():
    modules = _modules()
    edges = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        last = tree.body[-1] if tree.body else None
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or getattr(node, "level", 0):
                continue
            lazy = node not in tree.body
            for target in _targets(node, modules):
                if target == name or (lazy and (name, target) in ALLOWED_LAZY):
                    continue
                wiring = node is last and path.name == "__init__.py" and target.startswith(f"{name}.")
                if wiring:  # the package's views, imported at its end: they import the package
                    continue
                edges[name].add(target)
    return edges


def _cycle_from(edges, start):
    path, seen = [], set()

    def walk(node):
        if node in path:
            return path[path.index(node) :] + [node]
        if node in seen:
            return None
        seen.add(node)
        path.append(node)
        for nxt in sorted(edges[node]):
            found = walk(nxt)
            if found:
                return found
        path.pop()
        return None

    return walk(start)


def test_portal_has_no_import_cycles():
    edges = _graph()
    cycles = {tuple(c) for c in (_cycle_from(edges, m) for m in edges) if c}
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in sorted(cycles))
