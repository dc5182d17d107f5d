"""`make bench-peers`: the pipeline's own job done by us, sharp, pyvips and the reference handler, side by side.

The job: decode, orient, sRGB, fit in 800x600, 400x300 and 150x150, each size in the fallback format (ours' choice
for the input, given to every engine) plus WebP and AVIF, metadata stripped, with the same nominal encoder
settings. Per input and engine, each in a fresh process pinned to one core: the median time of repeated runs and
the peak memory the job adds; then images per second with two in flight on both cores; then each rendition's
quality (PSNR and SSIM against a Lanczos downscale of the full-resolution source, the same reference for every
engine) and bytes. Engines run interleaved, input by input. Also the libvips wiki's speed-and-memory task
(5000x5000 TIFF: crop, shrink, sharpen, save) as a published cross-check.

Writes bench/peers-results.json, prints the tables, ends with one JSON line of the goals met and missed.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from PIL import Image, ImageCms, ImageOps

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

import pillow_heif  # noqa: E402
from cost import MEMORY_MB, levers  # noqa: E402
from images import encode, make_cases, photo, psnr_of, ssim_of  # noqa: E402

from pipeline import imaging  # noqa: E402
from pipeline.errors import ImageError  # noqa: E402
from pipeline.settings import DEFAULT_RENDITIONS, parse_renditions  # noqa: E402

pillow_heif.register_heif_opener()
CACHE = ROOT / ".run" / "bench" / "peers"
PEERS = HERE / "peers"
NODE_MODULES = PEERS / "node_modules"
PEERS_PYTHON = ROOT / ".venv-peers" / "bin" / "python"
SIZES = [(r.name, r.width, r.height) for r in parse_renditions(DEFAULT_RENDITIONS)]
# Ours' encoder settings, given to every engine (libavif's speed 9 is libvips' effort 0).
QUALITY = {
    "JPEG": imaging.Limits().jpeg_quality,
    "WEBP": imaging.WEBP_QUALITY,
    "WEBP_EFFORT": imaging.WEBP_METHOD,
    "AVIF": imaging.AVIF_QUALITY,
    "AVIF_EFFORT": 9 - imaging.AVIF_SPEED,
}
ENGINES = ("ours", "sharp", "pyvips", "reference")


def inputs() -> dict[str, Path]:
    """The inputs, made once (seeded) and kept under .run/bench/peers/."""
    CACHE.mkdir(parents=True, exist_ok=True)
    wanted = [
        "jpeg_12mp",
        "jpeg_24mp",
        "jpeg_2mp",
        "jpeg_exif_rotated",
        "png_rgba",
        "png_16bit",
        "webp",
        "heic_12mp",
        "avif_12mp",
        "gif_animated",
    ]
    paths = {name: CACHE / f"in-{name}" for name in wanted}
    if all(p.exists() for p in paths.values()):
        return paths
    cases = make_cases()
    iphone = photo(4032, 3024, 11)  # an iPhone's 12 MP
    cases["heic_12mp"] = encode(iphone, "HEIF", quality=80)
    cases["avif_12mp"] = encode(iphone, "AVIF", quality=70, speed=8)
    for name, p in paths.items():
        p.write_bytes(cases[name])
    return paths


def own_inputs(files: list[Path]) -> dict[str, Path]:
    """Your own images as the inputs, each named by its file name (made unique); one line for a file not there."""
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise SystemExit(f"bench-peers: no such file: {', '.join(missing)}")
    named: dict[str, Path] = {}
    for i, f in enumerate(files, 1):
        named[f.name if f.name not in named else f"{i}-{f.name}"] = f.resolve()
    return named


def job_for(path: Path) -> dict[str, Any]:
    """What every engine is asked for this input: ours' fallback format first, then WebP and AVIF."""
    data = path.read_bytes()
    img, info = imaging.inspect(data, imaging.Limits())
    img.close()
    fallback = imaging.output_format(info)
    formats = [fallback, *(f for f in ("WEBP", "AVIF") if f != fallback)]
    return {"sizes": SIZES, "formats": formats, "quality": QUALITY, "animated": info.animated}


def command(engine: str, job: dict[str, Any]) -> list[str]:
    """The command line that runs one engine on one job."""
    arg = json.dumps(job)
    if engine == "sharp":
        return ["node", str(PEERS / "sharp_job.mjs"), arg]
    python = str(PEERS_PYTHON) if engine == "pyvips" else sys.executable
    return [python, str(PEERS / "py_job.py"), arg]


