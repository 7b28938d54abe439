"""Printing a customer page (R12): one self-contained HTML page with a print stylesheet, or the same as PDF.

The page is rendered from cmkit/templates/customer_page.html.j2 with auto-escaping on, so customer data
always prints as text. The PDF renderer loads nothing from outside: the page has no external resources.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined
from sqlalchemy import select

from cmkit.db import repo
from cmkit.db.details_schema import AttachmentRow, CommentRow
from cmkit.db.schema import CustomerRow
from cmkit.db.uow import UnitOfWork
from cmkit.errors import CMError, ValidationError
from cmkit.services import access
from cmkit.services.context import Context
from cmkit.services.details import attachment_select, comment_select, tidy
from cmkit.services.tickets import linked
from cmkit.values import Customer, CustomerRef

C = CustomerRow
FORMATS = ("html", "pdf")
TEMPLATE = "customer_page.html.j2"


@cache
def environment() -> Environment:
    return Environment(
        loader=PackageLoader("cmkit", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=False,
        lstrip_blocks=False,
    )


def label(field: str) -> str:
    """'first_name' -> 'First name'."""
    return field.replace("_", " ").capitalize()


def shown(value: Any) -> str:
    """A value as printed: yes/no, times in UTC to the minute, sizes in kB/MB, empty for missing."""
    if value is None or (isinstance(value, float) and value != value) or value is pd.NaT:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        ts = pd.Timestamp(value)
        return (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).strftime(
            "%Y-%m-%d %H:%M UTC"
        )
    return str(value)


def size(n: int) -> str:
    return f"{n} B" if n < 1000 else f"{n / 1000:.1f} kB" if n < 1_000_000 else f"{n / 1_000_000:.1f} MB"


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {str(k): (v if k in ("pending", "active", "id") else shown(v)) for k, v in row.items()}
        for row in df.to_dict("records")
    ]


def _fields(fields: Any, names: Any) -> list[tuple[str, str]]:
    return [(label(f), shown(fields.get(f))) for f in names]


def _pdf(html: str) -> bytes:
    try:
        import weasyprint
    except (ImportError, OSError) as exc:  # OSError: the Pango libraries are missing
        raise CMError(
            f"R12: PDF output needs WeasyPrint and its system libraries ({exc}); "
            "install them (pip install weasyprint) or print the HTML page from a browser"
        ) from exc
    fetcher: Any = (
        weasyprint.URLFetcher(allowed_protocols=()) if hasattr(weasyprint, "URLFetcher") else _refuse
    )
    pdf: bytes = weasyprint.HTML(string=html, base_url=None, url_fetcher=fetcher).write_pdf()
    return pdf


def _refuse(url: str, *args: Any, **kwargs: Any) -> Any:
    raise ValueError(f"the customer page loads no external resources ({url!r})")


def render_page(ctx: Context, customer_id: CustomerRef, format: str = "html") -> str | bytes:
    """The printable customer page (R12): data, company or contacts, tickets, comments and attachment
    list. "html" returns a self-contained page (str), "pdf" the same page as PDF (bytes).

    Needs read permission; comments and attachments appear only with their own read permissions (R8).
    """
    if format not in FORMATS:
        raise ValidationError("format", f"must be 'html' or 'pdf', got {format!r}")
    html = environment().get_template(TEMPLATE).render(**ctx.read(lambda w: _page(ctx, w, customer_id)))
    return html if format == "html" else _pdf(html)


def _page(ctx: Context, work: UnitOfWork, customer_id: CustomerRef) -> dict[str, Any]:
    s = work.session
    c = access.customer(ctx, work, customer_id)
    gdef = ctx.group(c.group)
    company: Customer | None = None
    contacts, contact_columns = None, [f for f in ("email", "phone") if f in gdef.contact_fields]
    if c.company_id is not None:
        company = access.customer(ctx, work, c.company_id, permission=None)
    if c.kind == "company":
        rows = s.execute(
            select(C.id, C.name, C.active, C.data).where(C.company_id == c.id).order_by(C.name, C.id)
        )
        contacts = [
            {
                "id": r.id,
                "name": r.name,
                "active": bool(r.active),
                "values": [shown((r.data or {}).get(f)) for f in contact_columns],
            }
            for r in rows
        ]
    tickets = linked(ctx, work, c)
    comments = attachments = None
    if ctx.may("comments_read", c.group):
        comments = _records(tidy(repo.frame_of(s, comment_select().where(CommentRow.customer_id == c.id))))
    if ctx.may("attachments_read", c.group):
        df = tidy(repo.frame_of(s, attachment_select().where(AttachmentRow.customer_id == c.id)))
        df["size"] = [size(int(n)) for n in df["size"]]
        attachments = _records(df)
    return {
        "customer": c,
        "kind_label": "company" if c.kind == "company" else "contact",
        "fields": _fields(c.fields, gdef.fields_for(c.kind)),
        "company": company,
        "company_fields": _fields(company.fields, [f for f in gdef.company_fields if f != "name"])
        if company
        else [],
        "contacts": contacts,
        "contact_columns": [label(f) for f in contact_columns],
        "tickets": _records(tickets[tickets["part"] == "own"]),
        "contact_tickets": _records(tickets[tickets["part"] == "contacts"]) if c.kind == "company" else None,
        "comments": comments,
        "attachments": attachments,
        "printed_at": shown(work.now),
        "printed_by": work.user,
    }
