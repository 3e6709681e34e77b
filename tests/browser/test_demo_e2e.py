"""The demo page in headless Chromium, against ``manage.py demo`` running as a child process.

Debian's Chromium (``/usr/bin/chromium``) is driven by Playwright; Playwright's own browser
download is not used. Without Chromium the test skips locally and FAILS under CI (``CI`` set).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageColor, ImageDraw

from config.embedded import DemoProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOT = Path(os.environ.get("ASYNCIMG_SCREENSHOT", "var/screenshots/demo.png"))
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><circle r="5"/></svg>'


def photo(width: int, height: int, sky: str, ground: str, sun: str) -> bytes:
    """A small landscape (sky fading to the horizon, a sun, two hills) worth looking at."""
    size = (width, height)
    horizon = Image.linear_gradient("L").resize(size)
    image = Image.composite(Image.new("RGB", size, "white"), Image.new("RGB", size, sky), horizon)
    draw = ImageDraw.Draw(image)
    draw.ellipse((width * 0.62, height * 0.12, width * 0.82, height * 0.12 + width * 0.2), fill=sun)
    far = [(0, 0.62), (0.35, 0.45), (0.7, 0.66), (1, 0.5)]
    near = [(0, 0.8), (0.5, 0.68), (1, 0.85)]
    for ridge, colour in ((far, ImageColor.getrgb(ground)), (near, None)):
        fill = colour or tuple(max(0, c - 40) for c in ImageColor.getrgb(ground)[:3])
        points = [(0.0, 1.0), *ridge, (1.0, 1.0)]
        draw.polygon([(x * width, y * height) for x, y in points], fill=fill)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88)
    return out.getvalue()


@pytest.fixture(scope="module")
def azure_demo(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The demo on Azurite: credentials are SAS PUTs (``PresignedPost.method == "PUT"``)."""
    with DemoProcess(tmp_path_factory.mktemp("azure-demo"), storage="azure") as process:
        yield process


def test_upload_three_photos_and_an_svg(demo: DemoProcess, page: Any, tmp_path: Path) -> None:
    upload_three_photos_and_an_svg(demo, page, tmp_path, screenshot=SCREENSHOT)


def test_the_page_uploads_with_azures_put_too(
    azure_demo: DemoProcess, page: Any, tmp_path: Path
) -> None:
    upload_three_photos_and_an_svg(azure_demo, page, tmp_path, screenshot=None)


def upload_three_photos_and_an_svg(
    demo: DemoProcess, page: Any, tmp_path: Path, *, screenshot: Path | None
) -> None:
    files = {
        "lake.jpg": photo(1800, 1200, "#5b8fd6", "#2f6b45", "#ffd25a"),
        "dunes.jpg": photo(1200, 800, "#f3a35b", "#b5652c", "#fff1b8"),
        "night.jpg": photo(900, 600, "#1d2b57", "#121a33", "#f2f2f2"),
        "logo.svg": SVG,
    }
    paths = []
    for name, data in files.items():
        path = tmp_path / name
        path.write_bytes(data)
        paths.append(str(path))
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: console_errors.append(str(e)))
    page.on("requestfailed", lambda r: console_errors.append(f"{r.url}: {r.failure}"))

    page.goto(demo.url)
    page.set_input_files("#files", paths)

    cards = page.locator(".card")
    page.wait_for_function("document.querySelectorAll('.card').length === 4")
    rejected = page.locator(".card", has_text="logo.svg")
    rejected.locator(".error").wait_for(state="visible", timeout=15_000)
    assert rejected.get_attribute("data-status") == "REJECTED"
    assert "UNSUPPORTED_CONTENT_TYPE" in rejected.locator(".error code").inner_text()
    assert "image/svg+xml" in rejected.locator(".error").inner_text()

    for name in ("lake.jpg", "dunes.jpg", "night.jpg"):
        card = page.locator(".card", has_text=name)
        card.locator("img.thumb").wait_for(timeout=30_000)
        page.wait_for_function(
            "(el) => el.complete && el.naturalWidth > 0",
            arg=card.locator("img.thumb").element_handle(),
            timeout=15_000,
        )
        assert card.get_attribute("data-status") == "READY"
        assert card.locator(".status").inner_text() == "READY"
        srcset = card.locator("img.thumb").get_attribute("srcset") or ""
        assert "320w" in srcset, srcset
        assert card.locator("picture source[type='image/webp']").count() == 1
        # The inline placeholder was painted behind the thumbnail (it needs no request), and
        # the thumbnail showed once loaded.
        frame = card.locator(".frame")
        assert frame.get_attribute("data-painted") == "placeholder"
        background = frame.evaluate("(el) => el.style.backgroundImage")
        assert background.startswith('url("data:image/webp;base64,'), background
        assert card.locator("img.thumb").evaluate("(el) => el.style.opacity") == "1"
    assert cards.count() == 4
    dims = page.locator(".card", has_text="dunes.jpg").locator(".meta").inner_text()
    assert dims.startswith("1200\u00d7800 · JPEG"), dims  # U+00D7 multiplication sign
    assert page.locator("#live").get_attribute("data-state") == "connected"
    assert not console_errors, console_errors

    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot))
        assert screenshot.stat().st_size > 10_000


