"""Benchmark of the shipped processing job against pyvips, sharp and a competent Pillow pipeline.

Run: ``.venv/bin/python bench/processing.py [--runs 5]``. Peers: ``pip install -r
bench/requirements-push.txt`` (pyvips, numpy) after ``apt-get install libvips42`` (pyvips needs
the library); sharp is installed with npm into ``bench/.node`` on first run (Node 20). A missing
peer is skipped and said so in the report.

The job is the handler's real one at the default settings: the normalised full-size original
(JPEG q90 baseline with optimised tables, or WebP q90 when the image has transparency) plus every
variant (widths 1600/800/320 x WebP q80 + progressive JPEG q82: 7 outputs). Every engine produces
the same 7 outputs, upright (EXIF orientation applied), metadata stripped, transparent JPEGs
flattened on white. Each engine runs in a fresh process (so peak RSS is its own), does the job
``--runs`` times after one warm-up and writes its last outputs to disk; this process then measures
their bytes and their SSIM against the source (luma, 7x7 window, the source resized to the
output's size with Lanczos), so speed is compared at matched visual quality.

Engines:
  ours     asyncimg_processor.core.process with default options (what the handler runs)
  pillow   competent Pillow: one full decode (the original needs it), exif_transpose, variants
           chained from the largest with thumbnail(reducing_gap=2.0)
  pyvips   libvips through pyvips: the original from a sequential decode, every variant from
           thumbnail_buffer (shrink-on-load), libvips' own thread pool
  sharp    npm sharp (libvips) in Node: the same, default concurrency
"""

from __future__ import annotations

import argparse
import io
import json
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambda")]

from bench._report import percentile, write_section  # noqa: E402

WIDTHS = (1600, 800, 320)
JPEG_QUALITY = 82
WEBP_QUALITY = 80
ORIGINAL_QUALITY = 90
NODE_DIR = ROOT / "bench" / ".node"
#: sharp 0.34 supports Node ^18.17 || ^20.3 || >= 21
SHARP_VERSION = "0.34.5"
ENGINES = ("ours", "pillow", "pyvips", "sharp")
#: not a peer: ours without the original, to show what the original costs (the notes)
DIAGNOSTIC = "ours-variants"

SHARP_SCRIPT = r"""
const sharp = require("sharp");
const fs = require("fs");
const path = require("path");
const [file, runs, outDir] = [process.argv[2], parseInt(process.argv[3], 10), process.argv[4]];
const input = fs.readFileSync(file);
const widths = [1600, 800, 320];
async function job() {
  const meta = await sharp(input).metadata();
  const upright = (meta.orientation || 1) >= 5 ? meta.height : meta.width;
  const alpha = meta.hasAlpha;
  const tasks = [];
  const orig = sharp(input).rotate();
  tasks.push(["original." + (alpha ? "webp" : "jpg"), alpha
    ? orig.webp({ quality: 90, effort: 2 }).toBuffer()
    : orig.jpeg({ quality: 90, optimiseCoding: true }).toBuffer()]);
  for (const w of widths.filter((w) => w <= upright)) {
    const base = () => sharp(input).rotate().resize({ width: w });
    tasks.push([w + "w.webp", base().webp({ quality: 80, effort: 4 }).toBuffer()]);
    const jpeg = alpha ? base().flatten({ background: "#ffffff" }) : base();
    tasks.push([w + "w.jpg", jpeg.jpeg({ quality: 82, progressive: true }).toBuffer()]);
  }
  const buffers = await Promise.all(tasks.map((t) => t[1]));
  return tasks.map((t, i) => [t[0], buffers[i]]);
}
// VmHWM, not resourceUsage().maxRSS: Linux carries the parent's peak across execve.
const hwm = () =>
  parseInt(/VmHWM:\s+(\d+)/.exec(fs.readFileSync("/proc/self/status", "utf8"))[1], 10);
(async () => {
  const baseline = hwm();
  await job();
  const times = [];
  let outputs = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    outputs = await job();
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  for (const [name, buf] of outputs) fs.writeFileSync(path.join(outDir, name), buf);
  console.log(JSON.stringify({ times, peak_kb: hwm(), baseline_kb: baseline }));
})();
"""

