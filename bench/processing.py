"""Benchmark of the image processing core against a naive Pillow pipeline, the floor and sharp.

Run: ``.venv/bin/python bench/processing.py [--runs 7]``. For each test image every engine runs
in a fresh subprocess (so peak RSS is its own), does the default job (widths 320/800/1600 x
WebP q80 + JPEG q82 = 6 outputs) ``--runs`` times after one warm-up, and reports the median wall
time, the peak RSS of the process and the bytes it produced. Results go to docs/benchmarks.md.

Engines:
  ours        asyncimg_processor.core.process, variants only (the 6-output job)
  ours+orig   the handler's real job: the same plus the full-size normalised original
  naive       Pillow as usually written: full decode, exif_transpose, thumbnail + save per output
  floor       the lower bound for Pillow, one thread: JPEG decode at draft scale plus encoding
              the six outputs from already resized images (resizing not counted)
  sharp       npm sharp (libvips), installed into bench/.node on first run if npm is available
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
NODE_DIR = ROOT / "bench" / ".node"

SHARP_SCRIPT = r"""
const sharp = require("sharp");
const fs = require("fs");
const [file, runs] = [process.argv[2], parseInt(process.argv[3], 10)];
const input = fs.readFileSync(file);
const widths = [1600, 800, 320];
async function job() {
  const meta = await sharp(input).metadata();
  const upright = meta.orientation >= 5 ? meta.height : meta.width;
  const base = sharp(input).rotate();
  const tasks = [];
  for (const w of widths.filter((w) => w <= upright)) {
    tasks.push(base.clone().resize({ width: w }).webp({ quality: 80 }).toBuffer());
    tasks.push(base.clone().resize({ width: w }).jpeg({ quality: 82, progressive: true })
      .toBuffer());
  }
  const outputs = await Promise.all(tasks);
  return outputs.reduce((n, b) => n + b.length, 0);
}
// VmHWM, not resourceUsage().maxRSS: Linux carries the parent's peak across execve.
const hwm = () =>
  parseInt(/VmHWM:\s+(\d+)/.exec(fs.readFileSync("/proc/self/status", "utf8"))[1], 10);
