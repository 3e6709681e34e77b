"""The processing core: image bytes in, normalised original + resized variants + metadata out.

Pure (no I/O besides the bytes given), so the same function serves Lambda, the Django worker, the
tests and the benchmark. The rules it applies are documented in ``docs/processor.md``; in short:

* the type comes from the magic bytes, never from a name; it must be the type the upload declared;
* the pixel count and the memory the decoded image needs are checked from the header, before any
  pixel is decoded;
* EXIF orientation is applied, then every piece of metadata is dropped (outputs carry none);
* a JPEG whose pixels need no change (upright, no colour profile, RGB or greyscale) keeps its
  own compressed data as the original, minus its metadata segments: no re-encode, no
  generation loss, and its variants are decoded at a reduced scale;
* colours are converted to sRGB when an ICC profile says otherwise, modes become RGB, RGBA or
  (greyscale sources) L;
* animated images are reduced to their first frame (``animated``/``frames`` in the metadata);
* nothing is ever upscaled; JPEG outputs of images with transparency are flattened on white;
* an image larger than an encoder can hold is scaled into its limits (``scaledToFit``).
"""

from __future__ import annotations

import io
import logging
import math
import re
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Final

import pillow_heif
from PIL import ExifTags, Image, ImageCms, features

from asyncimg_processor.analyzers import DEFAULT_ANALYZERS, AnalysisInput, Analyzer, analyze, load
from asyncimg_processor.errors import (
    CONTENT_TYPE_MISMATCH,
    CORRUPT_IMAGE,
    EMPTY_FILE,
    FILE_TOO_LARGE,
    TOO_MANY_PIXELS,
    UNSUPPORTED_TYPE,
    ProcessingError,
)

logger = logging.getLogger(__name__)

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

#: Output format → (content type, file extension). PNG is only ever the original (see _plan).
_ENCODERS: Final[dict[str, tuple[str, str]]] = {
    "jpeg": ("image/jpeg", "jpg"),
    "webp": ("image/webp", "webp"),
    "png": ("image/png", "png"),
}

#: The largest side each output format holds: libwebp's and libjpeg's limits. PNG allows
#: 2**31 - 1, but viewers (and the app's callback) do not: it gets JPEG's.
_MAX_SIDE: Final[dict[str, int]] = {"webp": 16383, "jpeg": 65500, "png": 65500}

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
    #: Largest decoded image, in bytes, estimated from the header before any pixel is decoded
    #: (see :func:`decoded_bytes`); larger images are refused with ``TOO_MANY_PIXELS``. None:
    #: ``max_pixels * 4``, an RGBA image at the pixel limit.
    max_decoded_bytes: int | None = None
    #: Largest variant, in pixels. A variant is as wide as its name says, so a very tall image
    #: would make a huge one (and libwebp needs up to 30 bytes per pixel to encode it): it is
    #: scaled down to fit instead (``scaledToFit`` in the metadata).
    variant_max_pixels: int = 8_000_000
    #: Bytes the encoding tasks of one job may hold at once, estimated (see :func:`_render`).
    #: A task starts only when those running leave room for it; the original's task holds the
    #: full frame, so the variants' wait until it released it when both would not fit. A
    #: transparent original whose WebP encoder would not fit is stored as PNG, which is
    #: encoded row by row.
    encode_memory: int = 320 * 1024 * 1024
    #: Run on the working image while the encoders run (see :mod:`asyncimg_processor.analyzers`);
    #: their results go into the metadata under their names.
    analyzers: tuple[Analyzer, ...] = field(default_factory=lambda: load(DEFAULT_ANALYZERS))

    def __post_init__(self) -> None:
        unknown = set(self.formats) - {"webp", "jpeg"}
        if unknown or not self.formats:
            raise ValueError(f"variant formats must be webp and/or jpeg, got {self.formats!r}")
        if not self.widths or any(w < 1 for w in self.widths):
            raise ValueError(f"variant widths must be positive, got {self.widths!r}")
        if self.variant_max_pixels < 1:
            raise ValueError(f"variant_max_pixels must be positive, got {self.variant_max_pixels}")

    @property
    def decode_budget(self) -> int:
        """The effective :attr:`max_decoded_bytes`."""
        if self.max_decoded_bytes is None:
            return self.max_pixels * 4
        return self.max_decoded_bytes


