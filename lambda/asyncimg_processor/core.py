"""The processing core: image bytes in, normalised original + resized variants + metadata out.

Pure (no I/O besides the bytes given), so the same function serves Lambda, the Django worker, the
tests and the benchmark. The rules it applies are documented in ``docs/processor.md``; in short:

* the type comes from the magic bytes, never from a name or a declared content type;
* the pixel count is checked from the header, before any pixel is decoded;
* EXIF orientation is applied, then every piece of metadata is dropped (outputs carry none);
* colours are converted to sRGB when an ICC profile says otherwise, modes become RGB or RGBA;
* animated images are reduced to their first frame (``animated``/``frames`` in the metadata);
* nothing is ever upscaled; JPEG outputs of images with transparency are flattened on white.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final

import pillow_heif
from PIL import ExifTags, Image, ImageCms, UnidentifiedImageError, features

from asyncimg_processor.errors import (
    CORRUPT_IMAGE,
    EMPTY_FILE,
    FILE_TOO_LARGE,
    TOO_MANY_PIXELS,
    UNSUPPORTED_TYPE,
    ProcessingError,
)

# Registers the "HEIF" plugin with Pillow; done at import so every Image.open below can use it.
pillow_heif.register_heif_opener()

DEFAULT_ALLOWED_TYPES: Final = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/gif",
        "image/heic",
        "image/heif",
        "image/avif",
    }
)

#: Content type → (Pillow plugin that may decode it, short format name used in metadata).
_DECODERS: Final[dict[str, tuple[str, str]]] = {
    "image/jpeg": ("JPEG", "jpeg"),
    "image/png": ("PNG", "png"),
    "image/gif": ("GIF", "gif"),
    "image/webp": ("WEBP", "webp"),
    "image/heic": ("HEIF", "heic"),
    "image/heif": ("HEIF", "heif"),
    "image/avif": ("AVIF", "avif"),
}

#: Output format → (content type, file extension).
_ENCODERS: Final[dict[str, tuple[str, str]]] = {
    "jpeg": ("image/jpeg", "jpg"),
    "webp": ("image/webp", "webp"),
}

_HEIC_BRANDS: Final = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"})
_AVIF_BRANDS: Final = frozenset({b"avif", b"avis"})
_HEIF_BRANDS: Final = frozenset({b"mif1", b"msf1"})

# ImageOps.exif_transpose's table: EXIF orientation → the transposition that undoes it.
_TRANSPOSE: Final[dict[int, Image.Transpose]] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

_WHITE: Final = (255, 255, 255)


@dataclass(frozen=True)
class ProcessOptions:
    """What to produce and what to refuse. Defaults match the app's settings defaults."""

    widths: tuple[int, ...] = (320, 800, 1600)
    formats: tuple[str, ...] = ("webp", "jpeg")
    max_pixels: int = 50_000_000
    max_bytes: int = 10 * 1024 * 1024
    allowed_types: frozenset[str] = DEFAULT_ALLOWED_TYPES
    #: Produce the full-size, metadata-free ``original`` output. Without it, JPEGs are decoded
    #: at a reduced scale (shrink-on-load), which is most of the speed of the variants-only job.
    include_original: bool = True
    jpeg_quality: int = 82
    webp_quality: int = 80
    #: libwebp effort 0-6. Measured on a 1600 px photo: method 2 costs 36 ms and 6 % more bytes
    #: than method 4, which costs 98 ms (methods 3-6 all cost ~100 ms for <1 % fewer bytes).
    webp_method: int = 4
    #: Progressive JPEG: 5-10 % smaller than baseline and renders early on slow links; it costs
    #: a second pass (~12 ms vs ~4 ms at 1600 px), small next to the WebP encode.
    jpeg_progressive: bool = True
    #: The original is kept at a higher quality than the variants: it is the master copy. It is
    #: a baseline JPEG with optimised tables: at 12 MP progressive costs 138 ms, baseline 62 ms,
    #: for the same size within 1 %.
    original_quality: int = 90
    #: libwebp effort for the original of a transparent image (a full-size WebP q90). Its
    #: lossless alpha plane makes it the most expensive output by far: on a 6 MP RGBA photo
    #: method 4 costs 1134 ms, method 2 648 ms for 3 % fewer bytes, method 0 390 ms for 7 % more
    #: (same PSNR within 0.05 dB); on a flat graphic method 2 costs 12 % more bytes than 4.
    original_webp_method: int = 2
    encode_threads: int = 2

    def __post_init__(self) -> None:
        unknown = set(self.formats) - {"webp", "jpeg"}
        if unknown or not self.formats:
            raise ValueError(f"variant formats must be webp and/or jpeg, got {self.formats!r}")
        if not self.widths or any(w < 1 for w in self.widths):
            raise ValueError(f"variant widths must be positive, got {self.widths!r}")


