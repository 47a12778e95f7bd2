"""Writes docs/img/playground.png, the README's picture of `archlang serve`: the ResNet
family spec in the editor, layer3 opened in the diagram and in the table, and the
`depth` control moved from 50 to 101, so that the diff line shows what that changed.

Run from the repository root: python docs/playground_shot.py (`make docs` does);
it needs Debian's chromium and Playwright (`make setup`).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from playwright.sync_api import sync_playwright  # noqa: E402

from serve_helpers import Served  # noqa: E402  (the tests' playground on a free port)

SETTLE = 2.0  # seconds for the page's diff to take the version before an edit as its baseline


def settle(page, updates: int) -> None:
    for _ in range(600):
        if int(page.evaluate("document.body.dataset.updates")) >= updates:
            break
        time.sleep(0.05)
    time.sleep(0.5)


def main(out: Path = ROOT / "docs" / "img" / "playground.png") -> None:
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "resnet.arch"
        shutil.copy(ROOT / "specs" / "resnet.arch", spec)
        with Served(file=str(spec)) as served, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"),
                                        args=["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"])
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(f"{served.url}/?token={served.token}")
            settle(page, 1)
            page.locator('[id="p:layer3"]').click()
            settle(page, 2)
            time.sleep(SETTLE)
            page.locator('input[data-name="depth"]').fill("101")
            settle(page, 3)
            page.locator('tr[data-path="layer3"] button.toggle').click()
            page.locator(".cm-line", has_text="layer3: stage").first.click()
            time.sleep(0.5)
            page.screenshot(path=str(out))
            browser.close()
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
