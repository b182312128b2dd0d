"""Precision and recall of the note classifier on the hand-labelled notes in data/memory/.

`python -m benchmarks.note_classifier [--errors]` prints a per-type table and the overall accuracy for
each split and returns them as a dict (`main()` / `evaluate()`); the memory tests assert floors taken
from it. Uses the default rule set (`memory.note_rules` defaults) unless other rules are passed.

Splits: `dev` notes were written first and the rules were shaped while looking at them (so their
figures are optimistic); `holdout` notes were written after the rules were frozen and never used to
change them — read those as the honest estimate.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.record import save
from dagster_project.config.registry import DEFAULTS
from dagster_project.memory.classify import FALLBACK_TYPE, TYPE_PRIORITY, classify

ROOT = Path(__file__).resolve().parent.parent
LABELLED = ROOT / "data" / "memory" / "labelled_notes.jsonl"
TYPES: tuple[str, ...] = (*TYPE_PRIORITY, FALLBACK_TYPE)


SPLITS: tuple[str, ...] = ("dev", "holdout", "all")


def load(path: Path = LABELLED, split: str = "all") -> list[dict[str, str]]:
    """The labelled rows (`text`, `label`, `split`), all or one split."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            if split in ("all", row.get("split")):
                rows.append(row)
    return rows


def evaluate(
    rows: Sequence[Mapping[str, str]] | None = None, rules: Mapping[str, Sequence[str]] | None = None
) -> dict[str, Any]:
    """`{"rows", "accuracy", "per_type": {type: {precision, recall, f1, support, predicted}}, "errors"}`."""
    rows = load() if rows is None else rows
    rules = DEFAULTS["memory.note_rules"] if rules is None else rules
    errors: list[dict[str, str | None]] = []
    pairs: list[tuple[str, str]] = []
    for row in rows:
        predicted, rule = classify(row["text"], rules)
        pairs.append((row["label"], predicted))
        if predicted != row["label"]:
            errors.append({"text": row["text"], "label": row["label"], "predicted": predicted, "rule": rule})
    per_type: dict[str, dict[str, float | int | None]] = {}
    for atom_type in TYPES:
        tp = sum(1 for gold, pred in pairs if gold == pred == atom_type)
        predicted_n = sum(1 for _, pred in pairs if pred == atom_type)
        support = sum(1 for gold, _ in pairs if gold == atom_type)
        precision = tp / predicted_n if predicted_n else None
        recall = tp / support if support else None
        f1 = (
            2 * precision * recall / (precision + recall)
            if precision is not None and recall is not None and precision + recall
            else None
        )
        per_type[atom_type] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": support,
            "predicted": predicted_n,
        }
    correct = sum(1 for gold, pred in pairs if gold == pred)
    return {
        "rows": len(pairs),
        "accuracy": correct / len(pairs) if pairs else None,
        "per_type": per_type,
        "errors": errors,
    }


def _fmt(value: float | None) -> str:
    return "  n/a" if value is None else f"{value:5.3f}"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Print the table per split; return `{split: evaluate(...)}`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--errors", action="store_true", help="also list the misclassified notes")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    for split in SPLITS:
        result = results[split] = evaluate(load(split=split))
        print(f"\n[{split}] {result['rows']} notes")
        print(f"{'type':<11} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>8} {'predicted':>9}")
        for atom_type, m in result["per_type"].items():
            print(
                f"{atom_type:<11} {_fmt(m['precision']):>9} {_fmt(m['recall']):>7} {_fmt(m['f1']):>6}"
                f" {m['support']:>8} {m['predicted']:>9}"
            )
        print(f"accuracy {_fmt(result['accuracy'])}")
        if args.errors and split != "all":
            for e in result["errors"]:
                print(f"  {e['label']:>10} -> {e['predicted']:<10} {e['rule']}  | {e['text']}")
    save("note-classifier", results, size=sum(r["rows"] for s, r in results.items() if s != "all"))
    return results


if __name__ == "__main__":
    main()
