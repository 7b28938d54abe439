"""Importing customers from CSV, XLSX or a DataFrame (`import_customers`): checked row by row and field by
field, dry run by default, stored in one transaction, all rows or none."""

from __future__ import annotations

import io
import unicodedata
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import func, insert, select

from cmkit.db.change import Change
from cmkit.db.schema import CustomerRow
from cmkit.db.uow import UnitOfWork
from cmkit.domain.config import GroupDef
from cmkit.domain.fields import display_name, validate_value
from cmkit.domain.formulas import formula_problem, leading_control
from cmkit.domain.keys import key_for
from cmkit.errors import ValidationError
from cmkit.services import access, planning
from cmkit.services.context import Context
from cmkit.services.planning import PlanInfo
from cmkit.values import Outcome

C = CustomerRow
SPECIAL = ("kind", "company")
TEXTUAL = ("text", "email", "phone")  # fields stored as text: where a formula could hide (domain.formulas)
PLAN_COLUMNS = ["row", "kind", "name", "company_id", "company_name", "change", "note", "problems"]


def _blank(value: Any) -> bool:
    return (
        value is None
        or value is pd.NA
        or (isinstance(value, float) and value != value)
        or (isinstance(value, str) and not value.strip())
    )


def read_table(source: Any, field: str) -> pd.DataFrame:
    """A DataFrame as given, or the table in a CSV (separator , ; or tab, UTF-8 or Windows-1252) or XLSX
    file: every cell as text (CSV) or as stored (XLSX), blanks as None, headers trimmed."""
    if isinstance(source, pd.DataFrame):
        table = source.copy()
    elif isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise ValidationError(field, f"no file {str(path)!r}; give the path of a .csv or .xlsx file")
        suffix = path.suffix.lower()
        if suffix in (".xlsx", ".xlsm"):
            table = pd.read_excel(path, dtype=object, engine="openpyxl")
        elif suffix in (".csv", ".txt", ".tsv"):
            table = _read_csv(path.read_bytes())
        else:
            raise ValidationError(field, f"{path.name}: only .csv and .xlsx files can be read")
    else:
        raise ValidationError(
            field, f"give a DataFrame or the path of a .csv or .xlsx file, got {type(source).__name__}"
        )
    table.columns = [str(c).strip() for c in table.columns]
    return table.astype(object).where(~table.map(_blank), None)


def _read_csv(data: bytes) -> pd.DataFrame:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    first = text.split("\n", 1)[0]
    sep = max((";", ",", "\t"), key=first.count)
    return pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)


def _key(name: Any) -> str:
    """How company names are matched: trimmed, NFC, casefolded."""
    return unicodedata.normalize("NFC", str(name).strip()).casefold()


