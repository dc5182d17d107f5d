"""The output formats, in one table: settings, events, imaging, the API (hence the page), the e2e checks and
terraform's validation (held to it by tests/terraform/test_static.py) all read it. A new format is one entry here,
its encoder settings in imaging.py, and the word in terraform's validation."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OutputFormat:
    """One format a rendition may be written in."""

    name: str  # Pillow's name, and the record's
    content_type: str
    extension: str
    setting: str = ""  # its word in FORMATS / DEFER_FORMATS; a fallback is chosen by the source, not named
    deferrable: bool = False  # may be made later, from the variants queue (DEFER_FORMATS)
    animates: bool = False  # carries an animation (an animated source gets only the formats that do)


# What every browser shows: JPEG, or PNG where there is alpha (or the source was a GIF or PNG).
FALLBACKS = (
    OutputFormat("JPEG", "image/jpeg", ".jpg"),
    OutputFormat("PNG", "image/png", ".png"),
)
# The modern formats, best first: the order of a <picture>'s <source>s (a browser takes the first it can show).
# AVIF may be deferred: written in line it takes a 12 MP image past half the reference handler's time.
VARIANTS = (
    OutputFormat("AVIF", "image/avif", ".avif", setting="avif", deferrable=True),
    OutputFormat("WEBP", "image/webp", ".webp", setting="webp", animates=True),
)
BY_NAME = {f.name: f for f in (*FALLBACKS, *VARIANTS)}
BY_SETTING = {f.setting: f for f in VARIANTS}
VARIANT_NAMES = frozenset(f.name for f in VARIANTS)
FALLBACK_WORD = "fallback"


def picture_rank(name: str, fallback: str) -> int:
    """Where a rendition in this format goes among its size's: the fallback first (a still WebP's is WebP), then
    the variants, best first."""
    best_first = [f.name for f in VARIANTS]
    return 0 if name == fallback or name not in VARIANT_NAMES else 1 + best_first.index(name)


def animates(name: str) -> bool:
    """Whether a rendition in this format carries an animated source's frames (the others get its first frame)."""
    return name in BY_NAME and BY_NAME[name].animates
