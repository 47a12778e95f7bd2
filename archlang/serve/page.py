"""The HTML the server writes: the playground's page (a shell; its script and
styles are static files) and the error reference it links to.

Everything from outside (file names, spec text, error messages) reaches these
pages escaped, and the page's own script puts text into the DOM as text.
"""

from __future__ import annotations

import json
import re
from html import escape
from pathlib import Path

from archlang.errors import CODES

ERRORS_MD = Path(__file__).resolve().parents[2] / "docs" / "errors.md"  # in a checkout

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$TITLE — archlang playground</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/app.css?v=$V">
<script type="application/json" id="boot">$BOOT</script>
<script type="module" src="/static/app.js?v=$V"></script>
</head>
<body data-state="loading" data-updates="0">
<header id="bar">
  <span id="brand">archlang <b>playground</b></span>
  <span id="doc"><select id="examples" title="the specs of the zoo" hidden></select>
    <span id="docname"></span><span id="dirty" hidden title="unsaved changes">●</span>
    <button id="save" hidden title="save (Ctrl+S)">Save</button></span>
  <label id="network-box" hidden>network <select id="network"></select></label>
  <span id="status" role="status"></span>
  <span id="downloads">download
    <button data-format="svg" title="the diagram as SVG">SVG</button><button data-format="png"
    title="the diagram as PNG">PNG</button><button data-format="html"
    title="the interactive diagram page">HTML</button><button data-format="json"
    title="the summary as JSON (archlang summary --json)">JSON</button><button data-format="py"
    title="standalone PyTorch source (archlang compile)">PyTorch</button><button data-format="arch"
    title="the spec with its imports inlined">.arch</button></span>
  <a id="errors-link" href="/errors" target="_blank" rel="noopener">error codes</a>
</header>
<div id="conflict" hidden><span id="conflict-text"></span>
  <button id="conflict-load">Load the disk version</button><button id="conflict-keep">Keep mine</button></div>
<main id="main">
  <section id="left"><div id="editor"></div></section>
  <div id="split-v" class="splitter" title="drag to resize"></div>
  <section id="right">
    <div id="controls"><span id="params"></span>
      <label class="control">input <input id="input-shape" spellcheck="false" size="11"></label>
      <button id="reset" title="back to the spec's own values">reset</button></div>
    <div id="diagram-bar">
      <span class="seg" id="views"><button data-view="overview">overview</button><button
        data-view="blocks">blocks</button><button data-view="layers" title="every layer">expand all</button></span>
      <button id="collapse-all" title="back to the overview">collapse all</button>
      <span class="sep"></span><button id="fit" title="fit the picture to the pane">fit</button>
      <button id="zoom-out" title="zoom out">−</button><button id="zoom-in" title="zoom in">+</button>
      <span id="diagram-note"></span></div>
    <div id="stage"><div id="canvas"></div>
      <div id="banner" hidden><div id="banner-head"></div><pre id="banner-text"></pre>
        <div id="banner-foot">showing the last version that checked</div></div></div>
    <div id="split-h" class="splitter" title="drag to resize"></div>
    <div id="bottom"><div id="totals"></div><div id="diff"></div>
      <div id="table-box"><table id="table"><thead><tr><th>layer</th><th>type</th><th>output</th>
        <th class="num">params</th><th class="num">MACs</th><th class="num">RF</th></tr></thead>
        <tbody id="rows"></tbody></table></div></div>
  </section>
</main>
</body>
</html>
"""


def page_html(boot: dict, title: str, asset_version: str) -> str:
    data = json.dumps(boot, ensure_ascii=False).replace("<", "\\u003c")  # no `</script>` inside the data
    return PAGE.replace("$TITLE", escape(title)).replace("$V", escape(asset_version)).replace("$BOOT", data)


ERRORS_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>archlang error codes</title>
<link rel="stylesheet" href="/static/docs.css"></head>
<body><main>
$BODY
</main></body></html>
"""


def errors_html() -> str:
    """docs/errors.md with its examples where the checkout has it; else the codes and fixes themselves."""
    if ERRORS_MD.is_file():
        body = markdown(ERRORS_MD.read_text(encoding="utf-8"))
    else:
        body = "<h1>archlang error codes</h1>\n" + "\n".join(
            f'<h2 id="{code}">{code}: {escape(title)}</h2>\n<p>{escape(fix)}</p>'
            for code, (title, fix) in CODES.items())
    return ERRORS_PAGE.replace("$BODY", body)


def markdown(text: str) -> str:
    """The Markdown of docs/errors.md: headings (an `## E101: ...` heading is anchored #E101), paragraphs,
    fenced code and inline code. Everything is escaped."""
    out, para, code = [], [], None
    for line in text.splitlines():
        if code is not None:
            if line.startswith("```"):
                out.append(f"<pre>{escape(chr(10).join(code))}</pre>")
                code = None
            else:
                code.append(line)
            continue
        if line.startswith("```") or line.startswith("#") or not line.strip():
            out += [f"<p>{_inline(' '.join(para))}</p>"] if para else []
            para = []
        if line.startswith("```"):
            code = []
        elif line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            title = line[level:].strip()
            anchor = re.match(r"(E\d{3}):", title)
            ident = f' id="{anchor.group(1)}"' if anchor else ""
            out.append(f"<h{level}{ident}>{_inline(title)}</h{level}>")
        elif line.strip():
            para.append(line.strip())
    out += [f"<p>{_inline(' '.join(para))}</p>"] if para else []
    return "\n".join(out)


def _inline(text: str) -> str:
    parts = re.split(r"`([^`]*)`", text)
    return "".join(f"<code>{escape(p)}</code>" if i % 2 else escape(p) for i, p in enumerate(parts))