def run(engine: str, job: dict[str, Any], *, cores: set[int] | None, timeout: float = 900) -> dict[str, Any]:
    """One engine on one job in a fresh process (pinned to `cores`); its JSON line."""
    job = {**job, "engine": engine}

    def pin() -> None:
        if cores is not None:
            os.sched_setaffinity(0, cores)

    proc = subprocess.run(
        command(engine, job), capture_output=True, text=True, timeout=timeout, check=False, preexec_fn=pin
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return {"error": (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1][:200]}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def truth(path: Path) -> Image.Image:
    """The source as the reference sees it: fully decoded, upright, sRGB, 8-bit, first frame."""
    with Image.open(path) as src:
        img = ImageOps.exif_transpose(src) or src
        icc = src.info.get("icc_profile")
        if img.mode.startswith("I;16"):
            img = img.convert("I").point(lambda v: v / 257).convert("L")
        img = img.convert("RGBA" if imaging.has_alpha(img) else "RGB")
        if icc:
            srgb = ImageCms.createProfile("sRGB")
            img = ImageCms.profileToProfile(img, ImageCms.ImageCmsProfile(io.BytesIO(icc)), srgb) or img
        img.load()
    return img


def _flat(img: Image.Image) -> Image.Image:
    """RGB on white: how a page shows it (alpha composited the same way for every engine and the reference)."""
    if img.mode in ("RGBA", "LA", "P"):
        rgba = img.convert("RGBA")
        base = Image.new("RGB", img.size, (255, 255, 255))
        base.paste(rgba, mask=rgba.getchannel("A"))
        return base
    return img.convert("RGB")


def quality(source: Image.Image, outputs: list[dict[str, Any]]) -> None:
    """PSNR and SSIM of each rendition against the source downscaled with Lanczos to the rendition's size."""
    flat = _flat(source)
    for o in outputs:
        with Image.open(o["file"]) as got:
            got.seek(0)
            seen = _flat(got)
        want = flat.resize(seen.size, Image.Resampling.LANCZOS)
        o["width"], o["height"] = seen.size
        o["psnr_db"] = round(psnr_of(seen, want), 2)
        o["ssim"] = round(ssim_of(seen, want), 4)


def wiki_task(cores: set[int] | None) -> dict[str, Any]:
    """The libvips wiki's benchmark (crop 100 px, shrink to 90%, 3x3 sharpen, save TIFF) by three engines."""
    src = CACHE / "wiki-5000.tif"
    if not src.exists():
        photo(5000, 5000, 21).save(src, format="TIFF")
    out: dict[str, Any] = {}
    for engine in ("pillow", "pyvips", "sharp"):
        spec = {"engine": engine, "input": str(src), "out": str(CACHE / f"wiki-{engine}.tif")}
        if engine == "sharp":
            cmd = ["node", str(PEERS / "wiki_task.mjs"), json.dumps(spec)]
        else:
            python = str(PEERS_PYTHON) if engine == "pyvips" else sys.executable
            cmd = [python, str(PEERS / "wiki_task.py"), json.dumps(spec)]
        runs = []
        for _ in range(3):

            def pin() -> None:
                if cores is not None:
                    os.sched_setaffinity(0, cores)

            t = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False, preexec_fn=pin)
            wall = time.perf_counter() - t
            if proc.returncode != 0:
                runs.append({"error": proc.stderr.strip()[-200:]})
                continue
            runs.append({"wall_s": wall, **json.loads(proc.stdout.strip().splitlines()[-1])})
        ok = [r for r in runs if "error" not in r]
        out[engine] = (
            {
                "s": round(statistics.median(r["s"] for r in ok), 3),
                "wall_s": round(statistics.median(r["wall_s"] for r in ok), 3),
                "peak_mb": round(statistics.median(r["peak_mb"] for r in ok), 1),
            }
            if ok
            else runs[-1]
        )
    return out


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 1)


