"""The WSGI deployment the README documents (gunicorn for HTTP beside uvicorn for websockets)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.peers.settings")
application = get_wsgi_application()
