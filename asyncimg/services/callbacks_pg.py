"""A verified callback applied in ONE PostgreSQL statement, sent from the event loop.

Same behaviour as :func:`asyncimg.services.callbacks.apply_callback` (which stays the path on every
other database, and whenever this one is not :func:`available`), at a fraction of the cost: no
thread hop, no ORM, one round trip. The statement is::

    WITH u AS (UPDATE upload SET status, version + 1, ... WHERE id = $id AND status = ANY($sources)
               RETURNING *),
         i AS (INSERT INTO processed_image ... SELECT ... FROM u RETURNING *),  -- succeeded only
         e AS (INSERT INTO callback_event ... SELECT ... FROM u)
    SELECT u.*, i.* FROM u LEFT JOIN i ON i.id = u.image_id

and it runs in autocommit, so it is its own transaction:

- the image and the event row are written only if the conditional UPDATE matched (``FROM u``);
- a duplicate ``eventId`` violates the event's unique constraint and the whole statement, UPDATE
  included, is rolled back (the ORM path gets this from ``transaction.atomic``);
- two concurrent callbacks cannot both win: the UPDATE locks the row and PostgreSQL re-checks the
  ``WHERE`` on the latest version (READ COMMITTED), exactly as for the ORM's UPDATE;
- ``upload.image_id`` points at a row inserted by the same statement: Django creates foreign keys
  ``DEFERRABLE INITIALLY DEFERRED``, so the reference is checked at commit, when both exist.

Rows are written with one INSERT per model from values prepared by the model's fields
(``asyncimg/services/sql.py``), so field defaults, ``auto_now_add`` and JSON encoding are
Django's. What an INSERT cannot do is run ``save()`` overrides or ``pre_save``/``post_save``
receivers: :func:`available` is False when the processed-image or event model has any, and the
ORM path is used instead.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import psycopg
from django.apps import apps
from django.db import connection, models
from django.db.models.signals import post_save, pre_save
from django.utils import timezone

from asyncimg.conf import app_settings
from asyncimg.models import AbstractProcessedImage, CallbackEvent, Upload, UploadStatus
from asyncimg.services import pgconn
from asyncimg.services.callbacks import CallbackPayload, CallbackRejected, Outcome
from asyncimg.services.sql import insert_values, insertable
from asyncimg.services.state import UploadState
from asyncimg.services.transitions import SOURCES, _columns, _from_row, select_state

TARGET = {
    "processing": UploadStatus.PROCESSING,
    "succeeded": UploadStatus.READY,
    "failed": UploadStatus.FAILED,
}


def _upload_field(name: str) -> Any:
    return Upload._meta.get_field(name)


@cache
def _image_model() -> type[AbstractProcessedImage]:
    model: type[AbstractProcessedImage] = apps.get_model(app_settings.PROCESSED_IMAGE_MODEL)
    return model


@cache
def _supported() -> bool:
    # psycopg 3 only (not psycopg2): the asyncio connections come from it. Fixed for the
    # process's life, unlike the receivers checked in available().
    if connection.vendor != "postgresql" or connection.Database.__name__ != "psycopg":  # type: ignore[attr-defined]
        return False
    return all(
        model.save is models.Model.save and not model._meta.parents
        for model in (_image_model(), CallbackEvent)
    )


def available() -> bool:
    """True when callbacks can take the single-statement path (PostgreSQL with psycopg 3, and
    nothing that only ``Model.save`` would run)."""
    return _supported() and not any(
        signal.has_listeners(model)
        for signal in (pre_save, post_save)
        for model in (_image_model(), CallbackEvent)
    )


@cache
def _statement(event: str, image_model: type[models.Model]) -> str:
    qn = connection.ops.quote_name
    _, upload_cols = _columns(Upload)
    image_fields, _ = _columns(image_model)
    table = qn(Upload._meta.db_table)
    sets = [f"{qn('status')} = %s", f"{qn('version')} = {qn('version')} + 1"]
    sets += [f"{qn(_upload_field(name).column)} = %s" for name in _changed(event)]
    parts = [
        f"u AS (UPDATE {table} SET {', '.join(sets)} "  # noqa: S608 (identifiers from metadata)
        f"WHERE {qn('id')} = %s AND {qn('status')} = ANY(%s) RETURNING {upload_cols})"
    ]
    image_source = qn(image_model._meta.db_table)
    if event == "succeeded":
        image_cols = ", ".join(qn(f.column) for f in insertable(image_model))
        placeholders = ", ".join(["%s"] * len(insertable(image_model)))
        parts.append(
            f"i AS (INSERT INTO {image_source} ({image_cols}) "  # noqa: S608
            f"SELECT {placeholders} FROM u "
            f"RETURNING {', '.join(qn(f.column) for f in image_fields)})"
        )
        image_source = "i"
    event_cols = ", ".join(qn(f.column) for f in insertable(CallbackEvent))
    event_values = ", ".join(
        f"u.{qn('id')}" if f.name == "upload" else "%s" for f in insertable(CallbackEvent)
    )
    parts.append(
        f"e AS (INSERT INTO {qn(CallbackEvent._meta.db_table)} ({event_cols}) "  # noqa: S608
        f"SELECT {event_values} FROM u)"
    )
    return f"WITH {', '.join(parts)} {select_state('u', image_source)}"


@cache
def _fallback_statement(image_model: type[models.Model]) -> str:
    """The upload's current state and whether ``eventId`` was applied before, in one read."""
    qn = connection.ops.quote_name
    applied = (
        f"EXISTS (SELECT 1 FROM {qn(CallbackEvent._meta.db_table)} "  # noqa: S608
        f"WHERE {qn('event_id')} = %s)"
    )
    select = select_state(f"{qn(Upload._meta.db_table)} u", qn(image_model._meta.db_table), applied)
    return f"{select} WHERE u.{qn('id')} = %s"