def test_phone_width_has_one_column(demo: DemoProcess, page: Any, tmp_path: Path) -> None:
    path = tmp_path / "small.jpg"
    path.write_bytes(photo(640, 480, "#7fb3e0", "#3c7a4a", "#ffe08a"))
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(demo.url)
    page.set_input_files("#files", [str(path)])
    page.locator(".card[data-status='READY'] img.thumb").wait_for(timeout=30_000)
    box = page.locator(".card").bounding_box()
    assert box is not None
    assert box["width"] > 330
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0


CLIENT_SCRIPT = """
async ([jpegBase64]) => {
  const { createClient, AsyncImageError } = await import("/static/asyncimg/client.js");
  const sockets = [];
  class Tracked extends WebSocket {
    constructor(...args) { super(...args); sockets.push(this); }
  }
  const states = [];
  const client = createClient({
    graphqlUrl: "/graphql/",
    WebSocket: Tracked,
    retry: { initialDelay: 50, maxDelay: 200 },
    onConnectionChange: (state) => states.push(state),
  });
  const result = {};

  try {
    await client.requestUpload({ name: "x.svg", type: "image/svg+xml", size: 10 });
  } catch (error) {
    result.rejection = { isClientError: error instanceof AsyncImageError, code: error.code };
  }

  const bytes = Uint8Array.from(atob(jpegBase64), (c) => c.charCodeAt(0));
  const file = new File([bytes], "reconnect.jpg", { type: "image/jpeg" });
  const ticket = await client.requestUpload(file);
  const statuses = [];
  let firstState;
  const pending = new Promise((resolve) => (firstState = resolve));
  const done = new Promise((resolve, reject) => {
    client.subscribe(ticket.upload.id, {
      next(upload) {
        statuses.push(upload.status);
        firstState();
        if (upload.status === "READY") resolve(upload);
      },
      error: reject,
    });
  });
  await pending;
  // The connection drops: the client must reconnect and subscribe again.
  sockets[0].close();
  await new Promise((r) => setTimeout(r, 300));
  const progress = [];
  await client.upload(ticket, file, { onProgress: (p) => progress.push(p.fraction) });
  const ready = await done;
  result.statuses = statuses;
  result.sockets = sockets.length;
  result.states = states;
  result.lastProgress = progress[progress.length - 1];
  result.variants = ready.image.variants.length;

  const other = await client.requestUpload({ name: "never.jpg", type: "image/jpeg", size: 5 });
  result.cancelled = await client.cancel(other.upload.id);
  client.close();
  return result;
}
"""


def test_client_module_reconnects_and_reports_error_codes(demo: DemoProcess, page: Any) -> None:
    import base64

    page.goto(demo.url)
    jpeg = base64.b64encode(photo(640, 480, "#7fb3e0", "#3c7a4a", "#ffe08a")).decode()
    result = page.evaluate(CLIENT_SCRIPT, [jpeg])
    assert result["rejection"] == {"isClientError": True, "code": "UNSUPPORTED_CONTENT_TYPE"}
    assert result["sockets"] == 2, result
    assert "reconnecting" in result["states"]
    assert result["states"][-1] == "idle"
    # The current state repeated after re-subscribing is delivered once.
    assert result["statuses"][0] == "PENDING"
    assert result["statuses"].count("PENDING") == 1, result["statuses"]
    assert result["statuses"][-1] == "READY"
    assert result["lastProgress"] == 1
    assert result["variants"] >= 2
    assert result["cancelled"]["status"] == "FAILED"
    assert result["cancelled"]["error"]["code"] == "CANCELLED"
