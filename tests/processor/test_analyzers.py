"""Analyzers: the plug-in interface and the built-ins (placeholder, dominant colour, dHash)."""

from __future__ import annotations

import base64
import io
import random
from typing import Any

import blurhash
import pytest
from PIL import Image, ImageDraw

from asyncimg_processor.analyzers import (
    DEFAULT_ANALYZERS,
    ERRORS_KEY,
    AnalysisInput,
    PerceptualHash,
    load,
)
from asyncimg_processor.core import ProcessOptions, process
from asyncimg_processor.handler import HandlerConfig
from tests.processor.images import encode, picture

SEEN: list[AnalysisInput] = []


class SizeProbe:
    """Records what it was given; loaded by dotted path."""

    name = "probe"

    def __call__(self, source: AnalysisInput) -> dict[str, Any]:
        SEEN.append(source)
        return {"size": list(source.image.size), "mode": source.image.mode}


class Broken:
    name = "broken"

    def __call__(self, source: AnalysisInput) -> Any:
        raise RuntimeError("service down")


def halves(width: int = 1200, height: int = 800) -> Image.Image:
    """Red left half, blue right half: a constant placeholder cannot match both."""
    im = Image.new("RGB", (width, height), (220, 20, 20))
    ImageDraw.Draw(im).rectangle((width // 2, 0, width, height), fill=(20, 20, 220))
    return im


def scene(seed: int, width: int = 2400, height: int = 1600) -> Image.Image:
    """A busy picture of random shapes: different seeds are different pictures."""
    rnd = random.Random(seed)
    im = Image.new("RGB", (width, height), tuple(rnd.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(im)
    for _ in range(40):
        x, y = rnd.randrange(width), rnd.randrange(height)
        w, h = rnd.randrange(width // 8, width // 2), rnd.randrange(height // 8, height // 2)
        colour = tuple(rnd.randrange(256) for _ in range(3))
        shape = draw.ellipse if rnd.random() < 0.5 else draw.rectangle
        shape((x - w // 2, y - h // 2, x + w // 2, y + h // 2), fill=colour)
    return im


def _is_red(px: tuple[int, ...]) -> bool:
    return px[0] > 140 and px[2] < 110


def _is_blue(px: tuple[int, ...]) -> bool:
    return px[2] > 140 and px[0] < 110


def test_defaults_add_placeholder_colour_and_hash() -> None:
    metadata = process(encode(halves(), "JPEG", quality=90)).metadata
    assert set(DEFAULT_ANALYZERS) <= set(metadata)
    assert ERRORS_KEY not in metadata
    assert metadata["dominantColor"].startswith("#")
    assert len(metadata["perceptualHash"]) == 16


def test_placeholder_hash_decodes_to_the_image() -> None:
    placeholder = process(encode(halves(), "JPEG", quality=90)).metadata["placeholder"]
    rows = blurhash.decode(placeholder["hash"], 12, 8)
    # Left third red, right third blue: a flat (or swapped) placeholder fails one of them.
    assert all(_is_red(tuple(rows[y][x])) for y in range(8) for x in range(3)), rows
    assert all(_is_blue(tuple(rows[y][x])) for y in range(8) for x in range(9, 12)), rows


def test_placeholder_data_url_is_a_tiny_image_of_the_image() -> None:
    placeholder = process(encode(halves(), "JPEG", quality=90)).metadata["placeholder"]
    prefix = "data:image/webp;base64,"
    assert placeholder["dataUrl"].startswith(prefix)
    raw = base64.b64decode(placeholder["dataUrl"][len(prefix) :])
    assert len(raw) < 1000
    tiny = Image.open(io.BytesIO(raw)).convert("RGB")
    assert max(tiny.size) <= 16
    assert tiny.size[0] > tiny.size[1]  # aspect kept (3:2)
    w, h = tiny.size
    assert _is_red(tiny.getpixel((1, h // 2)))  # type: ignore[arg-type]
    assert _is_blue(tiny.getpixel((w - 2, h // 2)))  # type: ignore[arg-type]


def test_placeholder_follows_exif_orientation() -> None:
    """The working image is upright: a portrait stored landscape (orientation 6) gives a
    portrait placeholder."""
    im = halves(800, 400)
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(im, "JPEG", quality=90, exif=exif.tobytes())
    tiny = _data_image(process(data).metadata["placeholder"]["dataUrl"])
    assert tiny.size[1] > tiny.size[0]


def _data_image(url: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")


def _distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def _phash(data: bytes) -> str:
    return str(process(data).metadata["perceptualHash"])


def test_perceptual_hash_matches_resized_and_reencoded_copies() -> None:
    original = scene(1)
    h0 = _phash(encode(original, "JPEG", quality=92))
    copies = [
        encode(original.resize((1200, 800)), "JPEG", quality=60),
        encode(original.resize((700, 467)), "WEBP", quality=50),
        encode(original.resize((1000, 667)), "PNG"),
    ]
    for copy in copies:
        assert _distance(h0, _phash(copy)) <= 3


def test_perceptual_hash_tells_different_images_apart() -> None:
    original = scene(1)
    h0 = _phash(encode(original, "JPEG", quality=92))
    others = [
        original.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        scene(2),
        scene(3),
        picture(2400, 1600),
        Image.effect_mandelbrot((2400, 1600), (-2, -1.2, 1, 1.2), 60).convert("RGB"),
    ]
    for other in others:
        assert _distance(h0, _phash(encode(other, "JPEG", quality=92))) > 10


def test_perceptual_hash_of_flat_image_is_stable() -> None:
    flat = AnalysisInput(Image.new("RGB", (320, 200), (90, 90, 90)), 3200, 2000, False)
    assert PerceptualHash()(flat) == "0000000000000000"


def test_analyzer_gets_the_upright_smallest_variant_not_the_frame() -> None:
    SEEN.clear()
    options = ProcessOptions(analyzers=load(["tests.processor.test_analyzers.SizeProbe"]))
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(picture(3000, 2000), "JPEG", quality=85, exif=exif.tobytes())
    result = process(data, options)
    assert len(SEEN) == 1
    smallest = min(result.variants, key=lambda v: v.width)
    assert SEEN[0].image.size == (smallest.width, smallest.height) == (320, 480)
    assert (SEEN[0].width, SEEN[0].height) == (2000, 3000)
    assert result.metadata["probe"] == {"size": [320, 480], "mode": "RGB"}
    # Only what was configured runs.
    assert "placeholder" not in result.metadata


def test_transparent_working_image_is_rgba() -> None:
    SEEN.clear()
    options = ProcessOptions(analyzers=load(["tests.processor.test_analyzers.SizeProbe"]))
    im = picture(800, 600, "RGBA")
    im.putalpha(Image.linear_gradient("L").resize((800, 600)))
    result = process(encode(im, "PNG"), options)
    assert result.metadata["probe"]["mode"] == "RGBA"


def test_failing_analyzer_is_recorded_and_the_upload_succeeds() -> None:
    options = ProcessOptions(
        analyzers=load(["tests.processor.test_analyzers.Broken", "perceptualHash"])
    )
    result = process(encode(picture(800, 600), "JPEG"), options)
    assert result.variants
    assert result.metadata[ERRORS_KEY] == {"broken": "RuntimeError: service down"}
    assert "perceptualHash" in result.metadata  # the others still ran


@pytest.mark.parametrize(
    "name", ["nope", "tests.processor.test_analyzers.Missing", "no_such_module.Thing", "os.sep"]
)
def test_unknown_analyzers_are_refused_at_load(name: str) -> None:
    with pytest.raises(ValueError, match="analyzer"):
        load([name])


def test_environment_selects_the_analyzers() -> None:
    base = {"ASYNCIMG_CALLBACK_URL": "https://x.test/cb/", "ASYNCIMG_CALLBACK_SECRET": "s"}
    default = HandlerConfig.from_env(base).options.analyzers
    assert [a.name for a in default] == list(DEFAULT_ANALYZERS)
    none = HandlerConfig.from_env({**base, "ASYNCIMG_ANALYZERS": ""}).options.analyzers
    assert none == ()
    chosen = HandlerConfig.from_env({**base, "ASYNCIMG_ANALYZERS": " perceptualHash ,placeholder"})
    assert [a.name for a in chosen.options.analyzers] == ["perceptualHash", "placeholder"]
    with pytest.raises(ValueError, match="unknown analyzer"):
        HandlerConfig.from_env({**base, "ASYNCIMG_ANALYZERS": "perceptualhash"})
