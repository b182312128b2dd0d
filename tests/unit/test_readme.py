"""The README stays a short front page that lists every CLI command, and no link in the docs is broken."""

from __future__ import annotations

import re

import click
import typer

from dagster_project.cli import app
from dagster_project.settings import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"
# The README is the front page; everything longer belongs under docs/.
MAX_README_LINES = 150


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> dict[str, click.Command]:
    found: dict[str, click.Command] = {}
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found |= _commands(command, (*prefix, name))
        else:
            found[" ".join((*prefix, name))] = command
    return found


def _cli_block() -> str:
    match = re.search(r"^## The CLI\n.*?```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.M | re.S)
    assert match, "README has no '## The CLI' section with a bash block"
    return match.group(1)


def test_the_readme_is_at_most_150_lines_and_names_the_two_commands():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_README_LINES
    assert "make demo" in text and "make test" in text


def test_the_readme_lists_every_cli_command_with_every_option():
    block = _cli_block()
    commands = _commands(typer.main.get_command(app))
    assert commands, "the CLI has no commands"
    for path, command in commands.items():
        lines = [line for line in block.splitlines() if line.startswith(f"workstream {path} ")]
        assert lines, f"README's CLI block lacks `workstream {path}`"
        for param in command.params:
            if not isinstance(param, click.Option) or param.name == "help":
                continue
            names = [opt for opt in (*param.opts, *param.secondary_opts) if opt.startswith("--")]
            assert any(re.search(rf"{re.escape(n)}\b", " ".join(lines)) for n in names), (
                f"README's `workstream {path}` line lacks {names}"
            )


def test_every_relative_link_in_the_readme_and_docs_leads_to_a_file():
    pages = [README, *(PROJECT_ROOT / "docs").glob("*.md"), PROJECT_ROOT / "benchmarks" / "README.md"]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):
                continue  # a web address
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(PROJECT_ROOT)} → {target}")
    assert not broken, "broken links:\n" + "\n".join(broken)
