"""Property: whatever config value the registry accepts, the fold and the memory capture do not raise."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dagster_project.config.registry import KEYS, NOTE_RULES, ConfigRegistry, validate_change
from dagster_project.lifecycle.fold import fold
from dagster_project.memory.capture import capture_atoms
from tests.lifecycle.timeline import at, config, ev, happy_path

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
NEAR_BOUNDS = st.sampled_from(sorted(k for k, s in KEYS.items() if s.high is not None)).flatmap(
    lambda key: st.tuples(
        st.just(key),
        st.sampled_from([KEYS[key].high, KEYS[key].high * 0.999, 1e-9, 0, KEYS[key].high + 1, 10**9]),
    )
)
ANY_KEY = st.tuples(st.sampled_from(sorted(KEYS)), JSON)
NOTE_RULE_VALUES = st.tuples(
    st.just("memory.note_rules"),
    st.dictionaries(
        st.sampled_from(sorted(NOTE_RULES)),
        st.lists(
            st.sampled_from([r"(a+)+$", r"\bbudget\b", r"[", r"(?<!x)y", r".*.*.*z", r"\w+"]), max_size=3
        ),
        max_size=3,
    ),
)
# The latest days the calendar holds, and an ordinary day.
WHEN = st.sampled_from([datetime(2026, 3, 2, tzinfo=UTC), datetime(9999, 12, 30, tzinfo=UTC)])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.lists(NEAR_BOUNDS | ANY_KEY | NOTE_RULE_VALUES, min_size=1, max_size=6), when=WHEN)
def test_no_accepted_config_value_makes_the_fold_or_capture_raise(changes, when):
    shift = when - at(0)
    events = [config(f"cfg{i}", -1, key, value) for i, (key, value) in enumerate(changes)]
    events += happy_path()
    events.append(ev("n9", "pursuit.note_added", "p1", 30, {"text": "aaaa budget " * 20}))
    for event in events:
        event["occurred_at"] += shift
    as_of = at(200) + shift
    result = fold(events, as_of=as_of)
    accepted = {f"cfg{i}" for i, (k, v) in enumerate(changes) if validate_change({"key": k, "value": v}).ok}
    rejected = {r["event_id"] for r in result.rejected_events if r["event_name"] == "config.changed"}
    assert rejected == {f"cfg{i}" for i in range(len(changes))} - accepted
    capture_atoms(events, result, ConfigRegistry.from_events(events), as_of)
