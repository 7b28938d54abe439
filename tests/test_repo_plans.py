"""The readers the bulk plans share (cmkit.db.repo): frames read with the garbage collector paused, and
whether a customer is on tickets, read once for a whole plan."""

from __future__ import annotations

import gc

import pandas as pd
import sqlalchemy as sa

import cmkit
from cmkit.db import repo
from cmkit.db.engine import engine_for
from cmkit.db.schema import TicketRow
from cmkit.db.uow import transaction


def test_frame_of_leaves_the_garbage_collector_as_it_found_it(cm: cmkit.CustomerManager, db_url: str) -> None:
    cm.create_company("retail", name="Acme GmbH")
    stmt = sa.select(TicketRow.id)
    with transaction(engine_for(db_url), "admin", write=False) as work:
        assert gc.isenabled()
        repo.frame_of(work.session, stmt)
        assert gc.isenabled()
        gc.disable()
        try:
            repo.frame_of(work.session, stmt)
            assert not gc.isenabled()  # a caller's choice stays
        finally:
            gc.enable()


def test_on_tickets_is_true_where_the_customer_is_main_or_additional(
    cm: cmkit.CustomerManager, db_url: str, world, make_ticket
) -> None:
    anna, bert, carl = world["anna"], world["bert"], world["carl"]
    main = make_ticket(anna)
    additional = make_ticket(bert, anna)
    closed = make_ticket(carl, anna, closed=True)
    absent = make_ticket(bert, carl)
    tickets = pd.DataFrame(
        {
            "id": [main.id, additional.id, closed.id, absent.id],
            "main_customer_id": [anna.id, bert.id, carl.id, bert.id],
        }
    )
    with transaction(engine_for(db_url), "admin", write=False) as work:
        on = repo.on_tickets(work.session, tickets, anna.id)
        assert on.tolist() == [True, True, True, False]
        assert repo.on_tickets(work.session, tickets.iloc[0:0], anna.id).tolist() == []
