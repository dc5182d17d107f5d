"""`python -m pipeline`: run and inspect the pipeline locally or against AWS."""

from __future__ import annotations

import argparse
import errno
import json
import mimetypes
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from pipeline import wiring
from pipeline.adapters.records import to_item
from pipeline.domain import SIMILAR_DISTANCE, Status
from pipeline.formats import BY_NAME
from pipeline.settings import Settings


def out(text: str = "") -> None:
    """Write a line of user-facing output to stdout (logs go to stderr)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _env(*, service: bool = False) -> tuple[Settings, Any]:
    from pipeline.aws import resolve_topic_arns
    from pipeline.logs import setup_logging

    settings = Settings.from_env()
    # JSON logs for the services (worker, API), whose logs a machine reads; plain lines for a person's commands.
    setup_logging(settings.log_level, human=not service)
    clients = wiring.clients(settings)
    return resolve_topic_arns(settings, clients), clients


def cmd_bootstrap(args: argparse.Namespace) -> int:
    """Create every resource."""
    from pipeline.local.bootstrap import bootstrap

    settings, clients = _env()
    stack = bootstrap(settings, clients)
    out(json.dumps(stack.as_dict(), indent=2))
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Consume the job queue until SIGTERM/SIGINT."""
    from pipeline.local.worker import build_worker

    settings, clients = _env(service=True)
    if args.concurrency:
        settings = settings.with_(worker_concurrency=args.concurrency)
    worker = build_worker(settings, clients)

    def stop(signum: int, _frame: Any) -> None:
        worker.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker.run(idle_exit_s=args.idle_exit)
    return 0


def _wait_with_progress(settings: Settings, clients: Any, etags: dict[str, str], timeout: float) -> dict[str, Any]:
    """Wait for every uploaded content (key: ETag) to end, drawing a progress bar on stderr on a terminal."""
    from pipeline.e2e import wait_for_items

    def draw(done: int, total: int) -> None:
        if sys.stderr.isatty():
            sys.stderr.write("\r" + _bar(done, total) + " ended" + ("\n" if done == total else ""))
            sys.stderr.flush()

    records = wiring.records(settings, clients)
    keys = list(etags)
    return wait_for_items(records, keys, timeout, on_progress=draw, deferred=settings.imaging.deferred, etags=etags)


def cmd_upload(args: argparse.Namespace) -> int:
    """Upload files under the input prefix; with --wait, report how each one ended."""
    for f in args.files:  # every file checked before any is uploaded: a wrong name uploads nothing
        path = Path(f)
        if path.is_dir():
            raise UsageError(f"{f} is a folder: give image files (for example {path / '*.jpg'})")
        if not path.is_file():
            raise UsageError(f"no such file: {f}")
    settings, clients = _env()
    etags: dict[str, str] = {}  # what each PUT wrote: --wait reports that content, never an earlier one
    for f in args.files:
        path = Path(f)
        key = f"{settings.names.input_prefix}{args.prefix}{path.name}"
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        put = clients.s3.put_object(
            Bucket=settings.names.input_bucket, Key=key, Body=path.read_bytes(), ContentType=ctype
        )
        etags[key] = str(put.get("ETag", "")).strip('"')
        out(f"uploaded s3://{settings.names.input_bucket}/{key}")
    if not args.wait:
        return 0
    keys = list(etags)
    items = _wait_with_progress(settings, clients, etags, args.timeout)
    code = 0
    for key in keys:
        record = items.get(key)
        status = record.status.value if record else "pending"
        if record and record.status is Status.PROCESSED:
            by_size: dict[str, list[str]] = {}
            for r in record.renditions:  # one line per size: its pixels, then its formats, fallback first
                by_size.setdefault(f"{r.name} {r.width}x{r.height}", []).append(r.format.lower())
            sizes = ", ".join(f"{size} ({' '.join(formats)})" for size, formats in by_size.items())
            out(f"{status:<10} {key}: {sizes}")
        else:
            reason = record.error.message if record and record.error else "not finished in time"
            out(f"{status:<10} {key}: {reason}")
            code = 1
    return code