def bench(paths: dict[str, Path], names: list[str], repeats: int, throughput: int, with_wiki: bool) -> dict[str, Any]:
    """Every engine on every input, interleaved; the results by input then engine."""
    results: dict[str, Any] = {}
    for i, name in enumerate(names):
        path = paths[name]
        try:
            job = {**job_for(path), "input": str(path), "repeats": repeats}
        except ImageError as e:  # one of your own files that the pipeline refuses: said, and skipped
            print(f"  {name:18} refused by the pipeline ({e.code}): {e}", file=sys.stderr, flush=True)
            continue
        source = truth(path)
        order = ENGINES[i % len(ENGINES) :] + ENGINES[: i % len(ENGINES)]  # who goes first changes per input
        row: dict[str, Any] = {"bytes": path.stat().st_size, "formats": job["formats"]}
        for engine in order:
            one = run(engine, {**job, "out": str(CACHE / "out" / name / engine)}, cores={0})
            if "error" in one:
                row[engine] = {"error": one["error"]}
                print(f"  {name:18} {engine:9} cannot: {one['error']}", file=sys.stderr, flush=True)
                continue
            quality(source, one["outputs"])
            both = {**job, "throughput": throughput, "concurrency": 2}
            many = run(engine, both, cores=None)
            if engine == "ours":  # and in threads, as the local worker renders today
                threads = run(engine, {**both, "pool": "threads"}, cores=None)
                one["images_per_s_2_threads"] = round(threads.get("images_per_s", float("nan")), 2)
            row[engine] = {
                "ms": _median(one["ms"]),
                "extra_mb": round(one["peak_mb"] - one["base_mb"], 1),
                "peak_mb": round(one["peak_mb"], 1),
                "images_per_s_2_cores": round(many.get("images_per_s", float("nan")), 2),
                "outputs": one["outputs"],
                **({"images_per_s_2_threads": one["images_per_s_2_threads"]} if engine == "ours" else {}),
            }
            print(
                f"  {name:18} {engine:9} {row[engine]['ms']:8.1f} ms  {row[engine]['extra_mb']:6.1f} MB  "
                f"{row[engine]['images_per_s_2_cores']:6.2f}/s",
                file=sys.stderr,
                flush=True,
            )
        results[name] = row
    out: dict[str, Any] = {
        "machine": machine(),
        "versions": versions(),
        "settings": QUALITY,
        "repeats": repeats,
        "inputs": results,
    }
    if with_wiki:
        out["wiki_task"] = {"one_core": wiki_task({0}), "both_cores": wiki_task(None)}
    return out


