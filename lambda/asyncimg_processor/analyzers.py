"""Analyzers: small plug-ins that look at the image once it is decoded and add to its metadata.

Each analyzer has a ``name`` and is called with an :class:`AnalysisInput`: the *working image*,
already decoded and downscaled by the pipeline (the smallest variant's size, upright, mode RGB,
RGBA or L), so no analyzer decodes the upload a second time or touches the full-size frame. It
returns a JSON-able value, stored under its name in the upload's ``metadata``.

An analyzer that raises is logged and recorded (``metadata["analysisErrors"][name]``); the upload
still succeeds. Moderation decisions are not taken here: the ``rekognition`` analyzer only reports
labels, and the app applies ``ASYNC_IMAGE_UPLOAD_MODERATION`` to them when the ``succeeded``
callback arrives (one policy, read where the settings live, changeable without a redeploy).

Configured by name (``ASYNCIMG_ANALYZERS`` for the Lambda, ``ASYNC_IMAGE_UPLOAD_ANALYZERS`` in
Django): a built-in name from :data:`BUILTINS`, or the dotted path of a class or factory that
takes no arguments and returns an analyzer. See docs/processor.md, "Writing an analyzer".
"""

from __future__ import annotations

import base64
import importlib
import io
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, runtime_checkable

from PIL import Image

logger = logging.getLogger(__name__)

#: Where analyzers' failures are recorded in the metadata.
ERRORS_KEY: Final = "analysisErrors"