@dataclass(frozen=True)
class Output:
    """One encoded file. ``name`` is the file name under the upload's processed folder."""

    name: str
    width: int
    height: int
    format: str
    content_type: str
    data: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class ProcessResult:
    original: Output
    variants: list[Output]
    metadata: dict[str, Any]


def sniff(data: bytes) -> str | None:
    """The content type the magic bytes announce, or None. Says nothing about decodability."""
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":
        return _sniff_isobmff(data)
    return None


def _sniff_isobmff(data: bytes) -> str | None:
    # The ftyp box lists a major brand and compatible brands; HEIC and AVIF share the container.
    box_size = int.from_bytes(data[0:4], "big")
    major = data[8:12]
    compatible = {data[i : i + 4] for i in range(16, min(box_size, len(data), 256) - 3, 4)}
    if major in _AVIF_BRANDS:
        return "image/avif"
    if major in _HEIC_BRANDS:
        return "image/heic"
    if major in _HEIF_BRANDS:
        if compatible & _AVIF_BRANDS:
            return "image/avif"
        if compatible & _HEIC_BRANDS:
            return "image/heic"
        return "image/heif"
    return None


def decodable_types() -> frozenset[str]:
    """Content types this installation can decode (AVIF needs Pillow built with libavif)."""
    types = set(_DECODERS)
    if not features.check("avif"):
        types.discard("image/avif")
    return frozenset(types)


def process(data: bytes, options: ProcessOptions | None = None) -> ProcessResult:
    """Validate, decode, normalise and encode ``data``.

    Raises :class:`ProcessingError` for every problem with the bytes themselves; any other
    exception is a bug or an exhausted machine (MemoryError), not a property of the upload.
    """
    options = options or ProcessOptions()
    if not data:
        raise ProcessingError(EMPTY_FILE, "The file is empty.")
    if len(data) > options.max_bytes:
        raise ProcessingError(
            FILE_TOO_LARGE,
            f"The file has {len(data)} bytes; the limit is {options.max_bytes}.",
        )
    content_type = sniff(data)
    if content_type is None or content_type not in options.allowed_types:
        raise ProcessingError(
            UNSUPPORTED_TYPE,
            "The file is not an image of an accepted type "
            f"({', '.join(sorted(options.allowed_types))}).",
        )
    if content_type not in decodable_types():
        raise ProcessingError(UNSUPPORTED_TYPE, f"{content_type} cannot be decoded here.")
    try:
        return _process(data, content_type, options)
    except (ProcessingError, MemoryError):
        raise
    except Image.DecompressionBombError as exc:
        raise ProcessingError(TOO_MANY_PIXELS, str(exc)) from exc
    except Exception as exc:
        # Pillow and its plugins raise OSError, ValueError, SyntaxError, EOFError, struct.error,
        # RuntimeError... for damaged files; all mean the same thing to the uploader.
        raise ProcessingError(
            CORRUPT_IMAGE, f"The image could not be decoded ({type(exc).__name__}: {exc})."
        ) from exc


@dataclass(frozen=True)
class _Plan:
    width: int  # upright, full-resolution size of the source
    height: int
    variant_widths: tuple[int, ...]  # descending, never above ``width``
    transpose: Image.Transpose | None  # what turns the stored pixels upright

    def size_at(self, width: int) -> tuple[int, int]:
        """Upright size of the output ``width`` pixels wide."""
        return width, max(1, round(self.height * width / self.width))

    def stored(self, size: tuple[int, int]) -> tuple[int, int]:
        """The same size in the stored orientation."""
        return (size[1], size[0]) if self.transpose in _SWAPS else size


_SWAPS: Final = frozenset(
    {
        Image.Transpose.TRANSPOSE,
        Image.Transpose.TRANSVERSE,
        Image.Transpose.ROTATE_90,
        Image.Transpose.ROTATE_270,
    }
)