SETTINGS = {
    "ours": "the handler's job at default options: original JPEG q90 baseline optimised "
    "(WebP q90 method 2 with alpha); variants WebP q80 method 4, JPEG q82 progressive; 2 threads",
    "pillow": "same encoders and settings; full decode, exif_transpose, thumbnail(reducing_gap=2) "
    "chained from the largest variant, 1 thread",
    "pyvips": "original jpegsave Q90 optimize_coding (webpsave Q90 effort 2 with alpha); "
    "thumbnail_buffer per width, webpsave Q80 effort 4, jpegsave Q82 interlace; strip",
    DIAGNOSTIC: "ours without the original (not a peer: what the original costs us)",
    "sharp": f"sharp {SHARP_VERSION}: rotate(); original jpeg q90 optimiseCoding (webp q90 effort "
    "2 with alpha); resize per width, webp q80 effort 4, jpeg q82 progressive",
}


# --- test images -------------------------------------------------------------------------------


def photo(width: int, height: int, seed: int = 1) -> Any:
    """Gradients, shapes, blur and grain: compresses like a photo, not like a flat image."""
    from PIL import Image, ImageDraw, ImageFilter

    rnd = random.Random(seed)
    im = Image.merge(
        "RGB",
        (
            Image.linear_gradient("L").resize((width, height)),
            Image.radial_gradient("L").resize((width, height)),
            Image.linear_gradient("L").rotate(90).resize((width, height)),
        ),
    )
    draw = ImageDraw.Draw(im)
    for _ in range(120):
        x, y = rnd.randrange(width), rnd.randrange(height)
        size = rnd.randrange(width // 50, width // 6)
        colour = tuple(rnd.randrange(256) for _ in range(3))
        shape = draw.ellipse if rnd.random() < 0.5 else draw.rectangle
        shape((x, y, x + size, y + size * 2 // 3), fill=colour)
    im = im.filter(ImageFilter.GaussianBlur(2))
    grain = Image.merge("RGB", [Image.effect_noise((width, height), 40) for _ in range(3)])
    return Image.blend(im, grain, 0.22)


def make_images(folder: Path) -> dict[str, Path]:
    from PIL import ExifTags, Image

    big = photo(4000, 3000)
    paths = {
        "12 MP JPEG": folder / "photo.jpg",
        "12 MP JPEG, EXIF orientation 6": folder / "rotated.jpg",
        "6 MP RGBA PNG": folder / "alpha.png",
    }
    big.save(paths["12 MP JPEG"], "JPEG", quality=90)
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    big.save(paths["12 MP JPEG, EXIF orientation 6"], "JPEG", quality=90, exif=exif)
    rgba = photo(3000, 2000, seed=2).convert("RGBA")
    rgba.putalpha(Image.radial_gradient("L").resize((3000, 2000)))
    rgba.save(paths["6 MP RGBA PNG"], "PNG", compress_level=6)
    return paths


# --- engines (run inside the child process; each returns {output name: bytes}) ------------------


Outputs = dict[str, bytes]


def engine_ours(data: bytes) -> Outputs:
    from asyncimg_processor.core import ProcessOptions, process

    result = process(data, ProcessOptions(max_bytes=1 << 30))
    original = result.original
    named = {f"original.{original.name.rsplit('.', 1)[1]}": original.data}
    return named | {v.name: v.data for v in result.variants}


def engine_ours_variants(data: bytes) -> Outputs:
    from asyncimg_processor.core import ProcessOptions, process

    result = process(data, ProcessOptions(max_bytes=1 << 30, include_original=False))
    return {v.name: v.data for v in result.variants}


def engine_pillow(data: bytes) -> Outputs:
    from PIL import Image, ImageOps

    def save(im: Any, fmt: str, **params: Any) -> bytes:
        buf = io.BytesIO()
        im.save(buf, fmt, **params)
        return buf.getvalue()

    def flat(im: Any) -> Any:
        if im.mode != "RGBA":
            return im.convert("RGB") if im.mode != "RGB" else im
        white = Image.new("RGB", im.size, (255, 255, 255))
        white.paste(im, mask=im.getchannel("A"))
        return white

    im = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    im.info = {}
    alpha = im.mode == "RGBA"
    out: Outputs = {}
    if alpha:
        out["original.webp"] = save(im, "WEBP", quality=ORIGINAL_QUALITY, method=2)
    else:
        out["original.jpg"] = save(im, "JPEG", quality=ORIGINAL_QUALITY, optimize=True)
    current = im
    for width in [w for w in WIDTHS if w <= im.width]:
        current = current.copy()
        current.thumbnail((width, 10**6), Image.Resampling.BICUBIC, reducing_gap=2.0)
        out[f"{width}w.webp"] = save(current, "WEBP", quality=WEBP_QUALITY, method=4)
        out[f"{width}w.jpg"] = save(flat(current), "JPEG", quality=JPEG_QUALITY, progressive=True)
    return out


def engine_pyvips(data: bytes) -> Outputs:
    import pyvips

    def flat(im: Any) -> Any:
        return im.flatten(background=[255, 255, 255]) if im.hasalpha() else im

    # Sequential access streams the decode into the encoder; turning an image upright needs
    # random access (libvips then decodes it into memory once).
    header = pyvips.Image.new_from_buffer(data, "")
    turned = header.get_typeof("orientation") and header.get("orientation") != 1
    full = pyvips.Image.new_from_buffer(data, "", access="random" if turned else "sequential")
    full = full.autorot()
    out: Outputs = {}
    if full.hasalpha():
        out["original.webp"] = full.webpsave_buffer(Q=ORIGINAL_QUALITY, effort=2, strip=True)
    else:
        out["original.jpg"] = full.jpegsave_buffer(
            Q=ORIGINAL_QUALITY, optimize_coding=True, strip=True
        )
    for width in [w for w in WIDTHS if w <= full.width]:
        # Rendered once into memory: both encoders read it (a sequential pipeline runs once).
        thumb = pyvips.Image.thumbnail_buffer(data, width, height=10**7).copy_memory()
        out[f"{width}w.webp"] = thumb.webpsave_buffer(Q=WEBP_QUALITY, effort=4, strip=True)
        out[f"{width}w.jpg"] = flat(thumb).jpegsave_buffer(
            Q=JPEG_QUALITY, interlace=True, optimize_coding=True, strip=True
        )
    return out


PYTHON_ENGINES: dict[str, Callable[[bytes], Outputs]] = {
    "ours": engine_ours,
    "pillow": engine_pillow,
    "pyvips": engine_pyvips,
    DIAGNOSTIC: engine_ours_variants,
}


def high_water_kb() -> int:
    """Peak RSS of this process image. Not getrusage: Linux carries ru_maxrss across execve, so a
    child would inherit its parent's peak; VmHWM starts afresh with the new program."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(engine: str, file: str, runs: int, out_dir: str) -> None:
    """Run one engine ``runs`` times on one file, write its last outputs; print a JSON line."""
    data = Path(file).read_bytes()
    import asyncimg_processor.core  # noqa: F401 - imports count in the baseline, not the job

    if engine == "pyvips":
        import pyvips  # noqa: F401
    job = PYTHON_ENGINES[engine]
    baseline = high_water_kb()
    times: list[float] = []
    outputs: Outputs = {}
    for i in range(runs + 1):
        start = time.perf_counter()
        outputs = job(data)
        if i:
            times.append((time.perf_counter() - start) * 1000)
    peak = high_water_kb()
    for name, blob in outputs.items():
        (Path(out_dir) / name).write_bytes(blob)
    print(json.dumps({"times": times, "peak_kb": peak, "baseline_kb": baseline}))


# --- visual quality ----------------------------------------------------------------------------


def _luma(im: Any) -> Any:
    import numpy as np
    from PIL import Image

    if im.mode in ("RGBA", "LA", "P"):
        rgba = im.convert("RGBA")
        white = Image.new("RGB", rgba.size, (255, 255, 255))
        white.paste(rgba, mask=rgba.getchannel("A"))
        im = white
    return np.asarray(im.convert("L"), dtype=np.float64)


def ssim(a: Any, b: Any) -> float:
    """Mean SSIM of two equally sized luma arrays: 7x7 uniform window, K1 0.01, K2 0.03 (the
    parameters of scikit-image's default ``structural_similarity``)."""
    import numpy as np

    win = 7

    def mean(x: Any) -> Any:
        s = np.cumsum(np.cumsum(np.pad(x, ((1, 0), (1, 0))), 0), 1)
        return (s[win:, win:] - s[:-win, win:] - s[win:, :-win] + s[:-win, :-win]) / win**2

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    ma, mb = mean(a), mean(b)
    n = win * win
    va = (mean(a * a) - ma * ma) * n / (n - 1)
    vb = (mean(b * b) - mb * mb) * n / (n - 1)
    cov = (mean(a * b) - ma * mb) * n / (n - 1)
    num = (2 * ma * mb + c1) * (2 * cov + c2)
    den = (ma * ma + mb * mb + c1) * (va + vb + c2)
    return float((num / den).mean())


def quality(source: Path, out_dir: Path) -> dict[str, tuple[int, float]]:
    """{output name: (bytes, SSIM against the upright source resized to its size)}."""
    from PIL import Image, ImageOps

    reference = ImageOps.exif_transpose(Image.open(source))
    out = {}
    for path in sorted(out_dir.iterdir()):
        with Image.open(path) as im:
            im.load()
            ref = (
                reference
                if reference.size == im.size
                else reference.resize(im.size, Image.Resampling.LANCZOS)
            )
            out[path.name] = (path.stat().st_size, ssim(_luma(ref), _luma(im)))
    return out


# --- orchestration -----------------------------------------------------------------------------


def ensure_sharp() -> str | None:
    """Path of a node_modules holding sharp, installing it if needed; None when impossible."""
    if (NODE_DIR / "node_modules" / "sharp").is_dir():
        return str(NODE_DIR)
    if not shutil.which("node") or not shutil.which("npm"):
        print("sharp: node/npm not found, skipping sharp")
        return None
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    print(f"sharp: npm install sharp@{SHARP_VERSION} (once, into bench/.node) ...")
    result = subprocess.run(
        [
            "npm",
            "install",
            "--no-audit",
            "--no-fund",
            "--prefix",
            str(NODE_DIR),
            f"sharp@{SHARP_VERSION}",
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        print(f"sharp: npm install failed, skipping sharp:\n{result.stderr[-2000:]}")
        return None
    return str(NODE_DIR)


def have_pyvips() -> bool:
    try:
        import pyvips  # noqa: F401
    except (ImportError, OSError) as exc:
        print(
            f"pyvips: not importable ({exc}); pip install -r bench/requirements-push.txt and "
            "apt-get install libvips42. Skipping pyvips"
        )
        return False
    return True


def run_engine(
    engine: str, file: Path, runs: int, node_dir: str | None, out_dir: Path
) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    if engine == "sharp":
        assert node_dir is not None
        script = Path(node_dir) / "bench_sharp.js"
        script.write_text(SHARP_SCRIPT)
        command = ["node", str(script), str(file), str(runs), str(out_dir)]
    else:
        command = [sys.executable, __file__, "--child", engine, str(file), str(out_dir)]
        command += ["--runs", str(runs)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{engine} failed on {file.name}:\n{result.stderr[-3000:]}")
    measured: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    measured["median"] = statistics.median(measured["times"])
    measured["p90"] = percentile(measured["times"], 90)
    measured["outputs"] = quality(file, out_dir)
    measured["bytes"] = sum(size for size, _ in measured["outputs"].values())
    measured["ssim"] = statistics.fmean(s for _, s in measured["outputs"].values())
    return measured


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def compare_peers(label: str, results: dict[str, dict[str, Any]]) -> str:
    """The goal line of one image: ours against the faster of pyvips and sharp."""
    ours = results["ours"]
    peers = {name: results[name] for name in ("pyvips", "sharp") if name in results}
    if not peers:
        return f"- **{label}**: no peer (pyvips, sharp) ran; no verdict."
    fastest = min(peers, key=lambda name: peers[name]["median"])
    speed = peers[fastest]["median"] / ours["median"]
    lowest = min(peer["peak_kb"] for peer in peers.values())
    rss = ours["peak_kb"] / lowest
    size = ours["bytes"] / peers[fastest]["bytes"]
    return (
        f"- **{label}**: {speed:.2f}x the speed of the faster peer ({fastest}, "
        f"{peers[fastest]['median']:.0f} ms against our {ours['median']:.0f} ms; goal >= 1.5x: "
        f"{verdict(speed >= 1.5)}); peak RSS {rss:.2f}x the lower peer's (goal <= 1: "
        f"{verdict(rss <= 1.0)}); output bytes {size:.2f}x {fastest}'s (goal within 5 %: "
        f"{verdict(abs(size - 1) <= 0.05)}); mean SSIM ours {ours['ssim']:.4f}, "
        f"{fastest} {peers[fastest]['ssim']:.4f}."
    )


def notes(label: str, results: dict[str, dict[str, Any]]) -> list[str]:
    """Where our time and bytes go, for the goals this image missed, from this run's figures."""
    ours = results["ours"]
    peers = {name: results[name] for name in ("pyvips", "sharp") if name in results}
    if not peers:
        return []
    fastest = min(peers, key=lambda name: peers[name]["median"])
    peer = peers[fastest]
    out = []
    original = next(n for n in ours["outputs"] if n.startswith("original"))
    ours_orig, ours_ssim = ours["outputs"][original]
    peer_orig = peer["outputs"].get(original, (0, float("nan")))
    if peer["median"] / ours["median"] < 1.5 and DIAGNOSTIC in results:
        share = 1 - results[DIAGNOSTIC]["median"] / ours["median"]
        out.append(
            f"  - {label}, speed: without the original our job takes "
            f"{results[DIAGNOSTIC]['median']:.0f} ms, so the original (a full-size decode, "
            f"turned or premultiplied, and its encode) is {share:.0%} of our time; the variants "
            "alone are resized and encoded on 2 threads. What would close it: the original's "
            "encode is one single-threaded libjpeg/libwebp call on the whole frame (Pillow "
            "cannot split it), so only not re-encoding helps — for a turned JPEG a lossless "
            "transposition of the DCT blocks (jpegtran's), which Pillow does not expose."
        )
    if abs(ours["bytes"] / peer["bytes"] - 1) > 0.05:
        out.append(
            f"  - {label}, bytes: our original is {ours_orig / 1024:.0f} KiB (SSIM "
            f"{ours_ssim:.4f}), {fastest}'s {peer_orig[0] / 1024:.0f} KiB (SSIM "
            f"{peer_orig[1]:.4f}); the variants differ by "
            f"{(ours['bytes'] - ours_orig) / max(1, peer['bytes'] - peer_orig[0]) - 1:+.1%}. "
            "An as-uploaded original keeps the uploader's quality and Huffman tables; "
            "optimising those tables losslessly (jpegtran -optimize) would bring it to a "
            "re-encode's size without its generation loss, but Pillow does not expose it."
        )
    return out


def per_output_table(results: dict[str, dict[str, Any]]) -> list[str]:
    names = sorted({name for r in results.values() for name in r["outputs"]})
    engines = list(results)
    lines = [
        "| output | " + " | ".join(f"{e} KiB / SSIM" for e in engines) + " |",
        "|---|" + "---:|" * len(engines),
    ]
    for name in names:
        cells = []
        for engine in engines:
            got = results[engine]["outputs"].get(name)
            cells.append(f"{got[0] / 1024:.0f} / {got[1]:.4f}" if got else "—")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--child", nargs=3, metavar=("ENGINE", "FILE", "OUT_DIR"))
    parser.add_argument("--no-report", action="store_true", help="do not write docs/benchmarks.md")
    parser.add_argument("--analyzers", action="store_true", help="only the analyzers' cost")
    parser.add_argument("--analyzers-child", nargs=2, metavar=("CONFIG", "FILE"))
    args = parser.parse_args()
    if args.analyzers_child:
        analyzers_child(args.analyzers_child[0], args.analyzers_child[1], args.runs)
        return
    if args.analyzers:
        analyzers_main(args.runs)
        return
    if args.child:
        child(args.child[0], args.child[1], args.runs, args.child[2])
        return

    node_dir = ensure_sharp()
    engines = [
        e
        for e in ENGINES
        if (e != "sharp" or node_dir is not None) and (e != "pyvips" or have_pyvips())
    ] + [DIAGNOSTIC]
    rows: list[str] = []
    verdicts: list[str] = []
    detail: list[str] = []
    time_ratios: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        images = make_images(Path(tmp))
        for label, path in images.items():
            print(f"\n{label} ({path.stat().st_size / 1e6:.1f} MB)")
            results: dict[str, dict[str, Any]] = {}
            for engine in engines:
                out_dir = Path(tmp) / f"{path.stem}-{engine}"
                measured = run_engine(engine, path, args.runs, node_dir, out_dir)
                results[engine] = measured
                print(
                    f"  {engine:7} {measured['median']:7.1f} ms (p90 {measured['p90']:6.1f})"
                    f"  peak RSS {measured['peak_kb'] / 1024:6.1f} MB"
                    f" (+{(measured['peak_kb'] - measured['baseline_kb']) / 1024:5.1f} MB)"
                    f"  {measured['bytes'] / 1024:7.1f} KiB  SSIM {measured['ssim']:.4f}"
                    f"  ({len(measured['outputs'])} outputs)"
                )
                rows.append(
                    f"| {label} | {engine} | {measured['median']:.0f} | {measured['p90']:.0f} | "
                    f"{measured['peak_kb'] / 1024:.0f} | "
                    f"{(measured['peak_kb'] - measured['baseline_kb']) / 1024:.0f} | "
                    f"{measured['bytes'] / 1024:.0f} | {measured['ssim']:.4f} |"
                )
            line = compare_peers(label, results)
            peer_medians = [results[n]["median"] for n in ("pyvips", "sharp") if n in results]
            if peer_medians:
                time_ratios.append(results["ours"]["median"] / min(peer_medians))
            print(line)
            verdicts.append(line)
            for note in notes(label, results):
                print(note)
                verdicts.append(note)
            detail += [f"\n{label}:\n", *per_output_table(results)]

    settings = "\n".join(f"- `{name}`: {text}" for name, text in SETTINGS.items())
    body = (
        "## Image processing (`bench/processing.py`)\n\n"
        "The handler's real job at default settings — the normalised full-size original plus "
        "1600/800/320 px x WebP + JPEG (7 outputs) — by each engine. Median and p90 of "
        f"{args.runs} runs after a warm-up, each engine in a fresh process; peak RSS is the "
        "whole process (Python or Node baseline included), Δ is above the baseline after "
        "imports; SSIM is the mean over the outputs (luma, against the upright source resized "
        "to each output's size).\n\n"
        "| image | engine | median ms | p90 ms | peak RSS MB | Δ RSS MB | output KiB | SSIM |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|\n" + "\n".join(rows) + "\n\n" + "\n".join(verdicts)
    )
    body += "\n\nPer output (KiB / SSIM):\n" + "\n".join(detail)
    body += f"\n\nEncoder settings:\n\n{settings}\n"
    missing = [e for e in ENGINES if e not in engines]
    if missing:
        body += f"\nNot installed in this run, so missing: {', '.join(missing)}.\n"
    if time_ratios:
        # bench/compare.py's line: the worst image's ours / faster peer median time.
        body += f"\n<!-- processing-summary time={max(time_ratios):.2f} -->\n"
    if not args.no_report:
        write_section("processing", body)
        print("\nWrote the processing section of docs/benchmarks.md")


# --- analyzers' cost (``--analyzers``) -----------------------------------------------------------
# Self-contained: its own child mode and its own section of docs/benchmarks.md ("analyzers").

ANALYZER_CONFIGS = {"none": (), "built-ins": ("placeholder", "dominantColor", "perceptualHash")}


def analyzers_child(config: str, file: str, runs: int) -> None:
    """The handler's job (variants + original) with the analyzers of ``config``; a JSON line."""
    from asyncimg_processor.analyzers import load
    from asyncimg_processor.core import ProcessOptions, process

    data = Path(file).read_bytes()
    options = ProcessOptions(
        include_original=True, max_bytes=1 << 30, analyzers=load(ANALYZER_CONFIGS[config])
    )
    baseline = high_water_kb()
    times: list[float] = []
    for i in range(runs + 1):
        start = time.perf_counter()
        process(data, options)
        if i:
            times.append((time.perf_counter() - start) * 1000)
    print(json.dumps({"times": times, "peak_kb": high_water_kb(), "baseline_kb": baseline}))


def analyzer_parts_ms(repeat: int = 20) -> dict[str, float]:
    """Each built-in alone on the working image the pipeline hands it (a 12 MP photo's 320 px
    variant, upright), in this process: where the added time goes."""
    from asyncimg_processor.analyzers import AnalysisInput, load

    working = AnalysisInput(photo(320, 240), 4000, 3000, False)
    parts = {}
    for analyzer in load(ANALYZER_CONFIGS["built-ins"]):
        analyzer(working)
        start = time.perf_counter()
        for _ in range(repeat):
            analyzer(working)
        parts[analyzer.name] = (time.perf_counter() - start) * 1000 / repeat
    return parts


def analyzers_main(runs: int, rounds: int = 3) -> None:
    """Run the job with and without the built-in analyzers, alternating fresh processes over
    ``rounds`` rounds (the two share the machine's noise), and report the added share."""
    times: dict[str, list[float]] = {name: [] for name in ANALYZER_CONFIGS}
    rss: dict[str, list[int]] = {name: [] for name in ANALYZER_CONFIGS}
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "photo.jpg"
        photo(4000, 3000).save(file, "JPEG", quality=90)
        for _ in range(rounds):
            for name in ANALYZER_CONFIGS:
                command = [sys.executable, __file__, "--analyzers-child", name, str(file)]
                result = subprocess.run(
                    [*command, "--runs", str(runs)], capture_output=True, text=True, check=True
                )
                measured = json.loads(result.stdout.strip().splitlines()[-1])
                times[name] += measured["times"]
                rss[name].append(measured["peak_kb"] - measured["baseline_kb"])
    median = {name: statistics.median(values) for name, values in times.items()}
    peak = {name: statistics.median(values) / 1024 for name, values in rss.items()}
    added = median["built-ins"] / median["none"] - 1
    parts = analyzer_parts_ms()
    share = sum(parts.values()) / median["none"]
    rows = "\n".join(
        f"| {name} | {median[name]:.0f} | {percentile(times[name], 90):.0f} | {peak[name]:.1f} |"
        for name in ANALYZER_CONFIGS
    )
    part_rows = "\n".join(f"| {name} | {ms:.2f} |" for name, ms in parts.items())
    body = (
        "## Analyzers' cost (`bench/processing.py --analyzers`)\n\n"
        "The handler's job on the 12 MP JPEG (6 variants + the original) without analyzers and "
        f"with the built-ins, fresh processes alternated over {rounds} rounds of {runs} runs "
        "after a warm-up each; Δ RSS is above the interpreter after imports.\n\n"
        "| analyzers | median ms | p90 ms | Δ RSS MB |\n|---|---:|---:|---:|\n" + rows + "\n\n"
        f"- Added time, end to end: {added * 100:+.1f} % (goal <= 5 %: {verdict(added <= 0.05)})"
        f"; the analyzers' own CPU time (below) is {share * 100:.1f} % of the job without them "
        "(they run on the main thread while the encoders work, so part of it overlaps).\n"
        f"- Peak RSS: {peak['built-ins'] - peak['none']:+.1f} MB.\n\n"
        "Each alone on the 320 px working image:\n\n| analyzer | ms |\n|---|---:|\n"
        + part_rows
        + "\n"
    )
    print(body)
    write_section("analyzers", body)
    print("Wrote the analyzers section of docs/benchmarks.md")


if __name__ == "__main__":
    main()
