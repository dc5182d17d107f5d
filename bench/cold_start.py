"""Cold start of the Lambda zip: imports plus client creation, with the bundled SDK and with the runtime's.

The zip from `make build` (x86_64, Python 3.12) bundles boto3/botocore. Lambda's python3.12 runtime ships its own
(older, per region) SDK. This builds both variants, starts each in fresh Python 3.12 processes the way the
runtime would (the handler module imported, then the processor wired: three clients made), and reports the
median and p90 of that time with the zip's size. Zip download and extraction happen before this and grow with
the zip's size; they cannot be measured off AWS, so the size is reported beside the times.

    python bench/cold_start.py [--python python3.12] [--runs 15] [--runtime-boto3 1.34.145]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What Lambda's Python runtime provides on its own path (/var/runtime): left out of the "runtime SDK" variant.
SDK = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six.py", "urllib3")

PROBE = """
import time, json
t0 = time.perf_counter()
import pipeline.handler as h
t1 = time.perf_counter()
h._processor()
t2 = time.perf_counter()
import boto3
print(json.dumps({"import_ms": (t1 - t0) * 1000, "clients_ms": (t2 - t1) * 1000, "boto3": boto3.__version__}))
"""

ENV = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "x",
    "AWS_SECRET_ACCESS_KEY": "x",
    "INPUT_BUCKET": "in",
    "OUTPUT_BUCKET": "out",
    "TABLE_NAME": "t",
    "RESULTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:r",
    "ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:a",
    "LOG_LEVEL": "WARNING",
}


def _zip_mb(folder: Path) -> float:
    out = folder.with_suffix(".zip")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                z.write(p, p.relative_to(folder))
    return out.stat().st_size / 1e6


def _run(python: str, path: str, runs: int) -> dict[str, float | str]:
    samples = []
    version = ""
    for _ in range(runs):
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": "1", **ENV}
        proc = subprocess.run(
            [python, "-I", "-c", f"import sys; sys.path[:0] = {path.split(':')!r}\n{PROBE}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if proc.returncode != 0:
            raise SystemExit(f"cold start probe failed on {path}:\n{proc.stderr[-3000:]}")
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        samples.append(r["import_ms"] + r["clients_ms"])
        version = r["boto3"]
    samples.sort()
    return {
        "boto3": version,
        "median_ms": round(statistics.median(samples), 1),
        "p90_ms": round(samples[int(0.9 * (len(samples) - 1))], 1),
    }


def main() -> int:
    """Build both variants and time them."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--python", default=shutil.which("python3.12") or "python3.12")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--runtime-boto3", default="1.34.145", help="boto3 as a runtime of that era ships it")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="coldstart-"))
    try:
        zip_path = work / "lambda.zip"
        build = [sys.executable, str(ROOT / "scripts/build_zip.py"), "--arch", "x86_64", "--python-version", "3.12"]
        subprocess.run([*build, "--out", str(zip_path)], check=True, capture_output=True, timeout=900)
        bundled = work / "bundled"
        with zipfile.ZipFile(zip_path) as z:
            z.extractall(bundled)
        slim = work / "slim"
        shutil.copytree(
            bundled,
            slim,
            ignore=lambda d, names: [n for n in names if Path(d) == bundled and (n in SDK or n.split("-")[0] in SDK)],
        )
        runtime = work / "runtime"
        subprocess.run(
            [args.python, "-m", "pip", "install", "-q", "--target", str(runtime), f"boto3=={args.runtime_boto3}"],
            check=True,
            capture_output=True,
            timeout=600,
        )
        rows = {
            "bundled SDK (make build)": {
                **_run(args.python, str(bundled), args.runs),
                "zip_mb": round(zip_path.stat().st_size / 1e6, 1),
            },
            "runtime SDK": {**_run(args.python, f"{slim}:{runtime}", args.runs), "zip_mb": round(_zip_mb(slim), 1)},
        }
        print(json.dumps(rows, indent=2))
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