def cmd_status(args: argparse.Namespace) -> int:
    """Counts by status and queue depths, or one item."""
    from pipeline.ops.settle import queue_depths

    settings, clients = _env()
    records = wiring.records(settings, clients)
    if args.watch:
        return _watch(settings, clients, records, args.interval, args.duration)
    if args.key:
        key = _source_key(args.key, settings)
        record = records.get(key)
        out(json.dumps(to_item(record), indent=2, ensure_ascii=False) if record else f"no item for {key}")
        return 0 if record else 1
    depths = queue_depths(settings, clients)
    report = {
        "items": records.count_by_status(),
        "queue": depths["jobs"],
        "variants": depths["variants"],
        "dlq": wiring.dlq(settings, clients).depth(),
    }
    out(json.dumps(report, indent=2))
    return 0


def _source_key(given: str, settings: Settings) -> str:
    """A source key from what a person typed: the whole key, or the part below the input prefix."""
    if not given.strip():
        raise UsageError("give an image's key, for example uploads/cat.jpg or cat.jpg")
    prefix = settings.names.input_prefix
    return given if given.startswith(prefix) else prefix + given


def _bar(done: int, total: int, width: int = 30) -> str:
    filled = int(width * done / total) if total else width
    return "[" + "#" * filled + "." * (width - filled) + f"] {done}/{total}"


def _watch_lines(
    settings: Settings, counts: dict[str, int], depths: dict[str, dict[str, int]], dlq: dict[str, int]
) -> list[str]:
    """One frame of `status --watch`: the jobs and variants queues, items by status, progress, the DLQ."""
    q, v = depths["jobs"], depths["variants"]
    ended = counts["processed"] + counts["failed"]
    total = ended + counts["processing"] + q["visible"]
    variants = v["visible"] + v["in_flight"] + v["delayed"]
    # Done as `upload --wait` means it: nothing processing, both queues empty (the AVIF variants included).
    moving = counts["processing"] or q["visible"] or q["in_flight"] or variants
    state = "settled" if not moving else "variants still coming" if variants and ended == total else ""
    return [
        f"imgpipe  {settings.endpoint_url or 'AWS'}  {time.strftime('%H:%M:%S')}",
        f"queue     waiting {q['visible']:>6}  in flight {q['in_flight']:>6}",
        f"variants  waiting {v['visible'] + v['delayed']:>6}  in flight {v['in_flight']:>6}",
        f"images    processed {counts['processed']:>6}  failed {counts['failed']:>6}  "
        f"processing {counts['processing']:>6}",
        f"progress  {_bar(ended, total)}" + (f"  {state}" if state else ""),
        f"dlq       {dlq['visible'] + dlq['in_flight']:>6}"
        + ("   <-- look: pipeline dlq list" if dlq["visible"] else ""),
    ]


def _watch(settings: Settings, clients: Any, records: Any, interval: float, duration: float) -> int:
    """A live view of the pipeline: redrawn every interval until Ctrl-C (or for `duration` seconds)."""
    from pipeline.ops.settle import queue_depths

    dlq = wiring.dlq(settings, clients)
    tty = sys.stdout.isatty()
    ends = time.monotonic() + duration if duration else float("inf")
    try:
        while time.monotonic() < ends:
            lines = _watch_lines(settings, records.count_by_status(), queue_depths(settings, clients), dlq.depth())
            # Redraw in place on a terminal; append when piped, so a log keeps every sample.
            out(("\x1b[H\x1b[2J" if tty else "") + "\n".join(lines))
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    """Every resource name, URL and ARN of the running stack, as one JSON object."""
    from pipeline.ops.stack import describe

    settings, clients = _env()
    stack = describe(settings, clients)
    info = {
        "endpoint": settings.endpoint_url or "aws",
        "region": settings.region,
        "environment": settings.environment,
        "input_bucket": settings.names.input_bucket,
        "input_prefix": settings.names.input_prefix,
        "output_bucket": settings.names.output_bucket,
        "table": settings.names.table_name,
        "status_index": settings.names.status_index,
        "queue_name": settings.names.queue_name,
        "dlq_name": settings.names.dlq_name,
        "dlq_alarm": settings.names.dlq_alarm_name,
        "renditions": {r.name: [r.width, r.height] for r in settings.imaging.renditions},
        **stack.as_dict(),
    }
    if args.json:
        out(json.dumps(info, indent=2))
    else:
        for k, v in info.items():
            out(f"{k:<20} {v}")
    return 0


