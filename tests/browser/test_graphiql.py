"""GraphiQL in headless Chromium against ``manage.py demo``: a query over HTTP and a subscription
over the websocket, with every script from our own server (no CDN is reachable here)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from config.embedded import DemoProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def run_in_graphiql(demo: DemoProcess, page: Any, operation: str) -> str:
    external: list[str] = []
    page.on(
        "request",
        lambda r: external.append(r.url) if not r.url.startswith(demo.url.rstrip("/")) else None,
    )
    page.goto(f"{demo.url.rstrip('/')}/graphql/?q={quote(operation)}")
    page.locator(".graphiql-execute-button").click(timeout=30_000)
    result = page.locator(".result-window")
    page.wait_for_function(
        "(el) => el.innerText.includes('\"data\"') || el.innerText.includes('\"errors\"')",
        arg=result.element_handle(),
        timeout=30_000,
    )
    assert external == [], external
    return str(result.inner_text())


def test_graphiql_runs_a_query(demo: DemoProcess, page: Any) -> None:
    text = run_in_graphiql(demo, page, "{ uploads { totalCount } }")
    assert '"totalCount": 0' in text


def test_graphiql_runs_a_subscription_over_the_websocket(demo: DemoProcess, page: Any) -> None:
    subscription = (
        'subscription { imageProcessed(uploadId: "00000000-0000-4000-8000-000000000000") '
        "{ status } }"
    )
    text = run_in_graphiql(demo, page, subscription)
    # Answered by the subscription resolver, which only the websocket transport reaches.
    assert "NOT_FOUND" in text