@dataclass(frozen=True)
class Declared:
    """What the upload's credential promised. Storage that enforces no policy (moto, MinIO,
    Azure SAS) lets anything through, so the object is re-checked against it."""

    size: int
    content_type: str

    def allows(self, content_type: str) -> bool:
        """Whether the sniffed ``content_type`` is the declared one."""
        return _type_family(content_type) == _type_family(self.content_type)


def _type_family(content_type: str) -> str:
    base = content_type.split(";", 1)[0].strip().lower()
    # One container, two names: which one a file gets depends on its ftyp brands, which
    # browsers and phones do not agree on.
    return "image/heif" if base == "image/heic" else base


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


def byte_limit(options: ProcessOptions, declared: Declared | None = None) -> int:
    """The most bytes an upload may have: the configured limit, or less if it declared less."""
    if declared is None:
        return options.max_bytes
    return min(options.max_bytes, declared.size)


def check_size(size: int, options: ProcessOptions, declared: Declared | None = None) -> None:
    """Refuse ``size`` bytes (``FILE_TOO_LARGE``) above :func:`byte_limit`.

    ``size`` may be a lower bound (a read stopped one byte after the limit), so the messages
    name the limit, not the size.
    """
    if declared is not None and size > declared.size:
        raise ProcessingError(
            FILE_TOO_LARGE,
            f"The file has more than the {declared.size} bytes declared when the upload was "
            "requested. Request a new upload with the file's real size.",
        )
    if size > options.max_bytes:
        raise ProcessingError(
            FILE_TOO_LARGE,
            f"The file has more than {options.max_bytes} bytes, the limit. Upload a smaller file.",
        )


def process(
    data: bytes, options: ProcessOptions | None = None, *, declared: Declared | None = None
) -> ProcessResult:
    """Validate, decode, normalise and encode ``data``.

    With ``declared``, the bytes must also be what the upload's credential promised (size and
    type). Raises :class:`ProcessingError` for every problem with the bytes themselves; any other
    exception is a bug or an exhausted machine (MemoryError), not a property of the upload.
    """
    options = options or ProcessOptions()
    if not data:
        raise ProcessingError(EMPTY_FILE, "The file is empty.")
    check_size(len(data), options, declared)
    content_type = sniff(data)
    if content_type is None or content_type not in options.allowed_types:
        raise ProcessingError(
            UNSUPPORTED_TYPE,
            "The file is not an image of an accepted type "
            f"({', '.join(sorted(options.allowed_types))}).",
        )
    if declared is not None and not declared.allows(content_type):
        raise ProcessingError(
            CONTENT_TYPE_MISMATCH,
            f"The file is {content_type}, but the upload was requested for "
            f"{declared.content_type}. Request a new upload with the file's real type.",
        )
    if content_type not in decodable_types():
        raise ProcessingError(UNSUPPORTED_TYPE, f"{content_type} cannot be decoded here.")
    try:
        source = _decode(data, content_type, options)
    except (ProcessingError, MemoryError):
        raise
    except Image.DecompressionBombError as exc:
        logger.info("refused a %s decompression bomb: %s", content_type, exc)
        raise ProcessingError(TOO_MANY_PIXELS) from exc
    except Exception as exc:
        # Pillow and its plugins raise OSError, ValueError, SyntaxError, EOFError, struct.error,
        # RuntimeError... for damaged files; all mean the same thing to the uploader, and their
        # text (offsets, plugin internals) is for the log only.
        logger.info("could not decode a %s file: %s: %s", content_type, type(exc).__name__, exc)
        raise ProcessingError(CORRUPT_IMAGE) from exc
    # Outside the try: the pixels decoded, so an encoder failing now is a bug to retry and see
    # in the dead-letter queue, not a corrupt upload to blame on the uploader.
    return _produce(source, len(data), options)


