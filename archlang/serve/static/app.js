// The playground page, in the manner of Compiler Explorer: the editor on the left; on the right
// the controls, the diagram and the table, updated a moment after each edit. While the text does
// not check, the error is underlined in the editor and the last good picture and table stay, dimmed.
//
// The state the tests read: <body data-state="ok|error" data-updates="N"> after each update.
import {createEditor} from "./editor.js";
import {Diagram} from "./diagram.js";
import {renderTable, renderTotals, renderDiff} from "./table.js";
import {Controls} from "./controls.js";
import {Documents} from "./files.js";
import {el, shape, post} from "./util.js";

const boot = JSON.parse(document.getElementById("boot").textContent);
const $ = (id) => document.getElementById(id);
const SETTLE = 1500;   // ms a valid version stays before the next diff compares with it

const state = {
  network: null, settings: {}, input: null, view: "overview", expand: [], collapse: [],
  baseline: null, latest: null, open: null, seq: 0, applied: 0, refit: false, focus: null,
  client: Math.random().toString(36).slice(2), settle: null,
};

const editor = createEditor({parent: $("editor"), doc: "", errorsUrl: boot.errors,
  onChange: () => { docs.changed(); schedule(); }});
const docs = new Documents(boot, editor, {reload: ({fresh} = {}) => { if (fresh) fresh_(); schedule(); }, status});
const diagram = new Diagram($("stage"), $("canvas"), {open, close});
const controls = new Controls($("params"), {set: (name, value) => { state.settings[name] = value; schedule(); }});

// Updates go out one at a time: the first edit after a quiet moment at once (once the current
// event is handled, so that one keystroke's changes travel together); edits made while an update
// is out wait for its answer, and only the newest text goes then. So the page never queues stale
// work, and the server, which also keeps only a page's newest request, is never flooded.
const flow = {out: false, wanted: false};
function schedule() {
  flow.wanted = true;
  if (!flow.out) { flow.out = true; queueMicrotask(pump); }
}
async function pump() {
  while (flow.wanted) {
    flow.wanted = false;
    await request();
  }
  flow.out = false;
}

function status(text, bad = false, title = "") {
  const box = $("status");
  box.textContent = text;
  box.title = title;
  box.className = bad ? "bad" : "";
}

function spec() {
  return {doc: docs.doc, text: editor.getText(), network: state.network, settings: state.settings, input: state.input};
}

// A new document: its own network, settings, view and history.
function fresh_() {
  Object.assign(state, {network: null, settings: {}, input: null, view: "overview", expand: [], collapse: [],
    baseline: null, open: null, refit: true, focus: null});
}

async function request() {
  clearTimeout(state.settle);
  const seq = ++state.seq, start = performance.now();
  const compared = state.baseline !== null;
  const body = {...spec(), client: state.client, view: state.view, expand: state.expand, collapse: state.collapse,
    baseline: state.baseline};
  let answer;
  try {
    answer = await (await post("/api/update", body)).json();
  } catch (e) {
    if (seq === state.seq) status("the server does not answer: is `archlang serve` still running?", true);
    return;
  }
  if (answer.superseded || seq !== state.seq || flow.wanted) return;  // a newer text is on its way
  apply(answer, compared, performance.now() - start);
}

function apply(answer, compared, ms) {
  if (answer.controls) showControls(answer.controls, answer.ok ? null : answer.error);
  if (answer.ok) good(answer, compared, ms);
  else bad(answer.error);
  document.body.dataset.updates = String(++state.applied);
  document.body.dataset.ms = ms.toFixed(1);
}

function good(answer, compared, ms) {
  editor.setError(null);
  $("banner").hidden = true;
  document.body.classList.remove("stale");
  const picture = answer.diagram;
  diagram.show(picture, {refit: state.refit, focus: state.focus});
  Object.assign(state, {refit: false, focus: null, expand: picture.expand, collapse: picture.collapse, latest: answer});
  if (state.open === null) state.open = new Set(picture.clusters);
  for (const b of document.querySelectorAll("#views button")) b.classList.toggle("on", b.dataset.view === state.view);
  $("diagram-note").textContent = picture.notes.join(" ");
  showTable();
  renderTotals($("totals"), answer.totals);
  renderDiff($("diff"), answer.diff, compared);
  if (document.activeElement !== $("input-shape")) $("input-shape").value = shape(answer.totals.input);
  if (state.baseline === null) state.baseline = answer.digest;
  else state.settle = setTimeout(() => { state.baseline = answer.digest; }, SETTLE);
  const t = answer.timings;
  status(`✓ ${answer.totals.network}: checked and drawn in ${Math.round(ms)} ms`, false,
    `server: check ${t.check} ms, table ${t.table} ms, view ${t.view} ms, layout ${t.layout} ms (total ${t.total} ms)`);
  document.body.dataset.state = "ok";
}

function bad(error) {
  editor.setError(error);
  const head = $("banner-head");
  head.replaceChildren();
  if (error.code) head.append(el("a", {href: `${boot.errors}#${error.code}`, target: "_blank", rel: "noopener",
    class: "arch-code", text: error.code}), " ");
  head.append(el("span", {text: error.message}));
  $("banner-text").textContent = error.text;
  $("banner").hidden = false;
  $("banner-foot").hidden = state.latest === null;
  document.body.classList.add("stale");
  const where = error.mark ? ` at line ${error.mark.line}` : "";
  status(`✗ ${error.code || "error"}${where}: ${error.message}`, true, error.text);
  document.body.dataset.state = "error";
}

