"""docs/operations.md lists every environment variable the code reads, so none is a secret knob."""

from __future__ import annotations

import re

from dagster_project.settings import PROJECT_ROOT

DOC = PROJECT_ROOT / "docs" / "operations.md"
CODE_FOLDERS = ("dagster_project", "streamlit_app")


def _variables_in_code() -> set[str]:
    found: set[str] = set()
    for folder in CODE_FOLDERS:
        for path in (PROJECT_ROOT / folder).rglob("*.py"):
            found |= set(re.findall(r"\bWORKSTREAM_[A-Z0-9_]+\b", path.read_text(encoding="utf-8")))
    return found


def _variables_in_doc_table() -> set[str]:
    text = DOC.read_text(encoding="utf-8")
    section = re.search(r"^## Environment variables\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert section, "docs/operations.md has no '## Environment variables' section"
    return set(re.findall(r"^\| `(WORKSTREAM_[A-Z0-9_]+)` \|", section.group(1), re.M))


def test_every_environment_variable_the_code_reads_is_in_the_operations_table():
    in_code = _variables_in_code()
    assert in_code, "found no WORKSTREAM_ variables in the code"
    missing = sorted(in_code - _variables_in_doc_table())
    assert not missing, f"docs/operations.md lacks environment variables: {missing}"


def test_the_operations_table_lists_no_variable_the_code_does_not_read():
    unknown = sorted(_variables_in_doc_table() - _variables_in_code())
    assert not unknown, f"docs/operations.md lists variables no code reads: {unknown}"