# --- decoding ----------------------------------------------------------------------------------


def decoded_bytes(mode: str, size: tuple[int, int]) -> int:
    """Bytes of the largest full-size image decoding ``size`` pixels of ``mode`` makes.

    Pillow stores 1-bit, greyscale and palette pixels in one byte, 16-bit greyscale in two and
    every other mode (RGB included) in four; a palette image counts as the RGBA image it may
    become, and every source is normalised to at most four bytes (greyscale to one).
    """
    if mode in ("1", "L"):
        per_pixel = 1
    elif mode.startswith("I;16"):
        per_pixel = 2
    else:
        per_pixel = 4
    return size[0] * size[1] * per_pixel


@dataclass
class _Source:
    """The decoded, normalised image and what was learnt on the way."""

    #: holds the only reference to the frame, in stored orientation (see :func:`_render`)
    work: list[Image.Image]
    width: int  # upright
    height: int
    transpose: Image.Transpose | None
    content_type: str
    source_format: str
    orientation: int
    animated: bool
    frames: int
    has_alpha: bool
    colour: str | None
    exif: Image.Exif | None
    #: the stored original when the source's own bytes serve (see :func:`_jpeg_as_is`)
    original: bytes | None = None


def _decode(data: bytes, content_type: str, options: ProcessOptions) -> _Source:
    plugin, source_format = _DECODERS[content_type]
    im = Image.open(io.BytesIO(data), formats=[plugin])

    # Refuse bombs from the header, before any pixel is decoded.
    stored_w, stored_h = im.size
    if stored_w < 1 or stored_h < 1:
        raise ProcessingError(CORRUPT_IMAGE)
    if stored_w * stored_h > options.max_pixels:
        raise ProcessingError(
            TOO_MANY_PIXELS,
            f"The image is {stored_w}x{stored_h} pixels; the limit is {options.max_pixels}. "
            "Upload a smaller image.",
        )
    # Before anything else reads the file: PNG's getexif decodes the pixels (an eXIf chunk may
    # follow them). For a JPEG decoded at a reduced scale this counts the full size.
    needed = decoded_bytes(im.mode, im.size)
    if needed > options.decode_budget:
        per_pixel = needed // (stored_w * stored_h)
        raise ProcessingError(
            TOO_MANY_PIXELS,
            f"The image is {stored_w}x{stored_h} pixels; for its colour depth the limit is "
            f"{options.decode_budget // per_pixel} pixels. Upload a smaller image.",
        )

    exif = _read_exif(im)
    orientation = exif.get(ExifTags.Base.Orientation, 1) if exif is not None else 1
    transpose = _TRANSPOSE.get(orientation) if isinstance(orientation, int) else None
    width, height = (stored_h, stored_w) if transpose in _SWAPS else (stored_w, stored_h)

    # n_frames parses frame headers only (GIF, WebP, HEIF) and the first frame is the one used.
    frames = int(getattr(im, "n_frames", 1) or 1)
    animated = bool(getattr(im, "is_animated", False)) and frames > 1
    if animated:
        im.seek(0)

    original = None
    if plugin == "JPEG" and options.include_original:
        original = _jpeg_as_is(im, data, transpose)
    if plugin == "JPEG" and (original is not None or not options.include_original):
        # Shrink-on-load: libjpeg decodes at 1/2, 1/4 or 1/8 scale, never below the largest
        # variant (draft picks the smallest scale that is still >= the requested size).
        scale = _variant_widths(width, options)[0] / width
        im.draft(None, (math.ceil(stored_w * scale), math.ceil(stored_h * scale)))
    im.load()

    icc = im.info.get("icc_profile") or None
    # _normalise converts step by step; with the only reference in its hands, each step frees
    # the previous full-size image.
    work: list[Image.Image] = [im]
    del im
    frame, colour = _normalise(work, icc)
    # Outputs must carry no metadata at all; encoders read some keys (icc_profile, exif,
    # transparency...) from ``info``, and every derived image copies it.
    frame.info = {}
    return _Source(
        work=[frame],
        width=width,
        height=height,
        transpose=transpose,
        content_type=content_type,
        source_format=source_format,
        orientation=orientation if transpose is not None else 1,
        animated=animated,
        frames=frames,
        has_alpha=frame.mode == "RGBA",
        colour=colour,
        exif=exif,
        original=original,
    )


