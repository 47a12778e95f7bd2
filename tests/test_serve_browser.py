"""The playground in a real browser: Debian's headless Chromium (`make setup`
installs it), driven by Playwright for Python with that executable (no browser
is ever downloaded). Each test types into the editor, clicks, and reads what
the page shows, checking the figures against `archlang.load` of the same text.
Waits are for conditions, with bounded polling; screenshots go to the test's
temporary directory. Every request the page makes must stay on the server.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

import archlang
from serve_helpers import ROOT, Served

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install '.[dev]')")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="headless chromium is not installed (apt-get install "
                                "chromium, or make setup); the playground is not browser-tested")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars"]
PATTERN = (ROOT / "specs" / "pattern.arch").read_text()
RESNET50 = (ROOT / "specs" / "resnet50.arch").read_text().replace('"resnet.arch"',
                                                                 f'"{ROOT / "specs" / "resnet.arch"}"')


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


class Page:
    """A playground tab: what it requested, the dialogs it tried to open, and polling helpers."""

    def __init__(self, browser, served: Served, shots: Path):
        self.served, self.shots = served, shots
        self.context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
        self.page = self.context.new_page()
        self.requests, self.dialogs, self.errors = [], [], []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(f"{served.url}/?token={served.token}")
        self.until(lambda: self.updates() >= 1)

    def js(self, expression: str):
        return self.page.evaluate(expression)  # the test's own script, not the page's (the page forbids eval)

    def updates(self) -> int:
        return int(self.js("document.body.dataset.updates") or 0)

    def until(self, condition, tries: int = 600, what: str = "the page to get there"):
        for _ in range(tries):  # bounded: 600 polls of 50 ms
            if condition():
                return
            time.sleep(0.05)
        self.shot("timeout")
        raise AssertionError(f"waited in vain for {what}")

    def after_edit(self, before: int) -> None:
        """Wait for the update that follows an edit made after `before` updates, and for the page to go quiet."""
        self.until(lambda: self.updates() > before, what="an update")
        last = -1
        while last != self.updates():  # a burst of keystrokes may bring several updates
            last = self.updates()
            time.sleep(0.3)

    def text(self, selector: str) -> str:
        return self.page.locator(selector).inner_text()

    def editor_text(self) -> str:
        """The editor's lines as the page shows them (the specs here are short: every line is drawn)."""
        return self.js("Array.from(document.querySelectorAll('.cm-line'), l => l.textContent).join('\\n')")

    def end_of_line(self, containing: str) -> None:
        self.page.locator(".cm-line", has_text=containing).first.click()
        self.page.keyboard.press("End")

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def close(self) -> None:
        self.context.close()
        foreign = [u for u in self.requests if not u.startswith((self.served.url + "/", "data:", "blob:"))]
        assert foreign == [], "the page made requests away from its server"
        assert self.errors == [], self.errors


@pytest.fixture
def pattern_file(tmp_path):
    path = tmp_path / "pattern.arch"
    path.write_text(PATTERN)
    return path


@pytest.fixture
def tab(browser, pattern_file, tmp_path):
    with Served(file=str(pattern_file)) as served:
        page = Page(browser, served, tmp_path)
        yield page
        page.close()


def totals_params(page: Page) -> int:
    return int(page.text("#totals").split(" params")[0].split("·")[-1].strip().replace(",", ""))


def test_typing_changes_the_parameter_count(tab, pattern_file):
    assert totals_params(tab) == archlang.load(pattern_file).params
    before = tab.updates()
    tab.end_of_line("network Pattern")
    for _ in range(2):
        tab.page.keyboard.press("ArrowLeft")
    tab.page.keyboard.press("Backspace")
    tab.page.keyboard.press("Backspace")
    tab.page.keyboard.type("99")
    tab.after_edit(before)
    text = tab.editor_text()
    assert "classes = 99" in text
    assert totals_params(tab) == archlang.load(text).params != archlang.load(pattern_file).params
    assert "params" in tab.text("#diff") and "→" in tab.text("#diff")
    tab.shot("typed")