def _plan(
    width: int, height: int, transpose: Image.Transpose | None, options: ProcessOptions
) -> _Plan:
    widths = sorted({w for w in options.widths if w <= width}, reverse=True)
    # Never upscale: a source narrower than every configured width gets one variant per format
    # at its own width, so clients always find each format.
    return _Plan(width, height, tuple(widths) or (width,), transpose)


def _process(data: bytes, content_type: str, options: ProcessOptions) -> ProcessResult:
    plugin, source_format = _DECODERS[content_type]
    try:
        im = Image.open(io.BytesIO(data), formats=[plugin])
    except UnidentifiedImageError as exc:
        raise ProcessingError(
            CORRUPT_IMAGE, f"The file looks like {source_format} but cannot be read."
        ) from exc

    # Everything up to here read the header only: refuse bombs before any pixel is decoded.
    stored_w, stored_h = im.size
    if stored_w < 1 or stored_h < 1:
        raise ProcessingError(CORRUPT_IMAGE, "The image has no pixels.")
    if stored_w * stored_h > options.max_pixels:
        raise ProcessingError(
            TOO_MANY_PIXELS,
            f"The image is {stored_w}x{stored_h} pixels; the limit is {options.max_pixels}.",
        )

    exif = _read_exif(im)
    orientation = exif.get(ExifTags.Base.Orientation, 1) if exif is not None else 1
    transpose = _TRANSPOSE.get(orientation) if isinstance(orientation, int) else None
    width, height = (stored_h, stored_w) if transpose in _SWAPS else (stored_w, stored_h)
    plan = _plan(width, height, transpose, options)

    # n_frames parses frame headers only (GIF, WebP, HEIF) and the first frame is the one used.
    frames = int(getattr(im, "n_frames", 1) or 1)
    animated = bool(getattr(im, "is_animated", False)) and frames > 1
    if animated:
        im.seek(0)

    if plugin == "JPEG" and not options.include_original:
        # Shrink-on-load: libjpeg decodes at 1/2, 1/4 or 1/8 scale, never below the largest
        # variant (draft picks the smallest scale that is still >= the requested size).
        scale = plan.variant_widths[0] / width
        im.draft(None, (math.ceil(stored_w * scale), math.ceil(stored_h * scale)))
    im.load()

    icc = im.info.get("icc_profile") or None
    frame, colour = _normalise(im, icc)
    # Outputs must carry no metadata at all; encoders read some keys (icc_profile, exif,
    # transparency...) from ``info``, and every derived image copies it.
    frame.info = {}
    has_alpha = frame.mode == "RGBA"
    # Hand the only references to the decoded pixels over to _render, which drops them once
    # the first variant exists: the full-size frame is the biggest allocation of the job.
    work = [frame]
    del im, frame
    outputs, dominant = _render(work, plan, options, has_alpha)
    metadata: dict[str, Any] = {
        "width": width,
        "height": height,
        "format": source_format,
        "contentType": content_type,
        "bytes": len(data),
        "orientation": orientation if transpose is not None else 1,
        "orientationApplied": transpose is not None,
        "animated": animated,
        "frames": frames,
        "hasAlpha": has_alpha,
        "colorProfile": colour,
        "exif": _exif_summary(exif),
        "dominantColor": dominant,
    }
    # Without a separate original, the largest variant stands in for it.
    variants = outputs[1:] if options.include_original else outputs
    return ProcessResult(original=outputs[0], variants=variants, metadata=metadata)


def _read_exif(im: Image.Image) -> Image.Exif | None:
    try:
        return im.getexif()
    except Exception:
        # A damaged EXIF block loses the metadata summary, not the image.
        return None


# --- colour and mode normalisation -------------------------------------------------------------


@lru_cache(maxsize=32)
def _profile(icc: bytes) -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(io.BytesIO(icc))


@lru_cache(maxsize=32)
def _srgb_transform(icc: bytes, in_mode: str, out_mode: str) -> ImageCms.ImageCmsTransform:
    # Building a transform costs more than applying it to a small image; a Lambda container
    # sees the same few camera profiles (Display P3, Adobe RGB...) over and over.
    return ImageCms.buildTransform(_profile(icc), _SRGB, in_mode, out_mode)