(async () => {
  const baseline = hwm();
  await job();
  const times = [];
  let bytes = 0;
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    bytes = await job();
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  console.log(JSON.stringify({ times, bytes, peak_kb: hwm(),
    baseline_kb: baseline, outputs: widths.length * 2 }));
})();
"""

SETTINGS = {
    "ours": "WebP q80 method 4, JPEG q82 progressive; shrink-on-load, first resize in parallel "
    "strips, chained bicubic, 2 threads",
    "ours+orig": "as ours + full-size original (no shrink-on-load): JPEG q90 baseline-optimised, "
    "WebP q90 method 2 with alpha",
    "naive": "WebP q80 method 4, JPEG q82 baseline; full decode, thumbnail() per output",
    "floor": "WebP q80 method 4, JPEG q82 progressive; draft decode + encodes, 1 thread",
    "sharp": "WebP q80 effort 4, JPEG q82 progressive; libvips shrink-on-load, default threads",
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


# --- engines (run inside the child process) ----------------------------------------------------


def engine_ours(data: bytes, include_original: bool = False) -> int:
    from asyncimg_processor.core import ProcessOptions, process

    options = ProcessOptions(include_original=include_original, max_bytes=1 << 30)
    result = process(data, options)
    outputs = [*result.variants, *([result.original] if include_original else [])]
    return sum(o.size for o in outputs)


def _save(im: Any, fmt: str, **params: Any) -> int:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return len(buf.getvalue())


def engine_naive(data: bytes) -> int:
    from PIL import Image, ImageOps

    im = Image.open(io.BytesIO(data))
    im.load()
    im = ImageOps.exif_transpose(im)
    total = 0
    for width in [w for w in WIDTHS if w <= im.width]:
        for fmt in ("WEBP", "JPEG"):
            copy = im.copy()
            copy.thumbnail((width, width * 100))
            if fmt == "JPEG" and copy.mode != "RGB":
                copy = copy.convert("RGB")
            total += _save(copy, fmt, quality=WEBP_QUALITY if fmt == "WEBP" else JPEG_QUALITY)
    return total


def floor_parts(data: bytes) -> tuple[Callable[[], Any], Callable[[], int]]:
    """(decode, encode): the timed parts of the floor; resizing happens between, untimed."""
    from PIL import Image

    header = Image.open(io.BytesIO(data))
    turned = header.getexif().get(0x0112, 1) >= 5
    upright = header.height if turned else header.width
    scale = WIDTHS[0] / upright

    def decode() -> Any:
        im = Image.open(io.BytesIO(data))
        if im.format == "JPEG":
            # The smallest DCT scale that still gives 1600 px of upright width.
            im.draft("RGB", (round(im.width * scale), round(im.height * scale)))
        im.load()
        return im

    im = decode()
    ratio = im.width / im.height if turned else im.height / im.width
    sized = [im.resize((w, round(w * ratio))) for w in WIDTHS if w <= upright]
    flat = [s.convert("RGB") for s in sized]

    def encode() -> int:
        total = 0
        for rgba, rgb in zip(sized, flat, strict=True):
            total += _save(rgba, "WEBP", quality=WEBP_QUALITY)
            total += _save(rgb, "JPEG", quality=JPEG_QUALITY, progressive=True)
        return total

    return decode, encode


def high_water_kb() -> int:
    """Peak RSS of this process image. Not getrusage: Linux carries ru_maxrss across execve, so a
    child would inherit its parent's peak; VmHWM starts afresh with the new program."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(engine: str, file: str, runs: int) -> None:
    """Run one engine ``runs`` times on one file; print a JSON line."""
    data = Path(file).read_bytes()
    import asyncimg_processor.core  # noqa: F401 - imports count in the baseline, not the job

    baseline = high_water_kb()
    times: list[float] = []
    total = 0
    if engine == "floor":
        decode, encode = floor_parts(data)
        for i in range(runs + 1):
            start = time.perf_counter()
            decode()
            total = encode()
            if i:
                times.append((time.perf_counter() - start) * 1000)
    else:
        job: Callable[[], int] = {
            "ours": lambda: engine_ours(data),
            "ours+orig": lambda: engine_ours(data, include_original=True),
            "naive": lambda: engine_naive(data),
        }[engine]
        for i in range(runs + 1):
            start = time.perf_counter()
            total = job()
            if i:
                times.append((time.perf_counter() - start) * 1000)
    peak = high_water_kb()
    print(json.dumps({"times": times, "bytes": total, "peak_kb": peak, "baseline_kb": baseline}))


# --- orchestration -----------------------------------------------------------------------------


def ensure_sharp() -> str | None:
    """Path of a node_modules holding sharp, installing it if needed; None when impossible."""
    if (NODE_DIR / "node_modules" / "sharp").is_dir():
        return str(NODE_DIR)
    if not shutil.which("node") or not shutil.which("npm"):
        print("sharp: node/npm not found, skipping sharp")
        return None
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    print("sharp: npm install sharp (once, into bench/.node) ...")
    result = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(NODE_DIR), "sharp"],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        print(f"sharp: npm install failed, skipping sharp:\n{result.stderr[-2000:]}")
        return None
    return str(NODE_DIR)