def test_an_error_is_underlined_explained_and_fixed(tab):
    before = tab.updates()
    tab.end_of_line("-> FC(classes)")
    tab.page.keyboard.type(" -> cnov(4)")
    tab.after_edit(before)
    assert tab.js("document.body.dataset.state") == "error"
    squiggle = tab.page.locator(".cm-lintRange-error")
    assert squiggle.count() == 1 and squiggle.inner_text() == "cnov"
    assert tab.js("document.querySelector('#canvas svg') !== null")  # the last good picture stays
    assert "E201" in tab.text("#banner-head") and "unknown layer or block" in tab.text("#status")
    squiggle.hover()
    tooltip = tab.page.locator(".cm-tooltip-lint")
    tooltip.wait_for(timeout=10_000)
    assert "unknown layer or block `cnov`" in tooltip.inner_text() and "did you mean `conv`" in tooltip.inner_text()
    assert tooltip.locator("a").get_attribute("href") == "/errors#E201"
    tab.shot("error")
    status, _, body = tab.served.request("GET", "/errors")
    assert status == 200 and b'<h2 id="E201">' in body
    before = tab.updates()
    for _ in range(len(" -> cnov(4)")):
        tab.page.keyboard.press("Backspace")
    tab.after_edit(before)
    assert tab.js("document.body.dataset.state") == "ok" and squiggle.count() == 0
    assert tab.page.locator("#banner").is_hidden()


def test_the_set_controls_change_everything(tab, pattern_file):
    before = tab.updates()
    tab.page.locator('input[data-name="width"]').fill("16")
    tab.after_edit(before)
    assert totals_params(tab) == archlang.load(pattern_file, width=16).params
    width = tab.page.locator("label.control", has=tab.page.locator('input[data-name="width"]'))
    assert "set" in width.get_attribute("class")
    before = tab.updates()
    tab.page.locator('input[data-name="pool"]').uncheck()
    tab.after_edit(before)
    assert totals_params(tab) == archlang.load(pattern_file, width=16, pool=False).params
    before = tab.updates()
    tab.page.locator("#input-shape").fill("3x64x64")
    tab.after_edit(before)
    expected = archlang.load(pattern_file, width=16, pool=False, input_shape="3x64x64")
    assert totals_params(tab) == expected.params and "3×64×64 → 10" in tab.text("#totals")
    before = tab.updates()
    tab.page.locator('input[data-name="width"]').fill("wide")
    tab.after_edit(before)
    assert "E309" in tab.text("#status")
    bad = tab.page.locator("label.control.bad")
    assert bad.count() == 1 and bad.inner_text().strip() == "width"
    tab.shot("controls")


def test_clicking_boxes_opens_and_closes_them(browser, tmp_path):
    path = tmp_path / "resnet50.arch"
    path.write_text(RESNET50)
    with Served(file=str(path)) as served:
        tab = Page(browser, served, tmp_path)
        before = tab.updates()
        tab.page.locator('[id="p:layer3"]').click()
        tab.after_edit(before)
        assert tab.page.locator('[id="c:layer3"]').count() == 1 and tab.page.locator('[id="p:layer3"]').count() == 0
        tab.shot("expanded")
        before = tab.updates()
        tab.page.locator('[id="t:layer3"] text').first.click()  # the cluster's title
        tab.after_edit(before)
        assert tab.page.locator('[id="p:layer3"]').count() == 1
        before = tab.updates()
        tab.page.locator("#views button[data-view=layers]").click()
        tab.after_edit(before)
        assert tab.page.locator("g.cluster").count() >= 4 + 16  # the stages and their units
        before = tab.updates()
        tab.page.locator("#collapse-all").click()
        tab.after_edit(before)
        assert tab.page.locator("g.cluster[id^=\"c:\"]").count() == 0  # (the legend panel stays)
        tab.page.locator('tr[data-path="layer3"] button.toggle').click()
        assert tab.page.locator('tr[data-path^="layer3."]').count() >= 2  # its rows, folded
        tab.page.locator('tr[data-path="layer2"] td.name').click()  # a row shows its box
        assert tab.page.locator('[id="p:layer2"].found').count() == 1
        before = tab.updates()
        tab.page.locator("#network").select_option("ResNet")
        tab.after_edit(before)
        assert tab.text("#totals").startswith("ResNet ") and 'value="50"' in tab.page.locator(
            'input[data-name="depth"]').evaluate("e => `value=\"${e.value}\"`")
        tab.close()


