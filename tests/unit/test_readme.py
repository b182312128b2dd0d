"""The README stays a short front page that lists every CLI command, and no link in the docs is broken."""

from __future__ import annotations

import re

import typer

from dagster_project.cli import app
from dagster_project.settings import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"
CLI_DOC = PROJECT_ROOT / "docs" / "cli.md"
# The README is the front page; everything longer belongs under docs/.
MAX_README_LINES = 150


def _commands(group, prefix: tuple[str, ...] = ()) -> dict:
    """Every runnable command by its path. Typer's groups and options are its own classes, not click's,
    so they are told apart by what they have: a group has `commands`, an option is of type "option"."""
    found: dict = {}
    for name, command in group.commands.items():
        if getattr(command, "hidden", False):
            continue
        if hasattr(command, "commands"):
            found |= _commands(command, (*prefix, name))
        else:
            found[" ".join((*prefix, name))] = command
    return found


def _options(command) -> list[list[str]]:
    """Each visible option of a command as its long names (`--json`, or `--all`/`--no-all`)."""
    return [
        [opt for opt in (*param.opts, *param.secondary_opts) if opt.startswith("--")]
        for param in command.params
        if param.param_type_name == "option" and param.name != "help" and not getattr(param, "hidden", False)
    ]


def _cli_block() -> str:
    match = re.search(r"^## The CLI\n.*?```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.M | re.S)
    assert match, "README has no '## The CLI' section with a bash block"
    return match.group(1)


def test_the_readme_is_at_most_150_lines_and_names_the_two_commands():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_README_LINES
    assert "make demo" in text and "make test" in text


def _lines_of(text: str, path: str) -> list[str]:
    """The lines that show `workstream <path> …`; `users add|token|list …` shows each of them."""
    *group, name = path.split(" ")
    head = " ".join(("workstream", *group))
    shown = []
    for line in text.splitlines():
        words = line.split()
        if (
            line.startswith(head + " ")
            and len(words) > len(group) + 1
            and name in words[len(group) + 1].split("|")
        ):
            shown.append(line)
    return shown


def test_the_readme_lists_every_cli_command():
    block = _cli_block()
    missing = [path for path in _commands(typer.main.get_command(app)) if not _lines_of(block, path)]
    assert not missing, "README's CLI block lacks: " + ", ".join(f"`workstream {p}`" for p in missing)


def test_the_cli_reference_lists_every_command_with_every_option():
    # The full reference is docs/cli.md: every option of every command does not fit a 150-line README.
    text = CLI_DOC.read_text(encoding="utf-8")
    commands = _commands(typer.main.get_command(app))
    assert len(commands) > 10, "the walk found no subcommands"
    missing = []
    for path, command in commands.items():
        shown = " ".join(_lines_of(text, path))
        if not shown:
            missing.append(f"`workstream {path}`")
        for names in _options(command):
            if not any(re.search(rf"{re.escape(n)}(?![\w-])", shown) for n in names):
                missing.append(f"`workstream {path}` {names[0]}")
    assert not missing, "docs/cli.md lacks:\n" + "\n".join(missing)


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
