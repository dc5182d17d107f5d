"""Every name, size, limit and timeout of the pipeline, read once from the environment."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import TypeVar

from pipeline.domain import DEFAULT_ANIMATION_DECODE_PIXELS, DEFAULT_MAX_BYTES
from pipeline.formats import BY_SETTING, FALLBACK_WORD

_RENDITION_RE = re.compile(r"^\s*([a-z][a-z0-9_-]*)\s*:\s*(\d+)\s*x\s*(\d+)\s*((?::\s*[a-z+]+\s*)*)$")
CROP_WORD = "crop"
# A size's own formats join with `+` (`thumb:150x150:webp`): commas already separate the sizes.
FORMAT_JOIN = "+"


@dataclass(frozen=True)
class Rendition:
    """One output size: the image fitted inside width x height, or with crop filling it, cropped to keep the subject;
    never upscaled."""

    name: str
    width: int
    height: int
    crop: bool = False
    # This size's own formats (RENDITIONS `name:WxH:fallback+webp`): whether it keeps the fallback, and which of the
    # modern formats the settings make it gets (None: every one; the settings resolve it when any size names its own).
    fallback: bool = True
    variants: tuple[str, ...] | None = None

    def formats(self, fallback_format: str, variants: tuple[str, ...], fallback: bool = True) -> tuple[str, ...]:
        """The formats this size is written in, the fallback first: of `variants`, those it asks for.

        Where the source's fallback is itself one of them (a still WebP keeps WebP), that file is the fallback.
        """
        wanted = variants if self.variants is None else tuple(v for v in variants if v in self.variants)
        keep = fallback and (self.fallback or fallback_format in wanted)
        return ((fallback_format,) if keep else ()) + tuple(v for v in wanted if v != fallback_format)


DEFAULT_RENDITIONS = "large:800x600,medium:400x300,thumb:150x150"
# Every rendition in its fallback (JPEG, or PNG with alpha: what any browser shows) and these modern formats.
DEFAULT_FORMATS = "fallback,webp,avif"
# Written in line, AVIF takes a 12 MP image past half the reference handler's time (bench/formats.py,
# docs/performance.md): so by default it is made later, from a second, lower-priority message. DEFER_FORMATS=""
# writes it in line. Only AVIF can be deferred: WebP is cheap, and it carries an animation.
DEFAULT_DEFER_FORMATS = "avif"
_VARIANTS = {word: f.name for word, f in BY_SETTING.items()}
_DEFERRABLE = {word: f.name for word, f in BY_SETTING.items() if f.deferrable}
# Local pages only: terraform's `cors_allow_origin` names the real site.
DEFAULT_CORS_ALLOW_ORIGINS = "http://127.0.0.1:*,http://localhost:*"
# Resident memory of a process that has loaded the handler and built its clients (measured: bench/memory.py).
BASELINE_MB = 90
# The share of the function's memory that one render may plan to hold (ImagingSettings.work_budget_bytes).
WORK_SHARE = 0.7


def parse_renditions(spec: str) -> tuple[Rendition, ...]:
    """Parse `name:WxH,name:WxH:crop,name:WxH:fallback+webp` into renditions, largest first."""
    out: list[Rendition] = []
    for part in spec.split(","):
        if not part.strip():
            continue
        m = _RENDITION_RE.match(part)
        if not m:
            raise ValueError(
                f"bad rendition {part!r}: expected name:WIDTHxHEIGHT, then :{CROP_WORD} and/or :formats "
                f"(e.g. thumb:150x150:{CROP_WORD}:{FALLBACK_WORD}{FORMAT_JOIN}webp)"
            )
        width, height = int(m.group(2)), int(m.group(3))
        if width < 1 or height < 1:
            raise ValueError(f"bad rendition {part!r}: sizes must be positive")
        out.append(_with_options(Rendition(m.group(1), width, height), part, m.group(4)))
    if not out:
        raise ValueError("at least one rendition is needed")
    if len({r.name for r in out}) != len(out):
        raise ValueError("rendition names must be unique")
    # The cascade resizes each rendition from the previous one, so order by area, largest first.
    return tuple(sorted(out, key=lambda r: r.width * r.height, reverse=True))


def _with_options(r: Rendition, part: str, options: str) -> Rendition:
    """A rendition with its options (`:crop`, `:fallback+webp`) applied, each named at most once."""
    words = [w.strip() for w in options.split(":") if w.strip()]
    if words.count(CROP_WORD) > 1 or len(words) - words.count(CROP_WORD) > 1:
        raise ValueError(f"bad rendition {part!r}: name {CROP_WORD} and the formats once each")
    for word in words:
        if word == CROP_WORD:
            r = replace(r, crop=True)
            continue
        names = [n.strip() for n in word.split(FORMAT_JOIN)]
        unknown = [n for n in names if n != FALLBACK_WORD and n not in _VARIANTS]
        if unknown:
            raise ValueError(
                f"bad rendition {part!r}: {', '.join(unknown) or word!r} is not an option "
                f"({CROP_WORD}, or formats joined by {FORMAT_JOIN!r}: {', '.join([FALLBACK_WORD, *_VARIANTS])})"
            )
        variants = tuple(dict.fromkeys(_VARIANTS[n] for n in names if n != FALLBACK_WORD))
        r = replace(r, fallback=FALLBACK_WORD in names, variants=variants)
    return r


def resolve_formats(
    renditions: tuple[Rendition, ...], variants: tuple[str, ...]
) -> tuple[tuple[Rendition, ...], tuple[str, ...]]:
    """The sizes with FORMATS given to those that name no formats of their own, and the modern formats some size
    gets (FORMATS' order first): what the settings make.

    Refused: a largest size without the fallback (a page's <img> for a size without one shows the largest's), and a
    size with neither the fallback nor WebP (it would have nothing until the deferred AVIF came, and an animation,
    which gets no AVIF, nothing at all).
    """
    if all(r.variants is None and r.fallback for r in renditions):
        return renditions, variants
    sized = tuple(r if r.variants is not None else replace(r, variants=variants) for r in renditions)
    if not sized[0].fallback:
        raise ValueError(
            f"RENDITIONS: the largest size, {sized[0].name}, must keep the {FALLBACK_WORD}: it is what <img> shows "
            "for every size without one"
        )
    for r in sized:
        if not r.fallback and _VARIANTS["webp"] not in (r.variants or ()):
            raise ValueError(
                f"RENDITIONS: {r.name} needs {FALLBACK_WORD} or webp: a format made in line, which animations get too"
            )
    # Only what some size is written in: a format none gets would be deferred, and awaited, for ever.
    wanted = [v for r in sized for v in r.variants or ()]
    return sized, tuple(dict.fromkeys([*(v for v in variants if v in wanted), *wanted]))


def _format_names(spec: str) -> list[str]:
    return [p.strip().lower() for p in spec.split(",") if p.strip()]


def parse_formats(spec: str) -> tuple[str, ...]:
    """Parse FORMATS (`fallback,webp,avif`) into the variant formats written beside the fallback."""
    names = _format_names(spec)
    unknown = [n for n in names if n != FALLBACK_WORD and n not in _VARIANTS]
    if unknown:
        raise ValueError(
            f"FORMATS: unknown {', '.join(unknown)} (choose from {', '.join([FALLBACK_WORD, *_VARIANTS])})"
        )
    if FALLBACK_WORD not in names:
        raise ValueError("FORMATS must include fallback: it is what <img> shows where no <source> is understood")
    return tuple(dict.fromkeys(_VARIANTS[n] for n in names if n != FALLBACK_WORD))


def parse_deferred(spec: str, variants: tuple[str, ...]) -> tuple[str, ...]:
    """Parse DEFER_FORMATS (`avif` or empty): those of FORMATS made later, by the lower-priority variants queue."""
    names = _format_names(spec)
    unknown = [n for n in names if n not in _DEFERRABLE]
    if unknown:
        raise ValueError(f"DEFER_FORMATS: {', '.join(unknown)} cannot be deferred (only {', '.join(_DEFERRABLE)})")
    # A deferred format FORMATS does not ask for is simply not made.
    return tuple(f for f in dict.fromkeys(_DEFERRABLE[n] for n in names) if f in variants)


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as e:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from e


@dataclass(frozen=True)
class Names:
    """Where things are: the stack's resource names (every entry point uses them)."""

    name_prefix: str = "imgpipe"
    input_bucket: str = "imgpipe-input"
    output_bucket: str = "imgpipe-output"
    input_prefix: str = "uploads/"
    table_name: str = "imgpipe-images"
    status_index: str = "status-index"
    phash_index: str = "phash-index"
    queue_name: str = "imgpipe-jobs"
    dlq_name: str = "imgpipe-jobs-dlq"
    # The lower-priority queue of deferred variants (AVIF): by URL in the Lambda, else looked up by name.
    variants_queue_name: str = "imgpipe-jobs-variants"
    variants_queue_url: str = ""
    results_topic_name: str = "imgpipe-results"
    alerts_topic_name: str = "imgpipe-alerts"
    results_topic_arn: str = ""
    alerts_topic_arn: str = ""
    audit_queue_name: str = "imgpipe-results-audit"
    dlq_alarm_name: str = "imgpipe-jobs-dlq-not-empty"
    # The CloudFront distribution in front of the output bucket (terraform's cdn_enabled): deleted renditions are
    # invalidated there. Empty: no CDN, nothing cached to forget.
    cdn_distribution_id: str = ""

    def is_source(self, bucket: str, key: str) -> bool:
        """Whether an object is a source this pipeline processes: in the input bucket, below the input prefix."""
        return bucket == self.input_bucket and key.startswith(self.input_prefix)


@dataclass(frozen=True)
class ImagingSettings:
    """What the image function makes, and the limits it holds every input to."""

    renditions: tuple[Rendition, ...] = field(default_factory=lambda: parse_renditions(DEFAULT_RENDITIONS))
    variants: tuple[str, ...] = field(default_factory=lambda: parse_formats(DEFAULT_FORMATS))
    # Those of `variants` made later, from the variants queue (the rest are made in line).
    deferred: tuple[str, ...] = field(
        default_factory=lambda: parse_deferred(DEFAULT_DEFER_FORMATS, parse_formats(DEFAULT_FORMATS))
    )
    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = 50_000_000
    jpeg_quality: int = 85
    animation_decode_pixels: int = DEFAULT_ANIMATION_DECODE_PIXELS
    # The function's memory size: Lambda sets AWS_LAMBDA_FUNCTION_MEMORY_SIZE itself, so the budget follows it.
    memory_mb: int = 512
    # An ICC profile for CMYK sources that carry none: a file (in the package, or a layer's /opt/...) or
    # s3://bucket/key. Empty: Pillow's own conversion. (No profile ships with us: the good ones are not free.)
    cmyk_profile: str = ""

    @property
    def work_budget_bytes(self) -> int:
        """What one image may hold in memory while it is rendered: 70% of the function, less the process itself.

        A Lambda killed for memory loses its whole batch, so every accepted input must fit with room to spare;
        the handler process itself (Python, boto3, Pillow, Powertools) holds about BASELINE_MB before any image.
        The other 30% holds the source's bytes (up to max_bytes), PNG text and profiles (up to 24 MiB), the encoded
        renditions and the allocator's slack. Measured with bench/memory.py: the estimate is the measured cost plus
        10%, so the worst accepted input peaks near 60% of the function; a warm process that rendered twelve 24 MP
        photos in turn peaks within 5% of the first (imaging gives freed memory back after each render).
        (At 60%, as before, a 24 MP AVIF from a phone was refused at 512 MB: it needs about 243 MiB.)
        """
        return max(0, int(self.memory_mb * WORK_SHARE) - BASELINE_MB) * 1024 * 1024


@dataclass(frozen=True)
class Timing:
    """The image function's clock: its timeout, the queue's visibility and receives, leases, retention."""

    handler_timeout_s: int = 60
    visibility_timeout_s: int = 0  # 0: six times the handler timeout
    max_receive_count: int = 3
    # A record is started only with at least this much of the invocation left (0: a quarter of the timeout, at
    # most 10 s, about the worst image time measured at 512 MB); the rest are handed back to SQS unstarted.
    record_reserve_ms: int = 0
    item_ttl_days: int = 90
    # A deferred-variants job is sent before the result is recorded and published, and waits for both: this
    # delay makes it arrive after them, not one visibility timeout later.
    defer_delay_s: int = 5

    @property
    def queue_visibility_timeout_s(self) -> int:
        """Visibility timeout of the job queue: six times the handler timeout, as AWS recommends."""
        return self.visibility_timeout_s or 6 * self.handler_timeout_s

    @property
    def lease_s(self) -> int:
        """How long a claim on an image lasts: the handler's timeout, and always under the visibility timeout.

        A message delivered again while its first delivery still runs must find the lease expired and
        process the image again (harmless), never find it live and acknowledge it (lost if the first dies).
        """
        return max(1, min(self.handler_timeout_s, self.queue_visibility_timeout_s // 2))

    @property
    def start_reserve_ms(self) -> int:
        """The time left below which the handler starts no further record."""
        return self.record_reserve_ms or min(10_000, self.handler_timeout_s * 250)

    @property
    def render_s(self) -> float:
        """How long an animation's frames may take before it becomes a still: half the time a record is given
        (start_reserve_ms) and half its lease, so a record ends inside both and is never claimed twice."""
        return min(self.start_reserve_ms / 2000, self.lease_s / 2)


@dataclass(frozen=True)
class ApiSettings:
    """What only the upload API uses."""

    # Where a browser reaches S3 for presigned URLs, when that differs from endpoint_url (compose: aws:4566
    # inside the network, localhost:4566 outside). Unset in AWS, where both are the real S3.
    public_endpoint_url: str | None = None
    # Where renditions are served from when a CDN fronts the output bucket (terraform's cdn_enabled): the API then
    # hands out {cdn_base_url}/{key} instead of presigned S3 GETs.
    cdn_base_url: str = ""
    # Web origins that may POST uploads to the input bucket (S3 CORS; terraform's `cors_allow_origin`).
    cors_allow_origins: tuple[str, ...] = tuple(DEFAULT_CORS_ALLOW_ORIGINS.split(","))


@dataclass(frozen=True)
class LocalSettings:
    """What only the local runner uses (the SQS event source mapping and the DLQ alarm, done locally)."""

    # Pollers, each running one batch at a time: more than the cores, so one waits on AWS while another computes.
    worker_concurrency: int = 4
    worker_batch_size: int = 10
    worker_wait_s: int = 5
    worker_batch_timeout_s: int = 0  # 0: the handler's timeout, as Lambda would enforce
    alarm_interval_s: int = 10
    # Processes the pollers' renders run in (WORKER_PROCESSES): -1 one per core, 0 none (in the pollers' threads: as
    # fast on a quiet machine, but a decoder's crash, or the OOM killer, then takes the whole worker).
    worker_processes: int = -1


_GROUPS = ("names", "imaging", "timing", "api", "local")
_Ints = TypeVar("_Ints", Timing, LocalSettings)


def _ints(group: type[_Ints], env: Mapping[str, str]) -> _Ints:
    """A group of whole numbers, each read from the variable named as its field in capitals, else its default."""
    return group(**{f.name: _int(env, f.name.upper(), f.default) for f in fields(group)})  # type: ignore[arg-type]


@dataclass(frozen=True)
class Settings:
    """The pipeline's configuration, in groups, so each entry point reads what it uses; `Settings.from_env()`."""

    region: str = "us-east-1"
    endpoint_url: str | None = None
    environment: str = "local"
    log_level: str = "INFO"
    names: Names = field(default_factory=Names)
    imaging: ImagingSettings = field(default_factory=ImagingSettings)
    timing: Timing = field(default_factory=Timing)
    api: ApiSettings = field(default_factory=ApiSettings)
    local: LocalSettings = field(default_factory=LocalSettings)

    @property
    def batch_timeout_s(self) -> int:
        """The local runner's per-batch timeout: the handler's timeout unless set, as Lambda would enforce."""
        return self.local.worker_batch_timeout_s or self.timing.handler_timeout_s

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from environment variables (the names terraform gives the Lambda too)."""
        e = os.environ if env is None else env
        prefix = e.get("NAME_PREFIX", "imgpipe")

        def name(var: str, suffix: str) -> str:
            return e.get(var) or f"{prefix}-{suffix}"

        input_prefix = e.get("INPUT_PREFIX", "uploads/")
        if input_prefix and not input_prefix.endswith("/"):
            input_prefix += "/"
        queue_name = name("QUEUE_NAME", "jobs")
        renditions, variants = resolve_formats(
            parse_renditions(e.get("RENDITIONS", DEFAULT_RENDITIONS)), parse_formats(e.get("FORMATS", DEFAULT_FORMATS))
        )
        return cls(
            region=e.get("AWS_REGION") or e.get("AWS_DEFAULT_REGION") or "us-east-1",
            endpoint_url=e.get("AWS_ENDPOINT_URL") or None,
            environment=e.get("ENVIRONMENT", "local"),
            log_level=e.get("LOG_LEVEL", "INFO"),
            names=Names(
                name_prefix=prefix,
                input_bucket=name("INPUT_BUCKET", "input"),
                output_bucket=name("OUTPUT_BUCKET", "output"),
                input_prefix=input_prefix,
                table_name=name("TABLE_NAME", "images"),
                status_index=e.get("STATUS_INDEX", "status-index"),
                phash_index=e.get("PHASH_INDEX", "phash-index"),
                queue_name=queue_name,
                dlq_name=e.get("DLQ_NAME") or f"{queue_name}-dlq",
                variants_queue_name=e.get("VARIANTS_QUEUE_NAME") or f"{queue_name}-variants",
                variants_queue_url=e.get("VARIANTS_QUEUE_URL", ""),
                results_topic_name=name("RESULTS_TOPIC_NAME", "results"),
                alerts_topic_name=name("ALERTS_TOPIC_NAME", "alerts"),
                results_topic_arn=e.get("RESULTS_TOPIC_ARN", ""),
                alerts_topic_arn=e.get("ALERTS_TOPIC_ARN", ""),
                audit_queue_name=name("AUDIT_QUEUE_NAME", "results-audit"),
                dlq_alarm_name=e.get("DLQ_ALARM_NAME") or f"{queue_name}-dlq-not-empty",
                cdn_distribution_id=e.get("CDN_DISTRIBUTION_ID", "").strip(),
            ),
            imaging=ImagingSettings(
                renditions=renditions,
                variants=variants,
                deferred=parse_deferred(e.get("DEFER_FORMATS", DEFAULT_DEFER_FORMATS), variants),
                max_bytes=_int(e, "MAX_BYTES", DEFAULT_MAX_BYTES),
                max_pixels=_int(e, "MAX_PIXELS", 50_000_000),
                jpeg_quality=_int(e, "JPEG_QUALITY", 85),
                animation_decode_pixels=_int(e, "ANIMATION_DECODE_PIXELS", DEFAULT_ANIMATION_DECODE_PIXELS),
                memory_mb=_int(e, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", _int(e, "MEMORY_MB", 512)),
                cmyk_profile=e.get("CMYK_PROFILE", "").strip(),
            ),
            timing=_ints(Timing, e),
            api=ApiSettings(
                public_endpoint_url=e.get("PUBLIC_ENDPOINT_URL") or None,
                cdn_base_url=e.get("CDN_BASE_URL", "").rstrip("/"),
                cors_allow_origins=tuple(
                    o.strip() for o in e.get("CORS_ALLOW_ORIGINS", DEFAULT_CORS_ALLOW_ORIGINS).split(",") if o.strip()
                ),
            ),
            local=_ints(LocalSettings, e),
        )

    def with_(self, **changes: object) -> Settings:
        """A copy with some fields changed, by their own names, whatever group holds them (tests: names, timeouts)."""
        top: dict[str, object] = {}
        grouped: dict[str, dict[str, object]] = {}
        for key, value in changes.items():
            group = next((g for g in _GROUPS if key in {f.name for f in fields(getattr(self, g))}), None)
            if group is None:
                top[key] = value
            else:
                grouped.setdefault(group, {})[key] = value
        for group, values in grouped.items():
            top[group] = replace(getattr(self, group), **values)
        return replace(self, **top)  # type: ignore[arg-type]
