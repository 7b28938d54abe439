"""Printing a customer page (R12): self-contained HTML with a print stylesheet, and PDF."""

from __future__ import annotations

import io
from html.parser import HTMLParser

import pytest
from detail_samples import png_bytes
from pypdf import PdfReader

from cmkit import CustomerManager, PermissionDenied, ValidationError

EVIL = "<img src=x onerror=alert(1)>"


class Tags(HTMLParser):
    """The start tags and attributes of a page, as a browser would parse them."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [name for name, _ in attrs]


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


@pytest.fixture
def page_world(cm: CustomerManager, world):
    """Acme with a ticket of Anna's, a comment and an attachment on Anna."""
    anna = world["anna"]
    ticket = cm.create_ticket(anna.id, "helpdesk", "Printer jams on page 2")
    cm.add_comment(anna.id, "Prefers calls before noon")
    cm.add_attachments(anna.id, {"floor-plan.png": png_bytes()}, description="Office map")
    return {**world, "ticket": ticket}


def test_r12_contact_page_has_data_company_tickets_comments_and_attachments(
    cm: CustomerManager, page_world
) -> None:
    html = cm.render_page(page_world["anna"].id)
    assert isinstance(html, str) and html.startswith("<!DOCTYPE html>")
    for text in (
        "Anna Müller",
        "anna@acme.example",
        "Company",
        "Acme GmbH",
        "Köln",
        "Hauptstraße 1",
        page_world["ticket"].number,
        "Printer jams on page 2",
        "helpdesk",
        "Prefers calls before noon",
        "floor-plan.png",
        "Office map",
        "png",
    ):
        assert text in html, text


def test_r12_company_page_lists_contacts_and_their_tickets(cm: CustomerManager, page_world) -> None:
    cm.deactivate(page_world["bert"].id)
    html = cm.render_page(page_world["acme"].id)
    assert (
        "Contacts (2)" in html and "Anna Müller" in html and "Bert Öztürk" in html and "deactivated" in html
    )
    assert page_world["ticket"].number in html  # Anna's ticket, with her name as its customer
    assert "Carl Zander" not in html


def test_r12_page_is_self_contained_with_a_print_stylesheet(cm: CustomerManager, page_world) -> None:
    html = cm.render_page(page_world["anna"].id, format="html")
    assert "@media print" in html and "@page" in html
    parsed = Tags(html)
    assert "link" not in parsed.tags and "script" not in parsed.tags and "img" not in parsed.tags
    assert "http://" not in html and "https://" not in html


def test_r12_customer_data_is_escaped_everywhere(cm: CustomerManager, world) -> None:
    evil = cm.create_company("retail", name=EVIL, city='"><script>alert(2)</script>')
    contact = cm.create_contact("retail", company=evil.id, first_name="<b>Bold</b>", last_name="O'Brien & Co")
    cm.create_ticket(contact.id, "helpdesk", "<iframe src=javascript:alert(3)>")
    cm.add_comment(evil.id, "</td></tr></table><script>alert(4)</script>")
    cm.add_attachments(
        evil.id, {"<svg onload=alert(5)>.txt": b"x"}, description="<style>body{display:none}</style>"
    )
    for customer in (evil, contact):
        html = cm.render_page(customer.id)
        parsed = Tags(html)
        assert not {"img", "script", "iframe", "svg", "b"} & set(parsed.tags)
        assert parsed.tags.count("style") == 1  # the page's own stylesheet only
        assert "onerror" not in parsed.attrs and "onload" not in parsed.attrs
    html = cm.render_page(evil.id)
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;&lt;script&gt;" in html
    assert "O&#39;Brien &amp; Co" in html
    assert EVIL in pdf_text(cm.render_page(evil.id, format="pdf"))  # printed as text


def test_r12_pdf_opens_and_holds_the_page(cm: CustomerManager, page_world) -> None:
    cm.delete_comment(int(cm.comments(page_world["anna"].id)["id"][0]))
    data = cm.render_page(page_world["anna"].id, format="pdf")
    assert isinstance(data, bytes) and data.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) >= 1
    text = pdf_text(data)
    for needle in (
        "Anna Müller",
        "Acme GmbH",
        page_world["ticket"].number,
        "Printer jams",
        "Prefers calls before noon",
        "deletion pending",
        "floor-plan.png",
    ):
        assert needle in text, needle


def test_r12_comments_and_attachments_need_their_own_read_permission(
    cm: CustomerManager, page_world, as_user
) -> None:
    rita = as_user("rita")  # reads retail customers, but not their comments or attachments
    html = rita.render_page(page_world["anna"].id)
    assert "Anna Müller" in html and page_world["ticket"].number in html
    assert "Prefers calls before noon" not in html and "floor-plan.png" not in html
    assert "no permission to read comments" in html and "no permission to read attachments" in html
    with pytest.raises(PermissionDenied, match="R5"):
        rita.render_page(page_world["pete"].id)


def test_r12_pending_deletions_print_in_italics(cm: CustomerManager, page_world) -> None:
    cm.delete_comment(int(cm.comments(page_world["anna"].id)["id"][0]))
    html = cm.render_page(page_world["anna"].id)
    assert '<tr class="pending">' in html and "(deletion pending)" in html
    assert ".pending { font-style: italic" in html


def test_r12_unknown_format_is_refused(cm: CustomerManager, world) -> None:
    with pytest.raises(ValidationError, match="format"):
        cm.render_page(world["anna"].id, format="docx")


def test_r12_company_page_and_printout_show_the_same_tickets(cm: CustomerManager, world) -> None:
    """The page shows the company's own tickets and, in a part of their own, its contacts' (as printed)."""
    anna, bert, part, pete = world["anna"], world["bert"], world["part"], world["pete"]
    t1 = cm.create_ticket(anna.id, "helpdesk", "Anna's printer")
    t2 = cm.create_ticket(bert.id, "helpdesk", "Bert's laptop", additional=[anna.id])
    t3 = cm.create_ticket(part.id, "partnerdesk", "Contract", additional=[pete.id])
    shown = cm.tickets(world["acme"].id, contacts=True)
    assert sorted(zip(shown["id"], shown["customer_name"], shown["part"], strict=True)) == sorted(
        [
            (t1.id, "Anna Müller", "contacts"),
            (t2.id, "Bert Öztürk", "contacts"),
            (t2.id, "Anna Müller", "contacts"),
        ]
    )
    html = cm.render_page(world["acme"].id)
    assert "Tickets of the company (0)" in html and "Tickets of its contacts (3)" in html
    assert cm.tickets(world["acme"].id).empty  # without contacts=True: the company's own, as before
    mixed = cm.tickets(part.id, contacts=True)
    assert sorted(zip(mixed["customer_id"], mixed["part"], strict=True)) == [
        (part.id, "own"),
        (pete.id, "contacts"),
    ]
    html = cm.render_page(part.id)
    assert (
        "Tickets of the company (1)" in html and "Tickets of its contacts (1)" in html and t3.number in html
    )
    assert "Tickets of its contacts" not in cm.render_page(anna.id)
