"""Peak memory of one processing job on the worst image shapes, at the default limits.

Run: ``.venv/bin/python bench/processing_memory.py [--limit-mb 512] [--only TEXT]``.

Each shape is generated (in a subprocess of its own) at ``ProcessOptions().max_pixels`` pixels
unless its name gives a size, then processed by ``asyncimg_processor.core.process`` with the
default options (the handler's real job: original plus six variants) in a fresh subprocess. That
subprocess reads its RSS just before ``process()`` (the baseline: interpreter, Pillow and the
file's bytes) and ``ru_maxrss`` after it; the figure reported is the difference, what one job
adds to a worker. ``VmHWM`` (the kernel's high-water mark) is reported beside it as a cross-check:
Linux carries the parent's peak into ``ru_maxrss`` across ``execve``, which is why this process
imports nothing heavier than the standard library and never holds an image itself.

``--lambda-dir`` measures another copy of the processor (e.g. the code before a change, exported
with ``git archive HEAD~1 lambda | tar -x -C /tmp/before``). Exits with status 1 when a shape
exceeds ``--limit-mb``. Imports nothing from ``tests/``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MAX_PIXELS = 50_000_000  # ProcessOptions().max_pixels; checked in the child

#: name → (width, height) in pixels; None: a square at the pixel limit
SHAPES: dict[str, tuple[int, int] | None] = {
    "RGBA PNG, transparent": None,
    "RGBA PNG, opaque alpha": None,
    "RGB PNG": None,
    "16-bit greyscale PNG": None,
    "16-bit RGBA PNG": None,
    "1-bit PNG": None,
    "palette PNG, transparent": None,
    "RGBA PNG, transparent, 1:10 tall": (2236, 22360),
    "JPEG, EXIF orientation 6": None,
    "RGBA PNG, transparent, 20000x2000": (20000, 2000),
    "RGB PNG, 70000x500": (70000, 500),
}


def shape_size(name: str, max_pixels: int) -> tuple[int, int]:
    size = SHAPES[name]
    if size is not None:
        return size
    side = math.isqrt(max_pixels)
    return side, side


# --- generation (runs in its own subprocess) ---------------------------------------------------


def make(name: str, width: int, height: int, path: Path) -> None:
    """Write a compressible image of the shape: gradients and a disc, no noise, so that even
    at the pixel limit the file stays under the byte limit (as real graphics do)."""
    from PIL import ExifTags, Image, ImageDraw

    if name == "16-bit RGBA PNG":
        _png_rgba16(width, height, path)
        return
    red = Image.linear_gradient("L").resize((width, height))
    green = Image.radial_gradient("L").resize((width, height))
    blue = red.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    rgb = Image.merge("RGB", (red, green, blue))
    ImageDraw.Draw(rgb).ellipse(
        (width // 4, height // 4, width // 2, height // 2), fill=(200, 30, 40)
    )
    if name.startswith("RGBA"):
        alpha = green if "transparent" in name else Image.new("L", (width, height), 255)
        rgb.putalpha(alpha)
        rgb.save(path, "PNG")
    elif name.startswith("RGB"):
        rgb.save(path, "PNG")
    elif name == "16-bit greyscale PNG":
        red.convert("I").point(lambda v: v * 257).convert("I;16").save(path, "PNG")
    elif name == "1-bit PNG":
        green.convert("1", dither=Image.Dither.NONE).save(path, "PNG")
    elif name.startswith("palette"):
        palette = rgb.convert("P", palette=Image.Palette.ADAPTIVE, dither=Image.Dither.NONE)
        palette.save(path, "PNG", transparency=0)
    elif name.startswith("JPEG"):
        exif = Image.Exif()
        exif[ExifTags.Base.Orientation] = 6
        rgb.save(path, "JPEG", quality=90, exif=exif)
    else:
        raise ValueError(name)


def _png_rgba16(width: int, height: int, path: Path) -> None:
    # Pillow cannot write 16-bit RGBA (it decodes it to 8-bit RGBA): the PNG is written by hand.
    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    # 256 levels across (a 16-bit ramp of distinct values would not deflate under the limit).
    ramp = b"".join(struct.pack(">HHHH", x * 256 // width * 257, 30000, 0, 0) for x in range(width))
    deflate = zlib.compressobj(6)
    parts = []
    for y in range(height):
        alpha = struct.pack(">H", y * 65535 // height)
        row = bytearray(ramp)
        row[6::8], row[7::8] = alpha[:1] * width, alpha[1:] * width
        parts.append(deflate.compress(b"\x00" + bytes(row)))
    parts.append(deflate.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 6, 0, 0, 0)
    with path.open("wb") as out:
        out.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr))
        out.write(chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b""))


# --- measurement (runs in a fresh subprocess per shape) ----------------------------------------


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def measure(path: Path) -> dict[str, Any]:
    import resource
    import time

    from asyncimg_processor.core import ProcessOptions, process
    from asyncimg_processor.errors import ProcessingError

    options = ProcessOptions()
    data = path.read_bytes()
    baseline_kb = _status_kb("VmRSS")
    started = time.process_time()
    try:
        result = process(data, options)
        outcome = (
            f"{result.original.format} {result.original.width}x{result.original.height}"
            f"{', scaled to fit' if result.metadata.get('scaledToFit') else ''}"
        )
    except ProcessingError as exc:
        outcome = exc.code
    cpu = time.process_time() - started
    return {
        "max_pixels": options.max_pixels,
        "max_bytes": options.max_bytes,
        "input_bytes": len(data),
        "baseline_kb": baseline_kb,
        "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "hwm_kb": _status_kb("VmHWM"),
        "cpu_s": cpu,
        "outcome": outcome,
    }


# --- driver ------------------------------------------------------------------------------------


def _child(args: list[str], lambda_dir: Path) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(lambda_dir), str(ROOT)])}
    done = subprocess.run(
        [sys.executable, __file__, *args], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{args[0]} failed:\n{done.stderr}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit-mb", type=float, default=512.0)
    parser.add_argument("--only", default="", help="run the shapes whose name contains this")
    parser.add_argument("--lambda-dir", type=Path, default=ROOT / "lambda")
    args = parser.parse_args()

    print(f"processor: {args.lambda_dir.resolve()}")
    print("| shape | pixels | input KiB | baseline MB | peak Δ MB | VmHWM Δ MB | CPU s | result |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    over = []
    with tempfile.TemporaryDirectory() as folder:
        for name in SHAPES:
            if args.only.lower() not in name.lower():
                continue
            width, height = shape_size(name, DEFAULT_MAX_PIXELS)
            path = Path(folder) / "input.img"
            _child(["--make", name, str(width), str(height), str(path)], args.lambda_dir)
            row = json.loads(_child(["--measure", str(path)], args.lambda_dir))
            if row["max_pixels"] != DEFAULT_MAX_PIXELS:
                raise SystemExit("ProcessOptions().max_pixels changed: update DEFAULT_MAX_PIXELS")
            if row["input_bytes"] > row["max_bytes"]:
                raise SystemExit(f"{name}: the generated file is above the byte limit")
            peak = (row["maxrss_kb"] - row["baseline_kb"]) / 1024
            hwm = (row["hwm_kb"] - row["baseline_kb"]) / 1024
            print(
                f"| {name} | {width}x{height} | {row['input_bytes'] / 1024:.0f} "
                f"| {row['baseline_kb'] / 1024:.0f} | {peak:.0f} | {hwm:.0f} "
                f"| {row['cpu_s']:.1f} | {row['outcome']} |",
                flush=True,
            )
            if peak >= args.limit_mb:
                over.append(name)
    if over:
        print(f"above {args.limit_mb:.0f} MB: {', '.join(over)}")
        raise SystemExit(1)
    print(f"every shape below {args.limit_mb:.0f} MB")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--make":
        make(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--measure":
        print(json.dumps(measure(Path(sys.argv[2]))))
    else:
        main()
