"""6. The playground (`archlang serve`): from a keystroke to the updated diagram and
table, measured in the browser, and the server's own time per update; the start-up
to the first page.

Keystrokes: `archlang serve FILE` on a copy of the spec with its imports inlined (so
every keystroke re-parses the whole family spec, the worst case of an edit), opened in
Debian's headless Chromium driven by Playwright. Each keystroke changes the network
(`classes = 1000` becomes `10001`, then `1000` again: a new classifier, new totals, a
new picture), so nothing is served from a cache. The page's own clock measures from
the keydown to the frame after the diagram and the table were replaced (the page
marks that moment by counting its updates on <body>). The server's figures are the
worker's timings sent with each answer.

Start-up: a new `archlang serve FILE --no-browser --port 0` process, timed from its
start to the page's HTML received (the printed address, its redirect, then `/`).
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from benchlib import ROOT, BenchError, Config, Goal, Section, child_env, median, table
from sec_summary import archlang_command

KEY = "serve"
TITLE = "6. Playground: keystroke to updated diagram and table (`archlang serve`)"
GOALS = {"resnet50": 150.0, "densenet201": 300.0}  # ms, median, keystroke to updated diagram and table
START_GOAL = 1.0  # seconds to the first page
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars"]
# The page's clock: keydown -> the frame after <body data-updates> changed.
PROBE = """(() => {
  const b = window.__bench = {t0: 0, runs: []};
  document.addEventListener("keydown", () => { b.t0 = performance.now(); }, true);
  new MutationObserver(() => {
    const dom = performance.now() - b.t0;
    requestAnimationFrame(() => setTimeout(() => b.runs.push({dom, frame: performance.now() - b.t0}), 0));
  }).observe(document.body, {attributes: true, attributeFilter: ["data-updates"]});
})()"""


class Server:
    """`archlang serve FILE --no-browser --port 0` in a new process; its address once it prints it."""

    def __init__(self, file: Path):
        self.start = time.perf_counter()
        self.proc = subprocess.Popen([*archlang_command(), "serve", str(file), "--no-browser", "--port", "0"],
                                     cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        for line in self.proc.stdout:
            match = re.search(r"open (http://127\.0\.0\.1:(\d+)/\?token=(\S+))", line)
            if match:
                self.url, self.port, self.token = match.group(1), int(match.group(2)), match.group(3)
                return
        raise BenchError("archlang serve did not print its address: " + self.proc.stderr.read()[-500:])

    def cpu(self) -> float:
        """CPU seconds the server process has used so far (its workers not included)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def first_page(self) -> tuple[float, float]:
        """Seconds from the process start to the page's HTML, as a browser fetches it from the printed address,
        and the CPU seconds the server used for it."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request("GET", f"/?token={self.token}")
        redirect = conn.getresponse()
        redirect.read()
        cookie = redirect.getheader("set-cookie", "").split(";")[0]
        conn.request("GET", "/", headers={"Cookie": cookie})
        page = conn.getresponse()
        body = page.read()
        elapsed, cpu = time.perf_counter() - self.start, self.cpu()
        conn.close()
        if page.status != 200 or b'id="editor"' not in body:
            raise BenchError(f"the first page answered {page.status}")
        return elapsed, cpu

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def inlined(spec: str, folder: Path) -> Path:
    import archlang

    path = folder / f"{spec}.arch"
    path.write_text(archlang.load(ROOT / "specs" / f"{spec}.arch").bundled_source(), encoding="utf-8")
    return path


def keystrokes(spec: str, reps: int, warmup: int, log) -> dict:
    """Per keystroke: the page's latency (ms, to the DOM and to the next frame) and the server's timings."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        server = Server(inlined(spec, Path(tmp)))
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            timings = []
            page.on("response", lambda r: timings.append(r.json()["timings"])
                    if r.url.endswith("/api/update") and r.ok and "timings" in r.text() else None)
            page.goto(server.url)
            _wait(lambda: page.evaluate("document.body.dataset.updates") == "1", "the first update")
            page.evaluate(PROBE)
            page.locator(".cm-line", has_text="classes = 1000").first.click()
            page.keyboard.press("End")
            page.keyboard.press("ArrowLeft")
            page.keyboard.press("ArrowLeft")
            for i in range(warmup + reps):
                done = page.evaluate("window.__bench.runs.length")
                page.keyboard.press("1" if i % 2 == 0 else "Backspace")
                _wait(lambda: page.evaluate("window.__bench.runs.length") > done, "an update")
                time.sleep(0.2)  # quiet between keystrokes, as a person types a change and looks
                if page.evaluate("document.body.dataset.state") != "ok":
                    raise BenchError(f"{spec}: the edit did not check")
            runs = page.evaluate("window.__bench.runs")[warmup:]
            server_times = timings[-len(runs):]
            log(f"{spec}: {len(runs)} keystrokes, median {median([r['frame'] for r in runs]):.0f} ms")
            return {"frame": [r["frame"] for r in runs], "dom": [r["dom"] for r in runs], "server": server_times}
        finally:
            browser.close()
            server.stop()


