"""The CDN's viewer-request function (terraform/cdn/negotiate.js), run by node as CloudFront would run it: the
format each current browser gets from a size's one URL, and that the URL the API hands out always leads to one of
the record's own objects."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.adapters.edge import edge_path
from pipeline.domain import Kind, StoredRendition, Version, rendition_key
from pipeline.formats import BY_NAME
from pipeline.http_api import size_paths
from tests.terraform.tf import ROOT

FUNCTION = ROOT / "terraform" / "cdn" / "negotiate.js"
# Loads the function in a fresh context (as CloudFront does: no module system) and answers each case on stdin.
RUNNER = """
const fs = require("fs"), vm = require("vm");
const handler = vm.runInNewContext(fs.readFileSync(process.argv[1], "utf8") + "\\n;handler");
const cases = JSON.parse(fs.readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(cases.map((e) => handler(e))));
"""

# The Accept header each browser sends for an <img> (and Chrome's for a page it opens directly).
CHROME = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
FIREFOX = "image/avif,image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"
SAFARI_17 = (
    "image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,image/png,image/svg+xml,"
    "image/*;q=0.8,*/*;q=0.5"
)
SAFARI_15 = "image/webp,image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5"
CHROME_PAGE = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,"
    "application/signed-exchange;v=b3;q=0.7"
)
IE_11 = "image/png, image/svg+xml, image/*;q=0.8, */*;q=0.5"
CURL = "*/*"


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("the CDN function's tests need node: install Node.js 18 or later")
    return node


def run(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The function's answer to each viewer request."""
    done = subprocess.run(
        [_node(), "-e", RUNNER, str(FUNCTION)],
        input=json.dumps(events),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answers: list[dict[str, Any]] = json.loads(done.stdout)
    return answers


def viewer(uri: str, formats: str | None, accept: str | None) -> dict[str, Any]:
    """A viewer-request event as CloudFront gives it (headers lower-cased, query values as objects)."""
    query = {"formats": {"value": formats}} if formats is not None else {}
    headers = {"accept": {"value": accept}} if accept is not None else {}
    return {"version": "1.0", "request": {"method": "GET", "uri": uri, "querystring": query, "headers": headers}}


BASE = "/large.v/0123456789abcdef/web/x/photo.jpg"


@pytest.mark.parametrize(
    ("accept", "formats", "chosen"),
    [
        (CHROME, "jpg,webp,avif", "avif"),
        (FIREFOX, "jpg,webp,avif", "avif"),
        (SAFARI_17, "jpg,webp,avif", "avif"),  # lists WebP first, shows AVIF: the smaller wins
        (SAFARI_15, "jpg,webp,avif", "webp"),
        (CHROME_PAGE, "jpg,webp,avif", "avif"),
        (IE_11, "jpg,webp,avif", "jpg"),  # image/* says nothing about AVIF or WebP
        (CURL, "jpg,webp,avif", "jpg"),
        (None, "jpg,webp,avif", "jpg"),
        (CHROME, "jpg,webp", "webp"),  # the deferred AVIF is not there yet
        (CHROME, "png,webp", "webp"),
        (IE_11, "png,webp", "png"),
        (CURL, "webp,avif", "webp"),  # a size written without a fallback: its default is WebP
        ("image/avif;q=0,image/webp", "jpg,webp,avif", "webp"),  # refused outright
        ("IMAGE/AVIF", "jpg,avif", "avif"),  # media types are case-insensitive
        ("image/avif;q=0.1, image/webp;q=0.9", "jpg,webp,avif", "avif"),  # any q > 0 shows it; ours is smaller
    ],
)
def test_each_browser_gets_the_best_format_it_shows(accept: str | None, formats: str, chosen: str) -> None:
    [answer] = run([viewer(BASE, formats, accept)])
    assert answer["uri"] == f"{BASE}.{chosen}"
    assert answer["querystring"] == {}  # the cache key is the chosen object's path alone


def test_a_rendition_own_url_and_a_forged_list_pass_through_untouched() -> None:
    own = viewer(f"{BASE}.webp", None, CHROME)
    forged = viewer(BASE, "../../secret,exe", CHROME)
    answers = run([own, forged])
    assert [a["uri"] for a in answers] == [f"{BASE}.webp", BASE]


ACCEPTS = st.one_of(
    st.sampled_from([CHROME, FIREFOX, SAFARI_17, SAFARI_15, CHROME_PAGE, IE_11, CURL, ""]),
    st.lists(
        st.tuples(
            st.sampled_from(["image/avif", "image/webp", "image/png", "image/*", "*/*", "text/html", "IMAGE/WEBP"]),
            st.sampled_from(["", ";q=0", ";q=0.5", ";q=1", ";q=x", "; q=0.8"]),
        ),
        max_size=6,
    ).map(lambda parts: ",".join(t + q for t, q in parts)),
)
SIZES = st.lists(
    st.tuples(st.sampled_from(["large", "medium", "thumb"]), st.sets(st.sampled_from(["WEBP", "AVIF"]))),
    min_size=1,
    max_size=3,
    unique_by=lambda t: t[0],
)


@settings(max_examples=25, deadline=None)
@given(
    fallback=st.sampled_from(["JPEG", "PNG"]),
    sizes=SIZES,
    bare=st.booleans(),
    key=st.sampled_from(["uploads/web/x/photo.jpg", "uploads/a b/ü#?.png", "uploads//d.jpg"]),
    accepts=st.lists(ACCEPTS, min_size=1, max_size=8),
)
def test_the_apis_size_urls_always_lead_to_one_of_the_records_objects(
    fallback: str, sizes: list[tuple[str, set[str]]], bare: bool, key: str, accepts: list[str]
) -> None:
    # Whatever the sizes, formats and browser: the URI the function chooses is the exact path of one of the size's
    # own rendition objects, in a format the browser named (or the size's default), so no URL the API hands out
    # can lead an edge to a key that does not exist or to another size's picture.
    version = Version(Kind.CREATED, "0A".rjust(32, "0"), "e", "")
    renditions: list[StoredRendition] = []
    for i, (name, variants) in enumerate(sizes):
        # The largest keeps the fallback, and a size without it has WebP (settings.resolve_formats refuses else).
        formats = [fallback, *sorted(variants)] if i == 0 or not bare else sorted({"WEBP", *variants})
        for f in formats:
            ext = BY_NAME[f].extension
            renditions.append(
                StoredRendition(name, "out", rendition_key(key, "uploads/", name, ext, version), 1, 1, 1, "i", "e", f)
            )
    paths = size_paths(tuple(renditions))
    assert set(paths) == {name for name, _ in sizes}
    events = []
    for name, path in paths.items():
        uri, _, query = path.partition("?")
        for accept in accepts:
            events.append((name, accept, viewer(uri, query.removeprefix("formats="), accept)))
    answers = run([e for _, _, e in events])
    own = {(r.name, edge_path(r.key)): r.format for r in renditions}
    for (name, accept, _), answer in zip(events, answers, strict=True):
        chosen = own.get((name, answer["uri"]))
        assert chosen is not None, (name, answer["uri"])
        named = accept.lower()
        if chosen == "AVIF":
            assert "image/avif" in named
        if chosen == "WEBP" and any(r.name == name and r.format in ("JPEG", "PNG") for r in renditions):
            assert "image/webp" in named
