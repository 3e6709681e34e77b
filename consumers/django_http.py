"""Django over ASGI, each request run the way WSGI runs it: middleware and view in ONE thread.

Django's ``ASGIHandler`` runs the middleware chain in async mode. Django's own middleware classes
are synchronous underneath, so each one is entered and left through ``sync_to_async`` (two thread
round trips per middleware), plus one for each ``request_started``/``request_finished`` receiver
and one per sync view: about 18 thread handoffs for one GraphQL request with the stock middleware
list. That was 3.9 ms of server CPU per request here, more than the GraphQL mutation itself
(bench/presign.py).

Everything this project serves over plain HTTP is synchronous (the GraphQL view included; see
``graphql_schema/views.py``; the callback and the websockets are served ahead of Django), so this
handler loads the middleware in sync mode, as ``WSGIHandler`` does, and hands the whole request to
one worker thread: the same Django code path as a WSGI deployment, with one handoff in and one out.
The event loop keeps reading request bodies and writing responses.

What it does not do that ``ASGIHandler`` does: cancel the view when the client disconnects (a
synchronous view cannot be cancelled anyway), and run async views natively (an async view still
works: Django calls it through ``async_to_sync`` on the server's event loop).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers import base
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.db import close_old_connections
from django.http import FileResponse, HttpResponseBase
from django.urls import set_script_prefix

#: Requests served at once per process. Each holds a database connection while it runs, so keep
#: it at or below the connection pool's size (``DATABASE_POOL_SIZE``, 20 by default).
MAX_THREADS = 16

_threads = ThreadPoolExecutor(max_workers=MAX_THREADS, thread_name_prefix="django-request")


class OneThreadHandler(ASGIHandler):
    """``ASGIHandler`` with a synchronous middleware chain, run in one worker thread per request."""

    def __init__(self) -> None:
        base.BaseHandler.__init__(self)
        self.load_middleware(is_async=False)

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        try:
            respond = sync_to_async(self._respond, thread_sensitive=False, executor=_threads)
            response = await respond(scope, body_file)
            try:
                await self.send_response(response, send)
            finally:
                if response.streaming:
                    # Its iterator was consumed above; close (files, request_finished) now.
                    await sync_to_async(response.close, thread_sensitive=False)()
        finally:
            body_file.close()

    def _respond(self, scope: dict[str, Any], body_file: Any) -> HttpResponseBase:
        """The request, start to finish, as WSGIHandler.__call__ runs it (in a worker thread)."""
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        response: HttpResponseBase
        if request is None:
            assert error_response is not None  # create_request returns one or the other
            response = error_response
        else:
            response = self.get_response(request)
            response._handler_class = self.__class__  # type: ignore[attr-defined]
            if isinstance(response, FileResponse):
                response.block_size = self.chunk_size
        if response.streaming:
            # Sent from the event loop; return this thread's database connection now.
            close_old_connections()
        else:
            # The body is complete: request_finished (and connection clean-up) runs here, in the
            # thread that used the connections.
            response.close()
        return response
