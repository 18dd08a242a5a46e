"""core/'s shape: grouped by concern, no import cycles (function-level imports included), each module imports alone."""
import ast
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import ROOT

CORE = ROOT / "core"
PACKAGES = {"network", "measurement", "prediction", "published"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(CORE.rglob("*.py")) if path.stem != "__main__"}  # __main__ runs the CLI


def imports_of(path: Path) -> set[str]:
    """Every core module ``path`` imports, at the top or inside a function (``from pkg import mod`` is mod)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "core":
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & MODULES.keys()
            found |= submodules or {node.module}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "core"}
    return found & MODULES.keys()


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as a path that returns to its start, or None."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node):
        state[node] = "open"
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state and (found := visit(target)):
                return found
        state[node] = "done"
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_core_has_no_import_cycle():
    # a package's __init__ runs before its submodules: an edge into one's own package is not a cycle
    graph = {name: {target for target in imports_of(path) if not name.startswith(target + ".")}
             for name, path in MODULES.items()}
    assert cycle(graph) is None, " -> ".join(cycle(graph))


def test_the_cycle_finder_finds_one():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None


def test_core_is_grouped_by_concern():
    top = {path.stem for path in CORE.glob("*.py")} - {"__init__", "__main__"}
    assert top == {"cli", "tally", "units"}, "a new module belongs in one of core's packages"
    assert {path.name for path in CORE.iterdir() if (path / "__init__.py").is_file()} == PACKAGES
    # the description never reaches into measurement or prediction
    for name, path in MODULES.items():
        if name.startswith("core.network."):
            assert not {target for target in imports_of(path)
                        if target.split(".")[1] in {"measurement", "prediction", "published"}}, name


def _import_alone(name: str) -> tuple[str, int, str]:
    run = subprocess.run([sys.executable, "-c", f"import {name}; import sys; "
                          "sys.exit('streamlit' in sys.modules)"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    return name, run.returncode, run.stderr[-800:]


@pytest.mark.parametrize("group", sorted(PACKAGES | {"core"}))
def test_each_module_imports_alone_without_streamlit(group):
    names = [name for name in MODULES if (name.split(".")[1] if name.count(".") else "core") == group
             or (group == "core" and name.count(".") == 1 and name.split(".")[1] not in PACKAGES)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        failures = [(name, code, err) for name, code, err in pool.map(_import_alone, names) if code]
    assert not failures, failures


def test_the_readme_layout_names_every_core_module():
    text = (ROOT / "README.md").read_text()
    layout = text[text.index("## Layout"):]
    layout = layout[:layout.index("```", layout.index("```") + 3)]
    for package in PACKAGES:
        assert f"  {package}/" in layout, package
    words = set(layout.replace(",", " ").split())
    families = "core.network.families."  # one stage table per family: the layout names the folder
    missing = [name for name in MODULES if name.count(".") >= 1 and not name.endswith(tuple(PACKAGES))
               and not name.startswith(families)
               and name.rsplit(".", 1)[1] not in words and f"{name.rsplit('.', 1)[1]}/" not in words]
    assert not missing, f"README's layout does not name {missing}"
