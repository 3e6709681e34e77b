"""The bundled project's WSGI application, for serving HTTP (mutations, queries, the callback)
from gunicorn while uvicorn serves the websockets (README, "Keep HTTP on your WSGI servers")."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()
