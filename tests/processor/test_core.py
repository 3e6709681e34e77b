"""The processing core against a corpus of tricky images generated in the test."""

from __future__ import annotations

import contextlib
import io
import random
import time

import pytest
from PIL import Image, ImageCms, features

from asyncimg_processor.core import Output, ProcessOptions, ProcessResult, process, sniff
from asyncimg_processor.errors import ProcessingError
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
        assert im.format == {"jpeg": "JPEG", "webp": "WEBP"}[output.format]
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
    pixel = decode(result.original).getpixel((10, 10))
    assert isinstance(pixel, tuple)
    assert pixel == pytest.approx((128, 128, 128), abs=2)
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


def refused(data: bytes, options: ProcessOptions = DEFAULT) -> str:
    with pytest.raises(ProcessingError) as info:
        process(data, options)
    return info.value.code


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
