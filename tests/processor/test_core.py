"""The processing core against a corpus of tricky images generated in the test."""

from __future__ import annotations

import contextlib
import io
import logging
import random
import time
from typing import Any

import pytest
from PIL import Image, ImageCms, ImageFile, features

from asyncimg_processor.core import (
    Declared,
    Output,
    ProcessOptions,
    ProcessResult,
    process,
    sniff,
)
from asyncimg_processor.errors import FIXED_MESSAGES, ProcessingError
from tests.processor import images

DEFAULT = ProcessOptions()


def decode(output: Output) -> Image.Image:
    im = Image.open(io.BytesIO(output.data))
    im.load()
    return im


def assert_clean_outputs(result: ProcessResult) -> None:
    """Every output decodes to its declared size and format and carries no metadata at all."""
    for output in [result.original, *result.variants]:
        im = decode(output)
        assert im.size == (output.width, output.height), output.name
        assert im.format == {"jpeg": "JPEG", "webp": "WEBP", "png": "PNG"}[output.format]
        assert output.content_type == f"image/{output.format}"
        assert not im.getexif(), output.name
        assert "icc_profile" not in im.info
        assert "exif" not in im.info
        assert "xmp" not in im.info
        assert b"Exif\x00" not in output.data
        assert b"GPS" not in output.data


def hex_rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def variant_names(result: ProcessResult) -> list[str]:
    return [v.name for v in result.variants]


def test_default_job_produces_three_widths_in_two_formats() -> None:
    result = process(images.encode(images.picture(2000, 1500), "JPEG", quality=90))

    assert variant_names(result) == [
        "1600w.webp",
        "1600w.jpg",
        "800w.webp",
        "800w.jpg",
        "320w.webp",
        "320w.jpg",
    ]
    assert [(v.width, v.height) for v in result.variants[::2]] == [
        (1600, 1200),
        (800, 600),
        (320, 240),
    ]
    assert (result.original.name, result.original.width, result.original.height) == (
        "original.jpg",
        2000,
        1500,
    )
    assert result.metadata["format"] == "jpeg"
    assert result.metadata["dominantColor"].startswith("#")
    assert len(result.metadata["dominantColor"]) == 7
    assert_clean_outputs(result)


@pytest.mark.parametrize("include_original", [True, False])
def test_orientation_is_applied_and_gps_never_survives(include_original: bool) -> None:
    data = images.jpeg_with_orientation_and_gps(1000, 500)
    result = process(data, ProcessOptions(include_original=include_original))

    # Stored 1000x500 sideways: upright it is 500 wide, so only the 320 px width fits.
    assert (result.metadata["width"], result.metadata["height"]) == (500, 1000)
    assert result.metadata["orientation"] == 6
    assert result.metadata["orientationApplied"] is True
    assert variant_names(result) == ["320w.webp", "320w.jpg"]
    assert (result.variants[0].width, result.variants[0].height) == (320, 640)
    if include_original:
        assert (result.original.width, result.original.height) == (500, 1000)
    assert result.metadata["exif"] == {
        "make": "Canon",
        "model": "EOS R5",
        "takenAt": "2024-05-01T10:20:30",
        "exposureTime": "1/125",
        "fNumber": 2.8,
        "iso": 400,
    }
    assert "gps" not in repr(result.metadata).lower()
    assert "48.0" not in repr(result.metadata)
    assert_clean_outputs(result)


def test_cmyk_jpeg_becomes_rgb() -> None:
    data = images.encode(images.picture(400, 300, "CMYK"), "JPEG")
    result = process(data)
    assert decode(result.original).mode == "RGB"
    assert result.metadata["hasAlpha"] is False
    assert_clean_outputs(result)


