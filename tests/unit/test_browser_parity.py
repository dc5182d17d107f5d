"""Animations play in a browser as their sources do: Chromium's own decoder (WebCodecs ImageDecoder) reads the
source and our animated WebP, and must see the same frames, repetitions and colours.

Not our reading of either file: where Pillow and browsers disagree (a GIF's loop count counts repetitions, an APNG's
default image is not shown, a frame past the screen is clipped), the browser is what users see.
"""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.imaging import Limits, render
from pipeline.settings import DEFAULT_RENDITIONS, parse_renditions
from tests.crafted import Frame, animated_webp, apng, gif

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
R = parse_renditions(DEFAULT_RENDITIONS)
# Decodes every frame and reads the colour at points given as fractions of the frame's size.
DECODE = """async ([b64, type, points]) => {
  const data = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
  const decoder = new ImageDecoder({data, type});
  await decoder.tracks.ready; await decoder.completed;
  const track = decoder.tracks.selectedTrack, frames = [];
  for (let i = 0; i < track.frameCount; i++) {
    const {image} = await decoder.decode({frameIndex: i});
    const w = image.displayWidth, h = image.displayHeight, canvas = new OffscreenCanvas(w, h);
    const g = canvas.getContext('2d'); g.drawImage(image, 0, 0); image.close();
    const at = ([fx, fy]) => Array.from(g.getImageData(Math.floor(fx * w), Math.floor(fy * h), 1, 1).data);
    frames.push(points.map(at));
  }
  return {frames: track.frameCount, repetitions: String(track.repetitionCount), colours: frames};
}"""
POINTS = [[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.5, 0.5]]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (.ci/run installs Debian's chromium; or set CHROMIUM_PATH)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = chromium.new_page()
        # ImageDecoder needs a secure context: localhost is one, answered here without any server.
        page.route("http://localhost/", lambda r: r.fulfill(body="<html></html>", content_type="text/html"))
        page.goto("http://localhost/")
        yield page
        chromium.close()


def seen(page: Any, data: bytes, mime: str) -> dict[str, Any]:
    """What Chromium's decoder makes of an image."""
    result: dict[str, Any] = page.evaluate(DECODE, [base64.b64encode(data).decode(), mime, POINTS])
    return result


def full(colour: int) -> Frame:
    return Frame(width=40, height=40, colour=colour)


SOURCES = {
    "gif without a loop block": (gif((40, 40), [full(0), full(1)], loop=None), "image/gif"),
    "gif forever": (gif((40, 40), [full(0), full(1), full(2)], loop=0), "image/gif"),
    "gif loop 1": (gif((40, 40), [full(0), full(1)], loop=1), "image/gif"),
    "gif loop 3": (gif((40, 40), [full(0), full(1)], loop=3), "image/gif"),
    "gif frame off the screen": (gif((40, 40), [full(0), Frame(20, 20, 40, 40, 1)]), "image/gif"),
    "gif first frame past the screen": (gif((20, 20), [Frame(0, 0, 40, 30, 0), Frame(10, 10, 10, 10, 1)]), "image/gif"),
    "apng with a default image": (apng((40, 40), 3, default_image=True, loop=2), "image/png"),
    "apng plays once": (apng((40, 40), 2, default_image=False, loop=1), "image/png"),
    "webp loop 3": (animated_webp((40, 40), 3, loop=3), "image/webp"),
}


@pytest.mark.parametrize("name", list(SOURCES))
def test_the_animated_webp_plays_in_chromium_as_its_source_does(browser: Any, name: str) -> None:
    data, mime = SOURCES[name]
    # GIVEN what Chromium shows of the source
    source = seen(browser, data, mime)
    # WHEN it is rendered
    result = render(data, R, Limits(variants=("WEBP",)))
    webp = next(r for r in result.renditions if r.format == "WEBP")
    ours = seen(browser, webp.data, "image/webp")
    # THEN Chromium shows the same frames, as many times, in the same colours at the same places
    assert (ours["frames"], ours["repetitions"]) == (source["frames"], source["repetitions"])
    assert webp.frames == source["frames"]
    for i, (want, got) in enumerate(zip(source["colours"], ours["colours"], strict=True)):
        for w, g in zip(want, got, strict=True):
            assert all(abs(a - b) <= 24 for a, b in zip(w[:3], g[:3], strict=True)), (i, want, got)
