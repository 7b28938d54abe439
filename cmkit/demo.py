"""`cmkit demo`: a demo database with a realistic, deterministic data set.

German and international names with umlauts and accents, companies with contacts, private persons,
open and closed tickets with additional customers, and some deactivated customers, all consistent with
the rules (no deactivated customer on an open ticket; contacts of a deactivated company deactivated).
Rows are written in large batches, in one transaction.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Table, insert, select, text
from tqdm.auto import tqdm

from cmkit import demo_scale
from cmkit.db import config_store, uow
from cmkit.db.schema import AdditionalCustomer, CustomerGroup, CustomerRow, ProtocolEntry, Queue, TicketRow
from cmkit.demo_words import CITIES, CORP, FIRMS, FIRST, FORMS, LAST, STREETS, SUBJECTS, ascii_of
from cmkit.domain.config import Config
from cmkit.domain.fields import display_name
from cmkit.domain.keys import key_for
from cmkit.services.tickets import ticket_number

DEMO_CONFIG = Path(__file__).with_name("demo_config.toml")
BATCH = 20_000


@dataclass
class Plan:
    """The demo data set's shape; `customers` and `tickets` are approximate totals."""

    customers: int = 3_000
    tickets: int = 6_000
    seed: int = 20261127
    deactivated_share: float = 0.03
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


