"""Sign-in and who sees what in the dashboard (issue 19): AppTest against the two-org fixture snapshot.

Users are created directly in the home's access store; the sign-in form is filled like a user would, or
a session is handed to the app (`conftest.sign_in`) where the form is not the point of the test.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path

import pytest
from conftest import APP_PATH, add_user, signed_in_app
from snapshot_fixture import ORG_A, ORG_B, ORG_B_MEMORY_ONLY, ORG_B_ONLY, expected
from streamlit.testing.v1 import AppTest

from dagster_project import access
from dagster_project.access import auth as store_auth
from dagster_project.settings import default_clock
from streamlit_app.lib import auth, navigation, settings

PASSWORD = "correct horse battery staple"
ACCESS = "app_pages/access.py"
MEMORY = "app_pages/memory.py"
OVERVIEW = "app_pages/overview.py"


def _app() -> AppTest:
    return AppTest.from_file(str(APP_PATH), default_timeout=30)


def _ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def _sign_in_with_form(at: AppTest, email: str, password: str) -> AppTest:
    at.text_input(key="sign_in_email").input(email)
    at.text_input(key="sign_in_password").input(password)
    at.button[0].click().run()  # the form's only button: "Sign in"
    return _ok(at)


def _text(at: AppTest) -> str:
    parts = [str(node.proto) for root in (at.main, at.sidebar) for node in root if hasattr(node, "proto")]
    parts.extend(df.value.to_string() for df in at.dataframe)
    return "\n".join(parts)


def _errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def _metric(at: AppTest, label: str) -> str:
    """A KPI of the Overview page (the app opens on Today) for the org the session has selected."""
    at.switch_page(OVERVIEW).run()
    (value,) = [m.value for m in at.metric if m.label == label]
    return value


def _audit(action: str) -> list[dict]:
    return [r for r in access.read_audit(settings.workstream_home()) if r["action"] == action]


# ------------------------------------------------------------------------------------------ sign-in


def _charts(at: AppTest) -> list:
    return list(at.get("plotly_chart"))


def test_nothing_but_the_sign_in_form_renders_before_a_user_signs_in_and_sees_the_dashboard(
    snapshot_home: Path,
) -> None:
    add_user("vera@example.test", "viewer", (ORG_A,), password=PASSWORD)
    at = _ok(_app().run())
    assert [t.value for t in at.title] == ["Sign in to Workstream"]
    assert not at.metric and not at.dataframe and not _charts(at)
    assert not [s for s in at.sidebar.selectbox if s.key == "org"]
    text = _text(at)
    assert ORG_A not in text and ORG_B not in text

    at = _sign_in_with_form(at, "  Vera@Example.test ", PASSWORD)
    assert at.title[0].value == "Today"
    assert _metric(at, "Events") == f"{expected(ORG_A).events:,}"
    assert "sign_in_password" not in at.session_state
    assert any("Signed in as **vera@example.test** (viewer)" in c.value for c in at.sidebar.caption)
    assert len(_audit("login.ok")) == 1


FAILED_SIGN_INS = [
    ("vera@example.test", "wrong password"),
    ("nobody@example.test", PASSWORD),
    ("not an email", "x"),
    ("' OR '1'='1", "' OR '1'='1"),
    ("v" * 10_000 + "@example.test", "p" * 100_000),
]


def test_a_failed_sign_in_gives_one_generic_message_and_nothing_else(snapshot_home: Path) -> None:
    # One form tries every case in turn, as a user retrying would: each names a different email, so
    # none is slowed down or locked by the ones before it.
    add_user("vera@example.test", "viewer", (ORG_A,), password=PASSWORD)
    at = _app().run()
    for email, password in FAILED_SIGN_INS:
        case = email[:40]
        _sign_in_with_form(at, email, password)
        assert _errors(at) == [auth.BAD_CREDENTIALS], case
        assert auth.SESSION_KEY not in at.session_state, case
        assert not at.metric, case
        assert ORG_A not in _text(at), case


def test_repeated_failures_lock_the_sign_in_even_for_the_right_password(
    snapshot_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_user("vera@example.test", "viewer", (ORG_A,), password=PASSWORD)
    start = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
    at = _app().run()
    locked = None
    for attempt in range(50):  # bounded: the store locks after a handful of failures
        # Each attempt a few minutes after the last, past the growing wait between failures.
        monkeypatch.setenv("WORKSTREAM_NOW", (start + dt.timedelta(minutes=3 * attempt)).isoformat())
        _sign_in_with_form(at, "vera@example.test", "wrong password")
        locked = next((m for m in _errors(at) if m.startswith("Sign-in locked")), None)
        if locked:
            break
        assert _errors(at) == [auth.BAD_CREDENTIALS]
    assert locked is not None
    assert re.fullmatch(r"Sign-in locked after too many failed attempts: try again in \d+ min\.", locked)
    _sign_in_with_form(at, "vera@example.test", PASSWORD)
    assert [m for m in _errors(at) if m.startswith("Sign-in locked")]
    assert auth.SESSION_KEY not in at.session_state and not at.metric
    assert _audit("login.locked")


def test_an_expired_session_asks_to_sign_in_again(
    snapshot_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _ok(signed_in_app("vera@example.test", "viewer", (ORG_A,)).run())
    assert at.metric
    later = default_clock().now() + dt.timedelta(seconds=2 * store_auth.SESSION_IDLE_S)
    monkeypatch.setenv("WORKSTREAM_NOW", later.isoformat())
    _ok(at.run())
    assert [t.value for t in at.title] == ["Sign in to Workstream"]
    assert any(auth.SESSION_ENDED in i.value for i in at.info)
    assert not at.metric


def test_sign_out_ends_the_session_in_the_store(snapshot_home: Path) -> None:
    at = _ok(signed_in_app("vera@example.test", "viewer", (ORG_A,)).run())
    session_id = at.session_state[auth.SESSION_KEY]
    at.sidebar.button(key="sign_out").click().run()
    _ok(at)
    assert [t.value for t in at.title] == ["Sign in to Workstream"]
    home = settings.workstream_home()
    assert access.session_principal(home, session_id, now=default_clock().now()) is None


def test_with_oidc_configured_the_button_uses_streamlit_login_and_grants_come_from_the_user_table(
    snapshot_home: Path,
) -> None:
    add_user("olga@example.test", "viewer", (ORG_B,))
    at = _app()
    at.secrets["auth"] = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x"}
    at.user = {"is_logged_in": False}
    _ok(at.run())
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.text_input  # no password form on the OIDC path

    at.user = {"is_logged_in": True, "email": "Olga@Example.test"}
    _ok(at.run())
    assert at.sidebar.selectbox(key="org").options == [ORG_B]
    assert _metric(at, "Events") == f"{expected(ORG_B).events:,}"

    at.user = {"is_logged_in": True, "email": "stranger@elsewhere.test"}
    _ok(at.run())
    assert _errors(at) == [auth.NO_ACCOUNT] and not at.metric


# ------------------------------------------------------------------------------------------ org scope


def test_the_org_selector_lists_only_the_users_orgs(snapshot_home: Path) -> None:
    at = _ok(signed_in_app("vesna@example.test", "viewer", (ORG_B, "not-in-snapshot")).run())
    assert at.sidebar.selectbox(key="org").options == [ORG_B]
    assert _metric(at, "Events") == f"{expected(ORG_B).events:,}"
    # An admin's list (every org of the snapshot) is checked in the Access page test's session.


@pytest.mark.parametrize("requested", [ORG_B, "no-such-org", "acme' OR '1'='1"])
def test_an_org_in_the_url_the_user_may_not_read_is_refused_the_same_way_as_a_missing_one(
    snapshot_home: Path, requested: str
) -> None:
    at = signed_in_app("vera@example.test", "viewer", (ORG_A,))
    at.query_params["org"] = requested
    _ok(at.run())
    assert [e.value for e in at.main.error] == [
        "**This organisation cannot be shown.** It does not exist in this snapshot or your account has no "
        "access to it. Nothing of any organisation is shown; choose one of yours in the sidebar."
    ]
    assert not at.metric and not at.dataframe and not _charts(at)
    assert not [s for s in at.sidebar.selectbox if s.key == "org"]
    text = _text(at)
    assert not [needle for needle in (ORG_A, ORG_B, *ORG_B_ONLY) if needle in text]
    # Audited with the user's id; the requested text only as a hash prefix.
    denied = _audit("access.denied")
    assert denied and {r["actor"] for r in denied} == {at.session_state[auth.PRINCIPAL_KEY].user_id}
    assert {r["target"] for r in denied} == {
        f"org:sha256:{hashlib.sha256(requested.encode()).hexdigest()[:16]}"
    }

    # The way back: the user's own org, chosen by them.
    at.main.button(key="org_refused_back").click().run()
    _ok(at)
    assert at.sidebar.selectbox(key="org").value == ORG_A
    assert _metric(at, "Events") == f"{expected(ORG_A).events:,}"


# ------------------------------------------------------------------------------------------ governance


def _open_memory(at: AppTest, org: str) -> AppTest:
    _ok(at.run())
    at.sidebar.selectbox(key="org").set_value(org).run()
    at.switch_page(MEMORY).run()
    return _ok(at)


def test_a_viewer_sees_no_governance_form_and_a_governor_of_one_org_governs_only_that_org(
    snapshot_home: Path, inbox: Path
) -> None:
    at = _open_memory(signed_in_app("gil@example.test", "viewer", (ORG_A,)), ORG_A)
    # A viewer, so far.
    assert any(s.value == "Redact or correct" for s in at.subheader)
    assert not [b for b in at.main.button if b.label.startswith("Request")]
    assert not [r for r in at.main.radio if r.label == "Action"]
    assert any("governors and admins" in c.value for c in at.main.caption)
    assert not inbox.exists()

    add_user("gil@example.test", "governor", (ORG_B,))
    _ok(at.run())  # the grants are read again on every rerun
    at.sidebar.selectbox(key="org").set_value(ORG_B).run()
    _ok(at)
    assert [b for b in at.main.button if b.label == "Request redaction"]
    at.sidebar.selectbox(key="org").set_value(ORG_A).run()
    _ok(at)
    assert not [b for b in at.main.button if b.label.startswith("Request")]


def test_a_governors_request_carries_the_signed_in_user_in_the_event_and_the_audit(
    snapshot_home: Path, inbox: Path
) -> None:
    at = _open_memory(signed_in_app("gwen@example.test", "governor", (ORG_B,)), ORG_B)
    assert not [w for w in at.main.text_input if w.label == "Your email"]
    atom_id = at.main.selectbox(key=next(s.key for s in at.main.selectbox if s.label == "Atom")).value
    [r for r in at.main.text_area if r.label == "Reason"][0].input("Personal data")
    [b for b in at.main.button if b.label == "Request redaction"][0].click().run()
    _ok(at)
    [b for b in at.main.button if b.label == "Confirm redaction"][0].click().run()
    _ok(at)

    (written,) = sorted(inbox.iterdir())
    (event,) = [json.loads(line) for line in written.read_text().splitlines()]
    assert (event["actor"], event["org_id"], event["payload"]["atom_id"]) == (
        "gwen@example.test",
        ORG_B,
        atom_id,
    )
    (row,) = _audit("governance.requested")
    principal = access.principal_for_email(settings.workstream_home(), "gwen@example.test")
    assert principal is not None
    assert (row["actor"], row["org_id"], row["target"]) == (principal.user_id, ORG_B, event["event_id"])
    # Ids only: neither the reason nor any memory text reaches the audit.
    stored = json.dumps(row)
    assert "Personal data" not in stored
    assert not [needle for needle in ORG_B_MEMORY_ONLY if needle in stored]


# ------------------------------------------------------------------------------------------ Access page


def test_an_admin_sees_the_access_page_with_users_grants_tokens_and_audit(snapshot_home: Path) -> None:
    add_user("vera@example.test", "viewer", (ORG_A,), password=PASSWORD)
    home = settings.workstream_home()
    token_id, token = access.issue_token(home, "vera@example.test", now=default_clock().now())
    at = _ok(signed_in_app("root@example.test", "admin").run())
    assert at.sidebar.selectbox(key="org").options == [ORG_A, ORG_B]  # an admin may pick every org
    at.switch_page(ACCESS).run()
    _ok(at)
    assert at.title[0].value == "Access"
    users = at.dataframe[0].value
    assert set(users["email"]) == {"vera@example.test", "root@example.test"}
    assert users.set_index("email").loc["vera@example.test", "grants"] == f"{ORG_A}: viewer"
    assert token_id in set(at.dataframe[1].value["token_id"])
    audit = at.dataframe[2].value
    assert "user.added" in set(audit["action"])
    # Users the store still holds by email, not by their internal id; times to the minute in UTC.
    added = audit[audit["action"] == "user.added"]
    assert "vera@example.test" in set(added["target"]), added
    ids = {u["user_id"] for u in access.list_users(home)}
    assert not ids & set(audit["target"]) and not ids & set(audit["actor"])
    for table in at.dataframe:  # every column headed in words
        config = json.loads(table.proto.columns)
        headers = [config.get(c, {}).get("label") or c for c in table.value.columns]
        assert not [h for h in headers if "_" in h or h == h.lower()], headers
    minute = r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC$"
    assert users["created_at"].str.match(minute).all() and audit["at"].str.match(minute).all()
    text = _text(at)
    assert token not in text and token.split("_", 2)[2] not in text
    assert "argon2" not in text


def test_the_access_page_is_listed_for_admins_only() -> None:
    def visible(is_admin: bool) -> dict[str, list[str]]:
        return {
            section: [p.title for p in pages if p.visibility == "visible"]
            for section, pages in navigation.sections_for(is_admin).items()
        }

    assert visible(True)["Admin"] == ["Access"]
    assert "Admin" not in visible(False)
    assert not [t for titles in visible(False).values() for t in titles if t == "Access"]
    # Every data page is listed for both (the item page is opened from a row's link, never listed).
    data_pages = {
        p.title for pages in navigation.SECTIONS.values() for p in pages if p.visibility == "visible"
    }
    for is_admin in (True, False):
        assert data_pages <= {t for titles in visible(is_admin).values() for t in titles}


def test_a_non_admin_opening_the_access_url_is_refused(snapshot_home: Path) -> None:
    add_user("root@example.test", "admin")
    viewer = _ok(signed_in_app("vera@example.test", "governor", (ORG_A,)).run())
    viewer.switch_page(ACCESS).run()
    _ok(viewer)
    assert [e.value for e in viewer.main.error] == ["**Admins only.** Your account may not open this page."]
    assert not viewer.dataframe
    assert "root@example.test" not in _text(viewer)
    assert [r["target"] for r in _audit("access.denied")] == ["page:access"]


def test_a_grant_withdrawn_during_a_session_takes_effect_on_the_next_click(snapshot_home: Path) -> None:
    at = signed_in_app("vera@example.test", "viewer", (ORG_A, ORG_B))
    # The selector writes the org into the URL in a browser; AppTest does not, so the URL is set here.
    at.query_params["org"] = ORG_B
    assert _metric(_ok(at.run()), "Events") == f"{expected(ORG_B).events:,}"

    access.remove(settings.workstream_home(), "vera@example.test", (ORG_B,), now=default_clock().now())
    _ok(at.run())
    # The URL still names globex: refused, not replaced, and nothing of globex is left on screen.
    assert [e.value for e in at.main.error][0].startswith("**This organisation cannot be shown.**")
    assert not at.metric and not [needle for needle in (ORG_B, *ORG_B_ONLY) if needle in _text(at)]

    access.remove(settings.workstream_home(), "vera@example.test", now=default_clock().now())
    _ok(at.run())
    assert [t.value for t in at.title] == ["Sign in to Workstream"]
