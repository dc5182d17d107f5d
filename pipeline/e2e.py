"""The end-to-end scenario behind `pipeline e2e`: upload the samples, wait, and check every outcome."""

from __future__ import annotations

import io
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from PIL import Image

from pipeline import wiring
from pipeline.adapters.queue import Queue
from pipeline.adapters.records import ImageRecords
from pipeline.aws import Clients
from pipeline.domain import ImageRecord, Status
from pipeline.formats import VARIANT_NAMES, animates
from pipeline.imaging import CONTENT_TYPES
from pipeline.settings import ImagingSettings, Rendition, Settings

log = logging.getLogger(__name__)


@dataclass
class Check:
    """The outcome of one sample (or of the DLQ / audit checks)."""

    name: str
    expected: str
    actual: str = "missing"
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether everything about this sample was as expected."""
        return not self.problems


def load_manifest(samples: Path) -> dict[str, dict[str, Any]]:
    """The expectations in samples/manifest.json."""
    data = json.loads((samples / "manifest.json").read_text(encoding="utf-8"))
    manifest: dict[str, dict[str, Any]] = data["samples"]
    return manifest


def is_ended(record: ImageRecord | None) -> bool:
    """Processed or failed, and published: where every upload ends."""
    return record is not None and record.status in (Status.PROCESSED, Status.FAILED) and record.published


def is_complete(record: ImageRecord | None, deferred: tuple[str, ...] = ()) -> bool:
    """Ended and published with every format, the deferred ones included (ImageRecord.complete)."""
    return record is not None and record.complete(deferred)


def wait_for_items(
    records: ImageRecords,
    keys: list[str],
    timeout_s: float,
    on_progress: Callable[[int, int], None] | None = None,
    deferred: tuple[str, ...] = (),
    etags: dict[str, str] | None = None,
) -> dict[str, ImageRecord | None]:
    """Poll until every key's record is complete (processed or failed, published, with its deferred formats).

    With `etags` (what each upload's PUT returned), a key counts only once its record is about that content: a
    re-upload under an existing name must not be answered with the previous content's result.
    """
    deadline = time.monotonic() + timeout_s
    items: dict[str, ImageRecord | None] = dict.fromkeys(keys)

    def complete(key: str) -> bool:
        record = items[key]
        wanted = (etags or {}).get(key)
        return is_complete(record, deferred) and (not wanted or (record is not None and record.version.etag == wanted))

    while True:
        for k in keys:
            if not complete(k):
                items[k] = records.get(k)
        done = sum(complete(k) for k in keys)
        if on_progress is not None:
            on_progress(done, len(keys))
        if done == len(keys):
            return items
        if time.monotonic() > deadline:
            return {k: items[k] if complete(k) else None for k in keys}
        time.sleep(0.5)


# What Pillow reports about a file's own encoding; anything else in `info` is metadata that leaked.
_FORMAT_INFO = frozenset(
    {"icc_profile", "jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi", "progressive", "progression"}
    | {"loop", "background", "duration", "transparency", "lossless", "adobe", "adobe_transform"}
)


def check_rendition(clients: Clients, rend: dict[str, Any], exp: dict[str, Any], check: Check) -> None:
    """Check one stored rendition: content type, format, pixel size, no EXIF, alpha and orientation."""
    fmt = rend.get("format") or exp["format"]  # a variant says its own; the fallback is the manifest's
    name = f"{rend['name']} {fmt}"
    want = exp["sizes"].get(rend["name"])
    head = clients.s3.head_object(Bucket=rend["bucket"], Key=rend["key"])
    if head.get("ContentType") != CONTENT_TYPES[fmt]:
        check.problems.append(f"{name}: content type {head.get('ContentType')}")
    body = clients.s3.get_object(Bucket=rend["bucket"], Key=rend["key"])["Body"].read()
    with Image.open(io.BytesIO(body)) as img:
        if img.format != fmt:
            check.problems.append(f"{name}: format {img.format}, expected {fmt}")
        if list(img.size) != want:
            check.problems.append(f"{name}: {img.size[0]}x{img.size[1]}, expected {want[0]}x{want[1]}")
        leaked = sorted(k for k in img.info if k not in _FORMAT_INFO)
        if img.getexif() or leaked:
            check.problems.append(f"{name}: rendition carries metadata {leaked or ['EXIF']}")
        # An animated sample's WebP is its animation (the manifest's frames); every other rendition is a still.
        frames, want_frames = getattr(img, "n_frames", 1), exp.get("frames", 1) if animates(fmt) else 1
        if frames != want_frames or rend.get("frames", 1) != frames:
            check.problems.append(f"{name}: {frames} frames (recorded {rend.get('frames')}), expected {want_frames}")
        # (alpha in the mode, or in a palette's transparency: a graphic of few colours is a palette PNG)
        if exp.get("alpha") and "A" not in img.mode and not img.has_transparency_data:
            check.problems.append(f"{name}: alpha lost (mode {img.mode})")
        if exp.get("red_top_left"):
            rgb = img.convert("RGB")
            w, h = rgb.size
            r, g, b = rgb.getpixel((w // 16, h // 16))  # type: ignore[misc]
            br, _bg, bb = rgb.getpixel((w - 1 - w // 16, h - 1 - h // 16))  # type: ignore[misc]
            if not (r > 180 and g < 90 and b < 90 and bb > 180 and br < 90):
                check.problems.append(f"{name}: orientation wrong (top-left {r},{g},{b})")


def notification(sqs_message: Any) -> dict[str, Any]:
    """One SNS notification as an SQS subscription delivers it: {message, attributes, subject}."""
    envelope = json.loads(sqs_message.get("Body", "{}"))
    body = json.loads(envelope.get("Message", "{}")) if "Message" in envelope else envelope
    return {"message": body, "attributes": envelope.get("MessageAttributes", {}), "subject": envelope.get("Subject")}


def drain_audit(audit: Queue, prefix: str, expected: int, timeout_s: float) -> dict[str, list[dict[str, Any]]]:
    """Read result notifications for keys under prefix from the audit queue until `expected` keys are seen."""
    seen: dict[str, list[dict[str, Any]]] = {}
    deadline = time.monotonic() + timeout_s
    quiet_until = 0.0
    while time.monotonic() < deadline:
        messages = audit.receive(max_messages=10, wait_s=1)
        mine = []
        for m in messages:
            note = notification(m)
            key = str(note["message"].get("key", ""))
            if key.startswith(prefix):
                seen.setdefault(key, []).append(note)
                mine.append(m["ReceiptHandle"])
        if mine:
            audit.delete(mine)
        if len(seen) >= expected:
            # Stay a moment longer to catch any duplicate notification.
            quiet_until = quiet_until or time.monotonic() + 2
            if time.monotonic() > quiet_until:
                break
    return seen


def run(
    settings: Settings, clients: Clients, samples: Path, *, timeout_s: float = 180, poison: bool = True
) -> list[Check]:
    """Run the scenario against a running stack (with a worker consuming it); returns one check per sample."""
    from pipeline.local.bootstrap import ensure_audit_queue
    from pipeline.ops.stack import describe

    # A stack made by terraform has no audit queue: add one, so every notification can be counted.
    stack = describe(settings, clients)
    stack = replace(stack, audit_queue_url=ensure_audit_queue(settings, clients, stack.results_topic_arn))
    records = wiring.records(settings, clients)
    run_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    prefix = f"{settings.names.input_prefix}e2e-{run_id}/"
    manifest = load_manifest(samples)
    keys = _upload(settings, clients, samples, manifest, prefix)
    poison_body = f"poison message {run_id}: not an S3 event"
    if poison:
        wiring.queue_at(clients, stack.queue_url).send(poison_body)
    log.info(
        "uploaded %d samples under %s; waiting for each to complete (at most %.0f s)", len(keys), prefix, timeout_s
    )
    deferred = settings.imaging.deferred
    items = wait_for_items(records, list(keys.values()), timeout_s, on_progress=_every(5.0), deferred=deferred)
    log.info("checking renditions and notifications%s", ", then the poison message in the DLQ" if poison else "")
    checks = [_check_item(clients, rel, exp, items[keys[rel]], settings.imaging) for rel, exp in manifest.items()]
    audit = drain_audit(wiring.queue_at(clients, stack.audit_queue_url), prefix, len(keys), timeout_s=60)
    for check in checks:
        notes = audit.get(keys[check.name], [])
        # A processed still with deferred formats is published twice: in line, then with the deferred ones.
        item = items[keys[check.name]]
        twice = item is not None and item.receives_deferred(deferred)
        if len(notes) != 1 + twice:
            check.problems.append(f"{len(notes)} notifications, expected {1 + twice}")
        elif any(n["message"].get("status") != check.actual.split(":")[0] for n in notes):
            check.problems.append("notification status differs from the item")
        elif item is not None and len(notes[-1]["message"].get("renditions") or []) != len(item.renditions):
            check.problems.append("the last notification does not list every rendition")
    if poison:
        checks.append(_check_dlq(settings, clients, stack.dlq_url, poison_body, prefix))
    return checks


def _every(seconds: float) -> Callable[[int, int], None]:
    """A progress callback that logs `done/total complete` when it changed, at most every `seconds`."""
    said = {"at": time.monotonic(), "done": -1}

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if done != said["done"] and (now - said["at"] >= seconds or done == total):
            log.info("%d/%d complete", done, total)
            said.update(at=now, done=done)

    return progress


def _upload(
    settings: Settings, clients: Clients, samples: Path, manifest: dict[str, dict[str, Any]], prefix: str
) -> dict[str, str]:
    """Upload every sample under prefix; returns sample name -> key."""
    keys = {}
    for rel in manifest:
        key = prefix + rel
        keys[rel] = key
        # Uploaded as opaque bytes under its own name: the pipeline must tell the format from the content.
        clients.s3.put_object(
            Bucket=settings.names.input_bucket,
            Key=key,
            Body=(samples / rel).read_bytes(),
            ContentType="application/octet-stream",
        )
    return keys


def _check_item(
    clients: Clients, rel: str, exp: dict[str, Any], item: ImageRecord | None, imaging: ImagingSettings
) -> Check:
    """One sample's item against its expectation: status, reason, and each rendition's pixels, in each format."""
    check = Check(rel, exp["expect"] if exp["expect"] == "processed" else f"failed:{exp['code']}")
    if item is None:
        check.problems.append("no item")
        return check
    status = item.status.value
    check.actual = status if item.error is None else f"failed:{item.error.code}"
    if check.actual != check.expected:
        check.problems.append(f"ended {check.actual}, expected {check.expected}")
    elif status == "processed":
        rends = item.renditions
        sizes = {r.name: r for r in imaging.renditions}
        want = sorted(
            (name, fmt)
            for name in exp["sizes"]
            for fmt in _formats_expected(sizes.get(name, Rendition(name, 1, 1)), exp, imaging.variants)
        )
        if sorted((r.name, r.format) for r in rends) != want:
            check.problems.append(f"renditions {[(r.name, r.format) for r in rends]}, expected {want}")
        for rend in rends:
            check_rendition(clients, rend.as_dict(), exp, check)
    elif item.error is None or not item.error.message:
        check.problems.append("failed without a reason")
    return check


def _formats_expected(rendition: Rendition, exp: dict[str, Any], variants: tuple[str, ...]) -> list[str]:
    """The formats a sample's size is written in (its own or FORMATS), the deferred ones included."""
    formats = list(rendition.formats(exp["format"], variants))
    if exp.get("frames", 1) > 1 and any(animates(f) for f in formats):
        # An animation gets only the variants that animate: a browser would pick another's still.
        formats = [f for f in formats if f not in VARIANT_NAMES or animates(f)]
    return formats


def _check_dlq(settings: Settings, clients: Clients, dlq_url: str, poison_body: str, prefix: str) -> Check:
    from pipeline.ops.dlq import peek

    check = Check("(poison message)", "in DLQ")
    # It takes max_receive_count deliveries, one visibility timeout apart, to land there.
    deadline = (
        time.monotonic() + settings.timing.max_receive_count * (settings.timing.queue_visibility_timeout_s + 2) + 30
    )
    dlq = wiring.queue_at(clients, dlq_url)
    while time.monotonic() < deadline:
        bodies = [m["body"] for m in peek(dlq, limit=100)]
        if poison_body in bodies:
            check.actual = "in DLQ"
            strays = [b for b in bodies if prefix in b]
            if strays:
                check.problems.append(f"{len(strays)} sample event(s) in the DLQ too")
            return check
        time.sleep(2)
    check.problems.append("poison message not in the DLQ")
    return check


def table(checks: list[Check]) -> str:
    """A readable summary table."""
    width = max(len(c.name) for c in checks) + 2
    lines = [f"{'sample'.ljust(width)}{'expected'.ljust(26)}{'actual'.ljust(26)}result"]
    for c in checks:
        lines.append(
            f"{c.name.ljust(width)}{c.expected.ljust(26)}{c.actual.ljust(26)}"
            + ("ok" if c.ok else "FAIL: " + "; ".join(c.problems))
        )
    passed = sum(c.ok for c in checks)
    lines.append(f"e2e: {passed} passed, {len(checks) - passed} failed")
    return "\n".join(lines)
