"""No import cycles among portal's modules, nor new ones among its areas (packages), read from the
source (ast), function-level imports included.

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


# --- Package level -----------------------------------------------------------------------------------
# Areas (portal.contacts, portal.sync, ...) must import each other one way only, or neither can be
# understood, tested or replaced without the other. Each module counts as its area: its package right
# under portal (portal.sync.plan -> portal.sync), or itself for a top-level module (portal.queue).
# The root package `portal` is left out: its __init__ is the app factory, the wiring layer that
# imports every area to register blueprints and CLI commands, and areas import only its submodules
# (portal.extensions, portal.models...), never the factory; counting it would put every area that
# imports anything from `portal` on a cycle with every other.

# Package imports (importer, imported) that close a cycle today: being removed by the layering work;
# delete entries as they go. Only an edge listed here may lie on a package cycle.
KNOWN_PACKAGE_CYCLES = set()  # none left: the layering work removed sync<->contacts and sync<->m365


def _package(module):
    return ".".join(module.split(".")[:2])


def _package_graph():
    """{(importing package, imported package): [module imports behind it]}, the root left out."""
    imports = {}
    for name, targets in _graph().items():
        for target in targets:
            edge = (_package(name), _package(target))
            if edge[0] != edge[1] and "portal" not in edge:
                imports.setdefault(edge, []).append(f"{name} -> {target}")
    return imports


def _reachable(imports, start):
    seen, todo = set(), [start]
    while todo:
        package = todo.pop()
        for importer, imported in imports:
            if importer == package and imported not in seen:
                seen.add(imported)
                todo.append(imported)
    return seen


def _cycle_edges(imports):
    """The package imports that lie on a cycle: the imported package leads back to the importer."""
    return {(a, b) for a, b in imports if a in _reachable(imports, b)}


def test_portal_areas_have_no_new_package_cycles():
    imports = _package_graph()
    new = sorted(_cycle_edges(imports) - KNOWN_PACKAGE_CYCLES)
    assert not new, "package import cycles:\n" + "\n".join(
        f"{a} -> {b} (via {', '.join(sorted(imports[(a, b)]))}), and {b} leads back to {a}" for a, b in new
    )


def test_known_package_cycles_are_still_there():
    """An entry whose cycle is gone is deleted, so the cycle cannot come back unnoticed."""
    gone = sorted(KNOWN_PACKAGE_CYCLES - _cycle_edges(_package_graph()))
    assert not gone, f"no longer a package cycle, delete from KNOWN_PACKAGE_CYCLES: {gone}"


def test_package_cycle_finder_finds_a_cycle_through_three_areas():
    imports = {("portal.a", "portal.b"): [], ("portal.b", "portal.c"): [], ("portal.c", "portal.a"): []}
    imports[("portal.c", "portal.d")] = []
    assert _cycle_edges(imports) == {
        ("portal.a", "portal.b"),
        ("portal.b", "portal.c"),
        ("portal.c", "portal.a"),
    }
    assert _package("portal.sync.plan") == "portal.sync" and _package("portal.queue") == "portal.queue"


# --- Tests ---------------------------------------------------------------------------------------------
# Test modules share nothing with each other: test data comes from tests/factories.py, fixtures from
# tests/conftest.py and its plugins, other helpers from the tests' helper modules (tests/*_helpers.py,
# tests/migration_data.py, ...). A test module imported by another would run its tests' module-level
# code twice, hide where a helper lives and tie unrelated tests together.


def _imported_test_modules(path):
    """(line, module) of every import of a test module (test_*.py) in the file at `path`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names = [base] + [f"{base}.{a.name}" if node.module else f"{base}{a.name}" for a in node.names]
        else:
            continue
        found += [(node.lineno, name) for name in names if name.rpartition(".")[2].startswith("test_")]
    return found


def test_no_test_module_imports_another_test_module():
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in sorted((ROOT / "tests").rglob("*.py"))
        for line, name in _imported_test_modules(path)
    ]
    assert not offenders, "move the shared helper to tests/factories.py or a fixture module:\n" + "\n".join(
        offenders
    )


def test_the_test_import_finder_sees_every_form(tmp_path):
    source = tmp_path / "test_sample.py"
    source.write_text(
        "import tests.test_csv\n"
        "from tests import test_contacts\n"
        "from tests.test_mail import smtp_server\n"
        "from .test_names import reload\n"
        "from tests.factories import text\n"
        "def helper():\n"
        "    from tests.test_queue import thing\n"
    )
    assert [name for _line, name in _imported_test_modules(source)] == [
        "tests.test_csv",
        "tests.test_contacts",
        "tests.test_mail",
        ".test_names",
        "tests.test_queue",
    ]
