"""Hostile input: quotes, SQL and full-text syntax, HTML and script, control characters, NUL, 100,000
characters, right-to-left and combining characters, odd ids. Each value gets a clear cmkit error (naming
the field, changing nothing) or is stored exactly as validated and read back as plain text; no HTML that
cmkit produces (customer page, widget tables, outcomes) carries live markup from data.
"""

from __future__ import annotations

import contextlib
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from html.parser import HTMLParser
from typing import Any

import pandas as pd
import pytest
from reliability import fingerprint

import cmkit
from cmkit import CustomerManager, ValidationError

MARK = (
    "cmkitx"  # every piece of hostile markup carries it: it may appear in the text of a page, never in a tag
)

MARKUP = [
    f'<script>alert("{MARK}")</script>',
    f"<img src=x onerror=alert('{MARK}')>",
    f'"><svg/onload=alert({MARK})>',
    f"'><a href='javascript:alert(1)' id={MARK}>klick</a>",
    f"</td></tr></table><b class={MARK}>broken</b>",
    f"<style>.{MARK}{{display:none}}</style>",
    f'<iframe srcdoc="<p>{MARK}</p>"></iframe>',
    f"<!-- {MARK} --><{MARK}>",
    "{{ 7*7 }} {% if true %}jinja{% endif %} ${7*7} #{7*7}",
    "&lt;b&gt;already escaped&lt;/b&gt; &amp; &#60;",
]
SQL = [
    "O'Brien",
    "'; DROP TABLE customers; --",
    '" OR "1"="1',
    "1 OR 1=1",
    "%",
    "_",
    "%_%",
    "\\",
    "\\'",
    "'||'",
    "?",
    ":name",
    "$1",
    "%(name)s",
    "{0}",
    "NULL",
    "*",
    "a*b",
    "' UNION SELECT * FROM users --",
]
FULLTEXT = [
    '"unterminated',
    "foo AND",
    "NEAR(a b)",
    "-foo",
    "foo:*",
    "a & !b | c",
    "a <-> b",
    "(",
    ")",
    "^",
    "~1",
    "title:x",
    "a OR b NOT c",
    "+",
]
UNICODE = [
    "\u202eevil.exe\u202c",
    "שלום עולם",
    "مرحبا",
    "Mu\u0308ller",
    "e\u0301\u0301\u0301",
    "Z\u0334\u0321\u031ba\u0337l",
    "\u200b\u200c\u200d",
    "\ufeffBOM",
    "👩\u200d👩\u200d👧",
    "\U0010fffd",
    "\uffff",
    "ǅ ß ﬁ İ",
    "\u2028\u2029",
]
CONTROL = [
    "a\x00b",
    "\x00",
    "\x01\x02",
    "a\x1b[31mred",
    "\x7f",
    "line\nbreak",
    "tab\tbed",
    "cr\rlf",
    "\x85",
    "\ud800",
    "a\udfffb",
]
LONG = ["x" * 100_000, "ü" * 100_000, "word " * 20_000]
HOSTILE = MARKUP + SQL + FULLTEXT + UNICODE + CONTROL + LONG
#: the light run tries a few of each kind; the heavy run (marker `heavy`) tries them all
SAMPLE = [
    MARKUP[0],
    MARKUP[1],
    MARKUP[8],
    SQL[0],
    SQL[1],
    SQL[4],
    SQL[7],
    FULLTEXT[0],
    FULLTEXT[5],
    UNICODE[0],
    UNICODE[3],
    UNICODE[8],
    CONTROL[0],
    CONTROL[5],
    CONTROL[9],
    LONG[0],
]


@pytest.fixture(params=["sample", pytest.param("all", marks=pytest.mark.heavy)])
def hostile(request: pytest.FixtureRequest) -> list[str]:
    return SAMPLE if request.param == "sample" else HOSTILE


def short(value: str) -> str:
    return repr(value if len(value) < 40 else value[:30] + f"...({len(value)})")