def _as_text(value: Any) -> Any:
    """Numbers read from a spreadsheet into a text, e-mail or phone field: as they were typed."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def import_columns(ctx: Context, group: str) -> pd.DataFrame:
    """The columns `import_customers` understands for `group`, one row each (columns: column, meaning):
    `kind` and `company` in a two-level group, then every data field with its type, whether it is
    required, and the kinds of customer that have it. ValidationError for an unknown group."""
    gdef = ctx.group(group)
    kinds = ("company", "contact") if gdef.two_level else ("contact",)
    meaning: dict[str, list[str]] = {}
    if gdef.two_level:
        meaning["kind"] = ["company or contact (default contact)"]
    for kind in kinds:
        for name, fd in gdef.fields_for(kind).items():
            what = fd.type + (f": {', '.join(fd.choices)}" if fd.choices else "")
            what += f", at most {fd.max_length} characters" if fd.max_length else ""
            meaning.setdefault(name, []).append(f"{what}{', required' if fd.required else ''} ({kind})")
    if gdef.two_level:
        meaning["company"] = ["contacts: an existing company's id or name, or a company's name in this file"]
    return pd.DataFrame({"column": list(meaning), "meaning": ["; ".join(m) for m in meaning.values()]})


def import_customers(
    ctx: Context,
    path_or_frame: Any,
    group: str,
    *,
    dry_run: bool = True,
    expect: Outcome | None = None,
    source: str | None = None,
) -> Outcome:
    """Create the customers of a CSV or XLSX file (or DataFrame) in `group`; a dry run by default.

    Columns: the group's field names; optional `kind` (company or contact, default contact); for
    contacts of a two-level group `company`: an existing company's id or exact name, or the name of a
    company created by this import. Every problem is reported with its row (as a spreadsheet numbers
    it: the first data row is row 2) and field; an import with problems stores nothing. A text cell that
    a spreadsheet would run as a formula (= + - @ first, also after a tab or line break) is such a
    problem; signed numbers and phone numbers are not (cmkit.domain.formulas). `note` flags e-mail
    addresses seen twice or known already, and leading tabs or line breaks removed. Needs write on the
    group. A dry run is a plan (R34) that keeps the table as read; `expect`: store exactly that plan, or
    nothing if it no longer holds.
    """
    gdef = ctx.group(group)
    ctx.require("write", group)
    table = read_table(path_or_frame, "path_or_frame")
    named = source or (str(path_or_frame) if isinstance(path_or_frame, str | Path) else "DataFrame")

    def op(work: UnitOfWork) -> Outcome:
        plan, records, problems = _check_rows(ctx, work, gdef, table)
        arguments = {"path_or_frame": planning.encode_frame(table), "group": group, "source": named}
        reads = {"customer": plan["company_id"]}
        info = PlanInfo(work, "import_customers", arguments, expect, reads)

        def store() -> None:
            _store(ctx, work, gdef, records, named)

        done = access.finish(plan, problems, dry_run=dry_run, apply=store, plan=info)
        if done.applied:
            plan["id"] = pd.array([r["id"] for r in records], dtype="Int64")
        return done

    return ctx.write(op) if not dry_run or expect is not None else ctx.read(op)


def _check_rows(
    ctx: Context, work: UnitOfWork, gdef: GroupDef, table: pd.DataFrame
) -> tuple[pd.DataFrame, list[dict[str, Any]], list[str]]:
    """The plan, the records to store and every problem, by row and field."""
    problems: list[str] = []
    fields = dict.fromkeys([*gdef.contact_fields, *gdef.company_fields])  # in order: plans compare columns
    for col in table.columns:
        if col not in fields and col not in SPECIAL:
            problems.append(
                f"row 1, column {col!r}: not a field of group {gdef.name!r} "
                f"(fields: {', '.join(sorted(fields))}; also kind, company)"
            )
    companies = _companies(ctx, work, gdef)
    rows = table.to_dict("records")
    new_companies = {
        _key(raw["name"]): pos + 2
        for pos, raw in enumerate(rows)
        if str(raw.get("kind") or "").strip().lower() == "company" and raw.get("name") is not None
    }
    emails = _known_emails(ctx, work, gdef)
    records: list[dict[str, Any]] = []
    plan_rows: list[dict[str, Any]] = []
    for pos, raw in enumerate(rows):
        r = pos + 2
        mine: list[str] = []
        kind = str(raw.get("kind") or "contact").strip().lower()
        if kind not in ("company", "contact") or (kind == "company" and not gdef.two_level):
            allowed = "company or contact" if gdef.two_level else "contact (one-level group)"
            mine.append(f"row {r}, kind: {raw.get('kind')!r} is not allowed; use {allowed}")
            kind = "contact"
        defs = gdef.fields_for(kind)
        data: dict[str, Any] = {}
        flags: list[str] = []
        formulas: set[str] = set()  # fields refused as formulas, not also "required"
        for name, value in raw.items():
            if name in SPECIAL or value is None or name not in fields:
                continue
            if name not in defs:
                mine.append(
                    f"row {r}, {name}: not a field of a {kind} in group {gdef.name!r}; leave it empty"
                )
                continue
            if isinstance(value, str) and defs[name].type in TEXTUAL:
                formula = formula_problem(value)
                if formula:
                    mine.append(f"row {r}, {name}: {formula}")
                    formulas.add(name)
                    continue
                if leading_control(value):
                    flags.append(f"{name}: the leading {leading_control(value)[2:]} was removed")
            try:
                clean = validate_value(
                    defs[name],
                    _as_text(value) if defs[name].type in TEXTUAL else value,
                )
            except ValidationError as exc:
                mine.append(f"row {r}, {exc}")
                continue
            if clean is not None:
                data[name] = clean
        mine += [
            f"row {r}, {fd.name}: is required; give it a value"
            for fd in defs.values()
            if fd.required and data.get(fd.name) is None and fd.name not in formulas
        ]
        name = display_name(kind, data)
        company_id, company_name = None, None
        if kind == "contact" and gdef.two_level:
            company_id, company_name, problem = _company_of(raw.get("company"), companies, new_companies)
            if problem:
                mine.append(f"row {r}, company: {problem}")
        elif raw.get("company") is not None:
            mine.append(f"row {r}, company: only contacts of two-level groups have a company; leave it empty")
        note = "; ".join(flags)
        email = str(data.get("email", "")).casefold()
        if email:
            note = "; ".join(x for x in (note, emails.get(email, "")) if x)
            emails.setdefault(email, f"same e-mail as row {r}")
        if kind == "company" and _key(name) in companies:
            same = ", ".join(f"#{i}" for i, _a in companies[_key(name)])
            note = "; ".join(x for x in (note, f"a company of this name exists: {same}") if x)
        problems += mine
        plan_rows.append(
            {
                "row": r,
                "kind": kind,
                "name": name,
                "company_id": company_id,
                "company_name": company_name,
                "change": "create",
                "note": note,
                "problems": "; ".join(mine),
                **data,
            }
        )
        records.append(
            {
                "row": r,
                "kind": kind,
                "data": data,
                "name": name,
                "company_id": company_id,
                "company_name": company_name,
            }
        )
    plan = pd.DataFrame(plan_rows, columns=[*PLAN_COLUMNS, *[f for f in fields if f not in PLAN_COLUMNS]])
    plan["company_id"] = plan["company_id"].astype("Int64")
    plan.insert(
        0, "id", pd.Series([None] * len(plan), dtype="Int64", index=plan.index)
    )  # ids are given when stored
    return plan, records, problems


def _companies(ctx: Context, work: UnitOfWork, gdef: GroupDef) -> dict[str, list[tuple[int, bool]]]:
    """The group's companies by folded name: [(id, active)]."""
    if not gdef.two_level:
        return {}
    out: dict[str, list[tuple[int, bool]]] = {}
    rows = work.session.execute(
        select(C.id, C.name, C.active).where(C.group_id == ctx.group_id(gdef.name), C.kind == "company")
    ).all()
    for cid, name, active in rows:
        out.setdefault(_key(name), []).append((cid, bool(active)))
        out.setdefault(f"#{cid}", []).append((cid, bool(active)))
    return out