def cmd_dlq(args: argparse.Namespace) -> int:
    """List or redrive the dead-letter queue."""
    from pipeline.ops.dlq import peek, redrive

    settings, clients = _env()
    dlq = wiring.dlq(settings, clients)
    if args.action == "list":
        depth = dlq.depth()
        total = depth["visible"] + depth["in_flight"] + depth["delayed"]
        messages = peek(dlq, limit=max(total, 1) if args.all else args.limit)
        for m in messages:
            out(json.dumps(m, ensure_ascii=False))
        # The depth is approximate (and may lag what a receive just saw): never say "1 of 0".
        total = max(total, len(messages))
        more = "" if len(messages) >= total else " (--all to show every one, --limit N for N)"
        out(f"{len(messages)} of {total} message(s) in {settings.names.dlq_name}{more}")
        return 0
    moved = redrive(dlq, wiring.jobs_queue(settings, clients))
    out(
        "redrive started (SQS message move task)"
        if moved < 0
        else f"moved {moved} message(s) back to {settings.names.queue_name}"
    )
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    """Compare input objects, items and renditions, on a live system too; exit 1 on damage, not on work in flight."""
    from pipeline.ops.reconcile import DAMAGE, Reads, reconcile_live
    from pipeline.ops.settle import queued

    settings, clients = _env()
    store = wiring.store(clients)
    records = wiring.records(settings, clients)
    names = settings.names
    reads = Reads(
        inputs=lambda: set(store.keys(names.input_bucket, names.input_prefix + args.prefix)),
        records=records.scan,
        outputs=lambda: store.etags(names.output_bucket),
        pending=lambda: queued(settings, clients),
        source_of=lambda key: store.source_of(names.output_bucket, key),
        record=records.get,
        deferred=lambda key: key.endswith(tuple(BY_NAME[f].extension for f in settings.imaging.deferred)),
    )
    report = reconcile_live(reads)
    out(json.dumps(report, indent=2, ensure_ascii=False))
    return 1 if any(report[k] for k in DAMAGE) else 0


def cmd_similar(args: argparse.Namespace) -> int:
    """Pictures within a Hamming distance of one picture's perceptual hash, closest first (reads every record)."""
    from pipeline.ops.similar import similar

    key = _source_key(args.key, Settings.from_env())  # a wrong key is said before any request is made
    settings, clients = _env()
    records = wiring.records(settings, clients)
    target = records.get(key)
    if target is None or not target.phash:
        raise UsageError(f"{key} has no processed picture: give the source key of a processed image")
    for distance, key in similar(target, records.scan(), args.distance):
        out(f"{distance:>2}  {key}")
    return 0


def cmd_e2e(args: argparse.Namespace) -> int:
    """Upload the samples to the running stack and check every outcome."""
    from pipeline.e2e import run, table

    settings, clients = _env()
    started = time.monotonic()
    checks = run(settings, clients, Path(args.samples), timeout_s=args.timeout, poison=not args.no_poison)
    out(table(checks))
    out(f"took {time.monotonic() - started:.1f}s against {settings.endpoint_url or 'AWS'}")
    return 0 if all(c.ok for c in checks) else 1