def test_palette_png_with_transparency_keeps_alpha_and_flattens_jpeg_on_white() -> None:
    im = Image.new("P", (400, 200), 0)
    im.putpalette([0, 0, 0, 200, 30, 40] + [0] * 762)
    im.paste(1, (200, 0, 400, 200))  # right half red, left half index 0 = transparent
    data = images.encode(im, "PNG", transparency=0)

    result = process(data)

    assert result.metadata["hasAlpha"] is True
    assert result.original.name == "original.webp"
    assert decode(result.original).mode == "RGBA"
    jpeg = decode(next(v for v in result.variants if v.format == "jpeg"))
    assert jpeg.getpixel((10, 10)) == pytest.approx((255, 255, 255), abs=3)
    assert jpeg.getpixel((300, 100)) == pytest.approx((200, 30, 40), abs=8)
    webp = decode(next(v for v in result.variants if v.format == "webp"))
    assert webp.mode == "RGBA"
    assert webp.getpixel((10, 10))[3] == 0
    # Transparent (black) pixels do not count: the colour is the red half's.
    assert hex_rgb(result.metadata["dominantColor"]) == pytest.approx((200, 30, 40), abs=3)
    assert_clean_outputs(result)


def test_16_bit_greyscale_png_is_scaled_to_8_bits_not_clipped() -> None:
    im = Image.frombytes("I;16", (256, 64), (32768).to_bytes(2, "little") * 256 * 64)
    assert im.getpixel((10, 10)) == 32768
    result = process(images.encode(im, "PNG"))
    original = decode(result.original)
    assert original.mode == "L"  # greyscale stays greyscale
    assert original.getpixel((10, 10)) == pytest.approx(128, abs=2)
    assert_clean_outputs(result)


def test_la_png_becomes_rgba() -> None:
    im = Image.new("LA", (100, 100), (90, 128))
    result = process(images.encode(im, "PNG"))
    assert result.metadata["hasAlpha"] is True
    assert decode(result.original).mode == "RGBA"
    assert_clean_outputs(result)


def test_opaque_rgba_png_loses_its_useless_alpha() -> None:
    result = process(images.encode(images.picture(300, 200, "RGBA"), "PNG"))
    assert result.metadata["hasAlpha"] is False
    assert result.original.name == "original.jpg"
    assert_clean_outputs(result)


def test_semi_transparent_rgba_png() -> None:
    im = images.picture(300, 200, "RGBA")
    im.putalpha(100)
    result = process(images.encode(im, "PNG"))
    assert result.metadata["hasAlpha"] is True
    assert result.original.format == "webp"
    assert_clean_outputs(result)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animated_images_use_the_first_frame(fmt: str) -> None:
    result = process(images.animated(fmt, frames=3))
    assert result.metadata["animated"] is True
    assert result.metadata["frames"] == 3
    first = decode(result.original).convert("RGB").getpixel((5, 5))
    assert first == pytest.approx((255, 0, 0), abs=12)
    assert decode(result.variants[0]).n_frames == 1  # type: ignore[attr-defined]
    assert_clean_outputs(result)


def test_still_gif_is_not_animated() -> None:
    result = process(images.encode(images.picture(64, 64).convert("P"), "GIF"))
    assert (result.metadata["animated"], result.metadata["frames"]) == (False, 1)


def test_heic_is_decoded() -> None:
    result = process(images.heic(64, 48))
    assert result.metadata["format"] == "heic"
    assert (result.original.width, result.original.height) == (64, 48)
    assert_clean_outputs(result)


@pytest.mark.skipif(not features.check("avif"), reason="Pillow was built without AVIF")
def test_avif_is_decoded() -> None:
    data = images.encode(images.picture(64, 48), "AVIF", quality=70)
    assert sniff(data) == "image/avif"
    result = process(data)
    assert result.metadata["format"] == "avif"
    assert_clean_outputs(result)


def test_tiny_image_is_never_upscaled() -> None:
    result = process(images.encode(Image.new("RGB", (1, 1), (10, 20, 30)), "PNG"))
    assert variant_names(result) == ["1w.webp", "1w.jpg"]
    assert all((v.width, v.height) == (1, 1) for v in result.variants)
    assert_clean_outputs(result)


