"""No import cycle in the package, lazy imports (inside functions) included: a cycle hidden by a lazy import is
still a cycle (api.py and wiring.py were one)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _module(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path) -> dict[str, set[str]]:
    """Every pipeline module and the pipeline modules it imports anywhere in its body."""
    files = {_module(p, root): p for p in (root / "pipeline").rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                # `from pipeline import wiring` names a module; `from pipeline.x import Y` names pipeline.x
                targets = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
            for target in targets:
                while target and target not in files:
                    target = target.rpartition(".")[0]
                if target and target != name and target != "pipeline":
                    graph[name].add(target)
    return graph


def _reach(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for w in graph[todo.pop()] - seen:
            seen.add(w)
            todo.append(w)
    return seen


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or through others, each sorted."""
    reach = {v: _reach(graph, v) for v in graph}
    found: list[list[str]] = []
    for v in sorted(graph):
        group = sorted({v} | {w for w in reach[v] if v in reach[w]})
        if len(group) > 1 and group not in found:
            found.append(group)
    return found


def test_the_package_has_no_import_cycle() -> None:
    assert cycles(import_graph(ROOT)) == []


def test_a_lazy_import_back_is_seen_as_a_cycle(tmp_path: Path) -> None:
    pkg = tmp_path / "pipeline"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pipeline.b import B\n")
    (pkg / "b.py").write_text("def f():\n    from pipeline import a\n")
    (pkg / "c.py").write_text("import pipeline.a\n")
    assert cycles(import_graph(tmp_path)) == [["pipeline.a", "pipeline.b"]]


# Adapters, the processor and the API are built in pipeline/wiring.py only: a second place that builds one
# (the CLI, the worker and the e2e harness each had their own) drifts from the first.
BUILT_IN_WIRING = {"Queue", "ImageRecords", "ObjectStore", "Topic", "Processor", "Api"}


def adapters_built_outside_wiring(root: Path) -> list[str]:
    """`file:line Name` for each adapter built outside pipeline/wiring.py, in the package, scripts and bench."""
    found = []
    paths = [*(root / "pipeline").rglob("*.py"), *(root / "scripts").glob("*.py"), *(root / "bench").glob("*.py")]
    for path in sorted(paths):
        if path.relative_to(root).as_posix() == "pipeline/wiring.py" or "adapters" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.value.id if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else ""
                name = name or (f.id if isinstance(f, ast.Name) else "")
                if name in BUILT_IN_WIRING:
                    found.append(f"{path.relative_to(root)}:{node.lineno} {name}")
    return found


def test_adapters_are_built_in_wiring_only() -> None:
    assert adapters_built_outside_wiring(ROOT) == []


# The layers of docs/architecture.md, bottom up: a module imports only from its own layer or below. A new module
# goes in the table (the test says so); a module that needs one above it is in the wrong place.
LAYERS = [
    {"domain", "errors", "formats", "gif", "logs", "metrics"},
    {"settings", "events", "ports"},
    {"imaging", "aws", "adapters"},
    {"work", "http_api", "publish", "variants"},
    {"process"},
    {"wiring"},
    {"handler", "api", "ops"},
    {"local", "e2e"},
    {"cli"},
    {"__main__"},
]


def _layer(module: str) -> int:
    parts = module.removeprefix("pipeline.").split(".")
    for level, names in enumerate(LAYERS):
        if parts[0] in names:
            return level
    raise AssertionError(f"{module} is in no layer: put it in LAYERS (tests/static/test_imports.py) and the docs")


def test_no_module_imports_one_above_it() -> None:
    graph = import_graph(ROOT)
    upward = [
        f"{m} -> {t}" for m, targets in graph.items() if m != "pipeline" for t in targets if _layer(t) > _layer(m)
    ]
    assert upward == []


# One sitting: the processor was one 439-line class of 27 methods before it was split in three.
MAX_CLASS_LINES = 300


def test_no_class_in_the_package_is_too_long_to_read_in_one_sitting() -> None:
    long = []
    for path in sorted((ROOT / "pipeline").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.end_lineno:
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_CLASS_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert long == []


def loggers_not_named_by_module(root: Path) -> list[str]:
    """Every `logging.getLogger(...)` in the package whose name is not its module's (`__name__`)."""
    found = []
    for path in sorted((root / "pipeline").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "getLogger"
                and not (node.args and isinstance(node.args[0], ast.Name) and node.args[0].id == "__name__")
            ):
                found.append(str(path.relative_to(root)))
    return found


def test_every_logger_is_named_after_its_module() -> None:
    # variants.py logged as "pipeline.process" (copied when the class moved out): its lines named the wrong module.
    # The one exception is the package's root logger, which the log setup configures.
    assert loggers_not_named_by_module(ROOT) == ["pipeline/logs.py"]