function showControls(c, error) {
  const problem = error && ["E204", "E309"].includes(error.code)
    ? Object.keys(state.settings).find((n) => error.message.includes(`--set ${n}=`) ||
      error.message.includes(`\`${n}\``))
    : null;
  controls.render(c, state.settings, problem);
  const menu = $("network");
  if (menu.dataset.list !== c.networks.join("\n")) {
    menu.replaceChildren(...c.networks.map((n) => el("option", {value: n, text: n})));
    menu.dataset.list = c.networks.join("\n");
  }
  menu.value = c.network;
  $("network-box").hidden = c.networks.length < 2;
}

function showTable() {
  if (!state.latest) return;
  const changed = new Set(state.latest.diff.filter((c) => c.path).map((c) => c.path));
  renderTable($("rows"), state.latest.rows, state.open, changed, {
    toggle(path) { state.open.has(path) ? state.open.delete(path) : state.open.add(path); showTable(); },
    pick(path) { diagram.highlight(path.split(":")[0]); },
  });
}

// ---- the diagram: opening a box, closing a cluster, the view
function open(path) {
  if (!state.expand.includes(path)) state.expand = [...state.expand, path];
  state.collapse = state.collapse.filter((p) => p !== path);
  state.focus = path;
  schedule();
}

function close(path) {
  const inside = (p) => p === path || p.startsWith(path + ".") || p.startsWith(path + ":");
  if (state.expand.some(inside)) state.expand = state.expand.filter((p) => !inside(p));
  else state.collapse = [...state.collapse, path];
  state.focus = path;
  schedule();
}

function setView(view) {
  Object.assign(state, {view, expand: [], collapse: [], refit: true});
  schedule();
}

// ---- downloads: the server makes the file from the text as it is now
async function download(format) {
  status(format === "py" ? "writing the PyTorch source (PyTorch loads first: a few seconds)…"
    : `making ${format}…`);
  const response = await post("/api/export", {...spec(), format, view: state.view, expand: state.expand,
    collapse: state.collapse});
  if (!response.ok) {
    const answer = await response.json();
    status(`✗ cannot make ${format}: ${answer.error ? answer.error.message : response.statusText}`, true,
      answer.error ? answer.error.text : "");
    return;
  }
  const name = /filename="([^"]+)"/.exec(response.headers.get("content-disposition") || "");
  const url = URL.createObjectURL(await response.blob());
  const link = el("a", {href: url, download: name ? name[1] : `network.${format}`});
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  status(`downloaded ${name ? name[1] : format}`);
}

function wire() {
  for (const b of document.querySelectorAll("#views button")) {
    b.addEventListener("click", () => setView(b.dataset.view));
  }
  $("collapse-all").addEventListener("click", () => setView("overview"));
  $("fit").addEventListener("click", () => diagram.fit());
  $("zoom-in").addEventListener("click", () => diagram.zoom(1.25));
  $("zoom-out").addEventListener("click", () => diagram.zoom(0.8));
  $("network").addEventListener("change", () => {
    Object.assign(state, {network: $("network").value, settings: {}, expand: [], collapse: [], refit: true,
      open: null});
    schedule();
  });
  $("input-shape").addEventListener("input", () => {
    state.input = $("input-shape").value.trim() || null;
    schedule();
  });
  $("reset").addEventListener("click", () => { state.settings = {}; state.input = null; schedule(); });
  for (const b of document.querySelectorAll("#downloads button")) {
    b.addEventListener("click", () => download(b.dataset.format));
  }
  document.addEventListener("keydown", (e) => {  // Save also when the focus is not in the editor
    if ((e.ctrlKey || e.metaKey) && e.key === "s") { e.preventDefault(); docs.save(); }
  });
  splitter($("split-v"), "x", $("left"), "--left");
  splitter($("split-h"), "y", $("bottom"), "--bottom");
}

// A drag on a splitter resizes the pane before (left) or after (bottom) it.
function splitter(bar, axis, pane, variable) {
  bar.addEventListener("pointerdown", (e) => {
    e.preventDefault();
    const startPos = axis === "x" ? e.clientX : e.clientY;
    const startSize = axis === "x" ? pane.getBoundingClientRect().width : pane.getBoundingClientRect().height;
    const move = (m) => {
      const delta = (axis === "x" ? m.clientX : m.clientY) - startPos;
      const size = Math.max(160, startSize + (axis === "x" ? delta : -delta));
      document.documentElement.style.setProperty(variable, `${size}px`);
    };
    const up = () => { window.removeEventListener("pointermove", move); window.removeEventListener("pointerup", up); };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
  });
}

async function main() {
  wire();
  fetch("/api/vocab").then((r) => (r.ok ? r.json() : null)).then((v) => { if (v) editor.setVocabulary(v); });
  await docs.start();
  state.refit = true;
  schedule();
  editor.focus();
}

main();