def cmd_api(args: argparse.Namespace) -> int:
    """Serve the upload API and the web page on 127.0.0.1 (what API Gateway does in AWS)."""
    from pipeline.local.api_server import make_server
    from pipeline.wiring import build_api

    settings, clients = _env(service=True)
    try:
        server = make_server(build_api(settings, clients), args.host, args.port)
    except OSError as e:
        if e.errno != errno.EADDRINUSE:
            raise
        raise UsageError(f"port {args.port} is taken by another program: use another one, make up API_PORT=8081") from e

    def stop(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    out(f"api: http://{args.host}:{args.port}/ (page) and /uploads, /images")
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    """Stop what `make up` started, by its pid files (TERM, then KILL after a timeout); absent ones are fine."""
    from pipeline.local.emulator import stop_process

    found = [p for p in map(Path, args.pidfiles) if p.exists()]
    for pidfile in found:
        raw = pidfile.read_text().strip()
        name = pidfile.stem
        stopped = raw.isdigit() and stop_process(int(raw), timeout_s=args.timeout)
        pidfile.unlink(missing_ok=True)
        out(f"{name}: stopped pid {raw}" if stopped else f"{name}: pid {raw or '?'} was not running")
    if not found:
        # Silence here once left a stack running that was started with another RUN_DIR.
        where = sorted({str(Path(p).parent) for p in args.pidfiles})
        out(f"nothing to stop: no pid files in {', '.join(where)} (started with RUN_DIR=...? give the same one)")
    return 0


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def cmd_emulator(args: argparse.Namespace) -> int:
    """Start or stop the embedded emulator in the background, by pid file."""
    from pipeline.local.emulator import Emulator, EmulatorError, PortTakenError, port_open, stop_process

    if args.action == "provision":
        from pipeline.local.emulator import BY_NAME

        prepare = BY_NAME[args.backend].provision
        out(f"emulator: {prepare(Path(args.bin_dir)) if prepare else 'nothing to provision'} ({args.backend})")
        return 0
    pidfile = Path(args.pidfile)
    if args.action == "stop":
        if not pidfile.exists():
            out("emulator: not running (no pid file)")
            return 0
        pid = int(pidfile.read_text().strip())
        stopped = stop_process(pid)
        pidfile.unlink(missing_ok=True)
        out(f"emulator: stopped pid {pid}" if stopped else f"emulator: pid {pid} was not running")
        return 0
    emu = Emulator(args.backend, Path(args.bin_dir), port=args.port)
    if pidfile.exists() and _alive(int(pidfile.read_text().strip() or 0)) and port_open(emu.host, emu.port):
        # `make up` on a running stack: say so and succeed.
        out(f"emulator: already running (pid {pidfile.read_text().strip()}) on {emu.url}; `make down` stops it")
        return 0
    try:
        proc = emu.start(Path(args.log), timeout_s=args.timeout)
    except PortTakenError as e:
        raise UsageError(
            f"port {args.port} is taken by another program ({e}): stop it, or use another port: make up PORT=4567"
        ) from e
    except EmulatorError as e:
        raise UsageError(f"the {args.backend} emulator did not start: {e}; its log is {args.log}") from e
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    pidfile.write_text(str(proc.pid))
    out(f"emulator: {args.backend} (pid {proc.pid}) listening on {emu.url}; log {args.log}")
    return 0


def parser() -> argparse.ArgumentParser:
    """The command-line parser: every option says what it does, in which unit, and its default (tested)."""
    from pipeline.local.emulator import BACKENDS, DEFAULT_BACKEND

    fmt = argparse.ArgumentDefaultsHelpFormatter
    p = argparse.ArgumentParser(prog="pipeline", description=__doc__, formatter_class=fmt)
    p.add_argument("--debug", action="store_true", help="show the traceback of an expected failure too")
    sub = p.add_subparsers(dest="command", required=True)

    def command(name: str, text: str, func: Any) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=text, description=text, formatter_class=fmt)
        c.set_defaults(func=func)
        return c

    command("bootstrap", "create every resource (idempotent)", cmd_bootstrap)
    w = command("worker", "consume the job queue like Lambda's event source mapping", cmd_worker)
    w.add_argument("--concurrency", type=int, default=0, help="images at once (0: WORKER_CONCURRENCY's)")
    w.add_argument("--idle-exit", type=float, default=None, help="stop after this many idle seconds (never if unset)")
    u = command("upload", "upload image files to the input bucket", cmd_upload)
    u.add_argument("files", nargs="+", help="image files (checked before anything is uploaded)")
    u.add_argument("--prefix", default="", help="folder below the input prefix, ending in /")
    u.add_argument("--wait", action="store_true", help="wait until each image is complete and print how it ended")
    u.add_argument("--timeout", type=float, default=120, help="seconds --wait waits at most")
    s = command("status", "counts by status and queue depths, or one item", cmd_status)
    s.add_argument("key", nargs="?", help="one image: its source key, or the part below the input prefix")
    s.add_argument("--watch", action="store_true", help="a live view, redrawn until Ctrl-C")
    s.add_argument("--interval", type=float, default=2.0, help="seconds between two frames of --watch")
    s.add_argument("--duration", type=float, default=0, help="stop watching after this many seconds (0: never)")
    i = command("info", "resource names, URLs and ARNs", cmd_info)
    i.add_argument("--json", action="store_true", help="one JSON object instead of lines")
    d = command("dlq", "list or redrive the dead-letter queue", cmd_dlq)
    d.add_argument("action", choices=["list", "redrive"], help="list its messages, or move them back to the queue")
    d.add_argument("--limit", type=int, default=10, help="list at most this many")
    d.add_argument("--all", action="store_true", help="list every message the DLQ holds")
    r = command(
        "reconcile", "compare inputs, items and renditions; exit 1 on damage, not on work in flight", cmd_reconcile
    )
    r.add_argument("--prefix", default="", help="only source keys below the input prefix and this")
    m = command("similar", "pictures whose perceptual hash is close to one picture's", cmd_similar)
    m.add_argument("key", help="a processed image: its source key (uploads/photo.jpg) or photo.jpg")
    m.add_argument("--distance", type=int, default=SIMILAR_DISTANCE, help="bits of 64 that may differ")
    e = command("e2e", "run the end-to-end scenario against the running stack", cmd_e2e)
    e.add_argument("--samples", default="samples", help="the folder with the samples and their manifest.json")
    e.add_argument("--timeout", type=float, default=180, help="seconds to wait for every sample to complete")
    e.add_argument("--no-poison", action="store_true", help="skip the poison message / DLQ check")
    a = command("api", "serve the upload API and the web page on 127.0.0.1", cmd_api)
    a.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    a.add_argument("--port", type=int, default=8080, help="the port to listen on")
    st = command("stop", "stop processes by their pid files (make down uses it)", cmd_stop)
    st.add_argument("pidfiles", nargs="+", help="files holding one pid each; absent ones are fine")
    st.add_argument("--timeout", type=float, default=10, help="seconds from TERM to KILL")
    em = command(
        "emulator", "start or stop the embedded emulator (provision: LocalStack's offline parts)", cmd_emulator
    )
    em.add_argument("action", choices=["start", "stop", "provision"], help="what to do")
    em.add_argument("--backend", default=DEFAULT_BACKEND, choices=list(BACKENDS), help="which emulator")
    em.add_argument("--bin-dir", default=f".venv-{DEFAULT_BACKEND}/bin", help="the backend's virtualenv bin folder")
    em.add_argument("--port", type=int, default=4566, help="the port on 127.0.0.1")
    em.add_argument("--pidfile", default=".run/emulator.pid", help="where start writes the pid (and stop reads it)")
    em.add_argument("--log", default=".run/emulator.log", help="the emulator's log file")
    em.add_argument("--timeout", type=float, default=60, help="seconds to wait until it answers")
    return p


