"""The bundled service's ASGI application, composed from :mod:`asyncimg.asgi` exactly as a
project's ``asgi.py`` composes it: HTTP → Django's own ``ASGIHandler``, websocket ``/graphql/`` →
the GraphQL consumer for the bundled schema."""

from __future__ import annotations

from asyncimg.asgi import build_application
from graphql_schema.schema import schema

application = build_application(schema=schema)