def test_the_page_follows_the_file_on_disk_and_never_drops_unsaved_edits(tab, pattern_file):
    before = tab.updates()
    pattern_file.write_text(PATTERN.replace("width = 32", "width = 48"))
    tab.after_edit(before)
    assert "width = 48" in tab.text(".cm-content") and totals_params(tab) == archlang.load(pattern_file).params
    tab.end_of_line("-> FC(classes)")
    tab.page.keyboard.type("  # mine")
    pattern_file.write_text(PATTERN.replace("width = 32", "width = 40"))
    tab.until(lambda: tab.page.locator("#conflict").is_visible(), what="the conflict bar")
    assert "changed on disk" in tab.text("#conflict-text") and "# mine" in tab.text(".cm-content")
    tab.shot("conflict")
    tab.page.locator("#conflict-keep").click()
    tab.page.keyboard.press("Control+s")
    tab.until(lambda: tab.page.locator("#conflict").is_visible(), what="the refused save")
    assert "width = 40" in pattern_file.read_text()  # nothing overwritten without asking
    tab.page.locator("#conflict-keep").click()  # now: "Overwrite it with mine"
    tab.until(lambda: "# mine" in pattern_file.read_text(), what="the overwrite")
    assert pattern_file.read_text() == tab.editor_text()


def test_saving_from_the_page_writes_the_file(tab, pattern_file):
    tab.end_of_line("-> FC(classes)")
    tab.page.keyboard.type("  # saved from the page")
    assert tab.page.locator("#dirty").is_visible()
    tab.page.locator("#save").click()
    tab.until(lambda: tab.js("document.body.dataset.saved || ''") != "", what="the save")
    assert pattern_file.read_text().splitlines()[-1].endswith("# saved from the page")
    assert tab.page.locator("#dirty").is_hidden()


def test_hostile_names_and_strings_are_shown_as_text(browser, tmp_path):
    evil = '<img src=x onerror=alert(1)>'
    path = tmp_path / f"{evil}.arch"
    path.write_text(f'network N(note = "{evil}", act = "</script><script>alert(2)</script>"):\n'
                    f'    input(3, 8, 8) -> conv(4) -> gelu(approximate = "<b onmouseover=alert(3)>x</b>")\n')
    with Served(file=str(path)) as served:
        tab = Page(browser, served, tmp_path)
        assert tab.text("#docname") == path.name and tab.page.title().startswith(path.name)
        assert "E301" in tab.text("#status") and "<b onmouseover=alert(3)>" in tab.text("#banner-text")
        assert tab.page.locator('input[data-name="note"]').input_value() == evil
        tab.page.locator(".cm-lintRange-error").hover()
        tab.page.locator(".cm-tooltip-lint").wait_for(timeout=10_000)
        assert tab.js("document.querySelectorAll('img, b[onmouseover], [onerror]').length") == 0
        assert tab.js("document.scripts.length") == 2  # the page's own: its data and app.js
        assert tab.dialogs == []
        tab.close()


def test_scratch_mode_offers_the_zoo(browser, tmp_path):
    with Served() as served:
        tab = Page(browser, served, tmp_path)
        assert totals_params(tab) == archlang.load(ROOT / "specs" / "pattern.arch").params
        before = tab.updates()
        tab.page.locator("#examples").select_option("zoo:resnet50.arch")
        tab.after_edit(before)
        assert totals_params(tab) == 25_557_032  # its import resolved in the zoo's folder
        with tab.page.expect_download() as download:
            tab.page.locator('#downloads button[data-format="svg"]').click()
        assert download.value.suggested_filename == "resnet50.svg"
        assert b"<svg" in Path(download.value.path()).read_bytes()
        tab.shot("zoo")
        tab.close()