@dataclass(frozen=True)
class AnalysisInput:
    """What every analyzer gets. ``image`` is shared between analyzers: do not modify it (every
    Pillow operation used here returns a new image)."""

    image: Image.Image
    #: Size of the normalised original (the working image is smaller).
    width: int
    height: int
    has_alpha: bool
    _jpeg: list[bytes] = field(default_factory=list, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def jpeg(self) -> bytes:
        """The working image as a JPEG (q90, flattened on white), encoded once per job for all
        analyzers that send the image to a service."""
        with self._lock:
            if not self._jpeg:
                im = self.image
                if im.mode == "RGBA":
                    flat = Image.new("RGB", im.size, (255, 255, 255))
                    flat.paste(im, mask=im.getchannel("A"))
                    im = flat
                buf = io.BytesIO()
                im.convert("RGB").save(buf, "JPEG", quality=90)
                self._jpeg.append(buf.getvalue())
            return self._jpeg[0]


@runtime_checkable
class Analyzer(Protocol):
    #: The metadata key of its result: stable, it is API for the app and clients.
    name: str

    def __call__(self, source: AnalysisInput) -> Any: ...


def analyze(source: AnalysisInput, analyzers: Iterable[Analyzer]) -> dict[str, Any]:
    """Run ``analyzers`` in order; their results (and failures) as metadata entries."""
    results: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for analyzer in analyzers:
        try:
            value = analyzer(source)
        except MemoryError:
            raise
        except Exception as exc:
            # Never the upload's fault, and never worth failing it: the image is fine.
            logger.warning("analyzer %s failed", analyzer.name, exc_info=True)
            errors[analyzer.name] = f"{type(exc).__name__}: {exc}"[:200]
            continue
        if value is not None:
            results[analyzer.name] = value
    if errors:
        results[ERRORS_KEY] = errors
    return results


# --- built-ins ---------------------------------------------------------------------------------


class DominantColor:
    """The most common colour as ``#rrggbb``, ignoring transparent pixels (None if all are).

    Counts pixels of a 32 px thumbnail in 4-bit-per-channel buckets and averages the fullest
    bucket: cheap (1 024 pixels) and stable, good enough for a placeholder background.
    """

    name = "dominantColor"

    def __call__(self, source: AnalysisInput) -> str | None:
        small = source.image.resize((32, 32), Image.Resampling.BILINEAR).convert("RGBA").tobytes()
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


def _thumbnail(im: Image.Image, side: int) -> Image.Image:
    """``im`` scaled so its longer side is ``side`` px (never upscaled), aspect kept."""
    w, h = im.size
    scale = min(1.0, side / max(w, h))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return im.resize(size, Image.Resampling.BOX)


class Placeholder:
    """Something to paint before the first variant loads: ``{"hash", "dataUrl"}``.

    * ``hash``: a BlurHash (PyPI ``blurhash``, pure Python: no native wheel to build for Lambda)
      of the image scaled to 32 px, 4x3 components (4x4 for square-ish). Its cost grows with the
      pixels times the components, so it is computed on a 32 px thumbnail, never on the variant.
    * ``dataUrl``: a ``data:image/webp;base64,...`` of at most 16 px, typically 100-300 bytes,
      which the browser paints (scaled up, blurred by CSS) with no decoder of its own.
    """

    name = "placeholder"
    hash_side: Final = 32
    data_side: Final = 16

    def __call__(self, source: AnalysisInput) -> dict[str, str]:
        import blurhash

        small = _thumbnail(source.image, self.hash_side)
        rgb = _flat_rgb(small)
        w, h = rgb.size
        x, y = (4, 3) if w >= h else (3, 4)
        # The library reads rows of (r, g, b) sRGB integers.
        px = rgb.tobytes()
        rows = [
            [px[i : i + 3] for i in range(row * w * 3, (row + 1) * w * 3, 3)] for row in range(h)
        ]
        code = blurhash.encode(rows, components_x=x, components_y=y)
        tiny = _thumbnail(small, self.data_side)
        if tiny.mode not in ("RGB", "RGBA"):
            tiny = tiny.convert("RGB")
        buf = io.BytesIO()
        tiny.save(buf, "WEBP", quality=60, method=4)
        data_url = "data:image/webp;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
        return {"hash": code, "dataUrl": data_url}


def _flat_rgb(im: Image.Image) -> Image.Image:
    if im.mode == "RGBA":
        flat = Image.new("RGB", im.size, (255, 255, 255))
        flat.paste(im, mask=im.getchannel("A"))
        return flat
    return im.convert("RGB")


class PerceptualHash:
    """A 64-bit difference hash (dHash) as 16 hex digits, for finding near-duplicates.

    Written here rather than taken from ``imagehash``: that library needs numpy, scipy and
    PyWavelets (about 100 MB unpacked, past half of Lambda's 250 MB package limit, and seconds of
    cold start) for what is, for dHash, a Pillow resize and 64 comparisons. dHash (Krawetz's
    "difference hash": the image in grey at 9x8, one bit per horizontal neighbour pair, set when
    the left pixel is brighter) survives resizing, re-encoding and mild colour changes, which is
    what duplicate detection needs; a resized or re-saved copy is typically within 0-3 bits.
    Transparent pixels count as white, as the JPEG variants show them.
    """

    name = "perceptualHash"

    def __call__(self, source: AnalysisInput) -> str:
        grey = _flat_rgb(source.image).convert("L").resize((9, 8), Image.Resampling.BOX)
        px = grey.tobytes()
        bits = 0
        for row in range(8):
            for col in range(8):
                left, right = px[row * 9 + col], px[row * 9 + col + 1]
                bits = (bits << 1) | (left > right)
        return f"{bits:016x}"


class Rekognition:
    """AWS Rekognition labels and moderation labels of the working image (JPEG, one request each).

    ``{"labels": [{"name", "confidence"}], "moderationLabels": [{"name", "parentName",
    "confidence"}]}``, confidences in percent. Configured from the environment:
    ``ASYNCIMG_REKOGNITION_ENDPOINT_URL`` (a local endpoint, for tests), ``..._MIN_CONFIDENCE``
    (default 70), ``..._MAX_LABELS`` (default 20); the region and credentials are boto3's.
    The client is created once per process (a boto3 client costs milliseconds to build).
    """

    name = "rekognition"
    _clients: dict[str | None, Any] = {}
    _lock = threading.Lock()

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.endpoint_url = env.get("ASYNCIMG_REKOGNITION_ENDPOINT_URL") or None
        self.min_confidence = float(env.get("ASYNCIMG_REKOGNITION_MIN_CONFIDENCE") or 70)
        self.max_labels = int(env.get("ASYNCIMG_REKOGNITION_MAX_LABELS") or 20)

    def client(self) -> Any:
        with self._lock:
            if self.endpoint_url not in self._clients:
                import boto3
                from botocore.config import Config

                self._clients[self.endpoint_url] = boto3.client(
                    "rekognition",
                    endpoint_url=self.endpoint_url,
                    config=Config(
                        retries={"mode": "standard", "max_attempts": 3},
                        connect_timeout=5,
                        read_timeout=15,
                    ),
                )
            return self._clients[self.endpoint_url]

    def __call__(self, source: AnalysisInput) -> dict[str, Any]:
        client = self.client()
        image = {"Bytes": source.jpeg()}
        found = client.detect_labels(
            Image=image, MaxLabels=self.max_labels, MinConfidence=self.min_confidence
        )
        moderation = client.detect_moderation_labels(Image=image, MinConfidence=self.min_confidence)
        return {
            "labels": [
                {"name": str(label["Name"]), "confidence": round(float(label["Confidence"]), 2)}
                for label in found.get("Labels", [])
            ],
            "moderationLabels": [
                {
                    "name": str(label["Name"]),
                    "parentName": str(label.get("ParentName") or ""),
                    "confidence": round(float(label["Confidence"]), 2),
                }
                for label in moderation.get("ModerationLabels", [])
            ],
        }


#: Name → factory of the built-in analyzers.
BUILTINS: Final[dict[str, Callable[[], Analyzer]]] = {
    "placeholder": Placeholder,
    "dominantColor": DominantColor,
    "perceptualHash": PerceptualHash,
    "rekognition": Rekognition,
}

#: On unless configured otherwise: no network, no credentials, a few ms per job.
DEFAULT_ANALYZERS: Final = ("placeholder", "dominantColor", "perceptualHash")


def load(names: Iterable[str]) -> tuple[Analyzer, ...]:
    """Analyzers for ``names`` (built-in names or dotted paths); ValueError for an unknown one."""
    analyzers: list[Analyzer] = []
    for name in names:
        factory = BUILTINS.get(name)
        if factory is None:
            module, _, attr = name.rpartition(".")
            if not module:
                raise ValueError(
                    f"unknown analyzer {name!r}: one of {', '.join(BUILTINS)} or a dotted path"
                )
            try:
                factory = getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError) as exc:
                raise ValueError(f"cannot import analyzer {name!r}: {exc}") from exc
        if not callable(factory):
            raise ValueError(f"{name!r} is not an analyzer class or factory")
        analyzer = factory()
        if not isinstance(analyzer, Analyzer) or not isinstance(analyzer.name, str):
            raise ValueError(f"{name!r} is not an analyzer (a callable with a name)")
        analyzers.append(analyzer)
    return tuple(analyzers)
