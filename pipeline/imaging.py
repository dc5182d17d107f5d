"""The imaging core: bytes in, renditions out. Pure Pillow, no AWS."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import io
import math
import time
import warnings
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from enum import StrEnum

import blurhash
import pillow_heif
from PIL import (  # noqa: F401 - importing a plugin registers its decoder, and we allow only these
    AvifImagePlugin,
    BmpImagePlugin,
    GifImagePlugin,
    Image,
    ImageChops,
    ImageCms,
    ImageFilter,
    JpegImagePlugin,
    MpoImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    UnidentifiedImageError,
    WebPImagePlugin,
)

from pipeline import formats
from pipeline.domain import DEFAULT_ANIMATION_DECODE_PIXELS, DEFAULT_MAX_BYTES
from pipeline.errors import ImageError
from pipeline.gif import frame_rects
from pipeline.settings import DEFAULT_FORMATS, Rendition, parse_formats

# What we accept, by what Pillow recognises in the bytes (never by the file name). Pillow is told to try
# only these decoders, so a file cannot reach a plugin we did not choose (EPS would run Ghostscript).
# (Multi-picture JPEGs from cameras open through the JPEG decoder and report themselves as MPO.)
ACCEPTED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP", "HEIF", "AVIF")
# HEIC/HEIF (every iPhone's default) through pillow-heif's plugin; AVIF through Pillow's own.
pillow_heif.register_heif_opener()
# Pillow refuses a PNG whose compressed iCCP (or text) chunk inflates past 1 MB, as if the file were broken; valid
# profiles of printers and cameras reach several MB (docs/behaviour.md promises a profile never sinks a good image).
# 8 MiB per chunk, and text chunks together held to 16 MiB (Pillow's default is 64): both inside the work budget's
# margin (Settings.work_budget_bytes).
PngImagePlugin.MAX_TEXT_CHUNK = 8 * 1024 * 1024
PngImagePlugin.MAX_TEXT_MEMORY = 16 * 1024 * 1024

# Formats a browser shows as they are; anything else is re-encoded to JPEG, or PNG when it has alpha.
# GIF becomes PNG: a rendition is a still of the first frame, and PNG keeps its transparency losslessly.
_OUTPUT_FOR_SOURCE = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WEBP", "GIF": "PNG"}

CONTENT_TYPES = {name: f.content_type for name, f in formats.BY_NAME.items()}
EXTENSIONS = {name: f.extension for name, f in formats.BY_NAME.items()}
# The modern formats each rendition is written in by default, beside its fallback (FORMATS chooses).
VARIANT_FORMATS = parse_formats(DEFAULT_FORMATS)
# Extensions that already name a format correctly, so a key that has one keeps it.
KNOWN_EXTENSIONS = {"JPEG": (".jpg", ".jpeg", ".jpe", ".jfif"), "PNG": (".png",), "WEBP": (".webp",)}

# Decode JPEGs at the smallest DCT scale (1/2, 1/4, 1/8) that still has at least the largest rendition's
# pixels: libjpeg's scaled IDCT is itself a good low-pass filter, and the final Lanczos pass does the rest.
# (Measured in bench/: 2.0 here costs 1.5x the time for no visible gain, PSNR against a full decode >= 40 dB.)
DRAFT_GAP = 1.0
# Resizing first box-reduces by whole factors while the image is more than this many times the target, then
# finishes with Lanczos (Pillow's reducing_gap): far cheaper on large non-JPEG sources, same look.
REDUCING_GAP = 1.5
# PNG zlib level: the default (6) costs 3-6x the CPU for files 10-25% smaller (bench/). Level 1 first; where that
# comes out bigger than the whole source (a source compressed harder), harder settings until it is not. zlib is not
# monotone: a photo written at level 4 can be smaller than at 9 (the property test found one, 1% apart), its
# run-length strategy beats both on some, and on a transparent photo its filtered strategy beats level 9 (536 KB
# against 546 KB at 800x600, where the source was 537 KB). So the ladder tries the cheap settings first (6, RLE,
# the low levels: 40-240 ms at 800x600 RGBA) and the slow strong ones last (9 filtered, 9: 1.6 and 1.9 s), and
# stops at the first that fits. Rare (a PNG source about the rendition's size) and bounded: nine encodes at most,
# 4 s for a rendition-sized transparent photo where none fits (`make bench`'s byte-budget line).
PNG_COMPRESS_LEVEL = 1
_Z_FILTERED = 1
_Z_RLE = 3
PNG_HARDER: tuple[tuple[int, int], ...] = (
    (6, 0),
    (9, _Z_RLE),
    *((level, 0) for level in (5, 4, 3, 2)),
    (9, _Z_FILTERED),
    (9, 0),
)
# The JPEG spec's luminance table (Annex K), which IJG-style encoders scale by quality: a source's own table
# against it tells the quality it was saved at (as ImageMagick estimates it).
_IJG_LUMINANCE = (
    (16, 11, 10, 16, 24, 40, 51, 61),
    (12, 12, 14, 19, 26, 58, 60, 55),
    (14, 13, 16, 24, 40, 57, 69, 56),
    (14, 17, 22, 29, 51, 87, 80, 62),
    (18, 22, 37, 56, 68, 109, 103, 77),
    (24, 35, 55, 64, 81, 104, 113, 92),
    (49, 64, 78, 87, 103, 121, 120, 101),
    (72, 92, 95, 98, 112, 100, 103, 99),
)
_IJG_LUMINANCE_SUM = sum(map(sum, _IJG_LUMINANCE))
# WebP and AVIF settings by measurement (bench/formats.py, numbers in docs/performance.md): at the quality that matches
# JPEG q85's PSNR on photo-like renditions, WebP method 2 is 42% smaller than the JPEG in 34 ms at 800x600
# (method 4: 2 KB less, twice the time); AVIF speed 9 is 54% smaller in 27 ms (speed 6: another 40% smaller,
# but 300 ms: ten times the time of the whole JPEG rendering).
WEBP_QUALITY = 82
WEBP_METHOD = 2
AVIF_QUALITY = 56
# A thumbnail's (up to 200x200) quality, by the same measure against the thumbnail's own JPEG q85 (bench/formats.py,
# docs/performance.md): WebP reaches the JPEG's PSNR at 76 to 78 (82 spent 12% more bytes above it), AVIF needs 62
# (56 fell up to 0.4 dB short), both still about a third smaller than the JPEG.
SMALL_RENDITION_PIXELS = 40_000
WEBP_QUALITY_SMALL = 78
AVIF_QUALITY_SMALL = 62
AVIF_SPEED = 9
# BlurHash keeps only a few low frequencies (4x3 components here: 28 characters), so it is computed from a 16 px
# thumbnail, where those frequencies are still whole; the library is pure Python and its time grows with the
# pixels (about 14 ms at 24x18, 4 ms at 16x12).
PLACEHOLDER_SIDE = 16
PLACEHOLDER_COMPONENTS = (4, 3)
_SWAPPING_ORIENTATIONS = {5, 6, 7, 8}
_SRGB = ImageCms.createProfile("sRGB")
_EXIF_ORIENTATION = 0x0112
# The transpose that shows stored pixels upright, per EXIF orientation. Applied from the orientation that
# inspect() read, never through ImageOps.exif_transpose: that re-parses the EXIF block (a mistyped tag raises
# TypeError there) and, for TIFF, the orientation is in the image's own tags and was applied twice.
_UPRIGHT: dict[int, tuple[Image.Transpose, ...]] = {
    1: (),
    2: (Image.Transpose.FLIP_LEFT_RIGHT,),
    3: (Image.Transpose.ROTATE_180,),
    4: (Image.Transpose.FLIP_TOP_BOTTOM,),
    5: (Image.Transpose.TRANSPOSE,),
    6: (Image.Transpose.ROTATE_270,),
    7: (Image.Transpose.TRANSVERSE,),
    8: (Image.Transpose.ROTATE_90,),
}
# Formats whose Pillow decoder applies the orientation tag itself (Pillow >= 12 for TIFF): it reports the
# upright size and loads upright pixels, so we must neither swap the size nor transpose again.
# (pillow-heif applies a HEIF's rotation and mirror boxes and resets the EXIF tag to 1.)
_ORIENTED_BY_DECODER = frozenset({"TIFF", "HEIF"})
# Peak bytes held per source pixel while render() works on an image of this mode: the decoded buffer plus the
# largest full-size intermediate (Pillow keeps RGB as 4 bytes a pixel). Measured by `bench/memory.py --calibrate`
# on 4 MP sources in a process that loaded the handler, then rounded up by about 10%. Modes not listed are
# taken as costly as the worst listed one; libwebp's decoder holds its own copy, so WebP costs more by format.
_WORK_BYTES_PER_PIXEL = {
    "1": 3,
    "L": 2,
    "P": 8,
    "I;16": 7,
    "I;16L": 7,
    "I;16B": 7,
    "I;16N": 7,
    "I": 14,
    "F": 14,
    "LA": 11,
    "PA": 11,
    "RGB": 7,
    "RGBA": 11,
    "CMYK": 11,
    "YCbCr": 11,
    "LAB": 11,
}
# HEIF and AVIF decoders (libde265 through pillow-heif, libavif through Pillow) hold their own frame and hand over a
# copy. Measured at real sizes by `bench/memory.py --calibrate` (12, 24 and 48 MP photos, grid-tiled HEIC as phones
# write them): HEIF 7.2-7.4 and AVIF 9.2-9.4 bytes a pixel, the same at every size; here with 10% on top.
_WORK_BYTES_PER_PIXEL_BY_FORMAT: dict[str, float] = {"WEBP": 19, "HEIF": 8.2, "AVIF": 10.4}


# Animated GIF and WebP sources: every frame is decoded and resized to every size, and the encoder needs all of a
# size's frames at once. So an animation is kept while its frames x pixels fit: the frames held (4 bytes a pixel,
# every size) within the work budget, and the source pixels decoded within `animation_decode_pixels` (time).
# Past either, the renditions are stills of the first frame.
# Browsers show GIF frames shorter than 20 ms at 100 ms (a GIF "as fast as possible" is not): so do we.
_MIN_FRAME_MS = 20
_SLOW_FRAME_MS = 100
# What one frame costs beside its pixels (seek, convert, three resizes, the encoder's frame), counted as pixels
# in the decode budget: 20,000 frames of 4 pixels are not free. Measured here: 13,000 frames of 4x4 take 1.8 s
# (140 us a frame), 60 frames of 800x600 take 1.8 s (62 ns a pixel): a frame costs about 2,300 pixels; 3,000 with
# margin.
FRAME_COST_PIXELS = 3_000


class _OverBudget(Exception):
    """A frame would break the memory or time budget: the animation becomes a still."""


class Animation(StrEnum):
    """What became of a source's animation: the record's `original.animation`."""

    NONE = ""  # a still source
    KEPT = "animated"  # the WebP renditions are animated (the fallback is the first frame)
    OVER_BUDGET = "still_over_budget"  # too many frames x pixels: stills of the first frame only
    NO_FORMAT = "still_no_animated_format"  # FORMATS has no format that animates (WebP)
    DAMAGED = "still_damaged"  # a later frame cannot be decoded: the first frame is what a browser shows too


@dataclass(frozen=True)
class Limits:
    """What an input may be at most, and how outputs are encoded."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = 50_000_000
    jpeg_quality: int = 85
    # What decoding and resizing may hold at once (Settings derives it from the function's memory size).
    max_work_bytes: int = 256 * 1024 * 1024
    # The formats written beside each rendition's fallback (any of VARIANT_FORMATS).
    variants: tuple[str, ...] = VARIANT_FORMATS
    # The most source pixels an animation may decode, over all its frames.
    animation_decode_pixels: int = DEFAULT_ANIMATION_DECODE_PIXELS
    # False: the variants only (a deferred job adds them to renditions made earlier).
    fallback: bool = True
    # How long an animation's frames may take to render (0: no bound). Past it the renditions are stills: the
    # record must end inside its lease and the invocation (Settings: Timing.render_s).
    render_seconds: float = 0.0
    # Held around each render with the bytes it plans to hold: a process that renders several images at once
    # (the local worker) admits them while they fit one function's memory together. Lambda renders one at a time.
    gate: Callable[[int], AbstractContextManager[object]] = field(default=contextlib.nullcontext, compare=False)
    # The operator's ICC profile for CMYK sources that carry none (CMYK_PROFILE), read at first need; without one
    # such a source keeps Pillow's own conversion.
    cmyk_profile: Callable[[], bytes | None] = field(default=lambda: None, compare=False)