_SRGB: Final = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _normalise(im: Image.Image, icc: bytes | None) -> tuple[Image.Image, str | None]:
    """Return an RGB or RGBA image in sRGB, and what was done with the colour profile.

    The profile note is ``None`` (no profile, or already sRGB), ``"converted: <description>"``
    or ``"ignored: <reason>"`` when the profile cannot be used (the pixels are kept as-is).
    """
    colour: str | None = None
    if icc and im.mode in ("RGB", "RGBA", "CMYK"):
        try:
            description = ImageCms.getProfileDescription(_profile(icc)).strip()
            if not description.startswith("sRGB") or im.mode == "CMYK":
                out_mode = "RGBA" if im.mode == "RGBA" else "RGB"
                converted = ImageCms.applyTransform(im, _srgb_transform(icc, im.mode, out_mode))
                im = converted if converted is not None else im
                colour = f"converted: {description}"[:100]
        except (OSError, ValueError, ImageCms.PyCMSError) as exc:
            colour = f"ignored: {exc}"[:100]

    mode = im.mode
    if mode == "P" or mode == "PA":
        im = im.convert("RGBA" if mode == "PA" or "transparency" in im.info else "RGB")
    elif mode in ("LA", "La", "RGBa"):
        im = im.convert("RGBA")
    elif mode.startswith("I;16") or mode == "I":
        # 16-bit greyscale: scale to 8 bits (a plain convert would clip everything above 255).
        im = im.convert("I").point(lambda v: v * (1 / 256)).convert("L").convert("RGB")
    elif mode not in ("RGB", "RGBA"):
        im = im.convert("RGB")
    if im.mode == "RGBA" and im.getchannel("A").getextrema() == (255, 255):
        # A fully opaque alpha channel is noise: dropping it lets the original be a JPEG.
        im = im.convert("RGB")
    return im, colour


# --- resizing and encoding ---------------------------------------------------------------------


def _render(
    work: list[Image.Image], plan: _Plan, options: ProcessOptions, has_alpha: bool
) -> tuple[list[Output], str | None]:
    """Encode the original and the variants; return them (original first) and the dominant colour.

    ``work`` holds the only reference to the frame, still in stored orientation. The first,
    largest variant is resized from it in horizontal strips on the pool (see :func:`_shrink`);
    every smaller size is resized from the previous one in that orientation and only the (small)
    results are turned upright, which is cheaper than rotating the full-size source first.
    Encoding dominates the cost and Pillow releases the GIL while encoding and resizing, so the
    encoders run in a small pool while this thread produces the next, smaller, size.

    Transparent images are resized premultiplied (``RGBa``, what Pillow's own RGBA resize does
    internally for every call): converted strip by strip on the way down, and back to ``RGBA``
    only per encoded output.
    """
    frame = work.pop()
    futures: list[Future[Output]] = []
    with ThreadPoolExecutor(max_workers=options.encode_threads) as pool:
        first_width = plan.variant_widths[0]
        current = _shrink(frame, plan.stored(plan.size_at(first_width)), pool)
        if options.include_original:
            # Submitted only now: while the strips run, both threads resize.
            fmt = "webp" if has_alpha else "jpeg"
            futures.append(
                pool.submit(
                    _encode_upright,
                    frame,
                    plan,
                    fmt,
                    "original",
                    plan.size_at(plan.width),
                    options.original_quality,
                    options,
                    original=True,
                )
            )
        # The full-size frame is the biggest allocation of the job: only the original's encoder
        # may still hold it.
        del frame
        for width in plan.variant_widths:
            size = plan.size_at(width)
            stored = plan.stored(size)
            if current.size != stored:
                current = current.resize(stored, Image.Resampling.BICUBIC)
            upright = current
            if current.mode == "RGBa" and plan.transpose is None:
                # Back to RGBA once for both encoders (here, not in each encoder thread): only
                # the WebP encoder saves it, the JPEG one saves a flattened copy.
                upright = current.convert("RGBA")
            for i, fmt in enumerate(_ordered(options.formats)):
                quality = options.webp_quality if fmt == "webp" else options.jpeg_quality
                # Image.save stores its parameters on the image object, so two threads must
                # never save the same object: only one encoder may use ``upright`` itself
                # (turning it upright or flattening it makes a new image anyway).
                shared = i > 0 and upright.mode == "RGB" and plan.transpose is None
                source = upright.copy() if shared else upright
                futures.append(
                    pool.submit(
                        _encode_upright, source, plan, fmt, f"{width}w", size, quality, options
                    )
                )
        dominant = _dominant_color(current)
        outputs = [f.result() for f in futures]
    return outputs, dominant