def expected_text(value: str) -> str:
    """What a validated text field, subject or comment keeps: trimmed and NFC."""
    return unicodedata.normalize("NFC", value.strip())


class Tried:
    """Runs hostile values through operations: each must succeed or raise a cmkit error that changes nothing
    (judged by each table's row count and the customers' versions, which every write changes)."""

    def __init__(self, snapshot: Callable[[], Any]) -> None:
        self.snapshot = snapshot
        self.count = 0
        self.refused = 0
        self.read_only = False

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """For calls that only read: the database is compared once, before and after all of them."""
        before = self.snapshot()
        self.read_only = True
        try:
            yield
        finally:
            self.read_only = False
        assert self.snapshot() == before, "looking things up with hostile values changed the database"

    def __call__(
        self,
        what: str,
        value: Any,
        fn: Callable[..., Any],
        *args: Any,
        expect_field: str | None = None,
        **kw: Any,
    ) -> Any:
        """fn(*args, **kw) with the hostile `value` among its arguments; a refusal's ValidationError must
        name `expect_field`."""
        field = expect_field
        self.count += 1
        before = None if self.read_only else self.snapshot()
        try:
            return fn(*args, **kw)
        except cmkit.CMError as exc:
            self.refused += 1
            assert str(exc), f"{what} {short(value)}: an error without a message"
            if field is not None and isinstance(exc, ValidationError):
                assert exc.field == field, (
                    f"{what} {short(value)}: the error names {exc.field!r}, not {field!r}"
                )
            assert before is None or self.snapshot() == before, (
                f"{what} {short(value)}: refused, but it changed"
            )
            return exc
        except Exception as exc:
            raise AssertionError(
                f"{what} {short(value)}: {type(exc).__name__}, not a cmkit error: {exc}"
            ) from exc


@pytest.fixture
def tried(db_url: str, request: pytest.FixtureRequest) -> Iterator[Tried]:
    t = Tried(lambda: fingerprint(db_url))
    yield t
    print(f"{request.node.name}: {t.count} hostile inputs tried, {t.refused} refused")


@pytest.fixture
def acme(cm: CustomerManager) -> cmkit.Customer:
    return cm.create_company("retail", name="Acme GmbH", city="Köln")


# -- values stored: customers' fields, ticket subjects, comments, attachment names ------------------------------------


FIELDS = [  # (kind, field): a required text field with a maximum length, one without, an e-mail address
    ("company", "name"),
    ("contact", "first_name"),
    ("contact", "email"),
]


def test_r4_hostile_field_values_are_refused_or_stored_as_given(
    cm: CustomerManager, acme, tried: Tried, hostile: list[str]
) -> None:
    anna = cm.create_contact("retail", company=acme.id, first_name="Anna", last_name="Müller")
    stored: dict[int, tuple[str, Any]] = {}
    for value in hostile:
        for kind, field in FIELDS:
            if kind == "company":
                made = tried(
                    "create_company",
                    value,
                    cm.create_company,
                    "retail",
                    expect_field=field,
                    **{"name": "X", field: value},
                )
            else:
                made = tried(
                    "create_contact",
                    value,
                    cm.create_contact,
                    "retail",
                    company=acme.id,
                    expect_field=field,
                    **{"last_name": "Y", field: value},
                )
            if isinstance(made, cmkit.Customer):
                kept = made.fields.get(field)  # text of white space only leaves the field empty
                assert kept == (expected_text(value) or None), f"{field} {short(value)} stored as {kept!r}"
                assert cm.customer(made.id).fields.get(field) == kept
                stored[made.id] = (field, kept)
        edited = tried("edit", value, cm.edit, anna.id, first_name=value, expect_field="first_name")
        if isinstance(edited, cmkit.Customer):
            anna = edited
            assert anna.fields.get("first_name") == (expected_text(value) or None)
            assert anna.name == f"{expected_text(value)} Müller".strip()
    assert len(stored) > len(hostile)  # markup, SQL and full-text syntax are text like any other
    table = cm.frame("customers").set_index("id")
    for cid, (field, kept) in stored.items():
        assert table.loc[cid, field] == kept or (kept is None and pd.isna(table.loc[cid, field]))
    assert cm.check_invariants().empty


