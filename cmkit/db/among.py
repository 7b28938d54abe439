"""`among(column, ids)`: "column is one of these ids" as one bound value, however many ids there are.

`column.in_(ids)` binds one parameter per id: PostgreSQL's protocol allows 65,535 per statement, so an
action on the 100,000 rows of a ticked search result would fail there, and a statement with that many
parameters is slow to build on either database. `among` binds the whole list once:

- PostgreSQL: `column = ANY(:ids::BIGINT[])` (the driver sends the list as one array; the planner
  walks the column's index once per id);
- SQLite: `column IN (SELECT value FROM json_each(:ids))` (the list as one JSON text).

The statement's text is the same for any number of ids, so it is compiled once and cached.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import BigInteger, Boolean, Text, TypeDecorator, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement, ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeEngine


class IdList(TypeDecorator[list[int]]):
    """A list of ints bound as one value: an array on PostgreSQL, a JSON text elsewhere."""

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(ARRAY(BigInteger))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: list[int] | None, dialect: Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        return json.dumps(value)


class _Among(FunctionElement[bool]):
    type = Boolean()
    inherit_cache = True
    name = "among"
    _is_implicitly_boolean = True  # a condition as it is, not compared with 1 where booleans are ints


@compiles(_Among, "postgresql")
def _among_postgresql(element: _Among, compiler: SQLCompiler, **kw: Any) -> str:
    column, ids = element.clauses
    return f"{compiler.process(column, **kw)} = ANY({compiler.process(ids, **kw)})"  # bound as BIGINT[]


@compiles(_Among)
def _among_json(element: _Among, compiler: SQLCompiler, **kw: Any) -> str:
    column, ids = element.clauses
    return f"{compiler.process(column, **kw)} IN (SELECT value FROM json_each({compiler.process(ids, **kw)}))"  # noqa: S608 - compiled clauses, no values


def among(
    column: ColumnElement[Any] | QueryableAttribute[Any], ids: Iterable[int] | ClauseElement
) -> ColumnElement[bool]:
    """`column` is one of `ids`: ints (none: nothing matches), bound as one value, or a select of them."""
    if isinstance(ids, ClauseElement):
        return column.in_(cast(Any, ids))
    values = [int(i) for i in ids]
    return _Among(column, bindparam(None, values, type_=IdList()))