@dataclass(frozen=True)
class SourceInfo:
    """What we learned about the original; width and height are after EXIF orientation."""

    format: str
    mime: str
    width: int
    height: int
    bytes: int
    mode: str
    orientation: int
    animated: bool
    has_alpha: bool


@dataclass(frozen=True)
class RenderedImage:
    """One encoded rendition."""

    name: str
    width: int
    height: int
    format: str
    content_type: str
    extension: str
    data: bytes
    frames: int = 1  # more than one: an animated WebP


@dataclass(frozen=True)
class Identity:
    """What the picture looks like, in a few bytes: a placeholder, its dominant colour, a perceptual hash."""

    blurhash: str  # the BlurHash: decoded by a client (or the API) into a blurred preview
    dominant_color: str  # "#rrggbb": the most common colour once reduced to five
    phash: str  # 16 hex digits: the 64-bit difference hash (dHash)


@dataclass(frozen=True)
class RenderResult:
    """The source's metadata, its renditions (largest first) and its identity."""

    source: SourceInfo
    renditions: tuple[RenderedImage, ...]
    identity: Identity
    animation: Animation = Animation.NONE


def fit(width: int, height: int, box_w: int, box_h: int) -> tuple[int, int]:
    """The largest size with the same aspect that fits in the box, never larger than the original.

    The side that does not touch the box is rounded to whichever whole number keeps the aspect closest
    (as Pillow's thumbnail() does), so 4000x3000 in 150x150 is 150x113, not 150x112.
    """
    if width <= box_w and height <= box_h:
        return width, height
    aspect = width / height
    if box_w / box_h >= aspect:  # the height touches the box
        w = min(_closest(box_h * aspect, lambda n: abs(aspect - n / box_h)), box_w)
        return max(1, w), box_h
    h = min(_closest(box_w / aspect, lambda n: abs(aspect - box_w / n) if n else float("inf")), box_h)
    return box_w, max(1, h)


