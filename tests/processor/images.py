"""A corpus of tricky images, generated with Pillow so the tests need no downloads."""

from __future__ import annotations

import io
import struct
import zlib

import pillow_heif
from PIL import ExifTags, Image, ImageDraw

pillow_heif.register_heif_opener()


def picture(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """A non-flat picture (gradients and shapes) so encoders and resizers do real work."""
    base = Image.merge(
        "RGB",
        (
            Image.linear_gradient("L").resize((width, height)),
            Image.radial_gradient("L").resize((width, height)),
            Image.linear_gradient("L").rotate(90).resize((width, height)),
        ),
    )
    draw = ImageDraw.Draw(base)
    draw.ellipse((width // 4, height // 4, width // 2, height // 2), fill=(200, 30, 40))
    return base.convert(mode) if mode != "RGB" else base


def encode(im: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def jpeg_with_orientation_and_gps(width: int = 1000, height: int = 500) -> bytes:
    """A landscape JPEG stored sideways (orientation 6) carrying camera data and a location."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "Canon"
    exif[ExifTags.Base.Model] = "EOS R5"
    details = exif.get_ifd(ExifTags.IFD.Exif)
    details[ExifTags.Base.DateTimeOriginal] = "2024:05:01 10:20:30"
    details[ExifTags.Base.ExposureTime] = 0.008
    details[ExifTags.Base.FNumber] = 2.8
    details[ExifTags.Base.ISOSpeedRatings] = 400
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (48.0, 51.0, 24.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (2.0, 21.0, 7.0)
    return encode(picture(width, height), "JPEG", exif=exif, quality=90)


def animated(fmt: str, frames: int = 3, size: tuple[int, int] = (64, 48)) -> bytes:
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    images = [Image.new("RGB", size, colours[i % len(colours)]) for i in range(frames)]
    return encode(images[0], fmt, save_all=True, append_images=images[1:], duration=100, loop=0)


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_bomb(
    width: int = 60_000, height: int = 60_000, bit_depth: int = 8, colour_type: int = 2
) -> bytes:
    """A tiny file whose header claims ``width`` x ``height`` pixels (IDAT holds one row).

    ``colour_type`` is PNG's: 0 greyscale, 2 RGB, 3 palette, 4 greyscale + alpha, 6 RGBA."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    palette = png_chunk(b"PLTE", bytes(768)) if colour_type == 3 else b""
    idat = zlib.compress(b"\x00" + b"\x00" * 3 * 16)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + palette
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def transparent(width: int, height: int) -> Image.Image:
    """An RGBA picture whose alpha is a gradient: it keeps its alpha channel."""
    im = picture(width, height, "RGBA")
    im.putalpha(Image.linear_gradient("L").resize((width, height)))
    return im


def wide_transparent_png(width: int = 20_000, height: int = 2_000) -> bytes:
    """A transparent PNG of KBs, however wide: flat colour, a band of opaque pixels."""
    im = Image.new("RGBA", (width, height), (30, 120, 200, 0))
    ImageDraw.Draw(im).rectangle((0, height // 4, width, height // 2), fill=(200, 30, 40, 255))
    return encode(im, "PNG")


def flat_png(width: int, height: int, mode: str = "RGB") -> bytes:
    """An opaque PNG of KBs, however large: two flat halves."""
    im = Image.new(mode, (width, height), "white")
    ImageDraw.Draw(im).rectangle((0, 0, width // 2, height), fill="black")
    return encode(im, "PNG")


def heic(width: int = 64, height: int = 48) -> bytes:
    return encode(picture(width, height), "HEIF", quality=80)


SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>alert(1)</script></svg>"
)
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
