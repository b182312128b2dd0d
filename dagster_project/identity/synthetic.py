"""People with planted duplicates and known truth: for the matcher's precision/recall and its benchmark.

Each person gets one contact record; a share of them come back as more records spelled the way people
really re-enter themselves — the email in other case and with spaces or a plus tag, a typo in the email's
local part, the name in capitals or as `Last, First`, the phone in another format. Seeded: the same
arguments always give the same records. Not a CRM export generator (the importers have their own).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

FIRST_NAMES = [
    "ana",
    "bo",
    "carla",
    "dmitri",
    "erin",
    "farah",
    "goran",
    "hana",
    "ivo",
    "jana",
    "kofi",
    "lea",
    "marek",
    "nia",
    "otto",
    "paula",
    "quentin",
    "rosa",
    "sven",
    "tomas",
    "ursula",
    "viktor",
    "wanda",
    "xavier",
    "yara",
    "zeno",
    "amir",
    "beatriz",
    "cyril",
    "dagny",
    "emil",
    "fatima",
    "gustav",
    "helga",
    "ines",
    "jonas",
    "kasia",
    "lars",
    "mila",
    "nils",
    "olga",
    "pavel",
    "rania",
    "stefan",
    "tereza",
    "umar",
    "vera",
    "wei",
    "xenia",
    "yusuf",
    "zofia",
    "aiko",
    "bruno",
    "chiara",
    "dario",
]
LAST_NAMES = [
    "lima",
    "stone",
    "berg",
    "novak",
    "okafor",
    "perez",
    "quinn",
    "rossi",
    "sato",
    "tanaka",
    "ueda",
    "varga",
    "weber",
    "xu",
    "young",
    "zapata",
    "abbott",
    "brandt",
    "castillo",
    "dubois",
    "eklund",
    "fischer",
    "garcia",
    "horvat",
    "ibsen",
    "jensen",
    "kowalski",
    "larsen",
    "moreau",
    "nakamura",
    "olsen",
    "petrov",
    "ramos",
    "schmidt",
    "torres",
    "urban",
    "vogel",
    "wagner",
    "yilmaz",
    "zimmer",
    "adler",
    "bauer",
    "costa",
    "dietrich",
    "esposito",
    "fontaine",
]
_SUFFIX = ("com", "org", "co.uk", "example", "test", "io")


@dataclass(frozen=True)
class Synthetic:
    records: list[dict]  # contact records as `core.contact_records` holds them
    truth: dict[str, str]  # node id (`contact:<id>`) -> the person it really is


def _typo(text: str, rng: random.Random) -> str:
    i = rng.randrange(len(text))
    return text[:i] + rng.choice("abcdefghijklmnopqrstuvwxyz") + text[i + 1 :]


def people(n: int, *, duplicate_share: float = 0.3, seed: int = 7, companies: int | None = None) -> Synthetic:
    """`n` people, `duplicate_share` of them with one or two more records, all in one org."""
    rng = random.Random(seed)
    companies = companies or max(5, n // 40)
    domains = [f"{rng.choice(LAST_NAMES)}{k}.{rng.choice(_SUFFIX)}" for k in range(companies)]
    records: list[dict] = []
    truth: dict[str, str] = {}

    def add(person: str, **fields: object) -> None:
        record_id = f"p{len(records):07d}"
        records.append(
            {
                "record_type": "contact",
                "record_id": record_id,
                "erased_at": None,
                "source_system": None,
                "source_id": None,
                **fields,
            }
        )
        truth[f"contact:{record_id}"] = person

    for k in range(n):
        person = f"person-{k}"
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        domain = rng.choice(domains)
        number = rng.randrange(10**6, 10**7)
        local = f"{first}.{last}{k}"
        phone = f"+1 415 {number // 10**4:03d} {number % 10**4:04d}" if rng.random() < 0.6 else None
        add(
            person,
            name=f"{first.title()} {last.title()}",
            email=f"{local}@{domain}",
            phone=phone,
            company_domain=domain,
        )
        if rng.random() >= duplicate_share:
            continue
        for _ in range(1 + (rng.random() < 0.3)):
            kind = rng.randrange(5)
            name = f"{first.title()} {last.title()}"
            email: str | None = f"{local}@{domain}"
            dup_phone = phone
            if kind == 0:  # the same address, typed differently
                email = (
                    f"  {local.upper()}@{domain.title()} " if rng.random() < 0.5 else f"{local}+crm@{domain}"
                )
            elif kind == 1:  # a typo in the local part, the name as in the CRM
                email, name = f"{_typo(local, rng)}@{domain}", f"{last.title()}, {first.title()}"
            elif kind == 2:  # another address, the same phone and last name
                email = f"{first[0]}{last}{k}@mail.{domain}"
                dup_phone = phone or f"+1 415 {number // 10**4:03d} {number % 10**4:04d}"
                name = f"{first[0].upper()}. {last.title()}"
            elif kind == 3:  # shouting, no phone
                name, dup_phone = name.upper(), None
            else:  # the phone in a local format only
                email, dup_phone = (
                    None,
                    (f"(415) {number // 10**4:03d}-{number % 10**4:04d}" if phone else None),
                )
            add(person, name=name, email=email, phone=dup_phone, company_domain=domain)
    order = list(range(len(records)))
    rng.shuffle(order)
    return Synthetic([records[i] for i in order], truth)


def pairwise_quality(links: list[dict], truth: dict[str, str]) -> tuple[float, float]:
    """(precision, recall) of the same-person pairs the links imply against the truth."""

    def pairs(groups: dict[str, list[str]]) -> set[tuple[str, str]]:
        out = set()
        for members in groups.values():
            members = sorted(members)
            out |= {(a, b) for i, a in enumerate(members) for b in members[i + 1 :]}
        return out

    predicted: dict[str, list[str]] = {}
    for link in links:
        predicted.setdefault(link["canonical_id"], []).append(f"{link['record_type']}:{link['record_id']}")
    actual: dict[str, list[str]] = {}
    for node, person in truth.items():
        actual.setdefault(person, []).append(node)
    found, real = pairs(predicted), pairs(actual)
    hit = len(found & real)
    return (hit / len(found) if found else 1.0), (hit / len(real) if real else 1.0)