def _closest(value: float, error: Callable[[int], float]) -> int:
    return max(min(math.floor(value), math.ceil(value), key=error), 1)


def cover(width: int, height: int, box_w: int, box_h: int) -> tuple[int, int]:
    """The smallest size with the same aspect that covers the box (what a crop is cut from), never larger than the
    original."""
    scale = max(box_w / width, box_h / height)
    if scale >= 1:
        return width, height
    return max(box_w, min(width, round(width * scale))), max(box_h, min(height, round(height * scale)))


def cropped(width: int, height: int, box_w: int, box_h: int) -> tuple[int, int]:
    """The size a cropped rendition comes out at: the box where the picture covers it, else the largest window of
    the box's aspect inside the picture (never upscaled)."""
    if width >= box_w and height >= box_h:
        return box_w, box_h
    if width * box_h > height * box_w:  # wider than the box's aspect: full height
        return max(1, min(width, round(height * box_w / box_h))), height
    return width, max(1, min(height, round(width * box_h / box_w)))


def rendition_size(width: int, height: int, rendition: Rendition) -> tuple[int, int]:
    """The size a rendition of an upright width x height picture comes out at."""
    return (cropped if rendition.crop else fit)(width, height, rendition.width, rendition.height)


# The interest map a crop is chosen on: this many pixels along its longer side (a few hundred microseconds).
INTEREST_SIDE = 96
# Between windows of nearly equal interest, the one nearer the centre: photographers frame that way, and a flat
# picture is then cropped in the middle, as a plain centre crop would.
CENTRE_PULL = 0.02


def crop_box(img: Image.Image, box_w: int, box_h: int) -> tuple[int, int, int, int]:
    """The window of box_w:box_h's aspect (box_w x box_h where the image covers it) that keeps the subject.

    Interest is detail (edges) plus colour (saturation), transparent parts counting for nothing: the method of
    smartcrop.js and of thumbor's and imgproxy's "smart" crops without their face detectors, in a few Pillow calls
    (no NumPy, nothing added to the package). The window slides along the one axis with room, so the map is
    averaged down to one row (or column) and each start position scored by the sum it covers.
    """
    w, h = img.size
    win_w, win_h = cropped(w, h, box_w, box_h)
    slack_x, slack_y = w - win_w, h - win_h
    if not slack_x and not slack_y:
        return 0, 0, w, h
    scale = INTEREST_SIDE / max(w, h)
    small = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BOX)
    rgb = small.convert("RGB")
    edges = Image.new("L", rgb.size)
    if min(rgb.size) >= 3:
        # Pillow's filters leave the outermost pixels as they were: they would read as an edge all round the frame.
        found = rgb.convert("L").filter(ImageFilter.FIND_EDGES)
        edges.paste(found.crop((1, 1, rgb.width - 1, rgb.height - 1)), (1, 1))
    interest = ImageChops.add(edges, rgb.convert("HSV").getchannel("S"), 2)
    if "A" in small.getbands():
        interest = ImageChops.multiply(interest, small.getchannel("A"))
    along_x = slack_x > 0
    cells = small.width if along_x else small.height
    profile = list(interest.resize((cells, 1) if along_x else (1, cells), Image.Resampling.BOX).tobytes())
    span = max(1, round((win_w if along_x else win_h) * scale))
    slack, full = (slack_x, w) if along_x else (slack_y, h)
    best, best_score = 0.0, -math.inf
    total = sum(profile) or 1
    for start in range(cells - span + 1):
        offset = start / scale if cells > span else slack / 2
        centred = 1 - abs(offset - slack / 2) / (full / 2)
        score = sum(profile[start : start + span]) / total + CENTRE_PULL * centred
        if score > best_score:
            best, best_score = offset, score
    shift = max(0, min(slack, round(best)))
    return (shift, 0, shift + win_w, win_h) if along_x else (0, shift, win_w, shift + win_h)


@contextlib.contextmanager
def _input_errors(stage: str) -> Iterator[None]:
    """Turn anything Pillow raises while reading untrusted bytes into ImageError: a property of the input.

    Pillow's plugins raise far more than OSError on hostile files (IndexError and struct.error from a GIF cut
    inside a frame, TypeError from mistyped TIFF tags, RecursionError, ...), so the net is Exception, and the
    original type is named in the message for whoever reads the item.
    """
    try:
        with warnings.catch_warnings():
            # A warning-sized bomb is still refused by our own, lower, pixel limit.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    except ImageError:
        raise
    except Image.DecompressionBombError as e:
        raise ImageError(f"image is too large: {e}", code="too_many_pixels") from e
    except UnidentifiedImageError as e:
        raise ImageError("not a supported image format", code="unsupported_format") from e
    except MemoryError as e:
        raise ImageError(f"{stage}: out of memory", code="too_much_memory") from e
    except Exception as e:
        raise ImageError(f"{stage}: {type(e).__name__}: {e}"[:500], code="corrupt") from e


def has_alpha(img: Image.Image) -> bool:
    """Whether the image has transparency: an alpha band, or a transparent colour in its info."""
    return img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info


def _orientation(img: Image.Image) -> int:
    try:
        value = img.getexif().get(_EXIF_ORIENTATION, 1)
        orientation = int(value)
    except Exception:  # A broken EXIF block should not sink a good image; Pillow raises many kinds here.
        return 1
    return orientation if orientation in _UPRIGHT else 1


