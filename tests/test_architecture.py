"""The package structure, read from the import statements of every module under src/levrf.

- The core never imports ``levrf.distributed``: only ``levrf.rows`` (the one module that knows
  whether rows are a tensor or a Dask collection) reaches it, lazily. Data flows one way.
- A private name (a module or attribute starting with ``_``) is only imported by modules of its
  own package or of a package below it, never reached into from a sibling or an ancestor.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
ALLOWED_DISTRIBUTED_IMPORTERS = {"levrf.rows"}


def modules():
    for path in sorted((SRC / "levrf").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        yield ".".join(parts), is_package, ast.parse(path.read_text(), filename=str(path))


def imports(name: str, is_package: bool, tree: ast.AST):
    """``(target module, imported names)`` of every import statement, relative ones resolved."""
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield target, [alias.name for alias in node.names]


def package_of(module: str, is_package: bool = False) -> str:
    return module if is_package else module.rpartition(".")[0]


def test_core_never_imports_the_distributed_package():
    offenders = []
    for name, is_package, tree in modules():
        if name == "levrf.distributed" or name.startswith("levrf.distributed.") or name in ALLOWED_DISTRIBUTED_IMPORTERS:
            continue
        for target, names in imports(name, is_package, tree):
            full = [target] + [f"{target}.{n}" for n in names]
            if any(t == "levrf.distributed" or t.startswith("levrf.distributed.") for t in full):
                offenders.append(f"{name} imports {target} {names}")
    assert not offenders, "\n".join(offenders)


def test_no_private_name_is_imported_across_packages():
    packages = {name for name, is_package, _ in modules() if is_package}
    offenders = []
    for name, is_package, tree in modules():
        here = package_of(name, is_package)
        for target, names in imports(name, is_package, tree):
            if not target.startswith("levrf"):
                continue
            for imported in names or [""]:
                full = f"{target}.{imported}" if imported else target
                if full in packages:  # a subpackage imported by name: judge the package itself
                    owner = full.rpartition(".")[0]
                else:
                    owner = target if target in packages else target.rpartition(".")[0]
                private = [p for p in full.split(".") if p.startswith("_") and not p.startswith("__")]
                # a private name belongs to the package that holds it; it may be used there and below
                if private and not (here == owner or here.startswith(owner + ".")):
                    offenders.append(f"{name} imports {full}")
    assert not offenders, "\n".join(offenders)
