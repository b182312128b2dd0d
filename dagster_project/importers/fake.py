"""Realistic CRM exports with known truth, for end-to-end tests and benchmarks.

    python -m dagster_project.importers.fake --vendor salesforce --out DIR [--rows N] [--seed S] [--version 2]

Salesforce is written as its Data Export writes it (`Account.csv` …, API field names, ISO times with
`.000+0000`); HubSpot as a sync tool lands it (`company.csv` …, `property_*` columns, `_fivetran_*`
columns, a deleted row now and then). Each person may come twice under another spelling (a web lead and
a contact, `Ana.Lima@Example.org` and ` ana.lima@example.org `): the planted duplicates. `.truth.json`
(a dotfile: the importers do not read it) says what the export holds: every company, person (with the
source ids that are the same person), deal (its stage path, outcome, amount) and note.

`version=2` is the same CRM exported later: a few companies renamed, amounts changed, open deals moved on
a stage, notes added, every change with a later modification time. The same arguments give the same
bytes.
"""

from __future__ import annotations

import argparse
import csv
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from .fake_headers import HEADERS

END = datetime(2026, 11, 1, 17, 0, tzinfo=UTC)
SPAN_DAYS = 150
ROWS_PER_COMPANY = {"salesforce": 18, "hubspot": 26}  # about: the rows one company brings
SF_PATH = ["Prospecting", "Qualification", "Value Proposition", "Proposal/Price Quote", "Negotiation/Review"]
SF_TARGET = {
    "Prospecting": "candidate",
    "Qualification": "qual",
    "Value Proposition": "pink",
    "Proposal/Price Quote": "red",
    "Negotiation/Review": "submit",
    "Closed Won": "won",
    "Closed Lost": "lost",
}
HS_PATH = [
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
]
HS_TARGET = {
    "appointmentscheduled": "candidate",
    "qualifiedtobuy": "qual",
    "presentationscheduled": "pink",
    "decisionmakerboughtin": "red",
    "contractsent": "submit",
    "closedwon": "won",
    "closedlost": "lost",
}
FIRST = [
    "Ana",
    "Ben",
    "Chloe",
    "Dev",
    "Eva",
    "Farid",
    "Grace",
    "Hugo",
    "Ines",
    "Jon",
    "Kira",
    "Luis",
    "Mei",
    "Nils",
]
LAST = [
    "Lima",
    "Okafor",
    "Schmidt",
    "Tanaka",
    "Novak",
    "Haddad",
    "Moreau",
    "Silva",
    "Kowalski",
    "Berg",
    "Rossi",
]
WORDS = [
    "Northwind",
    "Contoso",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
]
KINDS = ["Logistics", "Health", "Energy", "Retail", "Systems", "Foods", "Labs", "Finance"]
NOTES = [
    "Call with {who}: budget confirmed for next quarter.",
    "{who} prefers email over calls, mornings only.",
    "Competitor is also in the running; price is a concern.",
    "They decided to go ahead with the pilot.",
    "Sent the deck; waiting for {who} to circulate it internally.",
    "Legal review may delay signature by two weeks.",
]
LOSS = ["Price", "Timing", "Competitor", "No Decision"]


@dataclass
class Truth:
    vendor: str
    companies: dict[str, dict[str, Any]] = field(default_factory=dict)
    people: list[dict[str, Any]] = field(default_factory=list)  # one per real person: its source ids
    deals: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # entity id the note lands on, per note id
    changed: list[str] = field(default_factory=list)  # version 2: entity ids whose record changed
    rows: int = 0


def _iso(at: datetime, vendor: str) -> str:
    if vendor == "salesforce":
        return at.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    return at.strftime("%Y-%m-%d %H:%M:%S.%f")