def test_r4_hostile_field_names_and_groups_are_refused(
    cm: CustomerManager, acme, tried: Tried, hostile: list[str]
) -> None:
    for value in hostile:
        made = tried("create_company", value, cm.create_company, value, name="X", expect_field="group")
        assert not isinstance(made, cmkit.Customer), f"a company in group {short(value)}"
        result = tried("edit", value, cm.edit, acme.id, **{value: "x"})
        assert isinstance(result, ValidationError), f"field {short(value)} accepted"


def test_r14_hostile_subjects_and_queues(cm: CustomerManager, acme, tried: Tried, hostile: list[str]) -> None:
    anna = cm.create_contact("retail", company=acme.id, last_name="Müller")
    for value in hostile:
        t = tried(
            "create_ticket", value, cm.create_ticket, anna.id, "helpdesk", value, expect_field="subject"
        )
        if isinstance(t, cmkit.Ticket):
            assert t.subject == expected_text(value) == cm.ticket(t.id).subject
            assert expected_text(value) in set(cm.tickets(anna.id)["subject"])
        q = tried("create_ticket", value, cm.create_ticket, anna.id, value, "Subject", expect_field="queue")
        assert not isinstance(q, cmkit.Ticket)


def test_r8_hostile_comments_are_refused_or_stored_as_given(
    cm: CustomerManager, acme, tried: Tried, hostile: list[str]
) -> None:
    for value in hostile:
        new = tried("add_comment", value, cm.add_comment, acme.id, value, expect_field="text")
        if isinstance(new, int):
            shown = cm.comments(acme.id).set_index("id").loc[new, "text"]
            assert shown == expected_text(value)
        found = tried("comments(text=...)", value, cm.comments, acme.id, text=value)
        assert isinstance(found, pd.DataFrame | cmkit.CMError)
        tried("comments(author=...)", value, cm.comments, acme.id, author=value)


def test_r9_hostile_attachment_names_and_descriptions(
    cm: CustomerManager, acme, tried: Tried, hostile: list[str]
) -> None:
    names = [f"{v}.txt" for v in hostile] + [
        "../../etc/passwd.txt",
        "C:\\Windows\\win.ini.txt",
        "/abs.txt",
        ".txt",
        "a.txt\x00.pdf",
        "con.txt",
        "x" * 300 + ".txt",
    ]
    for name in names:
        ids = tried(
            "add_attachments", name, cm.add_attachments, acme.id, {name: b"plain text"}, expect_field="files"
        )
        if isinstance(ids, list):
            stored = cm.attachments(acme.id).set_index("id").loc[ids[0], "name"]
            assert (
                isinstance(stored, str)
                and stored.endswith(".txt")
                and "/" not in stored
                and "\\" not in stored
            )
            assert unicodedata.normalize("NFC", name.replace("\\", "/")).endswith(stored)
            assert cm.attachment_data(ids[0]) == b"plain text"
        tried("attachments(name=...)", name, cm.attachments, acme.id, name=name)
    for value in hostile:
        ids = tried(
            "description",
            value,
            cm.add_attachments,
            acme.id,
            {"d.txt": b"x"},
            description=value,
            expect_field="description",
        )
        if isinstance(ids, list):
            assert cm.attachments(acme.id).set_index("id").loc[ids[0], "description"] == expected_text(value)
        tried("attachments(content=...)", value, cm.attachments, acme.id, content=value)


# -- values used to look things up: ids, search strings, filters -------------------------------------------------------