def run_engine(engine: str, file: Path, runs: int, node_dir: str | None) -> dict[str, Any] | None:
    if engine == "sharp":
        if node_dir is None:
            return None
        script = Path(node_dir) / "bench_sharp.js"
        script.write_text(SHARP_SCRIPT)
        command = ["node", str(script), str(file), str(runs)]
    else:
        command = [sys.executable, __file__, "--child", engine, str(file), "--runs", str(runs)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    measured: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return measured


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--child", nargs=2, metavar=("ENGINE", "FILE"))
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
        child(args.child[0], args.child[1], args.runs)
        return

    node_dir = ensure_sharp()
    engines = ["ours", "ours+orig", "naive", "floor", "sharp"]
    rows: list[str] = []
    verdicts: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        images = make_images(Path(tmp))
        for label, path in images.items():
            size_mb = path.stat().st_size / 1e6
            print(f"\n{label} ({size_mb:.1f} MB)")
            results: dict[str, dict[str, Any]] = {}
            for engine in engines:
                measured = run_engine(engine, path, args.runs, node_dir)
                if measured is None:
                    continue
                measured["median"] = statistics.median(measured["times"])
                measured["p90"] = percentile(measured["times"], 90)
                results[engine] = measured
                print(
                    f"  {engine:10} {measured['median']:7.1f} ms (p90 {measured['p90']:6.1f})"
                    f"  peak RSS {measured['peak_kb'] / 1024:6.1f} MB"
                    f" (+{(measured['peak_kb'] - measured['baseline_kb']) / 1024:5.1f} MB)"
                    f"  {measured['bytes'] / 1024:7.1f} KiB   {SETTINGS[engine]}"
                )
            ours, naive = results["ours"], results["naive"]
            for engine, measured in results.items():
                rows.append(
                    f"| {label} | {engine} | {measured['median']:.0f} | {measured['p90']:.0f} | "
                    f"{measured['peak_kb'] / 1024:.0f} | "
                    f"{(measured['peak_kb'] - measured['baseline_kb']) / 1024:.0f} | "
                    f"{measured['bytes'] / 1024:.0f} |"
                )
            speedup = naive["median"] / ours["median"]
            rss = ours["peak_kb"] / naive["peak_kb"]
            size = ours["bytes"] / naive["bytes"]
            rss_delta = (ours["peak_kb"] - ours["baseline_kb"]) / max(
                1, naive["peak_kb"] - naive["baseline_kb"]
            )
            line = (
                f"- **{label}**: {speedup:.1f}x faster than naive Pillow (goal >= 2.5x: "
                f"{verdict(speedup >= 2.5)}); peak RSS {rss:.2f} of naive, {rss_delta:.2f} above "
                f"the interpreter (goal <= 0.5: {verdict(rss <= 0.5)}); output bytes {size:.2f} "
                f"of naive (goal within 10 %: {verdict(size <= 1.1)})"
            )
            if "sharp" in results:
                vs_sharp = results["sharp"]["median"] / ours["median"]
                line += f"; {vs_sharp:.2f}x sharp's speed (goal > 1: {verdict(vs_sharp > 1)})"
            if "floor" in results:
                line += f"; {ours['median'] / results['floor']['median']:.2f}x the floor's time"
            verdicts.append(line + ".")
            print(line)

    settings = "\n".join(f"- `{name}`: {text}" for name, text in SETTINGS.items())
    body = (
        "## Image processing (`bench/processing.py`)\n\n"
        "Default job: widths 1600/800/320 x WebP + JPEG (6 outputs); `ours+orig` adds the "
        "full-size normalised original the handler also stores. Median and p90 of "
        f"{args.runs} runs after a warm-up, each engine in a fresh process; peak RSS is the "
        "whole process (Python or Node baseline included), Δ is above the baseline after "
        "imports.\n\n"
        "| image | engine | median ms | p90 ms | peak RSS MB | Δ RSS MB | output KiB |\n"
        "|---|---|---:|---:|---:|---:|---:|\n" + "\n".join(rows) + "\n\n" + "\n".join(verdicts)
    )
    body += f"\n\nEncoder settings:\n\n{settings}\n"
    if node_dir is None:
        body += "\nsharp could not be installed in this run; its rows are missing.\n"
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
