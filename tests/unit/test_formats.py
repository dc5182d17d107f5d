"""The format table (pipeline/formats.py) is true of Pillow: each entry encodes, reads back as itself, and its
content type and extension are the ones Pillow and browsers use."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from pipeline import formats, imaging
from pipeline.settings import Settings


@pytest.mark.parametrize("fmt", list(formats.BY_NAME.values()), ids=lambda f: f.name)
def test_each_format_encodes_and_reads_back_as_itself(fmt: formats.OutputFormat) -> None:
    encoding = imaging._Encoding.of(imaging.Limits(), None, 0)
    data = imaging._encode(Image.new("RGB", (16, 8), (200, 30, 30)), fmt.name, encoding)
    with Image.open(io.BytesIO(data)) as im:
        assert (im.format, im.size) == (fmt.name, (16, 8))
    assert Image.MIME[fmt.name] == fmt.content_type
    assert Image.registered_extensions()[fmt.extension] == fmt.name


def test_every_variant_is_a_word_of_the_settings_and_only_deferrable_ones_defer() -> None:
    words = ",".join(["fallback", *formats.BY_SETTING])
    every = Settings.from_env({"FORMATS": words, "DEFER_FORMATS": ""}).imaging.variants
    assert sorted(every) == sorted(formats.VARIANT_NAMES)
    for word, fmt in formats.BY_SETTING.items():
        if fmt.deferrable:
            assert Settings.from_env({"FORMATS": words, "DEFER_FORMATS": word}).imaging.deferred == (fmt.name,)
        else:
            with pytest.raises(ValueError, match="cannot be deferred"):
                Settings.from_env({"FORMATS": words, "DEFER_FORMATS": word})


def test_the_picture_order_puts_the_fallbacks_first_and_the_variants_best_first() -> None:
    for fallback in formats.FALLBACKS:
        ranks = [formats.picture_rank(f.name, fallback.name) for f in (fallback, *formats.VARIANTS)]
        assert ranks == sorted(ranks) and ranks[0] == 0
        assert len(set(ranks[1:])) == len(formats.VARIANTS) and 0 not in ranks[1:]
    # A still WebP's fallback is WebP itself: first, before the better AVIF.
    assert formats.picture_rank("WEBP", "WEBP") < formats.picture_rank("AVIF", "WEBP")
