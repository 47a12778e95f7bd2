"""The interactive HTML page: self-contained, and working in a real browser.

The browser tests run Debian's headless `chromium` (`make setup` installs it)
on the saved page: the page's test hook (`#test-click=PATH`, `#test-search=TEXT`)
clicks a box or searches once loaded and writes its state into the DOM, which
`--dump-dom` prints; `--screenshot` saves a picture into the test's temporary
directory. Without chromium these tests are skipped, saying why.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html import unescape
from pathlib import Path

import pytest

import archlang
from archlang.backends.diagram.html import collect_states

SPECS = Path(__file__).resolve().parents[1] / "specs"
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
                None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="headless chromium is not installed "
                                    "(apt-get install chromium, or make setup); the HTML page is not browser-tested")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    path = tmp_path_factory.mktemp("html") / "resnet50.html"
    archlang.load(SPECS / "resnet50.arch").render().save(path)
    return path


def chromium(tmp_path: Path, url: str, *args: str) -> str:
    profile = tmp_path / "profile"
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--hide-scrollbars", f"--user-data-dir={profile}",
               "--virtual-time-budget=20000",  # the page inflates its data asynchronously: let it finish
               *args, url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def page_state(dom: str) -> dict:
    match = re.search(r'<pre id="archlang-state"[^>]*>(.*?)</pre>', dom, re.S)
    assert match, "the page did not report its state"
    return json.loads(unescape(match.group(1)))


def test_the_page_is_self_contained(page):
    text = page.read_text(encoding="utf-8")
    assert "<script src" not in text and "<link" not in text and "@import" not in text
    urls = set(re.findall(r"https?://[^\s\"'<>)\\]+", text))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}, urls


def test_the_page_holds_the_views_a_click_leads_to():
    diagram = archlang.load(SPECS / "resnet50.arch").render()
    states = collect_states(diagram)
    keys = [(o.expand, o.collapse) for o, _ in states]
    assert keys[0] == ((), ()) and ((("layer3",), ()) in keys)
    assert len(keys) == len(set(keys)) <= 64
    small = collect_states(archlang.load(SPECS / "lenet5.arch").render())
    assert len(small) == 1  # nothing to open


@needs_chromium
def test_clicking_a_box_expands_it_and_clicking_its_cluster_closes_it(page, tmp_path):
    state = page_state(chromium(tmp_path, page.as_uri() + "#test-click=layer2", "--dump-dom"))
    assert state["expand"] == ["layer2"] and state["clusters"] == ["c:layer2"]
    assert "p:layer2.bottleneck1" in state["boxes"] and "p:layer2" not in state["boxes"]
    assert "p:layer3" in state["boxes"]  # the rest stays collapsed
    closed = page_state(chromium(tmp_path, page.as_uri() + "#test-click=layer2,layer2", "--dump-dom"))
    assert closed["collapse"] == ["layer2"] and "p:layer2" in closed["boxes"] and not closed["clusters"]
    shot = tmp_path / "expanded.png"
    chromium(tmp_path, page.as_uri() + "#test-click=layer2", "--screenshot=" + str(shot), "--window-size=1100,900")
    assert shot.read_bytes()[:4] == b"\x89PNG" and shot.stat().st_size > 10_000


@needs_chromium
def test_searching_a_layer_shows_and_highlights_it(page, tmp_path):
    state = page_state(chromium(tmp_path, page.as_uri() + "#test-search=layer4.bottleneck1.skip", "--dump-dom"))
    assert state["found"] == "layer4.bottleneck1.skip"
    assert state["expand"] == ["layer4.bottleneck1"] and "p:layer4.bottleneck1.skip" in state["boxes"]
    missing = page_state(chromium(tmp_path, page.as_uri() + "#test-search=nothing-like-this", "--dump-dom"))
    assert missing["found"] is None and "no layer" in missing["note"]


def page_data(html: str) -> dict:
    """The page's embedded data (gzip, base64), decoded."""
    import base64
    import gzip

    payload = re.search(r'<script[^>]*id="archlang-data"[^>]*>(.*?)</script>', html, re.S).group(1)
    return json.loads(gzip.decompress(base64.b64decode(payload)))


def test_googlenet_page_is_small_and_carries_the_legend_and_edge_shapes(tmp_path):
    path = archlang.load(SPECS / "googlenet.arch").render().save(tmp_path / "googlenet.html")
    html = path.read_text(encoding="utf-8")
    assert len(html.encode("utf-8")) <= 1_000_000
    data = page_data(html)
    first = data["states"][0]["svg"]
    assert 'id="legend"' in first and 'id="u:B"' in first  # basic_conv and inception, opened
    assert "n0&#45;&gt;n1" not in first and "<title>" not in first  # no graphviz ids on hover
    assert 'xlink:title="3×224×224"' in first  # an edge says its tensor shape


@needs_chromium
def test_the_page_opens_fitted_to_the_window(tmp_path):
    path = archlang.load(SPECS / "googlenet.arch").render().save(tmp_path / "googlenet.html")
    state = page_state(chromium(tmp_path, path.as_uri() + "#test-search=nothing", "--dump-dom",
                                "--window-size=1100,900"))
    assert state["fits"] and state["scale"] < 1


HOSTILE_TEXT = ["<!--<script>", "</script><script>document.title='pwned'</script>", "]]><!--", "&lt;&amp;",
                "\u2028\u2029", "<svg onload=document.title='pwned'>"]


def test_embedded_data_is_safe_in_the_script_data_context():
    from archlang.backends.diagram.html import script_json

    for text in HOSTILE_TEXT:
        payload = script_json({"name": text})
        assert not any(c in payload for c in "<>&\u2028\u2029")
        assert json.loads(payload) == {"name": text}


@needs_chromium
def test_hostile_names_and_strings_leave_the_page_working(tmp_path):
    # Strings reach the page through block calls (box titles, search) and the file name
    # (the command line shown); each must stay text, and the page must still work.
    calls = "\n".join(f"    -> stage{i}: unit({json.dumps(t)})" for i, t in enumerate(HOSTILE_TEXT))
    spec = f"block unit(tag) = conv(4) -> relu\nnetwork N:\n    input(3, 8, 8)\n{calls}\n"
    source = tmp_path / "x<!--<script>&.arch"
    source.write_text(spec.replace("\u2028", " ").replace("\u2029", " "), encoding="utf-8")
    page = tmp_path / "hostile.html"
    archlang.load(source).render().save(page)
    dom = chromium(tmp_path, page.as_uri() + "#test-click=stage1", "--dump-dom")
    state = page_state(dom)
    assert state["expand"] == ["stage1"] and "p:stage1.conv1" in state["boxes"]
    assert "pwned" not in dom.split("<body")[0]  # the title was never rewritten
    searched = page_state(chromium(tmp_path, page.as_uri() + "#test-search=stage0", "--dump-dom"))
    assert searched["found"] == "stage0"