#: Output rows per strip of the first resize: small enough that the strips' temporaries stay a
#: few MB, large enough that the per-call overhead is noise.
_STRIP_ROWS: Final = 64
#: Filter support of bicubic, in source pixels per unit of scale.
_BICUBIC_SUPPORT: Final = 2.0


def _shrink(frame: Image.Image, size: tuple[int, int], pool: ThreadPoolExecutor) -> Image.Image:
    """Resize the full-size ``frame`` (RGB or RGBA) to ``size``, bicubic, strip by strip.

    Equivalent to ``frame.resize(size, BICUBIC, reducing_gap=1.0)`` (a box reduce by the integer
    part of the scale, then bicubic), but:

    * the strips run on the pool, in parallel (the biggest resize of the job, up to ~100 ms);
    * each strip reads its source rows plus the filter's margin, with the box reduce aligned on
      the same grid as a whole-image reduce, so the result is the same pixels;
    * for RGBA only a strip at a time is premultiplied (Pillow's RGBA resize converts the whole
      image to RGBa first: a second full-size copy) and the result stays ``RGBa``;
    * no full-height intermediate: Pillow's two-pass resize keeps a (new width x old height)
      buffer, 26 MB for a rotated 12 MP photo.

    Returns a new image (``RGBa`` for RGBA input), even when no resize is needed.
    """
    mode = "RGBa" if frame.mode == "RGBA" else frame.mode
    in_w, in_h = frame.size
    out_w, out_h = size
    if (in_w, in_h) == size:
        return frame.convert(mode) if mode != frame.mode else frame.copy()
    scale_y = in_h / out_h
    # reducing_gap=1.0: box-reduce by the integer part of the scale first, like Pillow does.
    fx, fy = max(1, int(in_w / out_w)), max(1, int(scale_y))
    margin = math.ceil(_BICUBIC_SUPPORT * scale_y) + 1

    def strip(top: int, bottom: int) -> Image.Image:
        y0, y1 = top * scale_y, bottom * scale_y
        # Crop rows aligned on the reduce grid, so the reduced rows are the whole image's.
        first = max(0, math.floor(y0) - margin) // fy * fy
        last = min(in_h, -(-(math.ceil(y1) + margin) // fy) * fy)
        rows = (0, first, in_w, last)
        if mode != frame.mode:
            # Premultiply this strip only (reduce and resize would convert the whole frame).
            part = frame.crop(rows).convert(mode)
            rows = (0, 0, in_w, last - first)
        elif fx == 1 and fy == 1:
            # Resize reads the rows it needs straight from the frame: no copy at all.
            box = (0.0, y0, float(in_w), y1)
            return frame.resize((out_w, bottom - top), Image.Resampling.BICUBIC, box=box)
        else:
            part = frame
        if fx > 1 or fy > 1:
            part = part.reduce((fx, fy), box=rows)
        box = (0.0, (y0 - first) / fy, in_w / fx, (y1 - first) / fy)
        return part.resize((out_w, bottom - top), Image.Resampling.BICUBIC, box=box)

    out = Image.new(mode, size)
    bounds = [(top, min(out_h, top + _STRIP_ROWS)) for top in range(0, out_h, _STRIP_ROWS)]
    for (top, _), part in zip(bounds, pool.map(lambda b: strip(*b), bounds), strict=True):
        out.paste(part, (0, top))
    return out


def _encode_upright(
    im: Image.Image,
    plan: _Plan,
    fmt: str,
    stem: str,
    size: tuple[int, int],
    quality: int,
    options: ProcessOptions,
    *,
    original: bool = False,
) -> Output:
    # transpose() and convert() return new images, so each encoder saves an object of its own.
    upright = im.transpose(plan.transpose) if plan.transpose is not None else im
    if upright.mode == "RGBa":
        upright = upright.convert("RGBA")
    return _encode(upright, fmt, stem, size, quality, options, original=original)


def _ordered(formats: Iterable[str]) -> list[str]:
    # WebP is the slowest encoder: start it first so the pool finishes sooner.
    return sorted(dict.fromkeys(formats), key=lambda f: f != "webp")


def _encode(
    im: Image.Image,
    fmt: str,
    stem: str,
    size: tuple[int, int],
    quality: int,
    options: ProcessOptions,
    *,
    original: bool = False,
) -> Output:
    content_type, ext = _ENCODERS[fmt]
    buf = io.BytesIO()
    if fmt == "jpeg":
        if im.mode == "RGBA":
            im = _flatten(im)
        # The original is baseline; progressive JPEG always gets optimised Huffman tables,
        # baseline asks for them (the same bytes saving as progressive, for half its cost).
        progressive = options.jpeg_progressive and not original
        im.save(buf, "JPEG", quality=quality, progressive=progressive, optimize=not progressive)
    else:
        method = options.original_webp_method if original else options.webp_method
        im.save(buf, "WEBP", quality=quality, method=method)
    return Output(
        name=f"{stem}.{ext}",
        width=size[0],
        height=size[1],
        format=fmt,
        content_type=content_type,
        data=buf.getvalue(),
    )


def _flatten(im: Image.Image) -> Image.Image:
    background = Image.new("RGB", im.size, _WHITE)
    background.paste(im, mask=im.getchannel("A"))
    return background


# --- metadata ----------------------------------------------------------------------------------


def _dominant_color(im: Image.Image) -> str | None:
    """The most common colour as ``#rrggbb``, ignoring transparent pixels (None if all are).

    Counts pixels of a 32 px thumbnail in 4-bit-per-channel buckets and averages the fullest
    bucket: cheap (1 024 pixels) and stable, good enough for a placeholder background.
    """
    small = im.resize((32, 32), Image.Resampling.BILINEAR).convert("RGBA").tobytes()
    buckets: dict[int, list[int]] = {}
    for i in range(0, len(small), 4):
        r, g, b, a = small[i], small[i + 1], small[i + 2], small[i + 3]
        if a < 128:
            continue
        bucket = buckets.setdefault((r >> 4) << 8 | (g >> 4) << 4 | (b >> 4), [0, 0, 0, 0])
        bucket[0] += 1
        bucket[1] += r
        bucket[2] += g
        bucket[3] += b
    if not buckets:
        return None
    count, r, g, b = max(buckets.values(), key=lambda v: v[0])
    return f"#{r // count:02x}{g // count:02x}{b // count:02x}"


def _exif_summary(exif: Image.Exif | None) -> dict[str, Any]:
    """Camera, lens, time and exposure; never location (GPS is not even read)."""
    if exif is None:
        return {}
    summary: dict[str, Any] = {}
    try:
        details = exif.get_ifd(ExifTags.IFD.Exif)
    except Exception:
        details = {}
    for key, value in (
        ("make", exif.get(ExifTags.Base.Make)),
        ("model", exif.get(ExifTags.Base.Model)),
        ("lens", details.get(ExifTags.Base.LensModel)),
    ):
        text = _clean_text(value)
        if text:
            summary[key] = text
    taken = _clean_text(details.get(ExifTags.Base.DateTimeOriginal) or exif.get(0x0132))
    if taken and len(taken) >= 19 and taken[4] == ":" and taken[7] == ":":
        # EXIF writes "YYYY:MM:DD HH:MM:SS" in local time without zone.
        summary["takenAt"] = f"{taken[0:4]}-{taken[5:7]}-{taken[8:10]}T{taken[11:19]}"
    exposure = _number(details.get(ExifTags.Base.ExposureTime))
    if exposure:
        summary["exposureTime"] = f"1/{round(1 / exposure)}" if exposure < 1 else f"{exposure:g}"
    for key, tag in (
        ("fNumber", ExifTags.Base.FNumber),
        ("focalLength", ExifTags.Base.FocalLength),
        ("iso", ExifTags.Base.ISOSpeedRatings),
    ):
        number = _number(details.get(tag))
        if number:
            summary[key] = round(number, 1) if key != "iso" else int(number)
    return summary


def _clean_text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    text = "".join(ch for ch in value if ch.isprintable()).strip()
    return text[:64] or None


def _number(value: object) -> float | None:
    if isinstance(value, tuple):  # ISO may be a sequence; the first entry is the one shown
        value = value[0] if value else None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if math.isfinite(number) and number > 0 else None
