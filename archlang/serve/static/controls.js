// The controls above the diagram: one per network parameter and switch (what `--set NAME=VALUE`
// takes), the input shape and the network of the file. Values are spec text, read by the server
// with the language's value parser.
import {el} from "./util.js";

export class Controls {
  constructor(box, {set}) {
    this.box = box;
    this.set = set;
    this.signature = "";
    this.inputs = new Map();
  }

  // `settings`: the page's own values (those the user changed), which win over the spec's.
  render(controls, settings, problem) {
    const signature = JSON.stringify(controls.params.map((p) => [p.name, p.type, p.kind, p.editable]));
    if (signature !== this.signature) this.build(controls, signature);
    for (const p of controls.params) {
      const input = this.inputs.get(p.name);
      const mine = Object.prototype.hasOwnProperty.call(settings, p.name);
      const value = mine ? settings[p.name] : p.value;
      if (input.type === "checkbox") input.checked = value === "true";
      else if (document.activeElement !== input) input.value = value;
      input.closest(".control").classList.toggle("set", mine);
      input.closest(".control").classList.toggle("bad", problem === p.name);
      input.title = `${p.kind === "switch" ? "switch" : p.type}${p.default !== null ? `, default ${p.default}` : ""}` +
        (p.bound ? " (bound by the network's definition)" : "");
    }
  }

  build(controls, signature) {
    this.signature = signature;
    this.inputs.clear();
    const items = controls.params.map((p) => {
      const input = p.type === "boolean"
        ? el("input", {type: "checkbox", "data-name": p.name})
        : el("input", {type: "text", spellcheck: "false", "data-name": p.name,
          size: Math.max(3, Math.min(18, p.value.length + 1)),
          placeholder: p.type === "required" ? "required" : ""});
      input.disabled = !p.editable;
      input.addEventListener(p.type === "boolean" ? "change" : "input",
        () => this.set(p.name, input.type === "checkbox" ? String(input.checked) : input.value));
      this.inputs.set(p.name, input);
      const name = el("span", {class: "cname", text: p.name});
      return p.type === "boolean" ? el("label", {class: `control ${p.kind} check`}, input, name)
        : el("label", {class: `control ${p.kind}`}, name, input);
    });
    this.box.replaceChildren(...items);
  }
}