ODD_IDS = [
    "abc",
    "1; DROP TABLE customers",
    "",
    "\x00",
    "١",
    "1e3",
    2**31,
    2**70,
    -1,
    0,
    1.5,
    float("nan"),
    True,
    None,
    [1],
    b"1",
]


def test_odd_ids_are_not_found(cm: CustomerManager, acme, tried: Tried) -> None:
    anna = cm.create_contact("retail", company=acme.id, last_name="Müller")
    t = cm.create_ticket(anna.id, "helpdesk", "Subject")
    comment = cm.add_comment(acme.id, "a comment")
    calls: dict[str, Callable[[Any], Any]] = {
        "customer": cm.customer,
        "edit": lambda i: cm.edit(i, last_name="x"),
        "tickets": cm.tickets,
        "contacts": cm.contacts,
        "transfer source": lambda i: cm.transfer_tickets(i, anna.id),
        "transfer target": lambda i: cm.transfer_tickets(anna.id, i),
        "deactivate": cm.deactivate,
        "reactivate": cm.reactivate,
        "delete": cm.delete,
        "change_company": lambda i: cm.change_company(anna.id, i),
        "create_contact": lambda i: cm.create_contact("retail", company=i, last_name="y"),
        "create_ticket": lambda i: cm.create_ticket(i, "helpdesk", "s"),
        "additional": lambda i: cm.create_ticket(anna.id, "helpdesk", "s", additional=[i]),
        "ticket": cm.ticket,
        "add_customer": lambda i: cm.add_customer(i, anna.id),
        "close_ticket": cm.close_ticket,
        "protocol": cm.protocol,
        "history": lambda i: cm.history(customer_id=i),
        "comments": cm.comments,
        "add_comment": lambda i: cm.add_comment(i, "x"),
        "delete_comment": cm.delete_comment,
        "attachment_data": cm.attachment_data,
        "merge": lambda i: cm.merge(anna.id, [i]),
        "deactivate_many": lambda i: cm.deactivate_many([i]),
        "render_page": cm.render_page,
    }
    with tried.reading():  # every one of them is refused
        for what, fn in calls.items():
            for odd in ODD_IDS:
                result = tried(what, odd, fn, odd)
                if what != "history" or odd is not None:
                    assert isinstance(result, cmkit.CMError), (
                        f"{what}({short(repr(odd))}) acted on {result!r}"
                    )
    assert cm.ticket(t.id).main_customer_id == anna.id and len(cm.comments(acme.id)) == 1
    cm.delete_comment(comment)


def test_hostile_filters_and_options(cm: CustomerManager, acme, tried: Tried, hostile: list[str]) -> None:
    with tried.reading():
        for value in hostile:
            tried("frame", value, cm.frame, value)
            tried("frame(group=...)", value, cm.frame, group=value, expect_field="group")
            tried("history(user=...)", value, cm.history, user=value)
            tried("history(since=...)", value, cm.history, since=value, expect_field="since")
            tried("tickets(state=...)", value, cm.tickets, acme.id, state=value, expect_field="state")
            tried(
                "render_page(format=...)", value, cm.render_page, acme.id, format=value, expect_field="format"
            )
            tried("run_activity", value, cm.run_activity, acme.id, value)
            tried("comments(since=...)", value, cm.comments, acme.id, since=value)


SEARCHES = ["autocomplete", "quick_search", "detail_search", "ticket_search"]


def search_calls(cm: CustomerManager, value: str) -> dict[str, Callable[[], Any]]:
    return {
        "autocomplete": lambda: cm.autocomplete(value),
        "quick_search": lambda: cm.quick_search(value),
        "detail_search(last_name)": lambda: cm.detail_search(last_name=value, include_deactivated=True),
        "detail_search(city)": lambda: cm.detail_search(city=value),
        "detail_search(field name)": lambda: cm.detail_search(**{value: "x"}),
        "detail_search(group)": lambda: cm.detail_search(group=value),
        "ticket_search(customer_name)": lambda: cm.ticket_search(customer_name=value),
        "ticket_search(subject)": lambda: cm.ticket_search(subject=value),
        "ticket_search(queue)": lambda: cm.ticket_search(queue=value),
    }