class UsageError(Exception):
    """An expected failure, said in one line with what to do (no traceback unless --debug)."""


_MISSING = {
    "ResourceNotFoundException",
    "NoSuchBucket",
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "NotFound",
    "NotFoundException",
}
_REFUSED = {
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "AccessDenied",
    "AccessDeniedException",
    "SignatureDoesNotMatch",
}


def explain(error: BaseException) -> str | None:
    """One line saying what is wrong and what to do, for the failures a user can expect; None for real bugs."""
    # The adapters wrap AWS's errors in ours (`raise ... from e`): the cause says what happened.
    seen: BaseException | None = error
    while seen is not None:
        line = _explain_one(seen)
        if line is not None:
            return line
        seen = seen.__cause__
    return None


def _explain_one(error: BaseException) -> str | None:
    from botocore.exceptions import ClientError, NoCredentialsError, NoRegionError
    from botocore.exceptions import ConnectionError as BotoConnectionError

    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if isinstance(error, UsageError):
        return str(error)
    if isinstance(error, BotoConnectionError):
        if endpoint:
            return f"nothing answers at {endpoint}: start the local stack with `make up` (or fix AWS_ENDPOINT_URL)"
        return f"cannot reach AWS ({error}): check the network and AWS_REGION"
    if isinstance(error, NoCredentialsError):
        if not endpoint:
            # Most often a new user's shell without `make up`'s export line: name the local stack first.
            return (
                "no AWS_ENDPOINT_URL and no AWS credentials: for the local stack, "
                "export AWS_ENDPOINT_URL=http://127.0.0.1:4566 (`make up` prints the line); "
                "for AWS, set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            )
        return "no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    if isinstance(error, NoRegionError):
        return "no AWS region: set AWS_REGION (for example AWS_REGION=eu-west-1)"
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        op = error.operation_name
        if code in _MISSING:
            return (
                f"{op}: a resource does not exist ({code}): create the stack with `make up` (or `pipeline bootstrap`),"
                " or check NAME_PREFIX and AWS_REGION"
            )
        if code in _REFUSED:
            return f"{op}: AWS refused the credentials ({code}): check AWS_PROFILE, the keys and AWS_REGION"
    return None


def main(argv: list[str] | None = None) -> int:
    """Run one command; expected failures end in one line on stderr and exit code 2 (--debug: the traceback)."""
    args = parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        # Ctrl-C is a person's choice, not a failure to explain: one line, the shell's code for SIGINT.
        sys.stderr.write(f"\npipeline {args.command}: interrupted\n")
        return 130
    except Exception as e:
        line = explain(e)
        if line is None or args.debug:
            raise
        sys.stderr.write(f"pipeline {args.command}: {line}\n")
        return 2
    return code
