"""The package's imports flow one way: walking every module's imports (ast) finds no cycle,
and no module dodges one with imports inside functions or under TYPE_CHECKING."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "policyqa"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """Package modules that ``path`` imports at module level (relative or absolute)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            for alias in node.names:  # "from . import x" may name a module
                if f"{target}.{alias.name}" in known:
                    out.add(f"{target}.{alias.name}")
            if target in known:
                out.add(target)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in known)
    out.discard(name)
    return out


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    known = set(files)
    return {name: imported_modules(path, known) for name, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_find_cycle_sees_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_package_imports_have_no_cycle():
    graph = import_graph()
    assert "policyqa.engine" in graph and "policyqa.index" in graph["policyqa.engine"]
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_no_import_hides_under_type_checking():
    for path in PACKAGE.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert "TYPE_CHECKING" not in source, f"{path.name} imports under TYPE_CHECKING (a hidden cycle?)"


def test_stage_modules_never_import_the_engine_or_adapters():
    graph = import_graph()
    front = {"policyqa.engine", "policyqa.api", "policyqa.cli"} | {m for m in graph if m.startswith("policyqa.web")}
    for module, imports in graph.items():
        if module in front or module == "policyqa.__main__":
            continue
        assert not imports & front, f"{module} imports {sorted(imports & front)}"


MAX_MODULE_LINES = 500  # a module past this holds more than one stage's work: split it
MAX_FUNCTION_LINES = 60


def test_modules_and_functions_stay_small():
    too_long = []
    for path in PACKAGE.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        if len(source.splitlines()) >= MAX_MODULE_LINES:
            too_long.append(f"{path.name}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    too_long.append(f"{path.name}:{node.lineno} {node.name}: {lines} lines")
    assert not too_long, too_long