def test_widths_above_the_source_are_dropped() -> None:
    result = process(images.encode(images.picture(1000, 800), "PNG"))
    assert variant_names(result) == ["800w.webp", "800w.jpg", "320w.webp", "320w.jpg"]


def test_srgb_profile_is_dropped_and_broken_profile_ignored() -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    tagged = process(images.encode(images.picture(100, 100), "JPEG", icc_profile=srgb))
    assert tagged.metadata["colorProfile"] is None
    assert_clean_outputs(tagged)

    broken = process(images.encode(images.picture(100, 100), "JPEG", icc_profile=b"junk" * 40))
    assert broken.metadata["colorProfile"].startswith("ignored")
    assert_clean_outputs(broken)


def test_png_named_jpg_is_identified_from_its_bytes() -> None:
    # The core never sees names; the point is that the declared type plays no part.
    data = images.encode(images.picture(50, 50), "PNG")
    assert process(data).metadata["format"] == "png"
    assert process(data).metadata["contentType"] == "image/png"


def test_gif_followed_by_script_is_accepted_and_the_script_dropped() -> None:
    data = images.animated("GIF", frames=1) + b"<script>alert(1)</script>"
    result = process(data)
    for output in [result.original, *result.variants]:
        assert b"<script" not in output.data
    assert_clean_outputs(result)


def refused_with(
    data: bytes, options: ProcessOptions = DEFAULT, declared: Declared | None = None
) -> ProcessingError:
    with pytest.raises(ProcessingError) as info:
        process(data, options, declared=declared)
    return info.value


def refused(data: bytes, options: ProcessOptions = DEFAULT) -> str:
    return refused_with(data, options).code


@pytest.mark.parametrize(
    ("data", "code"),
    [
        pytest.param(b"", "EMPTY_FILE", id="zero-bytes"),
        pytest.param(images.SVG, "UNSUPPORTED_TYPE", id="svg"),
        pytest.param(images.HTML, "UNSUPPORTED_TYPE", id="html"),
        pytest.param(b"GIF89a/*<script>alert(1)</script>*/", "CORRUPT_IMAGE", id="gif-polyglot"),
        pytest.param(random.Random(5).randbytes(4096), "UNSUPPORTED_TYPE", id="random-bytes"),
        pytest.param(b"\xff\xd8\xff", "CORRUPT_IMAGE", id="jpeg-magic-only"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "CORRUPT_IMAGE", id="png-garbage"),
        pytest.param(b"RIFF\x00\x00\x00\x00WEBPVP8 ", "CORRUPT_IMAGE", id="webp-garbage"),
        pytest.param(
            b"\x00\x00\x00\x18ftypheic" + b"\x00" * 40, "CORRUPT_IMAGE", id="heic-garbage"
        ),
        pytest.param(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 40, "UNSUPPORTED_TYPE", id="mp4"),
        pytest.param(b"%PDF-1.7\n", "UNSUPPORTED_TYPE", id="pdf"),
    ],
)
def test_refusals(data: bytes, code: str) -> None:
    assert refused(data) == code


