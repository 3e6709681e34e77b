"""Rows written with one plain INSERT, valued by the model's own fields.

For the hot paths where the ORM's per-call work (query building, compiling, ``bulk_create``'s
transaction with its extra COMMIT round trip) cost more than the statement itself. Values are
prepared exactly as ``Model.save``/``bulk_create`` prepare them (``pre_save``, then
``get_db_prep_save``), so field defaults, ``auto_now_add`` and JSON encoding are Django's. Like
``bulk_create``, no ``save()`` and no ``pre_save``/``post_save`` signals.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from django.db import connection, models


@cache
def insertable(model: type[models.Model]) -> list[Any]:
    """The fields an INSERT writes (as Django's SQLInsertCompiler: no generated or auto keys)."""
    return [
        f
        for f in model._meta.local_concrete_fields
        if not getattr(f, "generated", False)
        and not (f.primary_key and getattr(f, "db_returning", False))
    ]


def insert_values(obj: models.Model) -> list[Any]:
    """``obj``'s values for :func:`insertable` fields, ready to be query parameters."""
    return [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in insertable(type(obj))]


def insert_rows(objs: Sequence[models.Model]) -> None:
    """INSERT ``objs`` (all of one model) in one statement: in autocommit mode, one round trip."""
    model = type(objs[0])
    fields = insertable(model)
    qn = connection.ops.quote_name
    row = f"({', '.join(['%s'] * len(fields))})"
    sql = (
        f"INSERT INTO {qn(model._meta.db_table)} "  # noqa: S608 (identifiers from metadata)
        f"({', '.join(qn(f.column) for f in fields)}) VALUES {', '.join([row] * len(objs))}"
    )
    params = [value for obj in objs for value in insert_values(obj)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
