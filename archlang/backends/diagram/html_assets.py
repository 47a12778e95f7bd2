"""The interactive page's stylesheet and script, kept as Python strings so
that the package needs no data files. `$NAME` placeholders in the CSS are
the theme's colours. The script has no dependencies and makes no requests.

Test hooks: `page.html#test-click=PATH[,PATH...]` clicks the box (or open
cluster) PATH, then the next, once the page has loaded; `#test-search=TEXT` searches; either way the
state is written as JSON into `<pre id="archlang-state">` for a headless
browser's --dump-dom to read.
"""

PAGE_CSS = """
html, body { margin: 0; height: 100%; background: $BG; color: $TEXT;
  font: 14px Helvetica, Arial, sans-serif; overflow: hidden; }
#bar { position: fixed; top: 0; left: 0; right: 0; height: 40px; display: flex; gap: 8px;
  align-items: center; padding: 0 10px; background: $PANEL; border-bottom: 1px solid $MUTED; z-index: 2; }
#title { font-weight: bold; margin-right: 12px; white-space: nowrap; }
#bar button, #bar input { font: inherit; color: inherit; background: $BG; border: 1px solid $MUTED; white-space: nowrap;
  border-radius: 4px; padding: 3px 8px; }
#bar input { width: 260px; }
#note { color: $MUTED; font-size: 12px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
#stage { position: absolute; top: 41px; left: 0; right: 0; bottom: 0; overflow: hidden; cursor: grab;
  touch-action: none; }
#stage.dragging { cursor: grabbing; }
#canvas { position: absolute; left: 0; top: 0; transform-origin: 0 0; }
#canvas svg { display: block; }
.open-link { cursor: pointer; }
g.node.open-link:hover polygon, g.node.open-link:hover path { stroke-width: 2.6px; }
g.cluster.open-link:hover polygon, g.cluster.open-link:hover path { stroke-width: 2px; }
g.cluster.open-link > text { text-decoration: underline dotted; }
.found polygon, .found ellipse, .found path { stroke: $HIGHLIGHT !important; stroke-width: 4px !important; }
"""