class _Writer:
    """Rows per object, written at the end as CSV (one file per object, its header first)."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[list[str], list[list[Any]]]] = {}

    def add(self, name: str, row: list[Any]) -> None:
        self.files.setdefault(name, (HEADERS[name], []))[1].append(row)

    def write(self, out: Path) -> int:
        out.mkdir(parents=True, exist_ok=True)
        total = 0
        for name, (header, rows) in sorted(self.files.items()):
            with (out / f"{name}.csv").open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle, lineterminator="\n")
                writer.writerow(header)
                writer.writerows(["" if v is None else v for v in row] for row in rows)
            total += len(rows)
        return total


def fake_export(
    out: Path, vendor: str, *, rows: int = 500, seed: int = 7, version: int = 1, end: datetime = END
) -> Truth:
    """Write a `vendor` export of about `rows` rows into `out` and return (and write) its truth."""
    if vendor not in ("salesforce", "hubspot"):
        raise ValueError(f"unknown vendor {vendor!r}")
    maker = _Maker(vendor, random.Random(seed), version, end)
    for n in range(max(1, rows // ROWS_PER_COMPANY[vendor])):
        maker.company(n)
    truth = maker.truth
    truth.rows = maker.w.write(Path(out))
    (Path(out) / ".truth.json").write_bytes(orjson.dumps(truth.__dict__, option=orjson.OPT_INDENT_2))
    return truth


class _Maker:
    def __init__(self, vendor: str, rng: random.Random, version: int, end: datetime) -> None:
        self.vendor, self.rng, self.version, self.end = vendor, rng, version, end
        self.start = end - timedelta(days=SPAN_DAYS)
        self.export_at = end + timedelta(days=14 if version == 2 else 0)
        self.truth = Truth(vendor)
        self.w = _Writer()
        self.sf = vendor == "salesforce"
        self.n_person = 0
        self.owners = [f"rep{i}@seller.example" for i in range(5)]
        for i, email in enumerate(self.owners):
            if self.sf:
                self.w.add("User", [self._sf("005", i), f"Rep {i}", email, "true"])
            else:
                self.w.add("owner", [str(9000 + i), _iso(end, vendor), email, "Rep", str(i), "PERSON"])
        if not self.sf:
            self.w.add("deal_pipeline", ["default", "false", "Sales Pipeline", "true"])
            for order, stage in enumerate([*HS_PATH, "closedwon", "closedlost"]):
                self.w.add(
                    "deal_pipeline_stage",
                    [
                        stage,
                        "false",
                        stage.title(),
                        "default",
                        order,
                        str(stage.startswith("closed")).lower(),
                        str(stage == "closedwon").lower(),
                    ],
                )

    def _sf(self, prefix: str, n: int) -> str:
        return f"{prefix}5g00000{n:08d}"[:18]

    def _time(self, low: datetime, days: float) -> datetime:
        at = low + timedelta(days=self.rng.uniform(0.1, days))
        return min(at, self.end).replace(microsecond=0)

    def _owner(self, n: int) -> tuple[str, str]:
        i = n % len(self.owners)
        return (self._sf("005", i) if self.sf else str(9000 + i)), self.owners[i]

    def company(self, n: int) -> None:
        r, v = self.rng, self.vendor
        name = f"{WORDS[n % len(WORDS)]} {KINDS[(n // len(WORDS)) % len(KINDS)]} {n}"
        domain = f"{name.split()[0].lower()}{n}.example"
        created = self._time(self.start, 100)
        modified = created
        self.company_name = name  # a lead's free-text company: what the person typed, never renamed
        renamed = self.version == 2 and n % 7 == 0
        if renamed:
            name, modified = name + " Group", self.end + timedelta(days=3)
        owner_id, owner = self._owner(n)
        cid = self._sf("001", n) if self.sf else str(100000 + n)
        entity = f"sf-{cid}" if self.sf else f"hs-company-{cid}"
        self.truth.companies[entity] = {"name": name, "domain": domain, "owner": owner}
        if renamed:
            self.truth.changed.append(entity)
        if self.sf:
            self.w.add(
                "Account",
                [
                    cid,
                    name,
                    f"https://www.{domain}/",
                    KINDS[n % len(KINDS)],
                    owner_id,
                    "false",
                    _iso(created, v),
                    _iso(modified, v),
                ],
            )
        else:
            self.w.add(
                "company",
                [
                    cid,
                    "false",
                    _iso(self.export_at, v),
                    name,
                    domain,
                    KINDS[n % len(KINDS)],
                    owner_id,
                    _iso(created, v),
                    _iso(modified, v),
                ],
            )
        people = [self.person(n, cid, entity, domain, created) for _ in range(r.randint(2, 4))]
        for d in range(r.randint(1, 3)):
            self.deal(n, d, cid, entity, created, people, owner_id)
        if not self.sf and r.random() < 0.1:
            # A deleted company: the sync tool keeps the row, flagged.
            self.w.add(
                "company",
                [
                    str(900000 + n),
                    "true",
                    _iso(self.export_at, v),
                    "Deleted Co",
                    "",
                    "",
                    "",
                    _iso(created, v),
                    _iso(created, v),
                ],
            )

    def person(self, n: int, cid: str, client: str, domain: str, after: datetime) -> dict[str, Any]:
        r, v = self.rng, self.vendor
        self.n_person += 1
        p = self.n_person
        first, last = FIRST[p % len(FIRST)], LAST[(p // len(FIRST)) % len(LAST)]
        email = f"{first}.{last}{p}@{domain}".lower()
        phone = f"+1 415 555 {p % 10000:04d}"
        created = self._time(after, 40)
        ids: list[str] = []
        owner_id, _ = self._owner(p)
        if self.sf:
            sid = self._sf("003", p)
            self.w.add(
                "Contact",
                [
                    sid,
                    cid,
                    first,
                    last,
                    email,
                    phone,
                    "Head of Ops",
                    owner_id,
                    "false",
                    _iso(created, v),
                    _iso(created, v),
                ],
            )
            ids.append(f"sf-{sid}")
            if r.random() < 0.5:  # the same person came in as a web lead, spelled another way
                lid = self._sf("00Q", p)
                lead_at = created - timedelta(days=r.uniform(1, 5))
                status = r.choice(["Open - Not Contacted", "Working - Contacted", "Closed - Not Converted"])
                self.w.add(
                    "Lead",
                    [
                        lid,
                        first,
                        last,
                        f" {first.title()}.{last.title()}{p}@{domain.title()} ",
                        f"(415) 555-{p % 10000:04d}",
                        self.company_name,
                        domain,
                        "Web",
                        status,
                        "false",
                        "",
                        "",
                        owner_id,
                        "false",
                        _iso(lead_at, v),
                        _iso(lead_at, v),
                    ],
                )
                ids.append(f"sf-{lid}")
        else:
            sid = str(500000 + p)
            self.w.add(
                "contact",
                [
                    sid,
                    "false",
                    _iso(self.export_at, v),
                    email,
                    first,
                    last,
                    phone,
                    "Head of Ops",
                    "",
                    cid,
                    owner_id,
                    "ORGANIC_SEARCH",
                    _iso(created, v),
                    _iso(created, v),
                ],
            )
            ids.append(f"hs-contact-{sid}")
            if r.random() < 0.4:  # a second contact for the same person: a form fill with another spelling
                dup = str(700000 + p)
                at = created + timedelta(days=r.uniform(1, 5))
                self.w.add(
                    "contact",
                    [
                        dup,
                        "false",
                        _iso(self.export_at, v),
                        f" {email.title()} ",
                        first,
                        last.upper(),
                        f"(415) 555-{p % 10000:04d}",
                        "",
                        domain.split(".")[0].title(),
                        "",
                        owner_id,
                        "PAID_SEARCH",
                        _iso(at, v),
                        _iso(at, v),
                    ],
                )
                ids.append(f"hs-contact-{dup}")
        person = {
            "name": f"{first} {last}",
            "email": email,
            "client_id": client,
            "ids": ids,
            "created": created,
        }
        self.truth.people.append({k: val for k, val in person.items() if k != "created"})
        return person

    def deal(
        self,
        n: int,
        d: int,
        cid: str,
        client: str,
        after: datetime,
        people: list[dict[str, Any]],
        owner_id: str,
    ) -> None:
        r, v = self.rng, self.vendor
        created = self._time(after, 30)
        path = SF_PATH if self.sf else HS_PATH
        reached = r.randint(1, len(path))
        stages = path[:reached]
        fate = r.random()
        if fate < 0.35:
            stages.append("Closed Won" if self.sf else "closedwon")
        elif fate < 0.65:
            stages.append("Closed Lost" if self.sf else "closedlost")
        times = [created]
        for _ in stages[1:]:
            times.append(min(times[-1] + timedelta(days=r.uniform(2, 12)), self.end).replace(microsecond=0))
        moved = (
            self.version == 2
            and not stages[-1].startswith("Closed")
            and not stages[-1].startswith("closed")
            and len(stages) < len(path)
        )
        if moved:
            stages.append(path[len(stages)])
            times.append(self.end + timedelta(days=5))
        amount = float(r.randrange(5, 200) * 1000)
        if self.version == 2 and (n + d) % 5 == 0:
            amount += 2500
        modified = max(times[-1], created)
        if moved or (self.version == 2 and (n + d) % 5 == 0):
            modified = self.end + timedelta(days=6)
        close = (times[-1] + timedelta(days=20)).date().isoformat()
        number = n * 10 + d
        oid = self._sf("006", number) if self.sf else str(3000000 + number)
        entity = f"sf-{oid}" if self.sf else f"hs-deal-{oid}"
        name = f"{client} deal {d}"
        target = SF_TARGET if self.sf else HS_TARGET
        final = target[stages[-1]]
        loss = r.choice(LOSS) if final == "lost" else None
        self.truth.deals[entity] = {
            "name": name,
            "client_id": client,
            "amount": amount,
            "close_date": close,
            "outcome": final,
            "path": [target[s] for s in stages],
            "times": [t.isoformat() for t in times],
            "loss_reason": loss,
        }
        if moved or (self.version == 2 and (n + d) % 5 == 0):
            self.truth.changed.append(entity)
        if self.sf:
            self.w.add(
                "Opportunity",
                [
                    oid,
                    cid,
                    name,
                    stages[-1],
                    f"{amount:.2f}",
                    close,
                    str(final in ("won", "lost")).lower(),
                    str(final == "won").lower(),
                    loss,
                    owner_id,
                    "false",
                    _iso(created, v),
                    _iso(modified, v),
                ],
            )
            for i, (stage, at) in enumerate(zip(stages, times, strict=True)):
                self.w.add(
                    "OpportunityHistory",
                    [
                        self._sf("008", number * 10 + i),
                        oid,
                        stage,
                        f"{amount:.2f}",
                        close,
                        "false",
                        _iso(at, v),
                    ],
                )
        else:
            self.w.add(
                "deal",
                [
                    oid,
                    "false",
                    _iso(self.export_at, v),
                    "default",
                    stages[-1],
                    owner_id,
                    name,
                    f"{amount:.2f}",
                    close,
                    _iso(created, v),
                    _iso(modified, v),
                    loss,
                ],
            )
            for stage, at in zip(stages, times, strict=True):
                self.w.add("deal_stage", [oid, _iso(at, v), "true", _iso(at, v), stage, "CRM_UI"])
            self.w.add("deal_company", [cid, oid, "5", "HUBSPOT_DEFINED"])
            contact = people[d % len(people)]["ids"][0].removeprefix("hs-contact-")
            self.w.add("deal_contact", [contact, oid, "3", "HUBSPOT_DEFINED"])
        self.notes(number, oid, entity, times, people)

    def notes(
        self, number: int, oid: str, entity: str, times: list[datetime], people: list[dict[str, Any]]
    ) -> None:
        r, v = self.rng, self.vendor
        # Every random draw happens in both versions alike, so version 2 differs only where it means to.
        count = r.randint(1, 3)
        hours = [r.uniform(1, 30) for _ in range(count)]
        later = 1 if self.version == 2 and number % 4 == 0 else 0  # a note written after version 1
        if later and entity not in self.truth.changed:
            self.truth.changed.append(entity)
        for i in range(count + later):
            if i < count:
                at = (times[min(i, len(times) - 1)] + timedelta(hours=hours[i])).replace(microsecond=0)
            else:
                at = self.end + timedelta(days=2)
            who = people[i % len(people)]
            text = NOTES[(number + i) % len(NOTES)].format(who=who["name"])
            nid = f"{number * 10 + i}"
            if self.sf:
                tid = self._sf("00T", number * 10 + i)
                self.w.add(
                    "Task",
                    [
                        tid,
                        oid,
                        who["ids"][0].removeprefix("sf-"),
                        "Call",
                        text,
                        "Completed",
                        "",
                        "false",
                        _iso(at, v),
                        at.date().isoformat(),
                    ],
                )
                self.truth.notes[f"sf-{tid}"] = entity
            else:
                eid = str(80000000 + int(nid))
                self.w.add("engagement", [eid, "NOTE", _iso(self.export_at, v), "1"])
                self.w.add(
                    "engagement_note",
                    [
                        eid,
                        "false",
                        _iso(self.export_at, v),
                        f"<p>{text}</p>",
                        _iso(at, v),
                        _iso(at, v),
                        "NOTE",
                    ],
                )
                self.w.add("engagement_deal", [oid, eid, "NOTE", "214", "HUBSPOT_DEFINED"])
                self.truth.notes[f"hs-engagement-{eid}"] = entity


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a realistic CRM export with known truth.")
    parser.add_argument("--vendor", choices=("salesforce", "hubspot"), required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=500, help="About this many rows across the object files.")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--version", type=int, choices=(1, 2), default=1, help="2: the same CRM exported later."
    )
    args = parser.parse_args(argv)
    truth = fake_export(args.out, args.vendor, rows=args.rows, seed=args.seed, version=args.version)
    print(
        f"wrote {truth.rows:,} rows ({len(truth.companies)} companies, {len(truth.deals)} deals) to {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