#: A marker inside entropy-coded data: 0xFF followed by neither a stuffed 0x00, a restart
#: marker (0xD0-0xD7) nor another 0xFF (fill bytes before a marker).
_NEXT_MARKER: Final = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_SOI: Final = b"\xff\xd8"
_EOI: Final = b"\xff\xd9"


def _jpeg_as_is(im: Image.Image, data: bytes, transpose: Image.Transpose | None) -> bytes | None:
    """The JPEG's own bytes as its normalised original, when its pixels need no change; else
    None (it is decoded in full and re-encoded).

    The pixels need no change when the image is upright, carries no colour profile (so it is
    sRGB already), is RGB or greyscale and fits JPEG's side limit. The bytes returned are the
    segments of the stream from SOI to EOI minus every metadata segment: APP0-APP15 (JFIF and its
    thumbnails, EXIF, XMP, ICC, Photoshop, MPF...) except Adobe's APP14, which says how to read
    the colour channels, and COM. Anything after EOI (a second image, an appended file) is
    dropped. A stream that is not laid out as the standard says gets None: re-encoding is always
    safe.
    """
    if transpose is not None or im.mode not in ("RGB", "L") or im.info.get("icc_profile"):
        return None
    if max(im.size) > _MAX_SIDE["jpeg"] or not data.startswith(_SOI):
        return None
    kept = [_SOI]
    pos, end = 2, len(data)
    while pos + 1 < end:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:
            kept.append(_EOI)
            return b"".join(kept)
        if 0xD0 <= marker <= 0xD8 or marker == 0x01 or pos + 4 > end:
            return None
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        segment_end = pos + 2 + length
        if length < 2 or segment_end > end:
            return None
        metadata = 0xE0 <= marker <= 0xEF or marker == 0xFE
        if not metadata or (marker == 0xEE and data[pos + 4 : pos + 9] == b"Adobe"):
            kept.append(data[pos:segment_end])
        pos = segment_end
        if marker == 0xDA:  # start of scan: its entropy-coded data runs to the next marker
            found = _NEXT_MARKER.search(data, pos)
            if found is None:
                return None
            kept.append(data[pos : found.start()])
            pos = found.start()
    return None


_SWAPS: Final = frozenset(
    {
        Image.Transpose.TRANSPOSE,
        Image.Transpose.TRANSVERSE,
        Image.Transpose.ROTATE_90,
        Image.Transpose.ROTATE_270,
    }
)


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

#: The ``colorProfile`` note of a profile that cannot be used (its parser's complaint is logged).
PROFILE_IGNORED: Final = "ignored: unreadable colour profile"


def _normalise(work: list[Image.Image], icc: bytes | None) -> tuple[Image.Image, str | None]:
    """Return an RGB, RGBA or L image in sRGB, and what was done with the colour profile.

    ``work`` holds the only reference to the decoded image, so that every conversion below frees
    its input: at most two full-size images exist at once. The profile note is ``None`` (no
    profile, or already sRGB), ``"converted: <description>"`` or :data:`PROFILE_IGNORED`.
    """
    im = work.pop()
    colour: str | None = None
    if icc and im.mode in ("RGB", "RGBA", "CMYK"):
        try:
            description = ImageCms.getProfileDescription(_profile(icc)).strip()
            if not description.startswith("sRGB") or im.mode == "CMYK":
                out_mode = "RGBA" if im.mode == "RGBA" else "RGB"
                transform = _srgb_transform(icc, im.mode, out_mode)
                if out_mode == im.mode:
                    ImageCms.applyTransform(im, transform, inPlace=True)
                else:
                    converted = ImageCms.applyTransform(im, transform)
                    im = converted if converted is not None else im
                colour = f"converted: {description}"[:100]
        except (OSError, ValueError, ImageCms.PyCMSError) as exc:
            logger.info("colour profile ignored: %s: %s", type(exc).__name__, exc)
            colour = PROFILE_IGNORED

    mode = im.mode
    if mode == "1":
        # Resizing a 1-bit image would pick pixels (nearest neighbour), not average them.
        im = im.convert("L")
    elif mode.startswith("I;16") or mode == "I":
        im = _to_8_bits(im)
    elif mode == "P" or mode == "PA":
        im = im.convert("RGBA" if mode == "PA" or "transparency" in im.info else "RGB")
    elif mode in ("LA", "La", "RGBa"):
        im = im.convert("RGBA")
    elif mode not in ("RGB", "RGBA", "L"):
        im = im.convert("RGB")
    # getextrema reads the alpha band (the last) in place; getchannel would copy it.
    if im.mode == "RGBA" and im.getextrema()[-1] == (255, 255):
        # A fully opaque alpha channel is noise: dropping it lets the original be a JPEG.
        im = im.convert("RGB")
    return im, colour