def test_r26_r28_hostile_search_strings(cm: CustomerManager, acme, tried: Tried, hostile: list[str]) -> None:
    anna = cm.create_contact(
        "retail", company=acme.id, first_name="Anna", last_name="Müller", email="anna@acme.example"
    )
    cm.create_ticket(anna.id, "helpdesk", "Drucker defekt")
    everyone = {acme.id, anna.id}
    with tried.reading():
        for value in hostile:
            for what, fn in search_calls(cm, value).items():
                found = tried(what, value, fn)
                if isinstance(found, cmkit.CMError):
                    continue
                frames = [found] if isinstance(found, pd.DataFrame) else [found.customers, found.tickets]
                for df in frames:
                    assert isinstance(df, pd.DataFrame) and "id" in df.columns
                if value in ("%", "_", "%_%", "\\", "'", "?", "$1", "(", ")", "^"):
                    # wildcard and quote characters of SQL are text: they match no name here
                    searched = what.startswith(("autocomplete", "quick", "detail_search(last"))
                    hits = set(frames[0]["id"]) if searched else set()
                    assert not hits & everyone, f"{what}({value!r}) matched {hits}"


def test_r26_hostile_names_can_be_found_as_text(cm: CustomerManager, acme, tried: Tried) -> None:
    for name in ["O'Brien", "100% Müller", "a_b", "<b>Bold</b>", "Robert'); DROP TABLE customers;--"]:
        c = cm.create_contact("retail", company=acme.id, last_name=name)
        found = tried("detail_search(last_name)", name, cm.detail_search, last_name=name)
        assert isinstance(found, pd.DataFrame) and list(found["id"]) == [c.id], f"{name!r}: {found}"


# -- HTML that cmkit produces -----------------------------------------------------------------------------------------


