// The diagram pane: the server's SVG (graphviz's, with boxes `p:PATH` and clusters `c:PATH`),
// panned by dragging and the wheel, zoomed with Ctrl+wheel or the buttons. A click on a box that
// can open asks for it opened; a click on an open cluster's frame closes it. The view (pan, zoom)
// is kept from one edit to the next, as an editor keeps its scroll position.

// The SVG comes from graphviz, whose labels archlang escapes; it is still parsed as SVG and
// stripped of anything active before it enters the page (and the page's policy forbids scripts).
function cleanSvg(text) {
  const doc = new DOMParser().parseFromString(text, "image/svg+xml");
  const svg = doc.documentElement;
  if (!svg || svg.nodeName !== "svg") return null;
  for (const bad of svg.querySelectorAll("script, foreignObject, iframe, object, embed, style")) bad.remove();
  for (const node of [svg, ...svg.querySelectorAll("*")]) {
    for (const attr of [...node.attributes]) {
      const name = attr.name.toLowerCase();
      const active = name.startsWith("on") || (name.endsWith("href") && !attr.value.startsWith("#"));
      if (active) node.removeAttribute(attr.name);
    }
  }
  return document.importNode(svg, true);
}

const READABLE = 0.7;  // the smallest scale a new picture opens at, unless it is wider than the pane

export class Diagram {
  constructor(stage, canvas, {open, close}) {
    Object.assign(this, {stage, canvas, open, close});
    this.view = {x: 10, y: 10, k: 1};
    this.picture = null;
    this.drag = null;
    this.dragged = false;
    this.listen();
  }

  apply() {
    const {x, y, k} = this.view;
    this.canvas.style.transform = `translate(${x}px, ${y}px) scale(${k})`;
  }

  size() {
    const svg = this.canvas.querySelector("svg");
    return svg ? [svg.width.baseVal.value || 1, svg.height.baseVal.value || 1] : [1, 1];
  }

  // whole: the whole picture (the "fit" button). Else (a new picture) as much as stays readable:
  // the whole picture, or its width, but not below 70% for a tall one; top first, never above 100%.
  fit(whole = true) {
    const [w, h] = this.size(), W = this.stage.clientWidth - 24, H = this.stage.clientHeight - 24;
    const all = Math.min(1, W / w, H / h), wide = Math.min(1, W / w);
    this.view.k = whole ? all : Math.max(all, Math.min(wide, READABLE));
    this.view.x = Math.max(12, (this.stage.clientWidth - w * this.view.k) / 2);
    this.view.y = 12;
    this.apply();
  }

  zoom(factor, cx = this.stage.clientWidth / 2, cy = this.stage.clientHeight / 2) {
    const k = Math.min(6, Math.max(0.05, this.view.k * factor));
    this.view.x = cx - (cx - this.view.x) * k / this.view.k;
    this.view.y = cy - (cy - this.view.y) * k / this.view.k;
    this.view.k = k;
    this.apply();
  }

  // Show a new picture; `focus`: the path just opened or closed, brought into sight.
  show(picture, {refit = false, focus = null} = {}) {
    const svg = cleanSvg(picture.svg);
    if (!svg) return;
    const first = this.picture === null;
    this.picture = picture;
    this.canvas.replaceChildren(svg);
    const openable = new Set(picture.expandable), clusters = new Set(picture.clusters);
    for (const g of svg.querySelectorAll("g.node, g.cluster")) {
      const path = g.id.slice(2);
      // a cluster closes by its frame (`c:PATH`) or its title, a node beside its first box (`t:PATH`)
      if ((g.id.startsWith("p:") && openable.has(path)) || (/^[ct]:/.test(g.id) && clusters.has(path)))
        g.classList.add("clickable");
    }
    if (first || refit) this.fit(false);
    else this.apply();
    if (focus) {
      const target = document.getElementById("c:" + focus) || document.getElementById("p:" + focus);
      if (target) this.centre(target);
    }
  }

  centre(node) {
    const r = node.getBoundingClientRect(), s = this.stage.getBoundingClientRect();
    this.view.x += s.left + s.width / 2 - (r.left + r.width / 2);
    this.view.y += r.height > s.height * 0.8 ? s.top + 30 - r.top : s.top + s.height / 2 - (r.top + r.height / 2);
    this.apply();
  }

  // The box that shows `path` (or the closest enclosing one), outlined and brought into sight.
  highlight(path) {
    for (const old of this.canvas.querySelectorAll(".found")) old.classList.remove("found");
    let probe = path;
    while (probe) {
      const node = document.getElementById("p:" + probe) || document.getElementById("c:" + probe);
      if (node) { node.classList.add("found"); this.centre(node); return probe; }
      probe = probe.includes(".") ? probe.slice(0, probe.lastIndexOf(".")) : "";
    }
    return null;
  }

  listen() {
    const stage = this.stage;
    stage.addEventListener("click", (e) => {
      if (this.dragged || !this.picture) return;
      const g = e.target.closest("g.node, g.cluster");
      if (!g || !g.classList.contains("clickable")) return;
      (g.id.startsWith("p:") ? this.open : this.close)(g.id.slice(2));
    });
    stage.addEventListener("wheel", (e) => {
      e.preventDefault();
      if (e.ctrlKey || e.metaKey) {
        const r = stage.getBoundingClientRect();
        this.zoom(Math.exp(-e.deltaY * 0.002), e.clientX - r.left, e.clientY - r.top);
      } else {
        this.view.x -= e.deltaX;
        this.view.y -= e.deltaY;
        this.apply();
      }
    }, {passive: false});
    stage.addEventListener("pointerdown", (e) => {
      if (e.button !== 0) return;
      this.drag = {x: e.clientX, y: e.clientY, vx: this.view.x, vy: this.view.y};
      this.dragged = false;
    });
    window.addEventListener("pointermove", (e) => {
      if (!this.drag) return;
      const dx = e.clientX - this.drag.x, dy = e.clientY - this.drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 4) { this.dragged = true; stage.classList.add("dragging"); }
      if (this.dragged) { this.view.x = this.drag.vx + dx; this.view.y = this.drag.vy + dy; this.apply(); }
    });
    window.addEventListener("pointerup", () => { this.drag = null; stage.classList.remove("dragging"); });
  }
}