class DemoBuilder:
    """Builds the rows of a demo data set deterministically from a seed."""

    def __init__(
        self,
        plan: Plan,
        group_ids: dict[str, int],
        queue_ids: dict[str, int],
        now: dt.datetime,
        config: Config,
    ) -> None:
        self.plan, self.group_ids, self.queue_ids, self.now, self.config = (
            plan,
            group_ids,
            queue_ids,
            now,
            config,
        )
        self.rnd = random.Random(plan.seed)
        self.next_id = 1
        self.customers: list[dict[str, Any]] = []
        # (id, group, kind, company_id, active) of every customer, for choosing ticket customers
        self.index: list[tuple[int, str, str, int | None, bool]] = []

    def _person(self) -> dict[str, Any]:
        r = self.rnd
        first, last = r.choice(FIRST), r.choice(LAST)
        city, zip_, _country = r.choice(CITIES)
        return {
            "first_name": first,
            "last_name": last,
            "email": f"{ascii_of(first)}.{ascii_of(last)}{r.randint(1, 999)}@example.{r.choice(['de', 'com', 'org', 'ch'])}",
            "phone": f"+49 {r.randint(30, 999)} {r.randint(100000, 9999999)}",
            "city": city,
            "zip": zip_,
        }

    def _add(self, group: str, kind: str, company_id: int | None, data: dict[str, Any], active: bool) -> int:
        cid = self.next_id
        self.next_id += 1
        data = {k: v for k, v in data.items() if v is not None}
        self.customers.append(
            {
                "id": cid,
                "kind": kind,
                "group_id": self.group_ids[group],
                "company_id": company_id,
                "active": active,
                "name": display_name(kind, data),
                "search_key": key_for(kind, data, self.config.groups[group].fields_for(kind)),
                "data": data,
                "version": 1,
                "created_at": self.now,
                "updated_at": self.now,
                "deactivated_at": None if active else self.now,
            }
        )
        self.index.append((cid, group, kind, company_id, active))
        return cid

    def _company(self, group: str) -> dict[str, Any]:
        r = self.rnd
        city, zip_, country = r.choice(CITIES)
        if group == "retail":
            name = f"{r.choice(FIRMS)} {r.choice(LAST)}"
        else:
            name = f"{r.choice(LAST)} {r.choice(CORP)} {r.choice(FORMS)}"
        data: dict[str, Any] = {
            "name": name,
            "street": f"{r.choice(STREETS)} {r.randint(1, 120)}",
            "zip": zip_,
            "city": city,
            "country": country,
        }
        if group == "retail":
            data["phone"] = f"+49 {r.randint(30, 999)} {r.randint(100000, 9999999)}"
        else:
            data["vat_id"] = f"{country}{r.randint(100000000, 999999999)}"
            data["employees"] = r.choice([5, 12, 40, 120, 800, 2500])
        return data

    def build_customers(self) -> None:
        r, n = self.rnd, self.plan.customers
        share = self.plan.deactivated_share
        for group, part, per_company in (("retail", 0.5, 6), ("business", 0.2, 5), ("private", 0.3, 0)):
            count = int(n * part)
            if not per_company:
                for _ in range(count):
                    p = self._person()
                    p["birthday"] = dt.date(
                        r.randint(1940, 2005), r.randint(1, 12), r.randint(1, 28)
                    ).isoformat()
                    del p["zip"]
                    self._add(group, "contact", None, p, r.random() >= share)
                continue
            for _ in range(max(1, count // per_company)):
                company_active = r.random() >= share / 3
                comp = self._add(group, "company", None, self._company(group), company_active)
                for _ in range(r.randint(1, 2 * per_company - 2)):
                    p = self._person()
                    if group == "retail":
                        p.update(
                            salutation=r.choice(["Frau", "Herr", "Divers"]),
                            tier=r.choice(["gold", "silver", "bronze"]),
                            newsletter=r.random() < 0.4,
                        )
                    else:
                        p["position"] = r.choice(
                            ["Einkauf", "IT-Leitung", "Geschäftsführung", "Buchhaltung", "CTO"]
                        )
                        del p["city"], p["zip"]
                    self._add(group, "contact", comp, p, company_active and r.random() >= share)

    def tickets(self) -> Iterator[tuple[dict[str, Any], list[int]]]:
        """(ticket row, additional customer ids) for the planned number of tickets."""
        r = self.rnd
        eligible = [c for c in self.index if c[2] == "contact" or c[1] == "business"]
        queues = {
            "retail": ["helpdesk", "billing"],
            "business": ["key-accounts", "billing"],
            "private": ["helpdesk", "billing"],
        }
        by_group: dict[str, list[tuple[int, str, str, int | None, bool]]] = {}
        for c in self.index:
            by_group.setdefault(c[1], []).append(c)
        for i in range(1, self.plan.tickets + 1):
            cid, group, _kind, _company, active = r.choice(eligible)
            state = "open" if active and r.random() < 0.3 else "closed"
            created = self.now - dt.timedelta(days=r.randint(0, 720), minutes=r.randint(0, 1440))
            row = {
                "id": i,
                "number": ticket_number(i),
                "subject": r.choice(SUBJECTS),
                "queue_id": self.queue_ids[r.choice(queues[group])],
                "state": state,
                "main_customer_id": cid,
                "created_by": r.choice(["admin", "alice"]),
                "created_at": created,
                "closed_at": created + dt.timedelta(days=r.randint(0, 30)) if state == "closed" else None,
            }
            extra: list[int] = []
            if r.random() < 0.15:
                other = r.choice(by_group[group])
                if other[0] != cid and (other[4] or state == "closed"):
                    extra.append(other[0])
            yield row, extra


def _batches(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), BATCH):
        yield rows[start : start + BATCH]


def _insert(
    work: uow.UnitOfWork, table: Table | Any, rows: list[dict[str, Any]], label: str, progress: bool
) -> None:
    with tqdm(total=len(rows), desc=label, unit="rows", disable=not progress, leave=False) as bar:
        for chunk in _batches(rows):
            work.session.execute(insert(table), chunk)
            bar.update(len(chunk))


def populate(engine: Any, plan: Plan | None = None, progress: bool = True) -> dict[str, int]:
    """Fill an empty, initialised database with the demo data set; returns the row counts.

    Refuses a database that already has customers (the demo never mixes with real data).
    """
    plan = plan or Plan()
    if plan.customers > demo_scale.THRESHOLD:  # a large database: columns drawn with numpy, bulk writes
        return demo_scale.populate(engine, plan, progress)

    def op(work: uow.UnitOfWork) -> dict[str, int]:
        s = work.session
        if s.execute(select(CustomerRow.id).limit(1)).first():
            from cmkit.errors import CMError

            raise CMError(
                "the database already has customers; the demo data goes into an empty database only"
            )
        groups = {n: i for n, i in s.execute(select(CustomerGroup.name, CustomerGroup.id))}
        queues = {n: i for n, i in s.execute(select(Queue.name, Queue.id))}
        b = DemoBuilder(plan, groups, queues, work.now, config_store.load(s))
        b.build_customers()
        _insert(work, CustomerRow, b.customers, "customers", progress)
        tickets, extras, protocol = [], [], []
        names = {c["id"]: c["name"] for c in b.customers}
        for row, extra in b.tickets():
            tickets.append(row)
            protocol.append(
                {
                    "ticket_id": row["id"],
                    "at": row["created_at"],
                    "user_name": row["created_by"],
                    "action": "created",
                    "role": "main",
                    "new_customer_id": row["main_customer_id"],
                    "new_customer_name": names[row["main_customer_id"]],
                }
            )
            for e in extra:
                extras.append({"ticket_id": row["id"], "customer_id": e})
                protocol.append(
                    {
                        "ticket_id": row["id"],
                        "at": row["created_at"],
                        "user_name": row["created_by"],
                        "action": "customer_added",
                        "role": "additional",
                        "new_customer_id": e,
                        "new_customer_name": names[e],
                    }
                )
        _insert(work, TicketRow, tickets, "tickets", progress)
        _insert(work, AdditionalCustomer, extras, "additional customers", progress)
        _insert(work, ProtocolEntry, protocol, "protocol", progress)
        if not work.is_sqlite:
            for table in ("customers", "tickets", "ticket_protocol"):
                sql = f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"  # noqa: S608
                s.execute(text(sql))
        counts = {"customers": len(b.customers), "tickets": len(tickets), "additional": len(extras)}
        work.audit("demo_data", "database", None, None, None, counts)
        return counts

    return uow.run(engine, "admin", op, write=True)