def _known_emails(ctx: Context, work: UnitOfWork, gdef: GroupDef) -> dict[str, str]:
    email = C.data["email"].as_string()
    rows = work.session.execute(
        select(func.lower(email), C.id).where(C.group_id == ctx.group_id(gdef.name), email.is_not(None))
    ).all()
    return {str(e).casefold(): f"same e-mail as customer #{i}" for e, i in rows if e}


def _company_of(
    value: Any, companies: dict[str, list[tuple[int, bool]]], new: dict[str, int]
) -> tuple[int | None, str | None, str]:
    """(existing company id, new company name, problem) for a contact's `company` cell."""
    if value is None:
        return None, None, "R3: a contact of a two-level group belongs to a company; give its id or name"
    text = str(_as_text(value)).strip()
    key = f"#{text}" if text.isdigit() else _key(text)
    if key in new and not text.isdigit():
        return None, text, ""
    found = companies.get(key, [])
    if not found:
        return (
            None,
            None,
            f"no company {text!r} in this group or in this file; create it first or add a row for it",
        )
    if len(found) > 1:
        ids = ", ".join(f"#{i}" for i, _a in found)
        return (
            None,
            None,
            f"{len(found)} companies are named {text!r} ({ids}); give the company's id instead",
        )
    cid, active = found[0]
    if not active:
        return None, None, f"R20: company #{cid} is deactivated; contacts cannot be added to it"
    return cid, None, ""


def _store(
    ctx: Context, work: UnitOfWork, gdef: GroupDef, records: list[dict[str, Any]], source: str
) -> None:
    """Insert the companies, then the contacts (linked to new companies by name), with audit entries."""
    s, gid = work.session, ctx.group_id(gdef.name)
    new_ids: dict[str, int] = {}
    audit: list[Change] = []
    for kind in ("company", "contact"):
        batch = [r for r in records if r["kind"] == kind]
        if not batch:
            continue
        for r in batch:
            if r["company_name"] is not None:
                r["company_id"] = new_ids[_key(r["company_name"])]
        ids = (
            s.execute(
                insert(C).returning(C.id, sort_by_parameter_order=True),
                [
                    {
                        "kind": kind,
                        "group_id": gid,
                        "company_id": r["company_id"],
                        "active": True,
                        "name": r["name"],
                        "search_key": key_for(kind, r["data"], gdef.fields_for(kind)),
                        "data": r["data"],
                        "version": 1,
                        "created_at": work.now,
                        "updated_at": work.now,
                    }
                    for r in batch
                ],
            )
            .scalars()
            .all()
        )
        for r, new_id in zip(batch, ids, strict=True):
            r["id"] = new_id
            if kind == "company":
                new_ids.setdefault(_key(r["name"]), new_id)
            audit.append(
                Change(
                    "create",
                    "customer",
                    new_id,
                    new_id,
                    None,
                    {
                        "kind": kind,
                        "group": gdef.name,
                        "company_id": r["company_id"],
                        "name": r["name"],
                        "fields": r["data"],
                        "imported_row": r["row"],
                    },
                )
            )
    work.audit_many(audit)
    work.audit(
        "import_customers",
        "import",
        None,
        None,
        None,
        {
            "group": gdef.name,
            "source": source,
            "companies": sum(r["kind"] == "company" for r in records),
            "contacts": sum(r["kind"] == "contact" for r in records),
        },
    )
