"""The package's own rules: rooms (sub-packages) in layers that import only downwards, checked by
import-linter; no import cycles; a module map in every room; no private names crossing module
boundaries; the core free of gradio; run-folder internals kept in the core."""

import ast
import importlib
import re
import shutil
import subprocess
import sys

import grimp
import pytest

from conftest import ROOT

CORE = ROOT / "cyclegan_core"
PACKAGES = sorted(p.parent for p in CORE.rglob("__init__.py"))
PYTHON_FILES = sorted([*CORE.rglob("*.py"), *(ROOT / "demo").glob("*.py"), *(ROOT / "tests").glob("*.py"),
                       *(ROOT / "benchmarks").glob("*.py"), *(ROOT / "scripts").glob("*.py"), ROOT / "app.py"])


def module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_the_top_level_holds_few_modules_and_every_other_lives_in_a_room():
    top = {p.name for p in CORE.glob("*.py")}
    assert len(top) <= 10, sorted(top)
    rooms = {p.name for p in CORE.iterdir() if (p / "__init__.py").is_file()}
    assert rooms == {"nn", "engine", "model", "sources", "training", "teaching"}


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_room_docstring_maps_its_modules(package):
    doc = importlib.import_module(module_name(package / "__init__.py")).__doc__
    mapped = set(re.findall(r"^    (\w+\.py|\w+/) ", doc, flags=re.M))
    modules = {p.name for p in package.glob("*.py")} - {"__init__.py", "__main__.py"}
    rooms = {f"{p.name}/" for p in package.iterdir() if (p / "__init__.py").is_file()}
    assert mapped == modules | rooms


def test_the_layers_contract_holds():
    """pyproject.toml's import-linter contracts: each room imports only the rooms below it, the
    kernels sit under the engine, and the core never imports gradio."""
    command = shutil.which("lint-imports") or pytest.fail("import-linter is not installed (requirements-dev.txt)")
    result = subprocess.run([command], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout and "3 kept" in result.stdout


def strongly_connected(graph, modules):
    """Tarjan's strongly connected components of the import graph among `modules`."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.find_modules_directly_imported_by(node) & modules:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = set()
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.add(other)
                if other == node:
                    break
            components.append(component)

    for node in sorted(modules):
        if node not in index:
            visit(node)
    return components


def test_no_import_cycles_in_the_source():
    graph = grimp.build_graph("cyclegan_core", "demo", exclude_type_checking_imports=True)  # hints are not imports
    modules = graph.modules - {"cyclegan_core", "demo"}  # a package's __init__ re-exports its rooms' API
    assert [c for c in strongly_connected(graph, modules) if len(c) > 1] == []


def test_every_module_imports_on_its_own():
    """Each module imported first, in a fresh package state: an import-time cycle fails here. None of them
    loads torchvision on import (it pulls in torch._dynamo, seconds a translation never needs)."""
    names = sorted(module_name(p) for p in CORE.rglob("*.py") if p.name != "__main__.py")
    script = ("import importlib, sys\n"
              f"for name in {names!r}:\n"
              "    for loaded in [m for m in sys.modules if m == 'cyclegan_core' or m.startswith('cyclegan_core.')]:\n"
              "        del sys.modules[loaded]\n"
              "    importlib.import_module(name)\n"
              "assert 'torchvision' not in sys.modules and 'torch._dynamo' not in sys.modules\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def test_demo_docstring_maps_every_module():
    import demo
    mapped = set(re.findall(r"^    (\w+\.py) ", demo.__doc__, flags=re.M))
    assert mapped == {p.name for p in (ROOT / "demo").glob("*.py")} - {"__init__.py"}


# Private names used on purpose, each with its reason.
ALLOWED_PRIVATE = {
    # A tensor's version counter is how torch itself notices in-place changes (autograd); the
    # Winograd kernel's cached weight transforms are redone when it moves (training, loading).
    "weight._version",
    # Gradio's session state is keyed by a component's id, which Gradio keeps private: the app's door
    # checks an input against the component as this session has it (its updated choices).
    "block._id",
}


@pytest.mark.parametrize("path", PYTHON_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_private_name_is_imported_or_reached_into(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert not [a.name for a in node.names if a.name.startswith("_")], ast.unparse(node)
        elif (isinstance(node, ast.Attribute) and re.match(r"_[A-Za-z]", node.attr) and node.attr != "_replace"
              and ast.unparse(node) not in ALLOWED_PRIVATE):
            owner = node.value
            assert isinstance(owner, ast.Name) and owner.id in ("self", "cls"), ast.unparse(node)


def test_the_core_never_imports_gradio():
    for path in CORE.rglob("*.py"):
        assert not re.search(r"^\s*(import|from)\s+gradio", path.read_text(encoding="utf-8"), flags=re.M), path


@pytest.mark.parametrize("path", [*(ROOT / "demo").glob("*.py"), CORE / "cli.py"], ids=lambda p: p.name)
def test_run_folder_internals_stay_in_the_core(path):
    text = path.read_text(encoding="utf-8")
    for name in ("weights_dir(", "log.json", "train.json", "training_state", "LOG_NAME", "STATE_NAME",
                 "RECORD_NAME", "RUN_NAME"):
        assert name not in text, f"{path.name} names {name}: ask runs.RunFolder or store.ModelStore"