def _changed(event: str) -> tuple[str, ...]:
    if event == "succeeded":
        return ("updated_at", "image", "error_code", "error_message")
    if event == "failed":
        return ("updated_at", "error_code", "error_message")
    return ("updated_at",)


def _state(row: tuple[Any, ...], image_model: type[models.Model]) -> tuple[Upload, Any]:
    upload_fields, _ = _columns(Upload)
    image_fields, _ = _columns(image_model)
    upload: Upload = _from_row(Upload, row[: len(upload_fields)])
    image_values = row[len(upload_fields) : len(upload_fields) + len(image_fields)]
    image = _from_row(image_model, image_values) if image_values[0] is not None else None
    Upload._meta.get_field("image").set_cached_value(upload, image)
    return upload, image


async def apply_callback(payload: CallbackPayload) -> tuple[Outcome, Any]:
    """Apply one verified callback; ``(outcome, created image or None)``. Publishing and signals
    are the caller's, after this returns (the statement has committed by then)."""
    image_model = _image_model()
    target = TARGET[payload.event]
    now = timezone.now()
    image: AbstractProcessedImage | None = None
    changes: dict[str, Any] = {"updated_at": now}
    if payload.event == "succeeded":
        assert payload.image is not None
        image = image_model(**payload.image.model_fields())
        changes.update(image=image.pk, error_code="", error_message="")
    elif payload.event == "failed":
        changes.update(error_code=payload.error_code, error_message=payload.error_message)
    params: list[Any] = [str(target)]
    params += [
        _upload_field(name).get_db_prep_save(changes[name], connection)
        for name in _changed(payload.event)
    ]
    params += [payload.upload_id, sorted(str(source) for source in SOURCES[target])]
    if image is not None:
        params += insert_values(image)
    event = CallbackEvent(event_id=payload.event_id, event=payload.event)
    params += [
        value
        for f, value in zip(insertable(CallbackEvent), insert_values(event), strict=True)
        if f.name != "upload"
    ]
    try:
        rows = await pgconn.fetch(_statement(payload.event, image_model), params)
    except psycopg.errors.UniqueViolation:
        rows, duplicate = [], True
    else:
        duplicate = False
    if rows:
        upload, created = _state(rows[0], image_model)
        state = UploadState.from_model(upload)
        return Outcome(applied=True, duplicate=False, state=state, published=[state]), created
    found = await pgconn.fetch(
        _fallback_statement(image_model), [payload.event_id, payload.upload_id]
    )
    if not found:
        raise CallbackRejected("Unknown upload.", code="NOT_FOUND", http_status=404)
    upload, _ = _state(found[0], image_model)
    duplicate = duplicate or bool(found[0][-1])
    return Outcome(applied=False, duplicate=duplicate, state=UploadState.from_model(upload)), None
