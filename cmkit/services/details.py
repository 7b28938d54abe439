"""A customer's additional details: comments and attachments (R8-R11).

Both have read and write permissions of their own (R8). Deleting one only marks it pending (R11): the
lists show it with `pending` true, the deleting user can undo it, and that user's next other write makes
the deletion final (the unit of work does that first in every write: cmkit.db.pending).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any, cast

import pandas as pd
from sqlalchemy import insert, select, update

from cmkit.db import repo
from cmkit.db.details_schema import AttachmentRow, CommentRow
from cmkit.db.pending import ENTITY, Detail
from cmkit.db.schema import CustomerRow
from cmkit.db.uow import UnitOfWork
from cmkit.domain.attachments import (
    DESCRIPTION_MAX,
    CheckedFile,
    canonical_type,
    check_files,
    clean_text,
    fold,
    read_texts,
)
from cmkit.domain.text import TERMS_MAX, TYPED_MAX
from cmkit.errors import NotFound, PreconditionFailed, ValidationError
from cmkit.services import access
from cmkit.services.context import Context
from cmkit.values import CustomerRef

Cm, At, C = CommentRow, AttachmentRow, CustomerRow
COMMENT_MAX = 20_000
PERMISSIONS: dict[Detail, str] = {CommentRow: "comments", AttachmentRow: "attachments"}


def moment(value: Any, field: str, *, end: bool = False) -> tuple[dt.datetime, bool]:
    """A filter bound as an aware UTC datetime, and whether it is exclusive. A date alone means the whole
    day: `until=date` includes that day. A time without zone is taken as UTC, as in `history(since=...)`."""
    if isinstance(value, str):
        try:
            value = (
                dt.date.fromisoformat(value) if len(value.strip()) == 10 else dt.datetime.fromisoformat(value)
            )
        except ValueError:
            raise ValidationError(
                field, f"must be a date or datetime (YYYY-MM-DD[THH:MM]), got {value!r}"
            ) from None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        return (value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)), False
    if isinstance(value, dt.date):
        day = value + dt.timedelta(days=1) if end else value
        return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC), end
    raise ValidationError(field, f"must be a date or datetime, got {type(value).__name__}")


def _when(stmt: Any, column: Any, since: Any, until: Any) -> Any:
    if since is not None:
        stmt = stmt.where(column >= moment(since, "since")[0])
    if until is not None:
        bound, exclusive = moment(until, "until", end=True)
        stmt = stmt.where(column < bound if exclusive else column <= bound)
    return stmt


FILTER_MAX = TYPED_MAX  # characters of a text filter: as for every text a user types to look for


def _filter_text(text: Any, field: str) -> str:
    """A filter's text, or ValidationError naming the filter: empty, too long, or with characters no stored
    text has (control characters, lone surrogates; PostgreSQL refuses NUL even in a query)."""
    if not isinstance(text, str) or not text.strip():
        raise ValidationError(field, "give some text to look for, or leave it out")
    if len(text) > FILTER_MAX:  # no stored text is longer, and SQLite refuses such long LIKE patterns
        raise ValidationError(field, f"is {len(text):,} characters long; look for at most {FILTER_MAX:,}")
    return clean_text(text, field, FILTER_MAX, required=True)


def _words(stmt: Any, column: Any, text: str | None, field: str) -> Any:
    """Rows whose folded `column` contains every word of `text` (case-insensitive, bound parameters)."""
    if text is None:
        return stmt
    found = fold(_filter_text(text, field)).split()
    if len(found) > TERMS_MAX:
        raise ValidationError(field, f"has {len(found):,} words to look for; at most {TERMS_MAX}")
    for word in found:
        stmt = stmt.where(column.contains(word, autoescape=True))
    return stmt


def _by_author(stmt: Any, column: Any, author: str | None) -> Any:
    return stmt if author is None else stmt.where(column == _filter_text(author, "author"))


def tidy(df: pd.DataFrame) -> pd.DataFrame:
    """Times as UTC on both databases, `pending` as bool."""
    df["created_at"] = pd.to_datetime(df["created_at"], utc=True)
    df["pending"] = df["pending"].astype(bool)
    if "searchable" in df:
        df["searchable"] = df["searchable"].astype(bool)
    return df


def comment_select() -> Any:
    return select(
        Cm.id,
        Cm.customer_id,
        Cm.created_at,
        Cm.author,
        Cm.text,
        Cm.deleted_at.is_not(None).label("pending"),
        Cm.deleted_by,
    ).order_by(Cm.created_at, Cm.id)


def attachment_select() -> Any:
    return select(
        At.id,
        At.customer_id,
        At.name,
        At.file_type.label("type"),
        At.media_type,
        At.size,
        At.description,
        At.created_at,
        At.author,
        At.sha256,
        At.deleted_at.is_not(None).label("pending"),
        At.deleted_by,
        At.content_text.is_not(None).label("searchable"),
    ).order_by(At.created_at, At.id)


# -- shared: pending deletion and undo (R11) ------------------------------------------------------
def _detail(ctx: Context, work: UnitOfWork, table: Detail, detail_id: Any, mode: str) -> Any:
    """The comment or attachment row, after checking `<comments|attachments>_<mode>` on its group."""
    entity = ENTITY[table]
    did = repo.id_of(detail_id, entity)
    found = work.session.get(table, did, populate_existing=True, with_for_update=mode == "write")
    row = cast("CommentRow | AttachmentRow | None", found)
    if row is None:
        raise NotFound(
            f"R11: {entity} #{did} does not exist: it was never added, or its deletion became final "
            "(a deletion is final once the deleting user does something else)"
        )
    access.customer(ctx, work, row.customer_id, permission=f"{PERMISSIONS[table]}_{mode}")
    return row


def _mark_deleted(ctx: Context, table: Detail, detail_id: Any, pending: bool) -> None:
    entity = ENTITY[table]

    def op(work: UnitOfWork) -> None:
        row = _detail(ctx, work, table, detail_id, "write")
        if pending and row.deleted_at is not None:
            raise PreconditionFailed(
                [
                    f"R11: {entity} #{row.id} is already pending deletion (by {row.deleted_by}); "
                    f"undo_delete_{entity}({row.id}) restores it"
                ]
            )
        if not pending and row.deleted_at is None:
            raise PreconditionFailed([f"R11: {entity} #{row.id} is not pending deletion; nothing to undo"])
        if not pending and row.deleted_by != work.user:
            raise PreconditionFailed(
                [
                    f"R11: only {row.deleted_by!r}, who deleted {entity} #{row.id}, can undo "
                    "the deletion, until their next action makes it final"
                ]
            )
        work.session.execute(
            update(table)
            .where(table.id == row.id)
            .values(deleted_at=work.now if pending else None, deleted_by=work.user if pending else None)
            .execution_options(synchronize_session=False)
        )
        action = f"delete_{entity}" if pending else f"undo_delete_{entity}"
        work.audit(action, entity, row.id, row.customer_id, {"pending": not pending}, {"pending": pending})

    # Undo is not "another action": it must not make the user's pending deletions final.
    ctx.write(op, finalize_pending=pending)


# -- comments (R8, R10, R11) ----------------------------------------------------------------------
def add_comment(ctx: Context, customer_id: CustomerRef, text: str) -> int:
    """Add a comment to the customer; needs comments_write on its group (R8). Refuses empty text."""

    def op(work: UnitOfWork) -> int:
        c = access.customer(ctx, work, customer_id, permission="comments_write")
        clean = clean_text(text, "text", COMMENT_MAX, required=True)
        new_id = work.session.execute(
            insert(Cm)
            .values(
                customer_id=c.id,
                author=work.user,
                created_at=work.now,
                text=clean,
                text_folded=fold(clean),
            )
            .returning(Cm.id)
        ).scalar_one()
        work.audit("add_comment", "comment", new_id, c.id, None, {"text": clean})
        return int(new_id)

    return ctx.write(op)


def comments(
    ctx: Context,
    customer_id: CustomerRef,
    author: str | None = None,
    text: str | None = None,
    since: Any = None,
    until: Any = None,
) -> pd.DataFrame:
    """The customer's comments, oldest first, filtered by author, words of the text (case-insensitive)
    and date range (R10). `pending` marks deletions that can still be undone (R11)."""

    def op(work: UnitOfWork) -> pd.DataFrame:
        c = access.customer(ctx, work, customer_id, permission="comments_read")
        stmt = _by_author(comment_select().where(Cm.customer_id == c.id), Cm.author, author)
        stmt = _when(_words(stmt, Cm.text_folded, text, "text"), Cm.created_at, since, until)
        return tidy(repo.frame_of(work.session, stmt))

    return ctx.read(op)


def delete_comment(ctx: Context, comment_id: Any) -> None:
    """Mark the comment deleted (R11): pending until your next other action, undo_delete_comment restores it."""
    _mark_deleted(ctx, CommentRow, comment_id, pending=True)


def undo_delete_comment(ctx: Context, comment_id: Any) -> None:
    """Restore a comment you deleted, before your next other action made the deletion final (R11)."""
    _mark_deleted(ctx, CommentRow, comment_id, pending=False)


# -- attachments (R8-R11) -------------------------------------------------------------------------
def add_attachments(
    ctx: Context, customer_id: CustomerRef, files: Mapping[str, bytes], description: str = ""
) -> list[int]:
    """Attach files ({file name: bytes}) with an optional description; returns their ids (R9).

    Needs attachments_write (R8). Each file's type, judged by its name and its content, must be allowed
    and its size within the maximum; one refused file refuses the whole upload (AttachmentRefused, a
    ValidationError listing every refused file) and nothing is stored. The structure is checked too (a
    PDF must parse; an office file must be one, with no programs inside and no archive bomb), and text
    for content search is read in a child process with limits (cmkit.domain.extraction): a file whose
    text cannot be read within them is stored without it, `searchable` false in `attachments()`.
    """
    ctx.read(lambda w: access.customer(ctx, w, customer_id, permission="attachments_write"))
    desc = clean_text(description, "description", DESCRIPTION_MAX, required=False)
    policy = ctx.config.attachments
    checked = check_files(files, policy)
    texts = read_texts(checked, searchable=policy.searchable)

    def op(work: UnitOfWork) -> list[int]:
        c = access.customer(ctx, work, customer_id, permission="attachments_write")
        if ctx.config.attachments != policy:  # the configuration changed meanwhile: judge again
            check_files(files, ctx.config.attachments)
        ids = (
            work.session.execute(
                insert(At).returning(At.id, sort_by_parameter_order=True),
                [
                    _attachment_values(work, c.id, f, desc, text.text)
                    for f, text in zip(checked, texts, strict=True)
                ],
            )
            .scalars()
            .all()
        )
        for new_id, f, text in zip(ids, checked, texts, strict=True):
            after = {"name": f.name, "type": f.type, "size": f.size, "sha256": f.sha256, "description": desc}
            work.audit("add_attachment", "attachment", new_id, c.id, None, after | _text_note(text.note))
        return [int(i) for i in ids]

    return ctx.write(op)


def _text_note(note: str) -> dict[str, str]:
    """The audit entry says when a file's text was not read or was cut (R9)."""
    return {"text": note} if note else {}


