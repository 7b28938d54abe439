"""The tables of a customer's additional details: comments and attachments (R8-R11).

Both belong to one customer and go with it (ON DELETE CASCADE, R24). A deletion is first only marked
(`deleted_at`, `deleted_by`: pending, R11) and becomes final when that user does something else.
Attachment bytes live in the database, so a backup of the database is a backup of everything.
Text columns ending in `_folded` hold the casefolded text that filters match against, so that
case-insensitive search works alike on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cmkit.db.schema import NO_ID_REUSE, Base, _now

PENDING_CONSISTENT = "(deleted_at IS NULL) = (deleted_by IS NULL)"


class CommentRow(Base):
    __tablename__ = "comments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    author: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    text: Mapped[str] = mapped_column(Text)
    text_folded: Mapped[str] = mapped_column(Text)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_by: Mapped[str | None] = mapped_column(String(100))
    __table_args__ = (
        CheckConstraint(PENDING_CONSISTENT, name="pending"),
        Index("ix_comments_customer", "customer_id", "created_at"),
        Index("ix_comments_deleted_by", "deleted_by"),
        NO_ID_REUSE,
    )


class AttachmentRow(Base):
    __tablename__ = "attachments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))  # for display only, never a path
    name_folded: Mapped[str] = mapped_column(String(255))
    file_type: Mapped[str] = mapped_column(String(20))  # canonical type judged by name and content: 'pdf'
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    content_text: Mapped[str | None] = mapped_column(Text)  # extracted text, casefolded (None: not extracted)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_by: Mapped[str | None] = mapped_column(String(100))
    __table_args__ = (
        CheckConstraint(PENDING_CONSISTENT, name="pending"),
        CheckConstraint("size >= 0", name="size"),
        Index("ix_attachments_customer", "customer_id", "created_at"),
        Index("ix_attachments_deleted_by", "deleted_by"),
        NO_ID_REUSE,
    )
