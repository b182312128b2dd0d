"""Canonical keys: the spellings of one email, phone, company domain or name give one key; what is not
one gives None, never an exception; and the domain rule never touches the network."""

from __future__ import annotations

import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dagster_project.identity import keys
from dagster_project.identity.keys import (
    canonical_email,
    canonical_phone,
    last_name,
    normalized_name,
    registrable_domain,
)


@pytest.mark.parametrize(
    "raw,key",
    [
        ("Ana.Lima@Example.org", "ana.lima@example.org"),
        ("ana.lima@example.org ", "ana.lima@example.org"),
        ("ana.lima+crm@example.org", "ana.lima@example.org"),
        ("ANA.LIMA+news+x@EXAMPLE.ORG", "ana.lima@example.org"),
        ("mailto:<ana.lima@example.org>", "ana.lima@example.org"),
        ("analima@example.org", "analima@example.org"),  # dots are kept: not every provider ignores them
        ("not an email", None),
        ("ana@localhost", None),
        ("a@b@example.org", None),
        ("+tag@example.org", None),
        ("", None),
        (None, None),
        (42, None),
    ],
)
def test_an_email_key_is_the_trimmed_lower_case_mailbox_without_its_plus_tag(raw, key):
    assert canonical_email(raw) == key


@pytest.mark.parametrize(
    "raw,region,key",
    [
        ("(415) 555-0100", "US", "+14155550100"),
        ("+1 415-555-0100", "US", "+14155550100"),
        ("tel:+1.415.555.0100", "GB", "+14155550100"),  # a country code wins over the region
        ("020 7946 0958", "GB", "+442079460958"),
        ("+44 20 7946 0958", "US", "+442079460958"),
        ("555-0142", "US", None),  # local only: no area code
        ("12", "US", None),
        ("call me", "US", None),
        (None, "US", None),
    ],
)
def test_a_phone_key_is_e164_read_in_the_orgs_default_region(raw, region, key):
    assert canonical_phone(raw, region) == key


@pytest.mark.parametrize(
    "raw,key",
    [
        ("example.org", "example.org"),
        ("www.Example.org", "example.org"),
        ("https://www.shop.example.co.uk/about?x=1#top", "example.co.uk"),
        ("http://user@sales.example.com:8443/path", "example.com"),
        ("ana.lima@mail.example.org", "example.org"),
        ("acme.example", "acme.example"),
        ("eu.sales.acme.example", "acme.example"),
        ("crm.acme.test", "acme.test"),
        ("corp.internal", "corp.internal"),
        ("printer.office.local", "office.local"),
        ("example.org.", "example.org"),
        ("not a domain", None),
        ("", None),
        (None, None),
    ],
)
def test_a_company_key_is_the_registrable_domain_or_the_last_two_labels_off_the_list(raw, key):
    assert registrable_domain(raw) == key


def test_the_domain_rule_reads_the_bundled_suffix_list_without_network(monkeypatch):
    keys._extractor.cache_clear()

    def no_network(*args, **kwargs):
        raise AssertionError("the domain rule opened a network connection")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    try:
        assert registrable_domain("https://www.bbc.co.uk/news") == "bbc.co.uk"
    finally:
        keys._extractor.cache_clear()


@pytest.mark.parametrize(
    "raw,name,last",
    [
        ("Ana Lima", "ana lima", "lima"),
        ("  ANA   LIMA ", "ana lima", "lima"),
        ("Lima, Ana", "ana lima", "lima"),
        ("José Núñez-Ruiz", "jose nunez-ruiz", "nunez-ruiz"),
        ("Seán O'Brien", "sean obrien", "obrien"),
        ("", None, None),
    ],
)
def test_a_name_is_compared_without_case_accents_or_punctuation(raw, name, last):
    assert (normalized_name(raw), last_name(raw)) == (name, last)


_LOCAL = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,15}", fullmatch=True)
_LABEL = st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True)
_SUFFIX = st.sampled_from(["org", "com", "co.uk", "example", "test", "internal", "local", "com.br"])


@given(_LOCAL, st.lists(_LABEL, min_size=1, max_size=3), _SUFFIX, st.text(alphabet="+abc", max_size=5))
def test_every_spelling_of_an_address_gives_the_key_of_its_plain_form(local, labels, suffix, tag):
    plain = f"{local}@{'.'.join(labels)}.{suffix}"
    spelled = f"  {local.upper()}{'+' + tag if tag else ''}@{'.'.join(labels).upper()}.{suffix} "
    assert canonical_email(spelled) == canonical_email(plain) == plain
    assert canonical_email(canonical_email(plain)) == plain


@given(st.lists(_LABEL, min_size=1, max_size=4), _SUFFIX, st.sampled_from(["", "http://", "https://www."]))
def test_a_domain_key_ignores_scheme_www_and_path_and_is_its_own_key(labels, suffix, scheme):
    host = f"{'.'.join(labels)}.{suffix}"
    key = registrable_domain(host)
    assert key is not None and host.endswith(key)
    assert registrable_domain(f"{scheme}{host.upper()}/a/b?c=d") == key
    assert registrable_domain(key) == key


@given(st.integers(min_value=2012000000, max_value=9899999999))
def test_the_spellings_of_a_us_number_give_one_key(digits):
    text = str(digits)
    spellings = [text, f"({text[:3]}) {text[3:6]}-{text[6:]}", f"+1 {text[:3]}.{text[3:6]}.{text[6:]}"]
    assert len({canonical_phone(s, "US") for s in spellings}) == 1


@given(st.one_of(st.text(max_size=400), st.binary(max_size=50), st.integers(), st.none()))
def test_no_input_makes_a_key_function_raise(value):
    for function in (canonical_email, registrable_domain, normalized_name, last_name):
        function(value)
    canonical_phone(value, "US")