def _attachment_values(
    work: UnitOfWork, customer_id: int, f: CheckedFile, desc: str, text: str | None
) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "name": f.name,
        "name_folded": fold(f.name),
        "file_type": f.type,
        "media_type": f.media_type,
        "size": f.size,
        "sha256": f.sha256,
        "description": desc,
        "author": work.user,
        "created_at": work.now,
        "data": f.data,
        "content_text": text,
    }


def attachments(
    ctx: Context,
    customer_id: CustomerRef,
    name: str | None = None,
    type: str | Iterable[str] | None = None,
    author: str | None = None,
    since: Any = None,
    until: Any = None,
    content: str | None = None,
) -> pd.DataFrame:
    """The customer's attachments (metadata), oldest first, filtered by words of the file name, file
    type(s), author, date range and words of the content (R10; content needs searchable = true)."""

    def op(work: UnitOfWork) -> pd.DataFrame:
        c = access.customer(ctx, work, customer_id, permission="attachments_read")
        if content is not None and not ctx.config.attachments.searchable:
            raise ValidationError(
                "content",
                "R9: attachment contents are not searchable in this configuration; "
                "an admin can set [attachments] searchable = true",
            )
        stmt = attachment_select().where(At.customer_id == c.id)
        if type is not None:
            types = [type] if isinstance(type, str) else list(type)
            if not all(isinstance(t, str) and t.strip(".").isalnum() and t.isascii() for t in types):
                raise ValidationError("type", f"give file types like 'pdf' or ['png', 'jpg'], got {type!r}")
            stmt = stmt.where(At.file_type.in_([canonical_type(t) for t in types]))
        stmt = _by_author(stmt, At.author, author)
        stmt = _words(stmt, At.name_folded, name, "name")
        stmt = _words(stmt, At.content_text, content, "content")
        return tidy(repo.frame_of(work.session, _when(stmt, At.created_at, since, until)))

    return ctx.read(op)


