"""The identity step's time and peak memory, and the matcher's precision and recall, on generated people.

    python -m benchmarks.identity [--people N] [--seed S] [--max-block-size K]

Generates N people with planted duplicates (dagster_project/identity/synthetic.py, known truth) as one
org's contact records, resolves them (the rules, then the Splink model) and prints the wall and CPU
time, the peak resident memory of this process, and the pairwise precision and recall, for the rules
alone, with the model's fixed parameters and with parameters trained on these records, the model's
blocks limited to K records as the identity step limits them (default: `identity.max_block_size`; 0: no
limit). Every figure comes from this run.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

from benchmarks.record import save
from dagster_project.config.registry import DEFAULTS
from dagster_project.identity.resolve import resolve_people
from dagster_project.identity.synthetic import pairwise_quality, people


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=150_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--max-block-size", type=int, default=DEFAULTS["identity.max_block_size"])
    args = parser.parse_args(argv)
    data = people(args.people, seed=args.seed)
    out: dict[str, object] = {"people": args.people, "records": len(data.records)}
    out["max_block_size"] = args.max_block_size or None
    runs = (("rules", 10**12, None), ("rules+model", 1, None), ("rules+trained model", 1, 1))
    for label, min_records, train_min_records in runs:
        wall, cpu = time.perf_counter(), time.process_time()
        result = resolve_people(
            "bench",
            data.records,
            [],
            region="US",
            min_records=min_records,
            threshold=0.95,
            train_min_records=train_min_records,
            max_block_size=args.max_block_size or None,
        )
        precision, recall = pairwise_quality(result.links.to_dicts(), data.truth)
        out[label] = {
            "wall_s": round(time.perf_counter() - wall, 2),
            "cpu_s": round(time.process_time() - cpu, 2),
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "pairs_scored": result.pairs.height,
            "people_found": result.links["canonical_id"].n_unique(),
            "model_parameters": result.links["model_parameters"][0],
            "blocks_skipped": len(result.skipped_blocks),
        }
    out["peak_rss_mib"] = round(_peak_mib(), 1)
    save(f"identity-{args.people}", out | {"peak_rss_mb": out["peak_rss_mib"]}, size=len(data.records))
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