def inspect(data: bytes, limits: Limits) -> tuple[Image.Image, SourceInfo]:
    """Identify the image from its header and enforce byte and pixel limits before any decode."""
    if not data:
        raise ImageError("empty file", code="empty")
    if len(data) > limits.max_bytes:
        raise ImageError(f"{len(data)} bytes is over the limit of {limits.max_bytes}", code="too_large")
    with _input_errors("unreadable image header"):
        try:
            img = Image.open(io.BytesIO(data), formats=list(ACCEPTED_FORMATS))
        except UnidentifiedImageError:
            _refuse_declared_size(data, limits)
            raise
        try:
            return img, _describe(img, data, limits)
        except BaseException:
            img.close()
            raise


def _refuse_declared_size(data: bytes, limits: Limits) -> None:
    """An AVIF or HEIF container that Pillow cannot open: refused for its declared size if that is the reason.

    libavif will not even parse a file whose extents pass its own limit, so Pillow reports "not an image";
    libheif (through pillow-heif) reads the container's extents without decoding anything.
    """
    try:
        if pillow_heif.get_file_mimetype(data) not in ("image/avif", "image/heic", "image/heif"):
            return
        width, height = pillow_heif.open_heif(io.BytesIO(data)).size
    except Exception:  # not a container libheif reads either: the caller's "not supported" stands
        return
    _check_pixels(width, height, limits)


def _check_pixels(width: int, height: int, limits: Limits) -> None:
    if width * height > limits.max_pixels:
        raise ImageError(
            f"{width}x{height} is {width * height} pixels, over the limit of {limits.max_pixels}",
            code="too_many_pixels",
        )


def _describe(img: Image.Image, data: bytes, limits: Limits) -> SourceInfo:
    width, height = img.size
    if width < 1 or height < 1:
        raise ImageError(f"invalid dimensions {width}x{height}", code="corrupt")
    _check_pixels(width, height, limits)
    orientation = _orientation(img)
    fmt = str(img.format)
    if orientation in _SWAPPING_ORIENTATIONS and fmt not in _ORIENTED_BY_DECODER:
        width, height = height, width
    return SourceInfo(
        format=fmt,
        mime=Image.MIME.get(fmt, "application/octet-stream"),
        width=width,
        height=height,
        bytes=len(data),
        mode=img.mode,
        orientation=orientation,
        # is_animated looks for a second frame only; n_frames would decode every frame of a long GIF. A HEIF's
        # images are not frames: a viewer shows its primary image (what pillow-heif opens), never a slideshow.
        animated=bool(getattr(img, "is_animated", False)) and fmt != "HEIF",
        has_alpha=has_alpha(img),
    )


def output_format(info: SourceInfo) -> str:
    """The format renditions are written in, chosen from the source's real format."""
    if info.animated and info.format == "WEBP":
        # Its WebP variant is the animation; the fallback is a still every browser shows.
        return "PNG" if info.has_alpha else "JPEG"
    return _OUTPUT_FOR_SOURCE.get(info.format, "PNG" if info.has_alpha else "JPEG")


def work_bytes(info: SourceInfo, decoded: tuple[int, int]) -> int:
    """How much memory rendering this source needs at its peak, estimated from its header alone."""
    per_pixel: float = _WORK_BYTES_PER_PIXEL.get(info.mode, max(_WORK_BYTES_PER_PIXEL.values()))
    per_pixel = max(per_pixel, _WORK_BYTES_PER_PIXEL_BY_FORMAT.get(info.format, 0))
    return int(decoded[0] * decoded[1] * per_pixel)


