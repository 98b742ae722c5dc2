"""The import rules of docs/architecture.md, checked on the code itself.

Layers only point down: wire and native at the bottom, plumbing on native; firmware_bridge
above them; agent and verifier side by side (neither imports the other); testing scaffolding,
the demo and the CLI on top. Every import is read with ``ast``, including the ones inside
functions, so a lazy import cannot hide an arrow that runs back up.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "edgeseal"

# What each part may import besides itself (parts are edgeseal.<first name>).
BOTTOM: frozenset[str] = frozenset()
ALLOWED: dict[str, frozenset[str]] = {
    "wire": BOTTOM,
    "native": BOTTOM,
    "plumbing": frozenset({"native"}),  # checks configured keys with the native core
    "firmware_bridge": frozenset({"native", "plumbing"}),
    "agent": frozenset({"wire", "native", "plumbing", "firmware_bridge"}),
    # the log's formats, its witnesses' protocol and the anchors (issue 13)
    "verifier": frozenset({"wire", "native", "plumbing", "tlog", "witness", "anchor"}),
    "anchor": frozenset({"tlog", "native", "plumbing"}),
    "testing": frozenset({"wire", "native", "plumbing", "firmware_bridge"}),
    "tlog": frozenset({"native"}),  # C2SP formats and tiles over the native RFC 9162 core
    "witness": frozenset({"tlog", "native", "plumbing"}),
    "demo": frozenset(
        {
            "wire",
            "native",
            "plumbing",
            "firmware_bridge",
            "agent",
            "verifier",
            "testing",
            "anchor",
            "tlog",  # the demo's log and witness keys (docs/anchoring.md)
        }
    ),
    "cli": frozenset(
        {
            "wire",
            "native",
            "plumbing",
            "firmware_bridge",
            "agent",
            "verifier",
            "demo",
            "tlog",
            "witness",
            "anchor",
        }
    ),
}
# The package root (edgeseal/__init__.py, __main__.py) may only reach the CLI.
ROOT_ALLOWED = frozenset({"cli"})
OLD_TOP_LEVEL = ("native", "agent", "verifier", "firmware_bridge", "wire", "plumbing")


def _modules() -> Iterator[tuple[str, Path]]:
    """(dotted module name, file) for every module of the installed namespace."""
    # os.walk, not rglob: edgeseal/native etc. are links, and rglob stops at links on 3.13+
    found = [
        Path(root) / name
        for root, _dirs, files in os.walk(PACKAGE, followlinks=True)
        for name in files
        if name.endswith(".py")
    ]
    for path in sorted(found):
        rel = path.relative_to(PACKAGE).with_suffix("")
        if rel.parts[-1] == "build_ffi":  # build scripts, not part of the runtime
            continue
        parts = ("edgeseal", *rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def _imports(module: str, path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) for every import in the file."""
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield node.lineno, target
            # ``from edgeseal import native`` names a part, not just the root
            if target == "edgeseal":
                for alias in node.names:
                    if not alias.name.startswith("__"):  # __version__ and friends
                        yield node.lineno, f"edgeseal.{alias.name}"


def _part(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) < 2 or parts[0] != "edgeseal" or parts[1] == "__main__":
        return None  # the package root: edgeseal/__init__.py and __main__.py
    return parts[1]


def test_every_part_is_known() -> None:
    found = {_part(m) for m, _ in _modules()} - {None}
    parts_on_disk = {
        p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()
    }
    modules_on_disk = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    assert found == parts_on_disk | modules_on_disk
    assert found <= set(ALLOWED), f"parts without a layer in this test: {found - set(ALLOWED)}"


def test_layers_only_point_down() -> None:
    wrong: list[str] = []
    for module, path in _modules():
        part = _part(module)
        allowed = ROOT_ALLOWED if part is None else ALLOWED[part] | {part}
        for line, target in _imports(module, path):
            top = target.split(".")[0]
            if top in OLD_TOP_LEVEL:
                wrong.append(f"{path.relative_to(REPO)}:{line}: imports {target} outside edgeseal")
                continue
            if top != "edgeseal" or target == "edgeseal":
                continue
            target_part = _part(target)
            if target_part is not None and target_part not in allowed:
                wrong.append(f"{path.relative_to(REPO)}:{line}: {module} imports {target}")
    assert not wrong, "imports against docs/architecture.md:\n" + "\n".join(wrong)


@pytest.mark.parametrize("folder", ["tests", "benchmarks", "scripts"])
def test_nothing_imports_the_old_top_level_names(folder: str) -> None:
    wrong: list[str] = []
    for path in sorted((REPO / folder).rglob("*.py")):
        module = ".".join(path.relative_to(REPO).with_suffix("").parts)
        for line, target in _imports(module, path):
            if target.split(".")[0] in OLD_TOP_LEVEL:
                wrong.append(f"{path.relative_to(REPO)}:{line}: {target}")
    assert not wrong, "use edgeseal.<part>:\n" + "\n".join(wrong)


def test_the_checker_sees_an_arrow_that_runs_back_up(tmp_path: Path) -> None:
    # The rules above are only as good as the import reader: feed it one bad file.
    bad = tmp_path / "pipeline.py"
    bad.write_text("def f():\n    from ..verifier import store\n    import agent.record\n")
    got = list(_imports("edgeseal.agent.pipeline", bad))
    assert got == [(2, "edgeseal.verifier"), (3, "agent.record")]
