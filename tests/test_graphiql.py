"""GraphiQL is served with its scripts from our static files, not from a CDN."""

from __future__ import annotations

import re
from urllib.parse import unquote

from django.contrib.staticfiles import finders
from django.test import Client


def test_graphiql_loads_nothing_from_a_cdn(client: Client) -> None:
    page = client.get("/graphql/", HTTP_ACCEPT="text/html").content.decode()
    assert "unpkg.com" not in page
    assets = re.findall(r'(?:src|href)="/static/(asyncimg/graphiql/[^"]+)"', page)
    assert len(assets) == 7
    for asset in assets:
        assert finders.find(unquote(asset)), asset
