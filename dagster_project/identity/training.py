"""Training the matcher's parameters on one org's own records (docs/identity.md, *The model*).

u (how often a level holds for two different people) is estimated from a random sample of record pairs
drawn with a fixed seed; m (how often it holds for one person) by expectation maximisation on pairs
blocked on the email's local part, then on the phone (each trains the comparisons its rule does not
fix). Not on first + last name: in a large org most pairs sharing a common name are different people,
and expectation maximisation on them did not converge within `MAX_ITERATIONS` on 20,000 generated
people. The input is sorted and Splink's DuckDB connection is private and single-threaded, so
the same records always give the same parameters; they are rounded to 6 places and kept within
[1e-6, 1 - 1e-6] (a probability of 0 or 1 would make a match weight infinite). A level the data never
showed keeps its fixed value.

Training is used only when it converged: every expectation-maximisation session stopped before
`MAX_ITERATIONS`. Splink reports its iterations on its log (the count is read there); a session whose
iterations were not seen, a run that failed, or parameters that are not finite all count as not
converged, and the org keeps the fixed parameters.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb
import orjson
import polars as pl
from splink import DuckDBAPI, Linker, block_on

from dagster_project.identity import model

SEED = 20
# Record pairs drawn to estimate u: enough for rare agreements (an exact email) to be seen at all.
U_PAIRS = 2_000_000
EM_BLOCKS = (("email_local",), ("phone",))
MAX_ITERATIONS = 25
EM_CONVERGENCE = 1e-4
_SMALLEST = 1e-6
_EM_LOGGER = "splink.internals.expectation_maximisation"

# Part of each org's identity fingerprint: a change to how training runs re-resolves every org.
VERSION = hashlib.sha256(
    orjson.dumps([SEED, U_PAIRS, EM_BLOCKS, MAX_ITERATIONS, EM_CONVERGENCE, _SMALLEST])
).hexdigest()[:12]

# How an org's parameters were chosen (the `model_parameters` column of `identity_links`).
RULES_ONLY = "rules_only"
FIXED = "fixed"
FIXED_NOT_CONVERGED = "fixed_not_converged"
TRAINED = "trained"


@dataclass(frozen=True)
class Training:
    parameters: model.Parameters
    used: str  # TRAINED or FIXED_NOT_CONVERGED
    detail: str


class _Iterations(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith("Iteration "):
            self.count += 1


@contextmanager
def _counting_iterations() -> Iterator[_Iterations]:
    """Count Splink's EM iterations from its log, leaving the logger as it was."""
    logger = logging.getLogger(_EM_LOGGER)
    handler = _Iterations()
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.INFO)
    logger.propagate = False  # its INFO lines are counted here, not printed
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def _probability(value: object, fixed: float) -> float:
    if not isinstance(value, int | float) or not math.isfinite(value):
        return fixed
    return min(max(round(float(value), 6), _SMALLEST), 1 - _SMALLEST)


def _trained_parameters(saved: dict) -> model.Parameters:
    """The fixed parameters with each level's trained m and u in place (by comparison and level label)."""
    found: dict[tuple[str, str], tuple[object, object]] = {}
    for comparison in saved.get("comparisons", []):
        for level in comparison.get("comparison_levels", []):
            if level.get("is_null_level"):
                continue
            label = level.get("label_for_charts")
            found[(comparison["output_column_name"], label)] = (
                level.get("m_probability"),
                level.get("u_probability"),
            )
    parameters: model.Parameters = {}
    for name, levels in model.FIXED.items():
        parameters[name] = []
        for index, (label, condition, m, u) in enumerate(levels):
            # Splink labels the else level itself; it is the last level of each comparison.
            key = (name, label) if condition is not None or index < len(levels) - 1 else None
            got = found.get(key) if key else _else_level(found, name, levels)
            new_m, new_u = got if got else (None, None)
            parameters[name].append((label, condition, _probability(new_m, m), _probability(new_u, u)))
    return parameters


def _else_level(
    found: dict[tuple[str, str], tuple[object, object]], name: str, levels: list[model.Level]
) -> tuple[object, object] | None:
    named = {label for label, *_ in levels}
    others = [
        value for (comparison, label), value in found.items() if comparison == name and label not in named
    ]
    return others[0] if len(others) == 1 else None


def train(features: pl.DataFrame, *, seed: int = SEED) -> Training:
    """One org's parameters trained on its records (`resolve.person_features`), or the fixed ones with
    the reason when training did not converge."""
    frame, _ = model.block_frame(features)
    con = duckdb.connect()
    con.execute("set threads = 1")
    sessions: list[int] = []
    try:
        db_api = DuckDBAPI(connection=con)
        linker = Linker(
            db_api.register(frame.to_arrow()),
            model.settings(model.FIXED, max_iterations=MAX_ITERATIONS, em_convergence=EM_CONVERGENCE),
            log_level=None,
        )
        linker.training.estimate_u_using_random_sampling(max_pairs=U_PAIRS, seed=seed)
        for columns in EM_BLOCKS:
            with _counting_iterations() as iterations:
                linker.training.estimate_parameters_using_expectation_maximisation(
                    block_on(*columns), fix_probability_two_random_records_match=True
                )
            sessions.append(iterations.count)
        saved = linker.misc.save_model_to_json()
    except Exception as exc:  # noqa: BLE001 - any failure of training means: keep the fixed parameters
        return Training(model.FIXED, FIXED_NOT_CONVERGED, f"training failed: {type(exc).__name__}")
    finally:
        con.close()
    if any(not 0 < count < MAX_ITERATIONS for count in sessions):
        return Training(
            model.FIXED,
            FIXED_NOT_CONVERGED,
            f"expectation maximisation iterations per session {sessions}, at most {MAX_ITERATIONS - 1} allowed",
        )
    return Training(_trained_parameters(saved), TRAINED, f"iterations per session {sessions}")