PAGE_JS = r"""
(function () {
  "use strict";
  var source = document.getElementById("archlang-data");
  if (source.getAttribute("data-encoding") !== "gzip+base64") { main(JSON.parse(source.textContent)); return; }
  var raw = atob(source.textContent.trim()), bytes = new Uint8Array(raw.length);
  for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  new Response(stream).text().then(function (text) { main(JSON.parse(text)); });
})();

function main(data) {
  "use strict";
  var stage = document.getElementById("stage"), canvas = document.getElementById("canvas");
  var note = document.getElementById("note"), out = document.getElementById("archlang-state");
  var search = document.getElementById("search");
  var current = -1, past = [], view = {x: 0, y: 0, k: 1}, drag = null, dragged = false, found = null;

  function apply() {
    canvas.style.transform = "translate(" + view.x + "px," + view.y + "px) scale(" + view.k + ")";
  }
  function natural() {  // the SVG's size at scale 1, in CSS pixels
    var svg = canvas.querySelector("svg");
    if (!svg) return [1, 1];
    return [svg.width.baseVal.value || 1, svg.height.baseVal.value || 1];
  }
  function fit(whole) {  // fit the whole picture (or its width) to the window; never enlarge past 100%
    var size = natural(), w = stage.clientWidth - 20, h = stage.clientHeight - 20;
    view.k = Math.min(1, w / size[0], whole ? h / size[1] : Infinity);
    view.x = Math.max(10, (stage.clientWidth - size[0] * view.k) / 2);
    view.y = 10;
    apply();
  }
  function show(k, remember) {
    if (k < 0 || k >= data.states.length || k === current) return;
    if (remember && current >= 0) past.push(current);
    current = k;
    found = null;
    canvas.innerHTML = data.states[k].svg;
    var links = data.states[k].links;
    Object.keys(links).forEach(function (id) {
      var el = document.getElementById(id);
      if (el) el.classList.add(links[id] >= 0 ? "open-link" : "no-link");
    });
    fit(true);
    report();
  }
  function report() {
    var st = data.states[current], ids = function (sel) {
      return Array.prototype.map.call(canvas.querySelectorAll(sel), function (g) { return g.id; });
    };
    document.body.setAttribute("data-state", String(current));
    var svg = canvas.querySelector("svg"), box = svg ? svg.getBoundingClientRect() : null;
    var room = stage.getBoundingClientRect();
    out.textContent = JSON.stringify({state: current, scale: view.k,
      fits: !!box && box.width <= room.width + 1 && box.height <= room.height + 1, expand: st.expand, collapse: st.collapse,
      boxes: ids("g.node[id^='p:']"), clusters: ids("g.cluster[id^='c:']"), found: found, note: note.textContent});
  }
  function activate(el) {
    var links = data.states[current].links, target = links[el.id];
    if (target === undefined) return false;
    var path = el.id.slice(2);
    if (target < 0) {
      note.textContent = "not pre-drawn here; run: " + data.command + " --expand " + path;
      report();
      return false;
    }
    note.textContent = "";
    show(target, true);
    // keep what was clicked in sight: the opened cluster, or the box a closed cluster became
    var now = document.getElementById("c:" + path) || document.getElementById("p:" + path);
    if (now) centre(now, true);
    return true;
  }
  function back() { if (past.length) { note.textContent = ""; show(past.pop(), false); } }
  function centre(el, top) {  // top: put its top edge near the top (a tall cluster), else centre it
    var r = el.getBoundingClientRect(), s = stage.getBoundingClientRect();
    view.x += s.left + s.width / 2 - (r.left + r.width / 2);
    view.y += top && r.height > s.height / 2 ? s.top + 40 - r.top : s.top + s.height / 2 - (r.top + r.height / 2);
    apply();
  }
  function find(text) {
    var q = text.trim().toLowerCase();
    if (!q) return false;
    var hit = data.search.find(function (s) { return s[0].toLowerCase() === q; }) ||
      data.search.find(function (s) { return s[0].toLowerCase().endsWith("." + q); }) ||
      data.search.find(function (s) { return s[0].toLowerCase().indexOf(q) >= 0; });
    if (!hit) { note.textContent = "no layer or block matches \u201c" + text + "\u201d"; report(); return false; }
    show(hit[2], true);
    var el = document.getElementById(hit[3]);
    if (el) { el.classList.add("found"); centre(el); }
    found = hit[0];
    note.textContent = hit[0] + " \u2014 " + hit[1];
    report();
    return true;
  }

  canvas.addEventListener("click", function (e) {
    if (dragged) return;
    var el = e.target.closest ? e.target.closest("g.node, g.cluster") : null;
    if (el && activate(el)) e.preventDefault();
  });
  stage.addEventListener("wheel", function (e) {
    e.preventDefault();
    var r = stage.getBoundingClientRect(), mx = e.clientX - r.left, my = e.clientY - r.top;
    var k = Math.min(8, Math.max(0.03, view.k * Math.exp(-e.deltaY * 0.0015)));
    view.x = mx - (mx - view.x) * k / view.k;
    view.y = my - (my - view.y) * k / view.k;
    view.k = k;
    apply();
  }, {passive: false});
  stage.addEventListener("pointerdown", function (e) {
    drag = {x: e.clientX, y: e.clientY, vx: view.x, vy: view.y};
    dragged = false;
  });
  window.addEventListener("pointermove", function (e) {
    if (!drag) return;
    var dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 4) { dragged = true; stage.classList.add("dragging"); }
    if (dragged) { view.x = drag.vx + dx; view.y = drag.vy + dy; apply(); }
  });
  window.addEventListener("pointerup", function () { drag = null; stage.classList.remove("dragging"); });
  document.getElementById("back").addEventListener("click", back);
  document.getElementById("fit").addEventListener("click", function () { fit(true); });
  document.getElementById("actual").addEventListener("click", function () {
    view.k = 1; view.x = 10; view.y = 10; apply();
  });
  search.addEventListener("keydown", function (e) { if (e.key === "Enter") find(search.value); });
  search.addEventListener("change", function () { find(search.value); });
  document.addEventListener("keydown", function (e) {
    if (e.target === search) { if (e.key === "Escape") search.blur(); return; }
    if (e.key === "/") { e.preventDefault(); search.focus(); }
    else if (e.key === "Escape" || e.key === "Backspace") back();
  });
  var list = document.getElementById("names");
  data.search.forEach(function (s) {
    var o = document.createElement("option");
    o.value = s[0];
    list.appendChild(o);
  });

  show(0, false);
  var m = /^#test-(click|search)=(.*)$/.exec(location.hash);
  if (m) {
    var arg = decodeURIComponent(m[2]);
    if (m[1] === "search") find(arg);
    else arg.split(",").forEach(function (path) {  // clicks in turn: a box, or an open cluster
      var el = document.getElementById("p:" + path) || document.getElementById("c:" + path);
      if (el) el.dispatchEvent(new MouseEvent("click", {bubbles: true, cancelable: true}));
      else note.textContent = "no element " + path;
    });
    report();
  }
}
"""
