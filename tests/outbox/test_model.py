"""T13: a hypothesis state machine drives the outbox against a tiny in-memory model."""

from __future__ import annotations

import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from dagster_project.control import outbox, outbox_reports

from .conftest import T0, make_items

ITEMS = make_items(3, org="a") + make_items(2, org="b")
KEYS = [(i["org_id"], i["event_id"]) for i in ITEMS]
OCCURRED = {k: outbox.to_text(i["occurred_at"]) for k, i in zip(KEYS, ITEMS, strict=True)}
MAX_ATTEMPTS = 3
STALE = timedelta(minutes=5)

keys = st.sampled_from(KEYS)


class OutboxMachine(RuleBasedStateMachine):
    @initialize()
    def setup(self) -> None:
        self.dir = tempfile.mkdtemp()
        self.db = Path(self.dir) / "control.sqlite"
        self.now = T0
        self.model: dict[outbox.Key, dict] = {}
        self.claims: list[outbox.Claim] = []

    def teardown(self) -> None:
        if hasattr(self, "dir"):
            shutil.rmtree(self.dir, ignore_errors=True)

    @rule(picked=st.lists(keys, max_size=3))
    def enqueue(self, picked: list[outbox.Key]) -> None:
        new = [k for k in dict.fromkeys(picked) if k not in self.model]
        got = outbox.enqueue(
            self.db, [i for i in ITEMS if (i["org_id"], i["event_id"]) in set(picked)], self.now
        )
        assert got == len(new)
        for k in new:
            self.model[k] = {"status": "pending", "attempts": 0, "due": self.now, "token": None, "at": None}

    @rule(limit=st.integers(1, 3))
    def claim(self, limit: int) -> None:
        due = [k for k, m in self.model.items() if m["status"] == "pending" and m["due"] <= self.now]
        due.sort(key=lambda k: (self.model[k]["due"], k[0], OCCURRED[k], k[1]))
        got = outbox.claim(self.db, now=self.now, limit=limit, worker="w")
        assert got.keys == due[:limit]
        for item in got.items:
            m = self.model[item.key]
            m.update(status="claimed", attempts=m["attempts"] + 1, token=got.token, at=self.now)
            assert item.attempts == m["attempts"]
        if got:
            self.claims.append(got)

    @rule(data=st.data())
    def complete(self, data: st.DataObject) -> None:
        if not self.claims:
            return
        c = data.draw(st.sampled_from(self.claims))
        picked = data.draw(st.lists(st.sampled_from(c.keys), max_size=3, unique=True))
        owned = [
            k for k in picked if self.model[k]["status"] == "claimed" and self.model[k]["token"] == c.token
        ]
        assert outbox.complete(self.db, c.token, picked, self.now) == owned
        for k in owned:
            self.model[k].update(status="processed")

    @rule(data=st.data())
    def fail(self, data: st.DataObject) -> None:
        if not self.claims:
            return
        c = data.draw(st.sampled_from(self.claims))
        k = data.draw(st.sampled_from(c.keys))
        m = self.model[k]
        got = outbox.fail(self.db, c.token, k, "err", self.now, max_attempts=MAX_ATTEMPTS)
        if m["status"] != "claimed" or m["token"] != c.token:
            assert got is None
        elif m["attempts"] >= MAX_ATTEMPTS:
            assert got == "dead"
            m.update(status="dead", token=None)
        else:
            assert got == "pending"
            wait = timedelta(minutes=outbox.backoff_minutes(m["attempts"]))
            m.update(status="pending", token=None, due=self.now + wait)

    @rule(minutes=st.sampled_from([0.5, 1, 4.99, 5, 5.01, 61]))
    def advance(self, minutes: float) -> None:
        self.now += timedelta(minutes=minutes)

    @rule()
    def recover(self) -> None:
        stale = sorted(
            k for k, m in self.model.items() if m["status"] == "claimed" and m["at"] < self.now - STALE
        )
        got = outbox.recover_stale(self.db, self.now, max_attempts=MAX_ATTEMPTS)
        assert sorted(got.requeued + got.dead) == stale
        for k in stale:
            m = self.model[k]
            if m["attempts"] >= MAX_ATTEMPTS:
                assert k in got.dead
                m.update(status="dead", token=None)
            else:
                m.update(status="pending", token=None, due=self.now)

    @rule(k=keys)
    def retry_dead(self, k: outbox.Key) -> None:
        dead = k in self.model and self.model[k]["status"] == "dead"
        assert outbox.retry_dead(self.db, [k], self.now) == ([k] if dead else [])
        if dead:
            self.model[k].update(status="pending", attempts=0, due=self.now)

    @invariant()
    def agrees(self) -> None:
        if not hasattr(self, "db"):
            return
        rows = {
            (r["org_id"], r["event_id"]): r for org in ("a", "b") for r in outbox_reports.items(self.db, org)
        }
        assert set(rows) == set(self.model)
        for k, m in self.model.items():
            r = rows[k]
            assert (r["status"], r["attempts"], r["claim_token"] if m["status"] == "claimed" else None) == (
                m["status"],
                m["attempts"],
                m["token"] if m["status"] == "claimed" else None,
            )
            if m["status"] == "pending":
                assert r["next_attempt_at"] == outbox.to_text(m["due"])
            assert 0 <= r["attempts"] <= MAX_ATTEMPTS


OutboxMachine.TestCase.settings = settings(max_examples=30, stateful_step_count=25, deadline=None)
TestOutboxModel = OutboxMachine.TestCase
