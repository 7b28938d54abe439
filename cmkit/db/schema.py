"""The tables. The database guards what it can: foreign keys, RESTRICT from tickets to customers,
one main customer per ticket (a NOT NULL column), unique ticket links, checked enumerations."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    false,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: R17: SQLite never hands out an id twice (AUTOINCREMENT) for the tables whose ids protocol, audit log and
#: forms name (PostgreSQL's identity sequences never do); migration 0005 rebuilt the existing tables so
NO_ID_REUSE = {"sqlite_autoincrement": True}

JsonType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _now() -> Any:
    return func.now()


class CustomerGroup(Base):
    __tablename__ = "customer_groups"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    model: Mapped[str] = mapped_column(String(10))
    tickets_for_companies: Mapped[bool] = mapped_column(Boolean, default=False)
    __table_args__ = (CheckConstraint("model IN ('one-level', 'two-level')", name="model"),)


class GroupField(Base):
    __tablename__ = "group_fields"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("customer_groups.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(7))
    name: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(10))
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    max_length: Mapped[int | None] = mapped_column(Integer)
    choices: Mapped[list[str] | None] = mapped_column(JsonType)
    position: Mapped[int] = mapped_column(Integer, default=0)
    __table_args__ = (
        Index("uq_group_fields_group_kind_name", "group_id", "kind", "name", unique=True),
        CheckConstraint("kind IN ('company', 'contact')", name="kind"),
    )


class Queue(Base):
    __tablename__ = "queues"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)


class QueueGroup(Base):
    __tablename__ = "queue_groups"
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True)
    group_id: Mapped[int] = mapped_column(
        ForeignKey("customer_groups.id", ondelete="CASCADE"), primary_key=True
    )


class Role(Base):
    __tablename__ = "roles"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)


class RoleGrant(Base):
    __tablename__ = "role_grants"
    role: Mapped[str] = mapped_column(ForeignKey("roles.name", ondelete="CASCADE"), primary_key=True)
    permission: Mapped[str] = mapped_column(String(30), primary_key=True)
    group_name: Mapped[str] = mapped_column(String(100), primary_key=True)


class User(Base):
    __tablename__ = "users"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)


class UserRole(Base):
    __tablename__ = "user_roles"
    user_name: Mapped[str] = mapped_column(ForeignKey("users.name", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(ForeignKey("roles.name", ondelete="CASCADE"), primary_key=True)


class Setting(Base):
    """Configuration that is not a table of its own (attachments, activities) and the config revision."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JsonType)


class CustomerRow(Base):
    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(7))
    group_id: Mapped[int] = mapped_column(ForeignKey("customer_groups.id", ondelete="RESTRICT"))
    company_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="RESTRICT"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    name: Mapped[str] = mapped_column(String(500))
    search_key: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JsonType)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    deactivated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        CheckConstraint("kind IN ('company', 'contact')", name="kind"),
        CheckConstraint("kind = 'contact' OR company_id IS NULL", name="company_has_no_company"),
        CheckConstraint("version >= 1", name="version"),
        Index("ix_customers_group_kind_active", "group_id", "kind", "active"),
        Index("ix_customers_company", "company_id"),
        Index("ix_customers_name", "name"),
        NO_ID_REUSE,
    )


class TicketRow(Base):
    __tablename__ = "tickets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    subject: Mapped[str] = mapped_column(String(500))
    search_key: Mapped[str] = mapped_column(Text, default="", server_default="")  # folded subject words
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="RESTRICT"))
    state: Mapped[str] = mapped_column(String(6), default="open")
    main_customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="RESTRICT"))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        CheckConstraint("state IN ('open', 'closed')", name="state"),
        Index("ix_tickets_main_state", "main_customer_id", "state"),
        Index("ix_tickets_queue", "queue_id"),
        NO_ID_REUSE,
    )


class AdditionalCustomer(Base):
    """A ticket's additional customers (R15). The main customer is `tickets.main_customer_id`."""

    __tablename__ = "ticket_additional_customers"
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="RESTRICT"), primary_key=True
    )
    __table_args__ = (Index("ix_ticket_additional_customer", "customer_id", "ticket_id"),)


class ProtocolEntry(Base):
    """A ticket's protocol (R16). Customer names are kept as text so entries survive a deletion."""

    __tablename__ = "ticket_protocol"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    user_name: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(30))
    role: Mapped[str | None] = mapped_column(String(10))
    old_customer_id: Mapped[int | None] = mapped_column(Integer)
    old_customer_name: Mapped[str | None] = mapped_column(String(500))
    new_customer_id: Mapped[int | None] = mapped_column(Integer)
    new_customer_name: Mapped[str | None] = mapped_column(String(500))
    run_id: Mapped[str | None] = mapped_column(String(64))
    __table_args__ = (Index("ix_ticket_protocol_ticket", "ticket_id", "id"), NO_ID_REUSE)


class AuditEntry(Base):
    """Who changed what, when, with the values before and after (R29); chained by hashes (R33).

    `user_name` is the acting cmkit user, `login` the database login that wrote the entry (on PostgreSQL
    set by the database itself). `data_hash`, `prev_hash` and `hash` chain the entries (cmkit.domain.chain);
    `scrubbed` marks an entry whose values were replaced by R24's scrub (its data hash stays).
    """

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    user_name: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))
    entity: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[int | None] = mapped_column(Integer)
    customer_id: Mapped[int | None] = mapped_column(Integer)
    before: Mapped[Any] = mapped_column(JsonType, nullable=True)
    after: Mapped[Any] = mapped_column(JsonType, nullable=True)
    run_id: Mapped[str | None] = mapped_column(String(64))
    login: Mapped[str | None] = mapped_column(String(100))
    data_hash: Mapped[str | None] = mapped_column(String(70))
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))
    scrubbed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: PostgreSQL: the transaction that wrote the entry (set by the database; groups a statement log with
    #: the entries cmkit wrote in the same transaction)
    txid: Mapped[int | None] = mapped_column(BigInteger)
    __table_args__ = (
        Index("ix_audit_customer", "customer_id", "id"),
        Index("ix_audit_user", "user_name", "id"),
        Index("ix_audit_at", "at"),
        Index("ix_audit_run", "run_id"),
        NO_ID_REUSE,
    )
