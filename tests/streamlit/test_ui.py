"""`lib/ui.py` formatting: every missing value is an em dash, never "None"."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from streamlit_app.lib import ui


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "—"),
        (0, "0 s"),
        (45.4, "45 s"),
        (754, "12 min 34 s"),
        (3 * 3600 + 300, "3 h 05 min"),
        (2 * 86_400 + 4 * 3600, "2 d 4 h"),
    ],
)
def test_format_duration(seconds: float | None, text: str) -> None:
    assert ui.format_duration(seconds) == text


def test_number_formats() -> None:
    assert (ui.format_pct(0.755), ui.format_pct(None)) == ("76%", "—")
    # Never a false 100% or 0%: 439 of 440 is not all, 1 of 440 is not none.
    assert [ui.format_pct(v) for v in (439 / 440, 1 / 440, 1.0, 0.0, 0.99999, 0.00001)] == [
        "99.8%",
        "0.2%",
        "100%",
        "0%",
        "<100%",
        ">0%",
    ]
    assert (ui.format_usd(1_250_000.4), ui.format_usd(None)) == ("$1,250,000", "—")


def test_for_display_fills_every_gap() -> None:
    df = pl.DataFrame(
        {
            "name": ["a", None],
            "items": [["x", "y"], []],
            "at": [dt.datetime(2024, 5, 1, 9, 30, tzinfo=dt.UTC), None],
            "day": [dt.date(2024, 5, 1), None],
            "rate": [0.5, None],
            "n": [1, 2],
            "flag": [True, False],
        },
        schema_overrides={"at": pl.Datetime("us", "UTC")},
    )
    out = ui.for_display(df, {"name": str.upper})
    assert out.columns == df.columns
    assert out.row(0) == ("A", "x, y", "2024-05-01 09:30 UTC", "2024-05-01", 0.5, 1, True)
    # Numbers stay numbers (their gaps are the table's placeholder); every other gap reads "—".
    assert out.row(1) == ("—", "—", "—", "—", None, 2, False)
    assert out.schema["rate"] == pl.Float64 and out.schema["n"] == pl.Int64


@pytest.mark.parametrize("column", ["rate", "n"])
def test_for_display_refuses_to_turn_a_number_into_text(column: str) -> None:
    df = pl.DataFrame({"rate": [0.5], "n": [1]})
    with pytest.raises(TypeError, match=f"{column} must stay numbers"):
        ui.for_display(df, {column: ui.format_pct})


def test_for_display_keeps_an_empty_frame_shape() -> None:
    df = pl.DataFrame(schema={"name": pl.String, "at": pl.Datetime("us", "UTC")})
    out = ui.for_display(df)
    assert out.columns == ["name", "at"] and out.height == 0


def test_memory_markdown_escaping_and_badges() -> None:
    assert ui.escape_markdown("Risk: $5k [link](x) <b>*a*</b>\n next") == (
        "Risk\\: \\$5k \\[link\\](x) \\<b\\>\\*a\\*\\</b\\> next"
    )
    assert ui.escape_markdown(None) == "—"
    assert ui.escape_snippet("…fixed **pricing** on: **every**") == "…fixed **pricing** on\\: **every**"
    assert ui.atom_badge("risk") == ":red-badge[risk]"
    assert ui.atom_badge("decision") == ":blue-badge[decision]"
    assert ui.atom_badge(None) == ":gray-badge[—]"


def test_badges_are_words_a_browser_without_an_emoji_font_can_draw() -> None:
    for badge in (*ui.BADGE_WORDS, "purple", None):
        text = ui.format_badge(badge) + ui.badge_markdown(badge)
        assert all(ord(ch) < 0x2600 for ch in text), text  # no symbol or emoji code points


def test_codes_read_as_words_from_one_lookup_and_unknown_codes_read_as_themselves() -> None:
    assert ui.word("breached_open") == "Breached, still open"
    assert ui.word("proposal_quiet") == "Proposal gone quiet"
    assert ui.word("pink_review") == "Pink review"  # not listed: underscores become spaces
    assert ui.word(None) == ui.MISSING
