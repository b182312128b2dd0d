"""The CLI never edits its own environment: the home and inbox reach the jobs as resource config, and
`serve`'s services get theirs through `Popen(env=...)`. A command called in-process (tests, notebooks)
leaves its caller's environment as it found it, and two homes in one process never see each other's."""

from __future__ import annotations

import ast
import os
from pathlib import Path

from typer.testing import CliRunner

from dagster_project.cli import app

ROOT = Path(__file__).resolve().parents[2]
CLI_SOURCES = [
    ROOT / "dagster_project" / "cli.py",
    *sorted((ROOT / "dagster_project" / "commands").glob("*.py")),
]
# (module, function) allowed to write the environment: none (dbt gets each home's warehouse through a
# per-home profile, passed as the resource's `profiles_dir`).
KNOWN_WRITERS: set[tuple[str, str]] = set()
_MUTATORS = {"setdefault", "update", "pop", "popitem", "clear", "__setitem__", "__delitem__"}


def _is_environ(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ" and _is_os(node.value)) or (
        isinstance(node, ast.Name) and node.id == "environ"
    )


def _is_os(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "os"


def _writes_through_a_call(func: ast.AST) -> bool:
    """`os.environ.setdefault(...)`, `environ.update(...)`, `os.putenv(...)` and the like."""
    if not isinstance(func, ast.Attribute):
        return False
    return (func.attr in _MUTATORS and _is_environ(func.value)) or (
        func.attr in {"putenv", "unsetenv"} and _is_os(func.value)
    )


def _environment_writes(path: Path) -> list[tuple[str, int]]:
    """(enclosing function, line) of every write to the process environment in `path`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST, function: str) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            function = node.name
        targets: list[ast.AST] = []
        if isinstance(node, ast.Assign | ast.Delete):
            targets = list(node.targets)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        if any(isinstance(t, ast.Subscript) and _is_environ(t.value) for t in targets):
            found.append((function, node.lineno))
        if isinstance(node, ast.Call) and _writes_through_a_call(node.func):
            found.append((function, node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(tree, "<module>")
    return found


def test_the_cli_and_its_commands_never_write_the_process_environment():
    offenders = [
        f"{rel}:{line} ({function})"
        for path in CLI_SOURCES
        for function, line in _environment_writes(path)
        if ((rel := str(path.relative_to(ROOT))), function) not in KNOWN_WRITERS
    ]
    assert offenders == [], f"environment writes in the CLI's run path: {offenders}"


def test_the_environment_write_check_sees_every_way_of_writing(tmp_path: Path):
    sample = tmp_path / "m.py"
    sample.write_text(
        "import os\n"
        "from os import environ\n"
        "def a():\n    os.environ['X'] = '1'\n"
        "def b():\n    os.environ.setdefault('X', '1')\n"
        "def c():\n    environ.update(X='1')\n"
        "def d():\n    del os.environ['X']\n"
        "def e():\n    os.environ.pop('X', None)\n"
        "def f():\n    os.putenv('X', '1')\n"
        "def g():\n    env = dict(os.environ)\n    env['X'] = '1'\n    return os.environ.get('X')\n"
    )
    assert [function for function, _ in _environment_writes(sample)] == ["a", "b", "c", "d", "e", "f"]


def test_serve_gives_its_services_the_home_through_their_environment_and_keeps_its_own(
    tmp_path: Path, monkeypatch
):
    import subprocess
    import sys

    started: list[dict[str, str] | None] = []
    real_popen = subprocess.Popen

    def quick_exit(command, **kwargs):
        # A real process (serve signals its group), which ends at once: serve then stops with exit 1.
        started.append(kwargs.get("env"))
        return real_popen([sys.executable, "-c", "pass"], **kwargs)

    monkeypatch.setattr(subprocess, "Popen", quick_exit)
    monkeypatch.setenv("WORKSTREAM_HOME", str(tmp_path / "decoy"))
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    inbox.mkdir()
    before = dict(os.environ)

    result = CliRunner().invoke(app, ["serve", "--home", str(home), "--inbox", str(inbox)])

    assert result.exit_code == 1 and "stopped" in result.output, result.output
    assert dict(os.environ) == before
    assert started and all(env is not None for env in started)
    for env in started:
        assert env["WORKSTREAM_HOME"] == str(home.resolve())
        assert env["WORKSTREAM_INBOX"] == str(inbox.resolve())
        assert env["DAGSTER_HOME"] == str(home.resolve() / "dagster")
        assert str(Path(sys.executable).parent) in env["PATH"].split(os.pathsep)  # dagster dev finds dbt