def attachment_data(ctx: Context, attachment_id: Any) -> bytes:
    """The attachment's bytes, exactly as uploaded (needs attachments_read)."""

    def op(work: UnitOfWork) -> bytes:
        row = _detail(ctx, work, AttachmentRow, attachment_id, "read")
        return bytes(work.session.execute(select(At.data).where(At.id == row.id)).scalar_one())

    return ctx.read(op)


def delete_attachment(ctx: Context, attachment_id: Any) -> None:
    """Mark the attachment deleted (R11): pending until your next other action; undo restores it."""
    _mark_deleted(ctx, AttachmentRow, attachment_id, pending=True)


def undo_delete_attachment(ctx: Context, attachment_id: Any) -> None:
    """Restore an attachment you deleted, before your next other action made the deletion final (R11)."""
    _mark_deleted(ctx, AttachmentRow, attachment_id, pending=False)


# -- frames for audits: `cm.frame("comments")`, `cm.frame("attachments")` -----------------------------------
def frame(
    ctx: Context, work: UnitOfWork, what: str, group_ids: list[int], *, include_deactivated: bool
) -> pd.DataFrame:
    """All comments or attachments (`what`) of the customers of `group_ids` whose comments / attachments
    the user may read (R8)."""
    table: Detail = CommentRow if what == "comments" else AttachmentRow
    allowed = set(ctx.readable_group_ids(f"{PERMISSIONS[table]}_read"))
    owners = select(C.id).where(C.group_id.in_([g for g in group_ids if g in allowed]))
    if not include_deactivated:
        owners = owners.where(C.active.is_(True))
    chosen = comment_select() if table is CommentRow else attachment_select()
    return tidy(repo.frame_of(work.session, chosen.where(table.customer_id.in_(owners))))