#: 16-bit value → 8-bit value, the table ``point`` takes from mode I to mode L.
_HIGH_BYTE: Final = [v >> 8 for v in range(1 << 16)]
#: Rows converted at once by _to_8_bits.
_BIT_DEPTH_ROWS: Final = 256


def _to_8_bits(im: Image.Image) -> Image.Image:
    """16-bit (or 32-bit) greyscale as 8-bit greyscale, scaled (a plain convert would clip
    everything above 255). It stays greyscale: a quarter of the memory of RGB, a third of the
    JPEG data.

    Pillow maps only mode I to L through a table, and I takes 4 bytes per pixel: converted a
    strip at a time, the full-size temporaries are only the source and the result.
    """
    out = Image.new("L", im.size)
    width, height = im.size
    for top in range(0, height, _BIT_DEPTH_ROWS):
        strip = im.crop((0, top, width, min(height, top + _BIT_DEPTH_ROWS)))
        out.paste(strip.convert("I").point(_HIGH_BYTE, "L"), (0, top))
    return out


# --- planning ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    """One output to encode: file stem (``original``, ``1600w``), format and upright size."""

    stem: str
    format: str
    size: tuple[int, int]
    #: the size its name promises; ``size`` is smaller when the format cannot hold that
    nominal: tuple[int, int]
    #: bytes its encoding task is estimated to hold (images and encoder), see _render
    memory: int

    @property
    def pixels(self) -> int:
        return self.size[0] * self.size[1]


@dataclass(frozen=True)
class _Plan:
    width: int  # upright, full-resolution size of the source
    height: int
    transpose: Image.Transpose | None  # what turns the stored pixels upright
    original: _Target | None
    #: largest first (each is resized from the one before), WebP first among equal sizes
    variants: tuple[_Target, ...]

    def stored(self, size: tuple[int, int]) -> tuple[int, int]:
        """The same size in the stored orientation."""
        return (size[1], size[0]) if self.transpose in _SWAPS else size

    @property
    def scaled_to_fit(self) -> bool:
        """Whether an output is smaller than its name promises (an encoder's limit)."""
        targets = [*self.variants, *([self.original] if self.original is not None else [])]
        return any(t.size != t.nominal for t in targets)


def _variant_widths(width: int, options: ProcessOptions) -> list[int]:
    # Never upscale: a source narrower than every configured width gets one variant per format
    # at its own width, so clients always find each format.
    return sorted({w for w in options.widths if w <= width}, reverse=True) or [width]


