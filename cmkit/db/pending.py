"""Pending deletions of comments and attachments (R11) becoming final.

A deleted comment or attachment is first only marked (`deleted_by`); the deleting user's next other write
removes it for good. The unit of work calls `finalize` at the start of every write (cmkit.db.uow.run).
"""

from __future__ import annotations

from typing import TypeAlias

from sqlalchemy import delete
from sqlalchemy.orm import Session

from cmkit.db.change import Change
from cmkit.db.details_schema import AttachmentRow, CommentRow

Detail: TypeAlias = type[CommentRow] | type[AttachmentRow]
TABLES: tuple[Detail, ...] = (CommentRow, AttachmentRow)
ENTITY: dict[Detail, str] = {CommentRow: "comment", AttachmentRow: "attachment"}
#: what the audit log keeps of a comment or attachment whose deletion becomes final
SUMMARY: dict[Detail, tuple[str, ...]] = {
    CommentRow: ("author", "text"),
    AttachmentRow: ("name", "file_type", "size", "sha256", "description", "author"),
}


def finalize(session: Session, user: str) -> list[Change]:
    """Remove `user`'s pending deletions; return their audit entries (`delete_<entity>_final`).

    One DELETE ... RETURNING per table, so two writes of the same user at once cannot both report a row.
    """
    changes: list[Change] = []
    for table in TABLES:
        cols = SUMMARY[table]
        gone = session.execute(
            delete(table)
            .where(table.deleted_by == user)
            .returning(table.id, table.customer_id, *(getattr(table, c) for c in cols))
            .execution_options(synchronize_session=False)
        ).all()
        for row in gone:
            before = {("type" if c == "file_type" else c): getattr(row, c) for c in cols}
            entity = ENTITY[table]
            changes.append(Change(f"delete_{entity}_final", entity, row.id, row.customer_id, before))
    return changes
