"""The web page in a real headless Chromium: pick images, upload them to S3, watch them end, see renditions."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from pipeline.local.api_server import make_server
from pipeline.local.emulator import free_port
from pipeline.settings import parse_renditions, resolve_formats
from pipeline.wiring import build_api
from tests.conftest import ROOT, StackFixture
from tests.e2e.helpers import running_worker

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
OUT = ROOT / "test-output"
# Flags for a headless Chromium on a closed network (no background calls home) running as root.
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def served(fresh_stack: StackFixture) -> Iterator[tuple[str, object]]:
    settings, clients, _ = fresh_stack
    server = make_server(build_api(settings, clients), "127.0.0.1", free_port())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    try:
        with running_worker(settings, clients):
            yield f"http://127.0.0.1:{server.server_address[1]}/", settings
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.mark.stack(visibility_timeout_s=30, variants=("WEBP", "AVIF"))
def test_upload_in_the_browser_and_see_renditions_and_failures(served: tuple[str, object], tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (.ci/run installs Debian's chromium; or set CHROMIUM_PATH)")
    from playwright.sync_api import sync_playwright

    url, _settings = served
    bad = tmp_path / "not-really.png"
    bad.write_bytes(b"this is text with an image name")
    OUT.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            # What the browser saw, for the failure message: console lines and requests that failed or were refused.
            seen: list[str] = []
            page.on("console", lambda m: seen.append(f"console {m.type}: {m.text}"))
            page.on("requestfailed", lambda r: seen.append(f"failed {r.method} {r.url[:120]}: {r.failure}"))

            def bad_response(r: Any) -> None:
                if r.status >= 400:
                    seen.append(f"{r.status} {r.request.method} {r.url[:120]}")

            page.on("response", bad_response)
            page.goto(url)
            assert page.title() == "imgpipe"
            # WHEN a photo and a bad file are picked
            page.set_input_files(
                "#files", [str(ROOT / "samples" / "photo.jpg"), str(ROOT / "samples" / "alpha.png"), str(bad)]
            )
            # THEN the photo ends processed with its three renditions shown, and the bad one failed with a reason
            try:
                page.wait_for_selector(".card[data-status=processed] img.rendition.thumb", timeout=60_000)
            except Exception as e:
                cards = page.locator(".card").all_inner_texts()
                raise AssertionError(f"no processed card: {cards}\n" + "\n".join(seen[-20:])) from e
            page.wait_for_function(
                "document.querySelectorAll('.card[data-status=processed]').length === 2", timeout=60_000
            )
            page.wait_for_selector(".card[data-status=failed] .error", timeout=60_000)
            page.wait_for_function(
                "[...document.querySelectorAll('img.rendition')].every(i => i.complete && i.naturalWidth > 0)",
                timeout=30_000,
            )
            photo = page.locator(".card", has_text="photo.jpg")
            sizes = photo.locator("img.rendition").evaluate_all(
                "imgs => imgs.map(i => [i.naturalWidth, i.naturalHeight])"
            )
            assert sizes == [[800, 600], [400, 300], [150, 113]]
            # and each <picture> made the browser load the AVIF source (Chromium takes AVIF), not the fallback
            loaded = photo.locator("img.rendition").evaluate_all("imgs => imgs.map(i => i.currentSrc)")
            assert len(loaded) == 3 and all(".jpg.avif" in u for u in loaded), loaded
            types = photo.locator("picture").first.evaluate("p => [...p.querySelectorAll('source')].map(s => s.type)")
            assert types == ["image/avif", "image/webp"], types
            # and the placeholder was painted behind each image: the decoded ThumbHash over the dominant colour
            painted = photo.locator("img.rendition").evaluate_all(
                "imgs => imgs.map(i => [i.style.backgroundImage.slice(0, 27), i.style.backgroundColor])"
            )
            assert all(bg == 'url("data:image/png;base64,' and colour.startswith("rgb") for bg, colour in painted), (
                painted
            )
            assert "unsupported_format" in page.locator(".card[data-status=failed] .error").inner_text()
            page.screenshot(path=str(OUT / "web.png"), full_page=True)
            assert not errors, errors
        finally:
            browser.close()
    assert (OUT / "web.png").stat().st_size > 10_000


@contextmanager
def chromium_page(url: str) -> Iterator[tuple[Any, list[str]]]:
    """A headless Chromium page at url, and the page errors it reports (skips where there is no Chromium)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (.ci/run installs Debian's chromium; or set CHROMIUM_PATH)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url)
            yield page, errors
        finally:
            browser.close()


@pytest.mark.stack(visibility_timeout_s=30, variants=("WEBP", "AVIF"), deferred=("AVIF",), defer_delay_s=1)
def test_the_page_waits_for_the_deferred_avif_and_a_reload_shows_recent_images(served: tuple[str, object]) -> None:
    # The page once stopped at the first `processed` and never showed the AVIF made later; a reload cleared it.
    url, _settings = served
    with chromium_page(url) as (page, errors):
        page.set_input_files("#files", [str(ROOT / "samples" / "photo.jpg")])
        # THEN the card ends complete, with an AVIF source in every <picture>, loaded by the browser
        page.wait_for_selector(".card[data-complete=yes]", timeout=90_000)
        card = page.locator(".card", has_text="photo.jpg")
        types = card.locator("picture").evaluate_all(
            "ps => ps.map(p => [...p.querySelectorAll('source')].map(s => s.type).join(','))"
        )
        assert types == ["image/avif,image/webp"] * 3, types
        assert "coming" not in card.locator(".meta").inner_text()
        # AND after a reload the image is listed again, complete, without uploading anything
        page.reload()
        page.wait_for_selector(".card[data-complete=yes]", timeout=30_000)
        assert page.locator(".card", has_text="photo.jpg").count() == 1
        loaded = page.locator("img.rendition").evaluate_all("imgs => imgs.map(i => i.currentSrc)")
        assert len(loaded) == 3 and all(".avif" in u for u in loaded), loaded
        assert not errors, errors


_CHEAP_SIZES, _CHEAP_FORMATS = resolve_formats(
    parse_renditions("large:800x600:fallback+webp,medium:400x300:webp,thumb:150x150:crop:webp"), ("WEBP",)
)


@pytest.mark.stack(visibility_timeout_s=30, renditions=_CHEAP_SIZES, variants=_CHEAP_FORMATS, deferred=())
def test_a_size_without_a_fallback_shows_its_webp_over_the_largest_fallback(served: tuple[str, object]) -> None:
    # RENDITIONS `thumb:150x150:webp`: the page once took each size's first file for its <img>, so a size written
    # in WebP alone would have had no <source> and the WebP as the fallback every browser must show.
    url, _settings = served
    with chromium_page(url) as (page, errors):
        page.set_input_files("#files", [str(ROOT / "samples" / "photo.jpg")])
        page.wait_for_selector(".card[data-complete=yes]", timeout=90_000)
        page.wait_for_function(
            "[...document.querySelectorAll('img.rendition')].every(i => i.complete && i.naturalWidth > 0)",
            timeout=30_000,
        )
        pictures = page.locator("picture").evaluate_all(
            "ps => ps.map(p => [[...p.querySelectorAll('source')].map(s => s.type).join(','),"
            " p.querySelector('img').getAttribute('src'), p.querySelector('img').currentSrc,"
            " +p.querySelector('img').getAttribute('width'), +p.querySelector('img').getAttribute('height')])"
        )
        _, medium, thumb = pictures
        # THEN every <img> falls back to the large JPEG, and the smaller sizes offer their WebP as a <source>
        assert all(p[1].split("?")[0].endswith("photo.jpg.jpg") and "/large.v/" in p[1] for p in pictures), pictures
        assert [p[0] for p in pictures] == ["image/webp"] * 3, pictures
        # AND Chromium loaded each size's own WebP, shown at that size's dimensions
        assert all(".webp" in p[2] for p in pictures), pictures
        assert "/medium.v/" in medium[2] and "/thumb.v/" in thumb[2], pictures
        assert [(p[3], p[4]) for p in pictures] == [(800, 600), (400, 300), (150, 150)]
        assert not errors, errors