class MarkupScan(HTMLParser):
    """Where MARK shows up in an HTML document: as text (fine), or inside markup (live data)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.live: list[str] = []
        self.text: list[str] = []
        self.raw_element: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        seen = tag + " " + " ".join(f"{k}={v}" for k, v in attrs)
        if MARK in seen or any(k.startswith("on") for k, _ in attrs):
            self.live.append(f"<{seen}>")
        if tag in ("script", "style", "iframe"):
            self.raw_element = tag

    def handle_endtag(self, tag: str) -> None:
        if tag == self.raw_element:
            self.raw_element = None

    def handle_data(self, data: str) -> None:
        if self.raw_element and MARK in data:
            self.live.append(f"inside <{self.raw_element}>: {data[:60]}")
        self.text.append(data)

    def handle_comment(self, data: str) -> None:
        if MARK in data:
            self.live.append(f"<!--{data[:60]}-->")


def no_live_markup(html: str, where: str, shown: Iterable[str] = ()) -> None:
    """`html` has MARK nowhere but in text, and shows each of `shown` as text."""
    scan = MarkupScan()
    scan.feed(html)
    scan.close()
    assert not scan.live, f"{where}: data became markup: {scan.live[:3]}"
    text = "".join(scan.text)
    for s in shown:
        assert s in text, f"{where}: {s[:40]!r} is not shown as text"


@pytest.fixture
def hostile_customer(cm: CustomerManager) -> cmkit.Customer:
    """A company and a contact whose data, tickets, comments and attachments are all markup."""
    company = cm.create_company("retail", name=MARKUP[0], city=MARKUP[1], street=MARKUP[4])
    contact = cm.create_contact("retail", company=company.id, first_name=MARKUP[2], last_name=MARKUP[3])
    other = cm.create_contact("retail", company=company.id, last_name=MARKUP[5])
    for i, m in enumerate(MARKUP):
        t = cm.create_ticket(contact.id, "helpdesk", m, additional=[other.id] if i % 2 else ())
        if i % 3 == 0:
            cm.close_ticket(t.id)
        cm.add_comment(contact.id, m)
        cm.add_comment(company.id, m)
    cm.add_attachments(contact.id, {f"{m[:40]}.txt": b"text" for m in MARKUP}, description=MARKUP[6])
    cm.add_attachments(company.id, {"plain.txt": b"text"}, description=MARKUP[7])
    cm.transfer_tickets(other.id, contact.id, only_open=False)
    return contact


def test_r12_customer_page_shows_markup_as_text(
    cm: CustomerManager, hostile_customer: cmkit.Customer
) -> None:
    for cid in (hostile_customer.id, hostile_customer.company_id):
        page = cm.render_page(cid, format="html")
        assert isinstance(page, str)
        no_live_markup(
            page, f"render_page({cid})", [MARKUP[0], MARKUP[8]] if cid != hostile_customer.id else [MARKUP[3]]
        )


def test_widget_tables_and_outcomes_show_markup_as_text(
    cm: CustomerManager, hostile_customer: cmkit.Customer
) -> None:
    from cmkit.ui import Table

    def table_html(df: pd.DataFrame) -> str:
        table = Table(cm=cm)
        table.show(df)
        return table.browser_html()

    frames = {
        "customers": cm.frame("customers"),
        "tickets": cm.tickets(hostile_customer.id),
        "comments": cm.comments(hostile_customer.id),
        "attachments": cm.attachments(hostile_customer.id),
        "history": cm.history(hostile_customer.id),
        "protocol": cm.protocol(cm.tickets(hostile_customer.id)["id"].iloc[0]),
        "contacts": cm.contacts(hostile_customer.company_id),
        "markup column names": pd.DataFrame({m: [m] for m in MARKUP}).assign(id=1),
    }
    for name, df in frames.items():
        no_live_markup(table_html(df), f"table_html({name})")
    no_live_markup(table_html(frames["customers"]), "customers table", [MARKUP[0], MARKUP[1]])
    outcome = cm.deactivate(hostile_customer.company_id, dry_run=True)
    no_live_markup(outcome._repr_html_(), "Outcome._repr_html_", [MARKUP[0]])


def html_of(widget: Any) -> Iterable[tuple[str, str]]:
    """Every HTML string a widget tree shows: (widget class, html)."""
    import ipywidgets as w

    from cmkit.ui import Table

    if isinstance(widget, w.HTML | w.HTMLMath):
        yield type(widget).__name__, widget.value
    if isinstance(widget, Table):
        yield "Table", widget.browser_html()
    for child in getattr(widget, "children", ()):
        yield from html_of(child)


def test_customer_page_widget_shows_markup_as_text(
    cm: CustomerManager, hostile_customer: cmkit.Customer
) -> None:
    from cmkit.ui import CustomerPage

    for cid in (hostile_customer.id, hostile_customer.company_id):
        page = CustomerPage(cm, cid)
        shown = list(html_of(page))
        assert len(shown) > 3
        for kind, html in shown:
            no_live_markup(html, f"CustomerPage({cid}) {kind}")
        assert any(MARKUP[3] in text_of(h) for _, h in shown)


def text_of(html: str) -> str:
    scan = MarkupScan()
    scan.feed(html)
    scan.close()
    return "".join(scan.text)


def test_search_form_shows_markup_as_text(cm: CustomerManager, hostile_customer: cmkit.Customer) -> None:
    """What is searched for and what is found both appear as text: in the results table and status line."""
    from cmkit.ui import SearchForm

    form = SearchForm(cm)
    for text in (MARK, MARKUP[1], MARKUP[0]):
        form.find.text.value = text
        form.search()
        for kind, html in html_of(form):
            no_live_markup(html, f"SearchForm({text!r}) {kind}")
    form.find.text.value = MARK
    form.search()
    assert len(form.results) >= 1
    assert any(MARKUP[3] in text_of(h) for _, h in html_of(form))
