"""The upload state machine. Every transition is one conditional UPDATE, published after commit.

``PENDING → UPLOADED → PROCESSING → READY | FAILED`` and ``PENDING → EXPIRED``. Callbacks may arrive
out of order, so a later state may skip earlier ones (``succeeded`` before ``processing`` lands on
READY directly); terminal states never change. Two concurrent transitions cannot both win: the
UPDATE's ``WHERE status IN (...)`` lets exactly one of them match the row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, transaction
from django.db.models import F, Model
from django.utils import timezone

from asyncimg.models import Upload, UploadStatus
from asyncimg.services.publish import publish
from asyncimg.services.state import UploadState
from asyncimg.signals import upload_failed

S = UploadStatus

#: target state → states it may be reached from
SOURCES: dict[str, frozenset[str]] = {
    S.UPLOADED: frozenset({S.PENDING}),
    S.PROCESSING: frozenset({S.PENDING, S.UPLOADED}),
    S.READY: frozenset({S.PENDING, S.UPLOADED, S.PROCESSING}),
    S.FAILED: frozenset({S.PENDING, S.UPLOADED, S.PROCESSING}),
    S.EXPIRED: frozenset({S.PENDING}),
}

Publisher = Callable[[UploadState], Any]


def publish_failure(state: UploadState) -> None:
    """``on_commit`` for a move to FAILED or EXPIRED outside the callback endpoint (cancel,
    expiry): publish it, then send :data:`~asyncimg.signals.upload_failed`, as the endpoint does."""
    publish(state)
    upload_failed.send(sender=Upload, state=state)


def transition(
    upload_id: Any,
    to: str,
    *,
    sources: Iterable[str] | None = None,
    on_commit: Publisher = publish,
    extra_filter: dict[str, Any] | None = None,
    **changes: Any,
) -> UploadState | None:
    """Move one upload to ``to`` if it is in one of ``sources`` (default: every allowed source).

    Returns the new state, or None when the upload was not in a source state (already terminal,
    already further along, or unknown): the caller decides whether that is an error. The new state
    is handed to ``on_commit`` once the surrounding transaction commits, never before.
    """
    allowed = SOURCES[to] if sources is None else frozenset(sources) & SOURCES[to]
    # No savepoint when nested: callers wrap several statements in one transaction and roll
    # back as a whole; a savepoint would cost two extra round trips on every callback.
    with transaction.atomic(savepoint=False):
        if connection.vendor == "postgresql" and not extra_filter:
            upload = _update_returning(upload_id, to, allowed, changes)
        else:
            upload = _update_then_select(upload_id, to, allowed, extra_filter, changes)
        if upload is None:
            return None
        state = UploadState.from_model(upload)
        transaction.on_commit(lambda: on_commit(state))
    return state


def _update_then_select(
    upload_id: Any,
    to: str,
    allowed: frozenset[str],
    extra_filter: dict[str, Any] | None,
    changes: dict[str, Any],
) -> Upload | None:
    updated = Upload.objects.filter(
        pk=upload_id, status__in=allowed, **(extra_filter or {})
    ).update(status=to, version=F("version") + 1, updated_at=timezone.now(), **changes)
    if not updated:
        return None
    return Upload.objects.select_related("image").get(pk=upload_id)


@cache
def _columns(model: type[Model]) -> tuple[list[Any], str]:
    """A model's concrete fields and their quoted column list (metadata only: cached)."""
    fields = list(model._meta.concrete_fields)
    return fields, ", ".join(connection.ops.quote_name(f.column) for f in fields)


@cache
def _loader(model: type[Model]) -> tuple[list[str], list[tuple[int, Any, list[Any]]]]:
    """Attribute names, and the fields whose database values need converting (JSON here)."""
    fields, _ = _columns(model)
    converting = []
    for index, f in enumerate(fields):
        converters = f.get_db_converters(connection)
        if converters:
            converting.append((index, f, converters))
    return [f.attname for f in fields], converting


@cache
def _returning_sql(changed: tuple[str, ...]) -> tuple[str, list[Any], list[Any]]:
    """``UPDATE … RETURNING`` joined with the image: the conditional UPDATE and the read of the
    new state in one statement (one round trip instead of two, no ORM query building)."""
    qn = connection.ops.quote_name
    image_model: Any = Upload._meta.get_field("image").related_model
    upload_fields, upload_cols = _columns(Upload)
    sets = [
        f"{qn('status')} = %s",
        f"{qn('version')} = {qn('version')} + 1",
        f"{qn('updated_at')} = %s",
    ]
    change_fields: list[Any] = [Upload._meta.get_field(name) for name in changed]
    sets += [f"{qn(f.column)} = %s" for f in change_fields]
    # Identifiers come from the models' metadata, quoted; every value is a parameter.
    table, image_table = qn(Upload._meta.db_table), qn(image_model._meta.db_table)
    sql = (
        f"WITH u AS (UPDATE {table} SET {', '.join(sets)} "  # noqa: S608
        f"WHERE {qn('id')} = %s AND {qn('status')} = ANY(%s) RETURNING {upload_cols}) "
        f"{select_state('u', image_table)}"
    )
    return sql, upload_fields, change_fields


def select_state(upload_source: str, image_source: str, *extra: str) -> str:
    """``SELECT`` of the row the state is read from: every column of the upload (``u``, from
    ``upload_source``), then of its image (``i``, from ``image_source``, NULLs when none), then
    ``extra`` expressions. Sources are SQL built from model metadata, never from input."""
    qn = connection.ops.quote_name
    image_fk: Any = Upload._meta.get_field("image")
    image_model = image_fk.related_model
    upload_fields, _ = _columns(Upload)
    image_fields, _ = _columns(image_model)
    columns = [f"u.{qn(f.column)}" for f in upload_fields]
    columns += [f"i.{qn(f.column)}" for f in image_fields]
    return (
        f"SELECT {', '.join([*columns, *extra])} "  # noqa: S608
        f"FROM {upload_source} LEFT JOIN {image_source} i "
        f"ON i.{qn(image_model._meta.pk.column)} = u.{qn(image_fk.column)}"
    )


def _from_row(model: type[Model], values: Sequence[Any]) -> Any:
    """A model instance from a row of ``_columns(model)``, converted as the ORM converts."""
    attnames, converting = _loader(model)
    row = list(values)
    for index, f, converters in converting:
        value = row[index]
        for converter in converters:
            value = converter(value, f, connection)
        row[index] = value
    return model.from_db(DEFAULT_DB_ALIAS, attnames, row)


def _update_returning(
    upload_id: Any, to: str, allowed: frozenset[str], changes: dict[str, Any]
) -> Upload | None:
    changed = tuple(sorted(changes))
    sql, upload_fields, change_fields = _returning_sql(changed)
    params: list[Any] = [to, timezone.now()]
    params += [
        f.get_db_prep_save(changes[name], connection)
        for name, f in zip(changed, change_fields, strict=True)
    ]
    params += [str(upload_id), sorted(allowed)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    upload: Upload = _from_row(Upload, row[: len(upload_fields)])
    image_values = row[len(upload_fields) :]
    image_model = Upload._meta.get_field("image").related_model
    image = (
        _from_row(image_model, image_values)  # type: ignore[arg-type]
        if image_values[0] is not None
        else None
    )
    Upload._meta.get_field("image").set_cached_value(upload, image)
    return upload
