"""The single-statement callback path on PostgreSQL (``asyncimg/services/callbacks_pg.py``) and its
asyncio connections (``asyncimg/services/pgconn.py``). The behaviour both paths share is tested on
both in ``tests/test_callback.py``; this file covers what only this path has."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.db.models.signals import post_save
from django.test import Client

from asyncimg.models import CallbackEvent, ProcessedImage, Upload, UploadStatus
from asyncimg.services import callbacks_pg, pgconn
from asyncimg.services.callbacks import parse_payload
from tests.callbacks import callback_body
from tests.test_callback import make_upload, post

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the single-statement path is PostgreSQL's"
    ),
]


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One event loop kept across steps, so its idle connection is reused between them."""
    loop = asyncio.new_event_loop()
    yield loop
    pgconn.close_idle()
    loop.close()


def test_callbacks_take_the_single_statement_path(
    client: Client, user: Any, monkeypatch: Any
) -> None:
    calls: list[str] = []
    real = callbacks_pg.apply_callback

    async def spy(payload: Any) -> Any:
        calls.append(payload.event)
        return await real(payload)

    monkeypatch.setattr(callbacks_pg, "apply_callback", spy)
    upload = make_upload(user)
    assert callbacks_pg.available()
    for event in ("processing", "succeeded"):
        assert post(client, callback_body(str(upload.pk), event)).json()["status"] == "applied"
    assert calls == ["processing", "succeeded"]
    upload.refresh_from_db()
    assert (upload.status, upload.version) == (UploadStatus.READY, 3)
    assert CallbackEvent.objects.filter(upload=upload).count() == 2


def test_save_receivers_send_callbacks_through_the_orm(client: Client, user: Any) -> None:
    """An INSERT cannot run post_save receivers: with one connected, the ORM path is taken and
    the receiver sees the image."""
    saved: list[Any] = []
    post_save.connect(
        lambda instance, **kw: saved.append(instance.pk),
        sender=ProcessedImage,
        weak=False,
        dispatch_uid="test-pg-path",
    )
    try:
        assert not callbacks_pg.available()
        upload = make_upload(user)
        response = post(client, callback_body(str(upload.pk), "succeeded"))
    finally:
        post_save.disconnect(sender=ProcessedImage, dispatch_uid="test-pg-path")
    assert response.json()["uploadStatus"] == "READY"
    upload.refresh_from_db()
    assert saved == [upload.image_id]
    assert callbacks_pg.available()


def test_rows_match_what_the_orm_writes(user: Any, loop: asyncio.AbstractEventLoop) -> None:
    """Field defaults, auto_now_add and JSON come from the model fields."""
    upload = make_upload(user)
    body = callback_body(str(upload.pk), "succeeded")
    outcome, image = loop.run_until_complete(callbacks_pg.apply_callback(parse_payload(body)))
    assert outcome.applied
    stored = ProcessedImage.objects.get(pk=image.pk)
    assert stored.created_at is not None
    assert stored.variants == image.variants
    assert stored.metadata == image.metadata
    event = CallbackEvent.objects.get(upload=upload)
    assert (event.event, event.received_at is not None) == ("succeeded", True)
    assert outcome.state.image is not None
    assert outcome.state.image.id == str(stored.pk)


def test_a_broken_idle_connection_is_replaced(user: Any, loop: asyncio.AbstractEventLoop) -> None:
    """PostgreSQL restarted, or an idle timeout: the next callback reconnects and succeeds."""
    first, second = make_upload(user), make_upload(user)

    def apply(upload: Upload) -> Any:
        payload = parse_payload(callback_body(str(upload.pk), "processing"))
        return loop.run_until_complete(callbacks_pg.apply_callback(payload))[0]

    assert apply(first).applied
    [(pid,)] = loop.run_until_complete(pgconn.fetch("SELECT pg_backend_pid()", []))
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    outcome = apply(second)
    assert outcome.applied
    assert outcome.state.status == "PROCESSING"
    [(new_pid,)] = loop.run_until_complete(pgconn.fetch("SELECT pg_backend_pid()", []))
    assert new_pid != pid


def test_connections_are_bounded(loop: asyncio.AbstractEventLoop) -> None:
    """A burst of statements shares MAX_CONNECTIONS connections: the others wait, none fails."""
    n = pgconn.MAX_CONNECTIONS * 3

    async def burst() -> list[int]:
        rows = await asyncio.gather(
            *(pgconn.fetch("SELECT pg_backend_pid(), pg_sleep(0.02)", []) for _ in range(n))
        )
        return [row[0][0] for row in rows]

    pids = loop.run_until_complete(burst())
    assert len(pids) == n
    assert len(set(pids)) == pgconn.MAX_CONNECTIONS
    assert len(pgconn._idle[loop]) == pgconn.MAX_CONNECTIONS


def test_all_stale_idle_connections_are_replaced_at_once(loop: asyncio.AbstractEventLoop) -> None:
    """After a PostgreSQL restart every idle connection is stale: one retry, on a new one."""

    async def burst() -> set[int]:
        rows = await asyncio.gather(
            *(pgconn.fetch("SELECT pg_backend_pid(), pg_sleep(0.02)", []) for _ in range(4))
        )
        return {row[0][0] for row in rows}

    old = loop.run_until_complete(burst())
    assert len(old) == 4
    with connection.cursor() as cursor:
        for pid in old:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    [(pid,)] = loop.run_until_complete(pgconn.fetch("SELECT pg_backend_pid()", []))
    assert pid not in old
    assert len(pgconn._idle[loop]) == 1


def test_fetch_returns_rows_only_for_statements_that_return_rows(
    loop: asyncio.AbstractEventLoop,
) -> None:
    run = loop.run_until_complete
    assert run(pgconn.fetch("SELECT 1, %s::text", ["two"])) == [(1, "two")]
    assert run(pgconn.fetch("SELECT 1 WHERE false", [])) == []
    assert run(pgconn.fetch("SET LOCAL statement_timeout = 1000", [])) == []
    run(pgconn.fetch("CREATE TEMPORARY TABLE fetch_probe (v int)", []))
    assert run(pgconn.fetch("INSERT INTO fetch_probe VALUES (1), (2)", [])) == []
    assert run(pgconn.fetch("INSERT INTO fetch_probe VALUES (3) RETURNING v", [])) == [(3,)]