def _wait(condition, what: str, tries: int = 1200) -> None:
    for _ in range(tries):  # 1200 polls of 10 ms at most
        if condition():
            return
        time.sleep(0.01)
    raise BenchError(f"waited in vain for {what}")


def parse_ms(spec: str, reps: int) -> float:
    """The parse alone of the inlined spec, in this process: the part of the worker's `check` that is parsing."""
    import archlang
    from archlang.syntax.parser import parse

    text = archlang.load(ROOT / "specs" / f"{spec}.arch").bundled_source()
    parse(text, "warm.arch")
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        parse(text, f"{spec}.arch")
        times.append((time.perf_counter() - start) * 1000)
    return median(times)


def startups(reps: int) -> list[tuple[float, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        spec = inlined("resnet50", Path(tmp))
        out = []
        for _ in range(reps):
            server = Server(spec)
            try:
                out.append(server.first_page())
            finally:
                server.stop()
        return out


def run(cfg: Config, specs=None) -> Section:
    if not os.path.exists("/usr/bin/chromium"):
        return Section(KEY, TITLE, "Skipped: Debian's chromium is not installed (`make setup`).",
                       [Goal("playground", "skipped", None)])
    specs = list(specs or (["resnet50"] if cfg.quick else list(GOALS)))
    reps, warmup = cfg.n(30, 3), cfg.w(3, 1)
    starts = startups(cfg.n(7, 1))
    rows, goals = [], []
    for spec in specs:
        got = keystrokes(spec, reps, warmup, cfg.log)
        server = {k: median([t[k] for t in got["server"]])
                  for k in ("check", "table", "view", "layout", "total", "cpu")}
        page = median(got["frame"])
        rows.append([spec, f"{page:.0f}", f"{median(got['dom']):.0f}", f"{max(got['frame']):.0f}",
                     *(f"{server[k]:.0f}" for k in ("total", "cpu", "check")), f"{parse_ms(spec, reps):.0f}",
                     *(f"{server[k]:.0f}" for k in ("table", "view", "layout"))])
        if spec in GOALS:
            goals.append(Goal(f"keystroke to updated diagram and table, {spec}: median ≤ {GOALS[spec]:.0f} ms",
                              f"{page:.0f} ms (server {server['total']:.0f} ms)", page <= GOALS[spec]))
    start, start_cpu = median([s for s, _ in starts]), median([c for _, c in starts])
    goals.append(Goal(f"`archlang serve` answers its first page in ≤ {START_GOAL:.0f} s",
                      f"{start:.2f} s (median of {len(starts)}; {start_cpu:.2f} s CPU)", start <= START_GOAL))
    body = table(["spec (imports inlined)", "page: keystroke → frame (ms)", "→ DOM updated (ms)", "worst (ms)",
                  "server total (ms)", "server CPU (ms)", "check", "of which parse", "table", "view", "layout"],
                 rows)
    body += (f"\n\nMedians of {reps} keystrokes after {warmup} warm-up, each changing the classifier's width "
             "(so the picture and every figure change). The page's figure includes the editor's handling of "
             "the key, the request, the worker's time and the page's redraw; the server columns are the "
             "worker's own (CPU: its process time, which other work on the machine does not stretch; "
             "check: parse, elaborate, analyse, of which parsing alone is timed in the benchmark's "
             "process; table: the folded summary; view: the diagram's "
             "boxes; layout: graphviz's time beyond the table's, which it overlaps). Start-up: "
             f"{', '.join(f'{s:.2f}' for s, _ in starts)} s wall; the server process's CPU time to that moment: "
             f"{', '.join(f'{c:.2f}' for _, c in starts)} s.")
    return Section(KEY, TITLE, body, goals)