def machine() -> str:
    """The CPU and how many cores: the figures only compare within one run."""
    cpu = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in cpu if "model name" in line), platform.processor())
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def versions() -> dict[str, str]:
    """The engines' versions, as they report them."""
    sharp = subprocess.run(
        ["node", "-e", "const s=require('sharp');console.log(s.versions.sharp+' (libvips '+s.versions.vips+')')"],
        cwd=PEERS,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    ).stdout.strip()
    vips = subprocess.run(
        [str(PEERS_PYTHON), "-c", "import pyvips as v; print(v.__version__, 'libvips', *map(v.version, range(3)))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    ).stdout.strip()
    import PIL

    return {"pillow": PIL.__version__, "pillow_heif": pillow_heif.__version__, "sharp": sharp, "pyvips": vips}


def by_format(row: dict[str, Any], engine: str, size: str) -> dict[str, dict[str, Any]]:
    """One engine's renditions of one size, by format."""
    return {o["format"]: o for o in row.get(engine, {}).get("outputs", []) if o["size"] == size}


def goals(results: dict[str, Any]) -> dict[str, Any]:
    """Per input, ours against sharp: time, memory, and over the renditions both made, quality and bytes.

    Quality and bytes are judged together, over every rendition both engines made (mean SSIM, total bytes): one
    rendition a few bytes bigger at a higher SSIM is a point on the same curve, not a loss; the per-rendition
    figures are kept beside the verdict.
    """
    verdicts: dict[str, Any] = {}
    for name, row in results["inputs"].items():
        us, them = row.get("ours", {}), row.get("sharp", {})
        if "ms" not in us or "ms" not in them:
            verdicts[name] = {"compared": False, "why": them.get("error") or us.get("error")}
            continue
        pairs = []
        for size, _, _ in SIZES:
            ours_f, sharp_f = by_format(row, "ours", size), by_format(row, "sharp", size)
            pairs += [(f"{size} {fmt}", ours_f[fmt], sharp_f[fmt]) for fmt in sorted(ours_f.keys() & sharp_f.keys())]
        ssim = [statistics.mean(p[i]["ssim"] for p in pairs) for i in (1, 2)]
        size = [sum(p[i]["bytes"] for p in pairs) for i in (1, 2)]
        verdicts[name] = {
            "time_ok": us["ms"] <= them["ms"],
            "memory_ok": us["extra_mb"] <= them["extra_mb"],
            "quality_ok": ssim[0] >= ssim[1],
            "bytes_ok": size[0] <= size[1],
            "mean_ssim": {"ours": round(ssim[0], 4), "sharp": round(ssim[1], 4)},
            "bytes": {"ours": size[0], "sharp": size[1]},
            "renditions": [
                {"rendition": r, "ours": (a["ssim"], a["bytes"]), "sharp": (b["ssim"], b["bytes"])} for r, a, b in pairs
            ],
        }
    return verdicts


def browser_support() -> dict[str, Any]:
    """Each format's share of browser usage, from caniuse's data package (bench/peers/support.mjs)."""
    proc = subprocess.run(["node", str(PEERS / "support.mjs")], capture_output=True, text=True, timeout=60, check=False)
    return dict(json.loads(proc.stdout)) if proc.returncode == 0 else {"error": proc.stderr.strip()[-200:]}


def cost_levers(results: dict[str, Any]) -> list[dict[str, object]]:
    """The cost per million uploads of each choice of formats per size, with our 12 MP time at Lambda's CPU."""
    ours_ms = results["inputs"].get("jpeg_12mp", {}).get("ours", {}).get("ms", 140.0)
    support = results.get("browser_support", {})
    shares = {f: support[f]["full_pct"] for f in ("webp", "avif") if f in support}
    return levers(ours_ms * 1769 / MEMORY_MB, shares)  # 512 MB gets 512/1769 of a vCPU


def table(results: dict[str, Any]) -> str:
    """The side-by-side table (Markdown): time on one core, images/s on two, memory, bytes, quality."""
    lines = [
        "| input | engine | ms, 1 core | images/s, 2 cores | MB added | bytes out (all) | large: SSIM / KB by format |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, row in results["inputs"].items():
        for engine in ENGINES:
            r = row.get(engine, {})
            if "error" in r:
                lines.append(f"| {name} | {engine} | cannot: {r['error'][:60]} | | | | |")
                continue
            large = by_format(row, engine, SIZES[0][0])
            cells = ", ".join(f"{f} {o['ssim']:.3f} / {o['bytes'] / 1024:.0f}" for f, o in large.items())
            total = sum(o["bytes"] for o in r["outputs"])
            per_s = f"{r['images_per_s_2_cores']:.2f}"
            if "images_per_s_2_threads" in r:
                per_s += f" ({r['images_per_s_2_threads']:.2f} in threads)"
            lines.append(f"| {name} | {engine} | {r['ms']:.1f} | {per_s} | {r['extra_mb']:.1f} | {total:,} | {cells} |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="*", type=Path, help="your own images to compare on (default: the bench's own)")
    p.add_argument("--inputs", default="", help="comma-separated input names (default: all)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per engine and input (median reported)")
    p.add_argument("--throughput", type=int, default=12, help="images per engine and input in the 2-core run")
    p.add_argument("--no-wiki", action="store_true", help="skip the libvips wiki's task")
    args = p.parse_args()
    if not (NODE_MODULES / "sharp").exists() or not PEERS_PYTHON.exists():
        print("bench-peers: sharp or pyvips is missing: run `make bench-peers` (it installs both)", file=sys.stderr)
        return 2
    paths = own_inputs(args.files) if args.files else inputs()
    names = [n for n in args.inputs.split(",") if n] or list(paths)
    unknown = [n for n in names if n not in paths]
    if unknown:
        print(f"bench-peers: no input named {', '.join(unknown)} (choose from {', '.join(paths)})", file=sys.stderr)
        return 2
    results = bench(paths, names, args.repeats, args.throughput, not args.no_wiki)
    results["goals"] = goals(results)
    results["browser_support"] = browser_support()
    results["cost_levers"] = cost_levers(results)
    (HERE / "peers-results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"# {results['machine']}; {results['versions']}\n")
    print(table(results))
    if "wiki_task" in results:
        print("\nlibvips wiki task (5000x5000 TIFF), median of 3 fresh processes:")
        for where, engines in results["wiki_task"].items():
            said = [f"{e} {v.get('s', '?')} s / {v.get('peak_mb', '?')} MB" for e, v in engines.items()]
            print(f"  {where}: " + ", ".join(said))
    print(f"\nobjects per upload and cost (caniuse data {results['browser_support'].get('data', '?')}):")
    for row in results["cost_levers"]:
        print(
            f"  {row['lever']:<46} {row['objects']} objects  ${row['usd_per_million']:>6.2f} per million uploads  "
            f"{row['every_size_pct']}% of browsers get every size  (RENDITIONS={row.get('renditions', '?')})"
        )
    summary = {name: {k: v for k, v in g.items() if k.endswith("_ok")} or g for name, g in results["goals"].items()}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