def test_truncated_jpeg_is_corrupt() -> None:
    data = images.encode(images.picture(400, 300), "JPEG")
    assert refused(data[: len(data) // 2]) == "CORRUPT_IMAGE"


def test_truncated_png_is_corrupt() -> None:
    data = images.encode(images.picture(400, 300), "PNG")
    assert refused(data[: len(data) // 2]) == "CORRUPT_IMAGE"


def test_decompression_bomb_is_refused_from_the_header() -> None:
    started = time.perf_counter()
    assert refused(images.png_bomb(60_000, 60_000)) == "TOO_MANY_PIXELS"
    # Below Pillow's own bomb limit, our limit applies before decoding.
    assert refused(images.png_bomb(10_000, 6_000)) == "TOO_MANY_PIXELS"
    assert time.perf_counter() - started < 1.0  # decoding 3.6 gigapixels would take far longer


def test_pixel_limit_is_configurable() -> None:
    data = images.encode(images.picture(100, 100), "PNG")
    assert refused(data, ProcessOptions(max_pixels=9_999)) == "TOO_MANY_PIXELS"
    assert process(data, ProcessOptions(max_pixels=10_000)).metadata["width"] == 100


def test_byte_limit() -> None:
    data = images.encode(images.picture(100, 100), "PNG")
    assert refused(data, ProcessOptions(max_bytes=len(data) - 1)) == "FILE_TOO_LARGE"


def test_types_outside_the_allowlist_are_refused_whatever_they_are() -> None:
    data = images.encode(images.picture(50, 50), "PNG")
    assert refused(data, ProcessOptions(allowed_types=frozenset({"image/jpeg"}))) == (
        "UNSUPPORTED_TYPE"
    )


def test_configured_widths_and_formats() -> None:
    data = images.encode(images.picture(1200, 600), "JPEG")
    result = process(data, ProcessOptions(widths=(100, 1000), formats=("jpeg",)))
    assert variant_names(result) == ["1000w.jpg", "100w.jpg"]
    assert_clean_outputs(result)


def test_processing_error_codes_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown"):
        ProcessingError("SOMETHING_ELSE", "nope")


def test_fuzzed_truncations_only_raise_processing_errors() -> None:
    """Every prefix and a few bit flips of valid files: outputs or ProcessingError, nothing else."""
    rnd = random.Random(7)
    sources = [
        images.encode(images.picture(60, 40), "JPEG"),
        images.encode(images.picture(60, 40), "PNG"),
        images.encode(images.picture(60, 40), "WEBP"),
        images.animated("GIF"),
        images.heic(32, 32),
    ]
    for source in sources:
        cases = [source[:n] for n in range(0, len(source), max(1, len(source) // 25))]
        for _ in range(15):
            flipped = bytearray(source)
            flipped[rnd.randrange(len(flipped))] ^= 0xFF
            cases.append(bytes(flipped))
        for case in cases:
            with contextlib.suppress(ProcessingError):
                process(case)


@pytest.mark.parametrize(
    ("source", "size"),
    [
        ((1000, 750), (800, 600)),  # no box reduce: rows straight from the frame
        ((1000, 750), (400, 300)),  # box reduce by 2 on an aligned grid, then bicubic
        ((1001, 667), (333, 222)),  # odd sizes: partial reduce blocks at the edges
        ((750, 1000), (600, 800)),  # portrait, many strips
        ((1000, 750), (1000, 750)),  # no resize at all
    ],
)
@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_strip_resize_is_the_whole_image_resize(
    source: tuple[int, int], size: tuple[int, int], mode: str
) -> None:
    """The first resize runs in strips on the pool; it must give Pillow's whole-image pixels."""
    from concurrent.futures import ThreadPoolExecutor

    from PIL import ImageChops, ImageStat

    from asyncimg_processor.core import _shrink

    im = images.picture(*source)
    if mode == "RGBA":
        im.putalpha(Image.linear_gradient("L").resize(source))
    expected = im.convert("RGBa") if mode == "RGBA" else im
    expected = expected.resize(size, Image.Resampling.BICUBIC, reducing_gap=1.0)
    with ThreadPoolExecutor(max_workers=2) as pool:
        result = _shrink(im, size, pool)
    assert result.mode == expected.mode
    assert result.size == size
    # Strip boxes are floats: at a strip edge a filter window may shift by one rounding step,
    # which moves a rare pixel by a level or two; on average the images are the same.
    difference = ImageChops.difference(result, expected)
    assert all(high <= 2 for _, high in difference.getextrema()), difference.getextrema()
    assert max(ImageStat.Stat(difference).mean) < 0.05


def test_transparent_variants_have_no_dark_fringes() -> None:
    """Resizing is premultiplied: a white shape on a transparent (black) background stays white."""
    im = Image.new("RGBA", (2000, 1000), (0, 0, 0, 0))
    im.paste((255, 255, 255, 255), (500, 250, 1500, 750))
    result = process(images.encode(im, "PNG"), ProcessOptions(formats=("webp",), widths=(320,)))
    small = decode(result.variants[0]).convert("RGBA")
    edge = [small.getpixel((x, 80)) for x in range(70, 90)]
    # Every pixel that is visible at all is (close to) white, whatever its alpha.
    assert all(min(p[:3]) > 200 for p in edge if p[3] > 32), edge
    assert result.original.format == "webp"
    assert_clean_outputs(result)


# --- what the credential declared ------------------------------------------------------------


def test_the_declared_size_is_rechecked() -> None:
    data = images.encode(images.picture(100, 100), "PNG")
    too_small = Declared(size=len(data) - 1, content_type="image/png")
    assert refused_with(data, declared=too_small).code == "FILE_TOO_LARGE"
    exact = Declared(size=len(data), content_type="image/png")
    assert process(data, declared=exact).metadata["bytes"] == len(data)


@pytest.mark.parametrize(
    ("data", "declared_type", "code"),
    [
        pytest.param(
            images.encode(images.picture(50, 50), "JPEG"),
            "image/png",
            "CONTENT_TYPE_MISMATCH",
            id="jpeg-as-png",
        ),
        pytest.param(
            images.encode(images.picture(50, 50), "PNG"),
            "image/jpeg",
            "CONTENT_TYPE_MISMATCH",
            id="png-as-jpeg",
        ),
        pytest.param(
            images.animated("GIF"), "image/webp", "CONTENT_TYPE_MISMATCH", id="gif-as-webp"
        ),
        # Not an image at all: the more useful answer is that it is not an accepted type.
        pytest.param(images.SVG, "image/png", "UNSUPPORTED_TYPE", id="svg-as-png"),
        pytest.param(
            images.encode(images.picture(50, 50), "PNG"), "image/png", None, id="png-as-png"
        ),
        pytest.param(images.encode(images.picture(50, 50), "PNG"), "IMAGE/PNG", None, id="case"),
        # One container, two names: phones and browsers do not agree which a file gets.
        pytest.param(images.heic(), "image/heif", None, id="heic-as-heif"),
    ],
)
def test_the_declared_type_is_rechecked_against_the_magic_bytes(
    data: bytes, declared_type: str, code: str | None
) -> None:
    declared = Declared(size=len(data), content_type=declared_type)
    if code is None:
        assert_clean_outputs(process(data, declared=declared))
    else:
        error = refused_with(data, declared=declared)
        assert error.code == code
        if code == "CONTENT_TYPE_MISMATCH":
            assert declared_type in error.message


# --- images larger than an encoder holds -----------------------------------------------------


def test_a_transparent_image_wider_than_webp_allows_keeps_every_pixel_as_png() -> None:
    """20000 px is above WebP's 16383: it used to end CORRUPT_IMAGE ("exceeds WebP limit")."""
    result = process(images.wide_transparent_png(20_000, 2_000))

    original = decode(result.original)
    assert (result.original.name, original.format, original.size) == (
        "original.png",
        "PNG",
        (20_000, 2_000),
    )
    assert original.getpixel((10, 10)) == (30, 120, 200, 0)  # lossless, alpha included
    assert original.getpixel((10, 700)) == (200, 30, 40, 255)
    assert result.metadata["hasAlpha"] is True
    assert result.metadata["scaledToFit"] is False
    assert [(v.name, v.width, v.height) for v in result.variants[:2]] == [
        ("1600w.webp", 1600, 160),
        ("1600w.jpg", 1600, 160),
    ]
    assert_clean_outputs(result)


def test_a_panorama_wider_than_jpeg_allows_is_scaled_to_fit() -> None:
    """70000 px is above libjpeg's 65500: it used to end CORRUPT_IMAGE ("broken data stream")."""
    result = process(images.flat_png(70_000, 500))

    assert (result.original.name, result.original.width, result.original.height) == (
        "original.jpg",
        65_500,
        467,
    )
    assert (result.metadata["width"], result.metadata["height"]) == (70_000, 500)
    assert result.metadata["scaledToFit"] is True
    assert all((v.width, v.height) == (1600, 11) for v in result.variants[:2])
    assert_clean_outputs(result)


def test_variants_of_a_very_tall_image_are_scaled_into_each_encoders_limits() -> None:
    result = process(images.flat_png(300, 20_000))

    sizes = {v.name: (v.width, v.height) for v in result.variants}
    # The JPEG holds the variant at its own width; WebP stops at 16383 px.
    assert sizes == {"300w.jpg": (300, 20_000), "300w.webp": (245, 16_383)}
    assert result.metadata["scaledToFit"] is True
    assert (result.original.width, result.original.height) == (300, 20_000)
    assert_clean_outputs(result)


def test_variants_are_capped_in_pixels() -> None:
    data = images.encode(images.picture(1000, 4000), "PNG")
    result = process(data, ProcessOptions(widths=(800,), variant_max_pixels=1_000_000))
    assert {(v.width, v.height) for v in result.variants} == {(500, 2000)}
    assert result.metadata["scaledToFit"] is True
    assert (result.original.width, result.original.height) == (1000, 4000)

    roomy = process(data, ProcessOptions(widths=(800,)))
    assert {(v.width, v.height) for v in roomy.variants} == {(800, 3200)}
    assert roomy.metadata["scaledToFit"] is False


# --- memory ----------------------------------------------------------------------------------


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[int, int]]]:
    """Every image Pillow is asked to decode (mode, size), in order."""
    asked: list[tuple[str, tuple[int, int]]] = []
    load = ImageFile.ImageFile.load

    def recording(self: ImageFile.ImageFile) -> Any:
        asked.append((self.mode, self.size))
        return load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", recording)
    return asked


@pytest.mark.parametrize(
    ("bit_depth", "colour_type", "bytes_per_pixel"),
    [
        pytest.param(8, 6, 4, id="RGBA"),
        pytest.param(8, 2, 4, id="RGB"),  # Pillow stores RGB in 4 bytes per pixel
        pytest.param(8, 4, 4, id="LA"),
        pytest.param(8, 3, 4, id="palette"),  # counts as the RGBA it may become
        pytest.param(16, 0, 2, id="16-bit-grey"),
        pytest.param(8, 0, 1, id="grey"),
        pytest.param(1, 0, 1, id="1-bit"),  # Pillow's "1" mode: a byte per pixel
    ],
)
def test_the_decoded_size_is_estimated_from_the_header_before_decoding(
    loads: list[tuple[str, tuple[int, int]]], bit_depth: int, colour_type: int, bytes_per_pixel: int
) -> None:
    """The file announces 1000x1000 pixels but holds one row: decoding it would fail, so
    ``TOO_MANY_PIXELS`` means the estimate refused it, ``CORRUPT_IMAGE`` that it was decoded."""
    data = images.png_bomb(1000, 1000, bit_depth, colour_type)
    budget = 1_000_000 * bytes_per_pixel

    below = refused_with(data, ProcessOptions(max_decoded_bytes=budget - 1))
    assert below.code == "TOO_MANY_PIXELS"
    assert f"the limit is {(budget - 1) // bytes_per_pixel} pixels" in below.message
    assert loads == []  # Pillow was never asked to decode it

    assert refused(data, ProcessOptions(max_decoded_bytes=budget)) == "CORRUPT_IMAGE"
    assert {size for _, size in loads} == {(1000, 1000)}  # now it was


def test_the_default_decode_budget_is_an_rgba_image_at_the_pixel_limit(
    loads: list[tuple[str, tuple[int, int]]],
) -> None:
    """Every mode Pillow decodes to takes at most 4 bytes per pixel: by default the budget
    refuses nothing the pixel limit lets through."""
    options = ProcessOptions(max_pixels=1_000_000)
    assert options.decode_budget == 4_000_000
    assert refused(images.png_bomb(1000, 1000, 8, 6), options) == "CORRUPT_IMAGE"  # decoded
    assert loads


def test_greyscale_sources_stay_greyscale() -> None:
    """A greyscale JPEG holds a third of the data of an RGB one, and the frame a quarter."""
    one_bit = Image.linear_gradient("L").resize((400, 300)).convert("1")
    for im in (one_bit, Image.linear_gradient("L").resize((400, 300))):
        result = process(images.encode(im, "PNG"))
        assert decode(result.original).mode == "L", im.mode
        assert {decode(v).mode for v in result.variants if v.format == "jpeg"} == {"L"}
        assert result.metadata["hasAlpha"] is False
        assert_clean_outputs(result)


def test_a_transparent_original_whose_webp_encoder_would_not_fit_is_a_lossless_png() -> None:
    im = images.transparent(300, 200)
    data = images.encode(im, "PNG")
    result = process(data, ProcessOptions(encode_memory=1))

    assert (result.original.name, result.original.content_type) == ("original.png", "image/png")
    assert decode(result.original).tobytes() == im.tobytes()
    assert [v.name for v in result.variants] == ["300w.webp", "300w.jpg"]
    assert result.metadata["scaledToFit"] is False
    # With room, the same image keeps its WebP original; the variants are the same bytes.
    roomy = process(data)
    assert roomy.original.name == "original.webp"
    assert [v.data for v in roomy.variants] == [v.data for v in result.variants]
    assert_clean_outputs(result)


# --- messages --------------------------------------------------------------------------------


def test_decoder_failures_answer_a_fixed_message(caplog: pytest.LogCaptureFixture) -> None:
    data = images.encode(images.picture(400, 300), "PNG")
    with caplog.at_level(logging.INFO, logger="asyncimg_processor.core"):
        error = refused_with(data[: len(data) // 2])
    assert (error.code, error.message) == ("CORRUPT_IMAGE", FIXED_MESSAGES["CORRUPT_IMAGE"])
    # What Pillow said is for the log only.
    assert "could not decode a image/png file: OSError" in caplog.text


def test_pillows_own_bomb_guard_answers_a_fixed_message() -> None:
    # Above Pillow's limit (2 x 89 478 485 pixels), below ours: Pillow's guard speaks.
    error = refused_with(images.png_bomb(20_000, 10_000), ProcessOptions(max_pixels=10**10))
    assert (error.code, error.message) == ("TOO_MANY_PIXELS", FIXED_MESSAGES["TOO_MANY_PIXELS"])


def test_an_unreadable_colour_profile_is_noted_without_the_parsers_text() -> None:
    data = images.encode(images.picture(100, 100), "JPEG", icc_profile=b"junk" * 40)
    assert process(data).metadata["colorProfile"] == "ignored: unreadable colour profile"


def test_an_encoder_failure_is_a_bug_not_a_corrupt_upload(monkeypatch: pytest.MonkeyPatch) -> None:
    """No decodable image makes an encoder fail any more; should one, the error must reach the
    handler (which retries, then dead-letters the message) instead of blaming the uploader with
    CORRUPT_IMAGE. The failing encoder is simulated: nothing real triggers one now."""
    from asyncimg_processor import core

    def broken(*args: object, **kwargs: object) -> Output:
        raise ValueError("encoder bug")

    monkeypatch.setattr(core, "_encode", broken)
    with pytest.raises(ValueError, match="encoder bug"):
        process(images.encode(images.picture(100, 100), "PNG"))


# --- the source's own bytes as the original ---------------------------------------------------


def upright_jpeg_with_metadata(**params: Any) -> bytes:
    """An upright JPEG carrying camera data, a location, XMP and a comment."""
    exif = Image.Exif()
    exif[0x010F] = "Canon"  # Make
    gps = exif.get_ifd(0x8825)
    gps[2] = (48.0, 51.0, 24.0)  # GPSLatitude
    return images.encode(
        images.picture(1200, 900),
        "JPEG",
        quality=90,
        exif=exif,
        xmp=b"<x:xmpmeta>GPS 48.8566</x:xmpmeta>",
        comment=b"GPS secret comment",
        **params,
    )


@pytest.mark.parametrize("progressive", [False, True])
def test_upright_jpeg_keeps_its_own_pixels_without_metadata(progressive: bool) -> None:
    """No re-encode: the original decodes to exactly the source's pixels, and carries none of
    its metadata (EXIF, GPS, XMP, comment)."""
    data = upright_jpeg_with_metadata(progressive=progressive)
    result = process(data)

    assert result.original.data != data
    assert len(result.original.data) < len(data)
    assert b"secret" not in result.original.data
    assert b"xmpmeta" not in result.original.data
    assert decode(result.original).tobytes() == Image.open(io.BytesIO(data)).tobytes()
    assert (result.original.width, result.original.height) == (1200, 900)
    assert result.metadata["exif"]["make"] == "Canon"
    assert_clean_outputs(result)


def test_bytes_after_the_jpeg_never_reach_the_original() -> None:
    """A file appended to a JPEG (a polyglot, an MPO's second image) is cut at the first EOI."""
    data = upright_jpeg_with_metadata()
    appended = b"<script>alert(1)</script>" + upright_jpeg_with_metadata()
    result = process(data + appended)

    assert b"<script>" not in result.original.data
    assert result.original.data.endswith(b"\xff\xd9")
    assert result.original.data.count(b"\xff\xd8") == 1
    assert decode(result.original).tobytes() == Image.open(io.BytesIO(data)).tobytes()


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(images.jpeg_with_orientation_and_gps, id="turned"),
        pytest.param(
            lambda: images.encode(
                images.picture(800, 600),
                "JPEG",
                icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes(),
            ),
            id="colour-profile",
        ),
        pytest.param(lambda: images.encode(images.picture(800, 600, "CMYK"), "JPEG"), id="cmyk"),
    ],
)
def test_jpeg_whose_pixels_change_is_re_encoded(make: Any) -> None:
    data = make()
    result = process(data)

    # A fresh baseline JPEG from Pillow's encoder: it starts with the JFIF segment the source's
    # bytes (with their EXIF or profile first) would not have at that place.
    assert result.original.data[:4] == b"\xff\xd8\xff\xe0"
    assert not result.original.data[2:].startswith(data[2:64])
    assert_clean_outputs(result)


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda d: d[:4] + b"\xff\xff" + d[6:], id="segment-longer-than-file"),
        pytest.param(lambda d: d.replace(b"\xff\xd9", b""), id="no-eoi"),
    ],
)
def test_malformed_jpeg_that_does_not_decode_is_corrupt(damage: Any) -> None:
    with pytest.raises(ProcessingError) as raised:
        process(damage(upright_jpeg_with_metadata()))
    assert raised.value.code == "CORRUPT_IMAGE"


def test_stray_bytes_between_segments_fall_back_to_re_encoding() -> None:
    """Pillow skips a stray byte between segments; the segment walk does not copy such a
    stream: it is decoded and re-encoded like any other image."""
    data = upright_jpeg_with_metadata()
    result = process(data[:20] + b"\x00" + data[20:])

    assert result.original.data[:4] == b"\xff\xd8\xff\xe0"
    assert b"secret" not in result.original.data
    assert_clean_outputs(result)