def _fit(size: tuple[int, int], max_side: int, max_pixels: int | None = None) -> tuple[int, int]:
    """``size`` scaled down, keeping its aspect ratio, to at most ``max_side`` per side and
    ``max_pixels`` in all; never up."""
    w, h = size
    scale = min(1.0, max_side / max(w, h))
    if max_pixels is not None:
        scale = min(scale, math.sqrt(max_pixels / (w * h)))
    if scale >= 1.0:
        return size
    out_w, out_h = max(1, math.floor(w * scale)), max(1, math.floor(h * scale))
    if max_pixels is not None:
        # A side held at one pixel hands its share of the pixels to the other.
        out_w = min(out_w, max(1, max_pixels // out_h))
        out_h = min(out_h, max(1, max_pixels // out_w))
    return min(out_w, max_side), min(out_h, max_side)


def _encoder_bytes(fmt: str, target_pixels: int, alpha: bool, method: int) -> int:
    """What one encoder allocates for ``target_pixels``, measured through Pillow (libwebp 1.x,
    libjpeg-turbo 3); ``bench/processing_memory.py`` checks the resulting peaks."""
    if fmt == "webp":
        # An ARGB copy and the YUV planes; with alpha, the plane's lossless encoder adds most.
        per_pixel = (30 if method > 2 else 21) if alpha else 10
    elif fmt == "jpeg":
        # Optimised and progressive Huffman tables need every DCT coefficient of the image
        # (2 bytes per sample, 1.5 samples per pixel at 4:2:0); alpha needs a flattened copy.
        per_pixel = 3 + (5 if alpha else 0)
    else:
        per_pixel = 0  # PNG is deflated row by row
    return target_pixels * per_pixel


def _plan(source: _Source, frame: Image.Image, options: ProcessOptions) -> _Plan:
    """Sizes and formats of every output, and what encoding each is estimated to hold.

    The original's task holds the full frame (and its upright copy, if it must be turned) and
    its encoder; a variant's, its image (a copy, when turned or converted) and its encoder.
    """
    width, height = source.width, source.height
    alpha = source.has_alpha
    original: _Target | None = None
    if options.include_original:
        held = decoded_bytes(frame.mode, frame.size) * (2 if source.transpose is not None else 1)
        method = options.original_webp_method
        fmt = "jpeg"
        if alpha:
            webp = held + _encoder_bytes("webp", width * height, True, method)
            fits = max(width, height) <= _MAX_SIDE["webp"] and webp <= options.encode_memory
            # PNG keeps every pixel, losslessly, for next to no encoder memory; only its bytes
            # are larger, and only for images too large for WebP.
            fmt = "webp" if fits else "png"
        size = _fit((width, height), _MAX_SIDE[fmt])
        memory = held + _encoder_bytes(fmt, size[0] * size[1], alpha, method)
        original = _Target("original", fmt, size, (width, height), memory)

    variants: list[_Target] = []
    for w in _variant_widths(width, options):
        nominal = (w, max(1, round(height * w / width)))
        capped = _fit(nominal, _MAX_SIDE["jpeg"], options.variant_max_pixels)
        targets = []
        for fmt in _ordered(options.formats):
            size = _fit(capped, _MAX_SIDE[fmt])
            pixels = size[0] * size[1]
            memory = pixels * 4 + _encoder_bytes(fmt, pixels, alpha, options.webp_method)
            targets.append(_Target(f"{w}w", fmt, size, nominal, memory))
        # WebP is the slowest encoder: among equal sizes it starts first, so the pool finishes
        # sooner; a smaller size (WebP's limit) comes after the larger it is resized from.
        variants += sorted(targets, key=lambda t: -t.pixels)
    return _Plan(width, height, source.transpose, original, tuple(variants))


def _produce(source: _Source, size: int, options: ProcessOptions) -> ProcessResult:
    as_is = source.original is not None
    # With the source's own bytes as the original, only the variants are rendered (from the
    # reduced-scale decode).
    plan = _plan(
        source, source.work[0], replace(options, include_original=False) if as_is else options
    )
    # Hand the only reference to the decoded pixels over to _render, which drops them as soon
    # as the original's encoder is done with them: the full-size frame is the biggest
    # allocation of the job.
    work = source.work
    outputs, analysis = _render(work, plan, source.has_alpha, options)
    if source.original is not None:
        content_type, ext = _ENCODERS["jpeg"]
        original = Output(
            name=f"original.{ext}",
            width=source.width,
            height=source.height,
            format="jpeg",
            content_type=content_type,
            data=source.original,
        )
        outputs = [original, *outputs]
    metadata: dict[str, Any] = {
        "width": source.width,
        "height": source.height,
        "format": source.source_format,
        "contentType": source.content_type,
        "bytes": size,
        "orientation": source.orientation,
        "orientationApplied": source.transpose is not None,
        "animated": source.animated,
        "frames": source.frames,
        "hasAlpha": source.has_alpha,
        "colorProfile": source.colour,
        "exif": _exif_summary(source.exif),
        "scaledToFit": plan.scaled_to_fit,
        **analysis,
    }
    # Without a separate original, the largest variant stands in for it.
    variants = outputs[1:] if options.include_original else outputs
    return ProcessResult(original=outputs[0], variants=variants, metadata=metadata)


# --- resizing and encoding ---------------------------------------------------------------------


def _render(
    work: list[Image.Image], plan: _Plan, has_alpha: bool, options: ProcessOptions
) -> tuple[list[Output], dict[str, Any]]:
    """Encode the original and the variants; return them (original first) and the analyzers'
    results.

    ``work`` holds the only reference to the frame, still in stored orientation. The first,
    largest variant is resized from it in horizontal strips on the pool (see :func:`_shrink`);
    every smaller size is resized from the previous one in that orientation and only the (small)
    results are turned upright, which is cheaper than rotating the full-size source first.
    Encoding dominates the cost and Pillow releases the GIL while encoding and resizing, so the
    encoders run in a small pool while this thread produces the next, smaller, size, then runs
    the analyzers on the smallest one (turned upright), which is all they need.

    Transparent images are resized premultiplied (``RGBa``, what Pillow's own RGBA resize does
    internally for every call): converted strip by strip on the way down, and back to ``RGBA``
    only per encoded output.
    """
    frame = work.pop()
    futures: list[Future[Output]] = []
    running: deque[tuple[Future[Output], int]] = deque()

    def submit(target: _Target, fn: Callable[..., Output], *args: Any) -> None:
        # Memory gate: an encoding task starts only when the estimated memory of those still
        # running leaves room for its own (one alone always starts). This thread waits,
        # oldest first; the order of the outputs does not change.
        in_flight = sum(memory for _, memory in running)
        while running and in_flight + target.memory > options.encode_memory:
            done, memory = running.popleft()
            done.exception()
            in_flight -= memory
        future = pool.submit(fn, *args)
        futures.append(future)
        running.append((future, target.memory))

    with ThreadPoolExecutor(max_workers=options.encode_threads) as pool:
        current = _shrink(frame, plan.stored(plan.variants[0].size), pool)
        if plan.original is not None:
            full = plan.stored(plan.original.size)
            # The frame goes to the original's encoder, which drops it as soon as it has the
            # image it saves (upright, or scaled into the format's limits).
            held = [frame if frame.size == full else _shrink(frame, full, pool)]
            del frame
            submit(plan.original, _encode_original, held, plan, options)
        else:
            del frame
        upright: Image.Image | None = None
        claimed = False
        for target in plan.variants:
            stored = plan.stored(target.size)
            if upright is None or current.size != stored:
                if current.size != stored:
                    current = current.resize(stored, Image.Resampling.BICUBIC)
                upright = current
                if current.mode == "RGBa" and plan.transpose is None:
                    # Back to RGBA once for all encoders of this size (here, not in each encoder
                    # thread): only WebP saves it, JPEG saves a flattened copy.
                    upright = current.convert("RGBA")
                claimed = False
            # Image.save stores its parameters on the image object, so two threads must never
            # save the same object: only one encoder may save ``upright`` itself (turning it
            # upright or flattening it makes a new image anyway).
            as_is = plan.transpose is None and not (
                target.format == "jpeg" and upright.mode == "RGBA"
            )
            source = upright.copy() if as_is and claimed else upright
            claimed = claimed or as_is
            quality = options.webp_quality if target.format == "webp" else options.jpeg_quality
            submit(target, _encode_upright, source, plan, target, quality, options)
        analysis = analyze(_analysis_input(current, plan, has_alpha), options.analyzers)
        outputs = [f.result() for f in futures]
    return outputs, analysis


def _analysis_input(current: Image.Image, plan: _Plan, has_alpha: bool) -> AnalysisInput:
    # ``current`` may be the very object an encoder is saving: only read it (transpose and
    # convert make new images; Image.save's parameters live on the object being saved).
    im = current.transpose(plan.transpose) if plan.transpose is not None else current
    if im.mode == "RGBa":
        im = im.convert("RGBA")
    return AnalysisInput(im, plan.width, plan.height, has_alpha)


#: Output rows per strip of the first resize: small enough that the strips' temporaries stay a
#: few MB, large enough that the per-call overhead is noise...
_STRIP_ROWS: Final = 64
#: ...and source bytes a strip may copy: a very wide image shrunk a lot (20000 px to 1600) reads
#: many source rows per output row, and a transparent strip is copied to be premultiplied.
_STRIP_BYTES: Final = 16 * 1024 * 1024
#: Filter support of bicubic, in source pixels per unit of scale.
_BICUBIC_SUPPORT: Final = 2.0


def _shrink(frame: Image.Image, size: tuple[int, int], pool: ThreadPoolExecutor) -> Image.Image:
    """Resize the full-size ``frame`` (RGB, RGBA or L) to ``size``, bicubic, strip by strip.

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
    step = max(1, min(_STRIP_ROWS, int(_STRIP_BYTES / (in_w * 4 * scale_y))))
    bounds = [(top, min(out_h, top + step)) for top in range(0, out_h, step)]
    for (top, _), part in zip(bounds, pool.map(lambda b: strip(*b), bounds), strict=True):
        out.paste(part, (0, top))
    return out


def _encode_original(work: list[Image.Image], plan: _Plan, options: ProcessOptions) -> Output:
    # ``work`` holds the only reference to the full-size image: turning it upright frees the
    # stored one, so the two exist at once only for the transposition.
    assert plan.original is not None
    im = work.pop()
    if plan.transpose is not None:
        im = im.transpose(plan.transpose)
    if im.mode == "RGBa":
        im = im.convert("RGBA")
    return _encode(im, plan.original, options.original_quality, options, original=True)


def _encode_upright(
    im: Image.Image, plan: _Plan, target: _Target, quality: int, options: ProcessOptions
) -> Output:
    # transpose() and convert() return new images, so each encoder saves an object of its own.
    upright = im.transpose(plan.transpose) if plan.transpose is not None else im
    if upright.mode == "RGBa":
        upright = upright.convert("RGBA")
    return _encode(upright, target, quality, options)


def _ordered(formats: Iterable[str]) -> list[str]:
    # WebP is the slowest encoder: start it first so the pool finishes sooner.
    return sorted(dict.fromkeys(formats), key=lambda f: f != "webp")


def _encode(
    im: Image.Image,
    target: _Target,
    quality: int,
    options: ProcessOptions,
    *,
    original: bool = False,
) -> Output:
    content_type, ext = _ENCODERS[target.format]
    buf = io.BytesIO()
    if target.format == "jpeg":
        if im.mode == "RGBA":
            im = _flatten(im)
        # The original is baseline; progressive JPEG always gets optimised Huffman tables,
        # baseline asks for them (the same bytes saving as progressive, for half its cost).
        progressive = options.jpeg_progressive and not original
        im.save(buf, "JPEG", quality=quality, progressive=progressive, optimize=not progressive)
    elif target.format == "webp":
        method = options.original_webp_method if original else options.webp_method
        im.save(buf, "WEBP", quality=quality, method=method)
    else:
        im.save(buf, "PNG")
    return Output(
        name=f"{target.stem}.{ext}",
        width=target.size[0],
        height=target.size[1],
        format=target.format,
        content_type=content_type,
        data=buf.getvalue(),
    )


def _flatten(im: Image.Image) -> Image.Image:
    background = Image.new("RGB", im.size, _WHITE)
    background.paste(im, mask=im.getchannel("A"))
    return background


# --- metadata ----------------------------------------------------------------------------------


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