def _jpeg_draft_size(img: Image.Image, target: tuple[int, int]) -> tuple[int, int]:
    """The size libjpeg will decode at for this target: the smallest 1/2^k scale that still covers it."""
    w, h = img.size
    scale = 1
    while scale < 8 and w // (scale * 2) >= target[0] and h // (scale * 2) >= target[1]:
        scale *= 2
    return -(-w // scale), -(-h // scale)


def _to_8bit(img: Image.Image) -> Image.Image:
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        # Plain convert("L") clips 16-bit values to 255 (a white image). Unpacking the raw buffer through
        # Pillow's L;16 decoder keeps the high byte: half the memory of going through 32-bit "I" (3 full copies).
        raw = "L;16B" if img.mode == "I;16B" else "L;16"
        return Image.frombytes("L", img.size, img.tobytes(), "raw", raw)
    if img.mode in ("I", "F"):
        # 32-bit integers and floats have no fixed range: scale what the image actually holds to 0-255
        # (a float TIFF of 0-255 values, or of 0-1, both come out as drawn). A flat image comes out black.
        lo, hi = img.getextrema()
        span = float(hi) - float(lo)  # type: ignore[arg-type]
        scale = 255.0 / span if span > 0 else 0.0
        offset = -float(lo) * scale  # type: ignore[arg-type]
        return img.convert("F").point(lambda v: v * scale + offset).convert("L")
    return img


def _normalise(img: Image.Image, fmt: str) -> Image.Image:
    """Bring any source mode into one the output format can hold, keeping alpha where it can."""
    img = _to_8bit(img)
    if img.mode == "1":
        img = img.convert("L")
    if img.mode in ("P", "PA") or (img.mode in ("L", "RGB") and "transparency" in img.info):
        img = img.convert("RGBA" if has_alpha(img) else "RGB")
    if img.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        img = img.convert("RGB")
    if fmt == "JPEG" and img.mode in ("RGBA", "LA"):
        # JPEG has no alpha: flatten onto white, as a browser would show it on a white page.
        base = Image.new("RGB", img.size, (255, 255, 255))
        base.paste(img.convert("RGBA"), mask=img.convert("RGBA").getchannel("A"))
        img = base
    if img.mode not in ("L", "LA", "RGB", "RGBA"):
        img = img.convert("RGBA" if has_alpha(img) else "RGB")
    return img


def _to_srgb(img: Image.Image, icc: bytes | None) -> Image.Image:
    """Pixels converted from their embedded profile to sRGB (RGB, RGBA and CMYK); as they are without one.

    A profile that lcms cannot read is treated as absent: a broken tag must not sink a good image.
    """
    if not icc or img.mode not in ("RGB", "RGBA", "CMYK"):
        return img
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(img, source, _SRGB, outputMode="RGBA" if img.mode == "RGBA" else "RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return img
    return converted if converted is not None else img


@dataclass(frozen=True)
class _Encoding:
    """The encoder settings of one source's renditions."""

    jpeg: int  # JPEG quality
    scale: float = 1.0  # WebP's and AVIF's qualities are scaled by this (below 1 for a source saved below ours)
    budget: int = 0  # a rendition bigger than this (the source's bytes) is written harder

    @classmethod
    def of(cls, limits: Limits, source_quality: int | None, source_bytes: int) -> _Encoding:
        """Our qualities, lowered in proportion for a source saved below our JPEG quality: a q40 JPEG re-encoded
        at 85 (or its WebP at 82) is bigger and looks no better. (ImageMagick keeps a source's estimated quality.)"""
        scale = min(1.0, (source_quality or limits.jpeg_quality) / limits.jpeg_quality)
        return cls(jpeg=max(1, round(limits.jpeg_quality * scale)), scale=scale, budget=source_bytes)

    def quality(self, fmt: str, size: tuple[int, int], *, animated: bool = False) -> int:
        """The quality a rendition of this size is written at in fmt (per size for WebP and AVIF: see above)."""
        if fmt == "JPEG":
            return self.jpeg
        # Not for an animation: libwebp's animation encoder loses more across frames than a still at the same
        # setting (the bench's GIF thumbnail: SSIM 0.971 at 78 where sharp's was 0.977; 0.976 at 82, 3.5 KB more).
        small = size[0] * size[1] <= SMALL_RENDITION_PIXELS and not animated
        base = {"WEBP": (WEBP_QUALITY, WEBP_QUALITY_SMALL), "AVIF": (AVIF_QUALITY, AVIF_QUALITY_SMALL)}[fmt][small]
        return max(1, round(base * self.scale))

    def within_budget(
        self,
        save: Callable[[int], bytes],
        quality: int,
        lossless: Callable[[], bytes] | None = None,
        deadline: float = math.inf,
    ) -> bytes:
        """save(quality), and while that is bigger than the whole source (a small, already crushed one), a quarter
        less quality a step: rare, and bounded (a dozen steps at most, and the render's deadline). Still bigger at
        the lowest, lossless() is tried last (WebP's), which holds a graphic (pixel art, dithering) in fewer bytes
        than any lossy quality."""
        data = save(quality)
        while self._over(data) and quality > 1 and time.monotonic() < deadline:
            quality = max(1, quality * 3 // 4)
            data = min(data, save(quality), key=len)
        if lossless is not None and self._over(data) and time.monotonic() < deadline:
            data = min(data, lossless(), key=len)
        return data

    def _over(self, data: bytes) -> bool:
        return bool(self.budget) and len(data) > self.budget


def cmyk_profile_error(data: bytes) -> str:
    """Why these bytes cannot be the CMYK profile of profile-less CMYK sources ("" when they can)."""
    try:
        space = ImageCms.ImageCmsProfile(io.BytesIO(data)).profile.xcolor_space.strip()
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as e:
        return f"not an ICC profile lcms reads ({e})"
    return "" if space == "CMYK" else f"a {space} profile, not a CMYK one"


def _encode(img: Image.Image, fmt: str, encoding: _Encoding, own: bytes | None = None) -> bytes:
    """One rendition's bytes, never more than the whole source's where a lower quality can help it (`own`: the
    source's own PNG drawing of these very pixels, taken where it is smaller than a fast encode)."""
    if fmt == "PNG":
        return _encode_png(img, encoding.budget, own)
    params: dict[str, object] = {}
    quality = encoding.quality(fmt, img.size)
    if fmt == "WEBP":
        params = {"method": WEBP_METHOD}
    elif fmt == "AVIF":
        params = {"speed": AVIF_SPEED}
        if img.mode in ("L", "LA"):
            img = img.convert("RGBA" if img.mode == "LA" else "RGB")  # the AVIF encoder takes colour only
    else:
        # Huffman tables fitted to the image (what sharp does by default): about 5% smaller for a millisecond at
        # 800x600 (bench/peers.py).
        params = {"optimize": True}
    lossless = (lambda: _save(img, fmt, {**params, "lossless": True})) if fmt == "WEBP" else None
    return encoding.within_budget(lambda q: _save(img, fmt, {**params, "quality": q}), quality, lossless)


def _encode_png(img: Image.Image, budget: int, own: bytes | None = None) -> bytes:
    """PNG: as a palette where that loses nothing, fast first, harder only while it is bigger than the budget;
    the source's own drawing (`own`, never bigger than the source) instead, where no palette holds the pixels and
    the fast encode is bigger."""
    img = _palette_if_lossless(img)
    data = _save(img, "PNG", {"compress_level": PNG_COMPRESS_LEVEL})
    if own is not None and img.mode != "P" and len(own) < len(data):
        # Not for a palette: its ladder is cheap (a byte a pixel, flat colours) and beats the source's encoder.
        return own
    for level, strategy in PNG_HARDER:
        if not budget or len(data) <= budget:
            break
        data = min(data, _save(img, "PNG", {"compress_level": level, "compress_type": strategy}), key=len)
    return data


def _palette_if_lossless(img: Image.Image) -> Image.Image:
    """The image as a palette image when it has at most 256 colours and the palette holds every one exactly.

    A chart, a screenshot or a logo then takes a byte a pixel instead of three or four: about half the PNG, and
    faster to write. Photos have thousands of colours and are left as they are (getcolors stops at 257).
    """
    if img.mode not in ("RGB", "RGBA") or img.getcolors(256) is None:
        return img
    methods = [Image.Quantize.FASTOCTREE] + ([Image.Quantize.MAXCOVERAGE] if img.mode == "RGB" else [])
    for method in methods:
        palette = img.quantize(256, method=method, dither=Image.Dither.NONE)
        if ImageChops.difference(palette.convert(img.mode), img).getbbox() is None:
            return palette
    return img


def _source_quality(img: Image.Image) -> int | None:
    """The quality a JPEG source was saved at, estimated from its luminance table; None for any other source."""
    tables: dict[int, list[int]] = getattr(img, "quantization", None) or {}
    if img.format not in ("JPEG", "MPO") or len(tables.get(0, ())) != 64:
        return None
    scale = sum(tables[0]) * 100 / _IJG_LUMINANCE_SUM  # IJG: 5000/q below quality 50, 200 - 2q from 50
    quality = (200 - scale) / 2 if scale <= 100 else 5000 / scale
    return max(1, min(100, round(quality)))


def _save(img: Image.Image, fmt: str, params: dict[str, object]) -> bytes:
    # Renditions are public and sources are not: Pillow's encoders copy what `info` holds (a JPEG comment,
    # XMP, EXIF, PNG text, the ICC profile) unless told otherwise, so the image is encoded from an empty info and
    # only the parameters above. The pixels are sRGB already, which is what an untagged image means on the web,
    # so no profile is embedded either: a source's profile can carry any text in its tags. The image's own info
    # is given back afterwards: it may be the source itself, whose loop count the animation still reads.
    buf = io.BytesIO()
    kept, img.info = img.info, {}
    try:
        img.save(buf, format=fmt, **params)
    finally:
        img.info = kept
    return buf.getvalue()


def render(data: bytes, renditions: Sequence[Rendition], limits: Limits) -> RenderResult:
    """Make every rendition of an image: orientation applied, aspect kept, never upscaled.

    Raises only ImageError, whatever the bytes hold (and what the operator's CMYK profile loader raises, if it is
    asked for one and fails).
    """
    deadline = time.monotonic() + limits.render_seconds if limits.render_seconds else math.inf
    img, info = inspect(data, limits)
    try:
        plan, motion = _prepare(img, data, info, renditions, limits)
        if _wants_profile(img):
            # Outside the decode's error net: an operator's profile that cannot be read is not the image's fault.
            plan = replace(plan, cmyk_profile=limits.cmyk_profile())
        with _input_errors("cannot decode image"):
            encoding = _Encoding.of(limits, _source_quality(img), info.bytes)
            with limits.gate(_need(plan, motion)):
                rendered, smallest, crops = _render(img, info, plan, limits, encoding, data)
                identity = identify(smallest)
                animation = Animation.NONE
                if info.animated:
                    rendered, animation = _animate(img, info, rendered, limits, encoding, deadline, motion, crops)
            return RenderResult(info, tuple(rendered), identity, animation)
    finally:
        img.close()
        _give_back_memory()


@dataclass(frozen=True)
class Admission:
    """What rendering an image will ask for, known from its headers before any pixel is decoded."""

    need: int  # the bytes its render plans to hold (what Limits.gate is held with)
    cmyk_profile: bool  # whether it will ask for the operator's CMYK profile (Limits.cmyk_profile)


def admission(data: bytes, renditions: Sequence[Rendition], limits: Limits) -> Admission:
    """What render() would hold and ask for on these bytes; raises the ImageError render() would raise first."""
    img, info = inspect(data, limits)
    try:
        plan, motion = _prepare(img, data, info, renditions, limits)
        return Admission(_need(plan, motion), _wants_profile(img))
    finally:
        img.close()


def _prepare(
    img: Image.Image, data: bytes, info: SourceInfo, renditions: Sequence[Rendition], limits: Limits
) -> tuple[_Plan, _Motion | None]:
    """The plan of the stills, and of the animation's frames: refused here when over the limits."""
    with _input_errors("cannot decode image"):
        if info.animated and img.info.get("default_image"):
            # An APNG's default image is for viewers without APNG; browsers play the frames after it.
            img.seek(1)
        plan = _plan(img, info, renditions, limits)
        return plan, _motion(img, data, info, plan.sizes, limits) if info.animated else None


def _need(plan: _Plan, motion: _Motion | None) -> int:
    """The bytes a render plans to hold: the stills', and the frames' where the animation will be made."""
    return plan.need + (motion.work if motion is not None and motion.fits else 0)


def _wants_profile(img: Image.Image) -> bool:
    """A CMYK source without a profile of its own is converted through the operator's (CMYK_PROFILE)."""
    return img.mode == "CMYK" and not img.info.get("icc_profile")


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return libc if libc is not None and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


_LIBC = _libc()
if _LIBC is not None:
    # glibc gives each thread that allocates its own arena, and decoders (dav1d, libde265) run threads: measured,
    # a warm process that rendered twelve 24 MP HEIC/AVIF images in turn peaked at 406 MiB where one alone peaks at
    # 270. Two arenas and a trim after each render keep the twelfth at the first's peak (bench/memory.py).
    _LIBC.mallopt(-8, 2)  # M_ARENA_MAX


def _give_back_memory() -> None:
    """Return the freed decode buffers to the system, so the next image starts where this one did."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def identify(img: Image.Image) -> Identity:
    """The BlurHash, dominant colour and dHash of an upright sRGB picture (the smallest rendition: cheap)."""
    small = img.convert("RGBA")
    small.thumbnail((PLACEHOLDER_SIDE, PLACEHOLDER_SIDE), Image.Resampling.BOX)
    # Transparent parts flattened onto white, as the page shows them: a placeholder has no alpha.
    opaque = Image.new("RGBA", small.size, (255, 255, 255, 255))
    opaque.alpha_composite(small)
    rgb = opaque.convert("RGB")
    data, w = rgb.tobytes(), rgb.width
    rows = [[list(data[(y * w + x) * 3 : (y * w + x) * 3 + 3]) for x in range(w)] for y in range(rgb.height)]
    hashed = blurhash.encode(rows, *PLACEHOLDER_COMPONENTS)
    return Identity(hashed, _dominant(rgb), dhash(img))


def _dominant(img: Image.Image) -> str:
    reduced = img.quantize(colors=5, method=Image.Quantize.MEDIANCUT)
    counts = reduced.getcolors() or [(1, 0)]  # (count, palette index): a P image's colours are indexes
    index = int(max(counts, key=lambda c: c[0])[1])  # type: ignore[call-overload]
    r, g, b = (reduced.getpalette() or [0, 0, 0])[index * 3 : index * 3 + 3]
    return f"#{r:02x}{g:02x}{b:02x}"


def placeholder_png(hashed: str, size: tuple[int, int] = (32, 24)) -> bytes:
    """The BlurHash decoded into a small PNG: the blurred preview a page stretches over the image's box."""
    rows = blurhash.decode(hashed, size[0], size[1])
    pixels = bytes(max(0, min(255, int(c))) for row in rows for px in row for c in px[:3])
    buf = io.BytesIO()
    Image.frombytes("RGB", size, pixels).save(buf, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buf.getvalue()


def dhash(img: Image.Image) -> str:
    """A 64-bit difference hash: per row of a 9x8 grey thumbnail, whether each pixel is brighter than the next.

    Written here rather than taken from imagehash, which needs numpy, scipy and PyWavelets (about 80 MB in the
    function's package) for the same ten lines of Pillow.
    """
    grey = img.convert("L").resize((9, 8), Image.Resampling.LANCZOS).tobytes()
    bits = 0
    for row in range(8):
        for col in range(8):
            bits = bits << 1 | (grey[row * 9 + col] > grey[row * 9 + col + 1])
    return f"{bits:016x}"


@dataclass(frozen=True)
class _Plan:
    """How a still will be rendered: each rendition's size (largest first), the size decoded, the memory it needs."""

    targets: list[tuple[Rendition, tuple[int, int]]]
    decoded: tuple[int, int]
    need: int
    cmyk_profile: bytes | None = None  # the operator's, for a CMYK source without its own

    @property
    def sizes(self) -> list[tuple[int, int]]:
        """The distinct rendition sizes, largest first."""
        return list(dict.fromkeys(size for _, size in self.targets))


def _plan(img: Image.Image, info: SourceInfo, renditions: Sequence[Rendition], limits: Limits) -> _Plan:
    """The still's plan, refused before any decode when it needs more memory than the budget."""
    # A cropped rendition is cut from the image scaled to cover its box: that size takes its place in the cascade.
    targets = [(r, (cover if r.crop else fit)(info.width, info.height, r.width, r.height)) for r in renditions]
    targets.sort(key=lambda t: t[1][0] * t[1][1], reverse=True)
    decoded = img.size
    if info.format in ("JPEG", "MPO") and targets:
        tw, th = targets[0][1]
        if info.orientation in _SWAPPING_ORIENTATIONS:
            tw, th = th, tw  # draft() works on the stored, unrotated pixels.
        decoded = _jpeg_draft_size(img, (int(tw * DRAFT_GAP), int(th * DRAFT_GAP)))
    need = work_bytes(info, decoded)
    if need > limits.max_work_bytes:
        raise ImageError(
            f"{info.width}x{info.height} {info.mode} needs about {need >> 20} MiB to render, over the budget of "
            f"{limits.max_work_bytes >> 20} MiB",
            code="too_much_memory",
        )
    return _Plan(targets, decoded, need)


# Where each cropped rendition was cut from the cascade: its rendition name, the cascade's size, the window.
_Crops = dict[str, tuple[tuple[int, int], tuple[int, int, int, int]]]


def _render(
    img: Image.Image, info: SourceInfo, plan: _Plan, limits: Limits, encoding: _Encoding, source: bytes
) -> tuple[list[RenderedImage], Image.Image, _Crops]:
    fmt = output_format(info)
    targets, decoded = plan.targets, plan.decoded
    # A PNG rendition of the source's very pixels (its size and mode, unturned, no profile to apply) may be the
    # source's own drawing, its metadata left out: never bigger than the source. Without it a photo-like 640x480 PNG
    # went through the whole zlib ladder (1.2 s, sharp 0.14) to come out no smaller than the source already was.
    untouched = (img.size, img.mode) if info.format == "PNG" and not info.animated else None
    if untouched and (img.info.get("icc_profile") or _UPRIGHT.get(info.orientation) or img.mode not in _PNG_KEPT_MODES):
        untouched = None
    if decoded != img.size:
        # Let libjpeg decode at 1/2, 1/4 or 1/8 scale: far less work and memory than a full decode.
        img.draft("RGB" if img.mode == "CMYK" else img.mode, decoded)
    icc = img.info.get("icc_profile") or plan.cmyk_profile
    img.load()
    # CMYK goes through its profile to sRGB (Pillow's own CMYK conversion is naive); RGB waits until it is
    # rendition-sized, where the colour transform costs a fraction of a full-size one.
    current = _normalise(_to_srgb(img, icc) if img.mode == "CMYK" else img, fmt)
    pending = icc if current.mode in ("RGB", "RGBA") and img.mode != "CMYK" else None
    current = _upright(current, info)  # after the reduced decode: cheaper than on the original
    out: list[RenderedImage] = []
    crops: _Crops = {}
    # The source's own drawing chunks, read at most once however many sizes are the untouched source.
    source_drawing = functools.cache(lambda: _png_drawing(source))
    for rendition, size in targets:
        current = _resized(current, size)
        if current is img:
            # Never hand the source itself to an encoder: Pillow's AVIF and WebP encoders walk a multi-frame
            # image from its frame 0 (a HEIF's first image instead of its primary) and leave it seeked there.
            # Here it is rendition-sized already, so the copy is small.
            current = img.copy()
        if pending:
            current, pending = _to_srgb(current, pending), None
        picture = current
        box = crop_box(current, rendition.width, rendition.height) if rendition.crop else None
        if box is not None and box != (0, 0, *current.size):
            # Cut from the cascade, never fed back into it: the next sizes want the whole picture.
            crops[rendition.name] = (size, box)
            picture = current.crop(box)
        # The fallback every browser shows, then each modern variant of the same pixels: those this size asks for.
        own = source_drawing() if _is_source_pixels(untouched, picture, fmt) else None
        for variant in rendition.formats(fmt, limits.variants, limits.fallback):
            out.append(
                RenderedImage(
                    name=rendition.name,
                    width=picture.width,
                    height=picture.height,
                    format=variant,
                    content_type=CONTENT_TYPES[variant],
                    extension=EXTENSIONS[variant],
                    data=_encode(picture, variant, encoding, own if variant == "PNG" else None),
                )
            )
    return out, current, crops


# The modes whose PNG Pillow decodes and _normalise keeps as they are (a palette or a 16-bit PNG is changed).
_PNG_KEPT_MODES = frozenset({"L", "LA", "RGB", "RGBA"})
# The chunks that draw a PNG; every other one is metadata (text, EXIF, time, profile) or unknown, and left out.
_PNG_DRAWING = frozenset({b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"})
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _is_source_pixels(untouched: tuple[tuple[int, int], str] | None, picture: Image.Image, fmt: str) -> bool:
    """Whether this rendition is the untouched source's own pixels, written as PNG: its size and its mode."""
    return untouched is not None and fmt == "PNG" and (picture.size, picture.mode) == untouched


def _png_drawing(data: bytes) -> bytes | None:
    """The PNG's drawing chunks alone, each with a good checksum; None for anything else (an APNG, a broken or
    truncated chunk, data that is not one PNG): then the rendition is encoded as any other."""
    if not data.startswith(_PNG_SIGNATURE):
        return None
    out, pos = [_PNG_SIGNATURE], len(_PNG_SIGNATURE)
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind, end = data[pos + 4 : pos + 8], pos + 12 + length
        if end > len(data) or kind == b"acTL":
            return None
        if kind in _PNG_DRAWING:
            if zlib.crc32(data[pos + 4 : end - 4]) != int.from_bytes(data[end - 4 : end], "big"):
                return None
            out.append(data[pos:end])
        if kind == b"IEND":
            return b"".join(out)
        pos = end
    return None


def _upright(img: Image.Image, info: SourceInfo) -> Image.Image:
    """The pixels as shown: the EXIF orientation applied (unless the decoder applied it already)."""
    for step in () if info.format in _ORIENTED_BY_DECODER else _UPRIGHT[info.orientation]:
        img = img.transpose(step)
    return img


def _resized(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    """The next rendition of a cascade: each is resized from the previous, larger one, never from the original."""
    return img if img.size == size else img.resize(size, Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)


@dataclass(frozen=True)
class _Motion:
    """What animating a source will cost, from its frames' headers alone (before any frame is decoded)."""

    sizes: list[tuple[int, int]]  # the rendition sizes, largest first
    frames: range  # the indexes of the frames a browser plays
    work: int  # bytes held at the peak: every frame at every size, or the largest canvas decoded
    decode_pixels: int  # pixels decoded, each frame at its canvas plus its fixed cost
    fits: bool  # within both budgets


def _motion(
    img: Image.Image, data: bytes, info: SourceInfo, sizes: list[tuple[int, int]], limits: Limits
) -> _Motion | None:
    """The cost of animating, or None when the frames cannot even be counted (a damaged later frame).

    Counting reads only the frames' headers (about 10 ms for a 12 MB GIF), so a GIF of a million frames costs no
    more than its first frame.
    """
    first = 1 if img.info.get("default_image") else 0  # an APNG's default image is not one of its frames
    try:
        count = int(getattr(img, "n_frames", 1)) - first
        canvas = _largest_canvas(img, data, info.format)
    except MemoryError:
        raise
    except Exception:  # any of the many things a plugin raises on a broken frame (see _input_errors)
        return None
    work = max(count * 4 * sum(w * h for w, h in sizes), canvas * _WORK_BYTES_PER_PIXEL["RGBA"])
    decode = count * (canvas + FRAME_COST_PIXELS)
    fits = "WEBP" in limits.variants and work <= limits.max_work_bytes and decode <= limits.animation_decode_pixels
    return _Motion(sizes, range(first, first + count), work, decode, fits)


def _animate(
    img: Image.Image,
    info: SourceInfo,
    stills: list[RenderedImage],
    limits: Limits,
    encoding: _Encoding,
    deadline: float,
    motion: _Motion | None,
    crops: _Crops,
) -> tuple[list[RenderedImage], Animation]:
    """The renditions with each WebP still replaced by the animation (and no AVIF: a browser would pick its still).

    The budget is checked from the frames' headers before any frame is decoded (_motion), and again before each
    frame, from what that frame really is.
    """
    if "WEBP" not in limits.variants:
        return stills, Animation.NO_FORMAT
    if motion is None:
        return stills, Animation.DAMAGED
    if not motion.fits:
        return stills, Animation.OVER_BUDGET
    try:
        frames, durations = _frames(img, info, motion.sizes, motion.frames, limits, deadline)
    except MemoryError:
        raise
    except _OverBudget:
        return stills, Animation.OVER_BUDGET
    except Exception:  # any of the many things a plugin raises on a broken frame (see _input_errors)
        return stills, Animation.DAMAGED
    loop = _plays(img, info)
    # Once per distinct picture: renditions that come out the same size (a small source) share one encode.
    encoded: dict[tuple[tuple[int, int], tuple[int, int, int, int] | None], bytes] = {}

    def animated(r: RenderedImage) -> RenderedImage:
        # Each frame cut by the window the still was cut by: the crop follows the first frame's subject.
        size, box = crops.get(r.name, ((r.width, r.height), None))
        if (size, box) not in encoded:
            held = frames[size] if box is None else [f.crop(box) for f in frames[size]]
            encoded[(size, box)] = _encode_animation(held, durations, loop, encoding, deadline)
        data = encoded[(size, box)]
        return replace(r, data=data, frames=_frame_count(data))

    return [animated(r) if r.format == "WEBP" else r for r in stills if r.format != "AVIF"], Animation.KEPT


def _plays(img: Image.Image, info: SourceInfo) -> int:
    """WebP's loop count for the source's animation: how many times it plays, 0 for forever.

    A GIF's NETSCAPE count is repetitions after the first play (Chromium's decoder reports it as its
    repetitionCount; tests/unit/test_browser_parity.py): loop 3 plays four times. APNG and WebP count plays.
    A GIF without the block plays once.
    """
    loop = int(img.info.get("loop", 1))
    if info.format == "GIF" and loop > 0 and "loop" in img.info:
        return min(loop + 1, 0xFFFF)
    return loop


def _largest_canvas(img: Image.Image, data: bytes, fmt: str) -> int:
    """The most pixels a frame will be decoded on: a GIF frame past the screen grows Pillow's canvas to hold it."""
    width, height = img.size
    if fmt == "GIF":
        for _, _, right, bottom in frame_rects(data):
            width, height = max(width, right), max(height, bottom)
    return width * height


def _frame_count(webp: bytes) -> int:
    """The frames an encoded animation really holds: libwebp merges frames that do not change."""
    with Image.open(io.BytesIO(webp), formats=["WEBP"]) as im:
        return int(getattr(im, "n_frames", 1))


def _frames(
    img: Image.Image,
    info: SourceInfo,
    sizes: list[tuple[int, int]],
    indexes: range,
    limits: Limits,
    deadline: float,
) -> tuple[dict[tuple[int, int], list[Image.Image]], list[int]]:
    """Every frame, upright, in sRGB and at every size (cascaded, as the stills are), with its duration in ms.

    Before each frame is decoded: the canvas it will be decoded on must fit the work budget (a GIF frame past the
    logical screen grows Pillow's canvas), the pixels decoded so far the decode budget, and the clock the deadline.
    What lies outside the screen is then clipped, as browsers do.
    """
    frames: dict[tuple[int, int], list[Image.Image]] = {size: [] for size in sizes}
    durations: list[int] = []
    screen = img.size
    to_srgb = _srgb_transform(img.info.get("icc_profile"), "RGBA")
    decoded = 0
    for index in indexes:
        img.seek(index)  # reads this frame's header (and finishes the one before)
        decoded += img.width * img.height + FRAME_COST_PIXELS
        if (
            img.width * img.height * _WORK_BYTES_PER_PIXEL["RGBA"] > limits.max_work_bytes
            or decoded > limits.animation_decode_pixels
            or time.monotonic() > deadline
        ):
            raise _OverBudget
        ms = int(img.info.get("duration") or 0)
        durations.append(ms if ms >= _MIN_FRAME_MS else _SLOW_FRAME_MS)
        current = img.convert("RGBA")
        if current.size != screen:
            current = current.crop((0, 0, *screen))
        current = _upright(current, info)
        for i, size in enumerate(sizes):
            current = _resized(current, size)
            if i == 0 and to_srgb is not None:  # once per frame, at the largest size; the cascade inherits it
                current = ImageCms.applyTransform(current, to_srgb) or current
            frames[size].append(current)
    return frames, durations


def _srgb_transform(icc: bytes | None, mode: str) -> ImageCms.ImageCmsTransform | None:
    """The transform from this profile to sRGB, built once for every frame (None: no usable profile)."""
    if not icc:
        return None
    try:
        return ImageCms.buildTransform(ImageCms.ImageCmsProfile(io.BytesIO(icc)), _SRGB, mode, mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None


def _encode_animation(
    frames: list[Image.Image], durations: list[int], loop: int, encoding: _Encoding, deadline: float
) -> bytes:
    """One size's animated WebP, by the rules of a still WebP of that size (quality, the source's byte budget)."""
    first = frames[0]
    first.info = {}  # nothing of the source's metadata (see _save)

    def save(quality: int | None) -> bytes:
        buf = io.BytesIO()
        lossy: dict[str, object] = {"quality": quality} if quality is not None else {"lossless": True}
        first.save(
            buf,
            format="WEBP",
            save_all=True,
            append_images=frames[1:],
            duration=durations,
            loop=loop,
            method=WEBP_METHOD,
            **lossy,
        )
        return buf.getvalue()

    quality = encoding.quality("WEBP", first.size, animated=True)
    return encoding.within_budget(save, quality, lambda: save(None), deadline)
