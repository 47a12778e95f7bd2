// The document the editor holds. With a file: its text from the server, Save (Ctrl+S) writing it
// atomically, and the changes another editor makes on disk, which replace the text when it has no
// unsaved edits and otherwise raise a conflict bar: unsaved edits are never dropped silently.
// Without a file: a scratch buffer kept in the browser's storage, and the specs of the zoo.
import {el, debounce, post} from "./util.js";

const $ = (id) => document.getElementById(id);

export class Documents {
  constructor(boot, editor, {reload, status}) {
    Object.assign(this, {boot, editor, reload, status});
    this.doc = boot.mode === "file" ? "file" : "scratch";
    this.saved = null;    // the text on disk as the page last saw it (file mode)
    this.version = null;  // its version stamp
    this.disk = null;     // a newer disk version met while the buffer had unsaved edits
    this.keep = debounce(() => this.remember(), 300);
  }

  async start() {
    if (this.boot.mode === "file") await this.startFile();
    else this.startScratch();
  }

  async startFile() {
    $("docname").textContent = this.boot.name;
    $("save").hidden = false;
    $("save").addEventListener("click", () => this.save());
    $("conflict-load").addEventListener("click", () => this.loadDisk());
    $("conflict-keep").addEventListener("click", () => this.keepMine());
    const info = await (await fetch("/api/doc?doc=file")).json();
    this.saved = info.exists ? info.text : "";
    this.version = info.version;
    this.editor.setText(info.exists ? info.text : this.boot.seed);
    if (!info.exists) this.status(`${this.boot.name} does not exist yet: Save creates it`);
    this.changed();
    window.addEventListener("beforeunload", (e) => { if (this.dirty()) e.preventDefault(); });
    const events = new EventSource("/api/events");
    events.onmessage = (e) => this.event(JSON.parse(e.data));
  }

  startScratch() {
    $("docname").hidden = true;
    const menu = $("examples");
    menu.hidden = false;
    menu.append(el("option", {value: "scratch", text: "scratch buffer"}),
      ...this.boot.zoo.map((name) => el("option", {value: "zoo:" + name, text: "example: " + name})));
    menu.addEventListener("change", () => this.open(menu.value));
    this.editor.setText(localStorage.getItem(this.key("scratch")) ?? this.boot.seed);
  }

  key(doc) { return `archlang-playground:${doc}`; }

  remember() {
    if (this.boot.mode !== "file") localStorage.setItem(this.key(this.doc), this.editor.getText());
  }

  // A zoo spec (its imports resolve in the zoo's folder) or the scratch buffer; edits to either stay in the browser.
  async open(doc) {
    this.remember();
    let text = localStorage.getItem(this.key(doc));
    if (text === null) {
      text = doc === "scratch" ? this.boot.seed
        : (await (await fetch("/api/doc?doc=" + encodeURIComponent(doc))).json()).text;
    }
    this.doc = doc;
    this.editor.setText(text);
    this.reload({fresh: true});
  }

  dirty() { return this.boot.mode === "file" && this.editor.getText() !== this.saved; }

  changed() {
    $("dirty").hidden = !this.dirty();
    this.keep();
  }

  async save(force = false) {
    if (this.boot.mode !== "file") return;
    const text = this.editor.getText();
    const response = await post("/api/save", {text, base: this.version, force});
    const answer = await response.json();
    if (response.status === 409) {
      this.disk = answer.disk;
      this.conflict(`${this.boot.name} changed on disk since the page loaded it.`, "Overwrite it with mine", true);
      return;
    }
    if (!answer.ok) { this.status(answer.error.text, true); return; }
    this.saved = text;
    this.version = answer.version;
    this.disk = null;
    $("conflict").hidden = true;
    this.changed();
    this.status(`saved ${this.boot.name}`);
    document.body.dataset.saved = answer.version;
  }

  event(event) {
    if (event.type === "deps") { this.reload({}); return; }
    if (event.type !== "file" || event.version === this.version) return;
    if (!event.exists) {
      this.version = "";
      this.saved = "";
      this.changed();
      this.status(`${this.boot.name} was deleted on disk; Save writes it again`);
      return;
    }
    if (!this.dirty()) {
      this.adopt(event);
      return;
    }
    this.disk = event;
    this.conflict(`${this.boot.name} changed on disk. Your unsaved edits are still here.`, "Keep mine", false);
  }

  adopt(disk) {
    this.saved = disk.text;
    this.version = disk.version;
    this.disk = null;
    this.editor.setText(disk.text);
    $("conflict").hidden = true;
    this.changed();
    this.reload({});
    document.body.dataset.disk = disk.version;
  }

  conflict(text, keepLabel, overwrite) {
    $("conflict-text").textContent = text;
    $("conflict-keep").textContent = keepLabel;
    $("conflict-keep").dataset.overwrite = overwrite ? "1" : "";
    $("conflict").hidden = false;
    document.body.dataset.conflict = "1";
  }

  loadDisk() { if (this.disk) this.adopt(this.disk); }

  keepMine() {
    $("conflict").hidden = true;
    delete document.body.dataset.conflict;
    if ($("conflict-keep").dataset.overwrite) this.save(true);
  }
}
