// The playground's code editor: CodeMirror 6 with an `.arch` mode whose words
// (keywords, layers, functions) come from the server, read from the grammar and
// the layer registry: a new keyword or layer needs no change here.
//
// Built into archlang/serve/static/editor.js by build.mjs (`make serve-assets`).

import {EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter, drawSelection,
  highlightSpecialChars, rectangularSelection, dropCursor} from "@codemirror/view";
import {EditorState, Compartment, Annotation} from "@codemirror/state";
import {StreamLanguage, HighlightStyle, syntaxHighlighting, bracketMatching, indentOnInput,
  indentUnit} from "@codemirror/language";
import {defaultKeymap, history, historyKeymap, indentWithTab, toggleComment} from "@codemirror/commands";
import {searchKeymap, highlightSelectionMatches} from "@codemirror/search";
import {setDiagnostics, lintGutter} from "@codemirror/lint";
import {autocompletion, completionKeymap, closeBrackets, closeBracketsKeymap} from "@codemirror/autocomplete";
import {tags} from "@lezer/highlight";

const EMPTY = {keywords: [], constants: [], layers: {}, functions: [], shape_fields: []};
const DEFINES = new Set(["block", "network"]);  // grammar keywords followed by the defined name
const external = Annotation.define();  // a change that came from disk, not from typing

function archLanguage(vocab) {
  const keywords = new Set(vocab.keywords), constants = new Set(vocab.constants);
  const layers = new Set(Object.keys(vocab.layers)), functions = new Set(vocab.functions);
  const fields = new Set(vocab.shape_fields);
  return StreamLanguage.define({
    name: "arch",
    startState: () => ({defines: false, field: false}),
    token(stream, state) {
      if (stream.eatSpace()) return null;
      if (stream.match("#")) { stream.skipToEnd(); return "comment"; }
      if (stream.match(/^"[^"\n]*"?/) || stream.match(/^'[^'\n]*'?/)) return "string";
      if (stream.match(/^(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?/)) return "number";
      if (stream.match("->")) return "arrow";
      if (stream.match(/^[A-Za-z_][A-Za-z_0-9]*/)) return word(stream, state, stream.current());
      if (stream.match(/^(\*\*|\/\/|==|!=|<=|>=|[-+*\/%<>=?])/)) return "operator";
      if (stream.match(/^[()[\]{}]/)) return "bracket";
      stream.next();
      return null;
    },
    languageData: {commentTokens: {line: "#"}, closeBrackets: {brackets: ["(", "[", "{", "\""]}},
    tokenTable: {arrow: tags.controlOperator, layer: tags.typeName, label: tags.labelName,
      definition: tags.definition(tags.variableName), field: tags.propertyName, func: tags.function(tags.variableName)},
  });

  function word(stream, state, w) {
    if (state.defines) { state.defines = false; return "definition"; }
    if (state.field) { state.field = false; if (fields.has(w)) return "field"; }
    if (keywords.has(w)) {
      state.defines = DEFINES.has(w);
      state.field = stream.peek() === ".";
      return "keyword";
    }
    if (constants.has(w.toLowerCase())) return "bool";
    if (stream.match(/^\s*:(?!=)/, false)) return "label";
    if (layers.has(w.toLowerCase())) return "layer";
    if (functions.has(w) && stream.match(/^\s*\(/, false)) return "func";
    return "variableName";
  }
}

const highlight = HighlightStyle.define([
  {tag: tags.keyword, color: "#7a3e9d", fontWeight: "600"},
  {tag: tags.controlOperator, color: "#b05a00", fontWeight: "600"},
  {tag: tags.typeName, color: "#1f5fae"},
  {tag: tags.labelName, color: "#8a5a00", fontStyle: "italic"},
  {tag: tags.definition(tags.variableName), color: "#0b7a55", fontWeight: "600"},
  {tag: tags.function(tags.variableName), color: "#0b6e7a"},
  {tag: tags.propertyName, color: "#0b6e7a"},
  {tag: tags.number, color: "#a0356b"},
  {tag: tags.bool, color: "#a0356b"},
  {tag: tags.string, color: "#2e7d32"},
  {tag: tags.comment, color: "#7b7f86", fontStyle: "italic"},
  {tag: tags.operator, color: "#555"},
]);

// Completion: the registry's layers with their signatures, keywords, functions, and the
// blocks, networks and `let` names the text defines.
function completions(vocab) {
  return (context) => {
    const word = context.matchBefore(/[A-Za-z_][A-Za-z_0-9]*/);
    if (!word || (word.from === word.to && !context.explicit)) return null;
    const text = context.state.doc.toString(), options = [], seen = new Set();
    const add = (label, type, detail, info) => {
      if (!seen.has(label)) { seen.add(label); options.push({label, type, detail, info}); }
    };
    for (const m of text.matchAll(/^\s*(block|network|let)\s+([A-Za-z_]\w*)/gm))
      add(m[2], m[1] === "let" ? "variable" : "class", m[1]);
    for (const [name, layer] of Object.entries(vocab.layers))
      add(name, "function", layer.alias_of ? `= ${layer.alias_of}` : "layer",
        layer.signature + (layer.doc ? "\n" + layer.doc : ""));
    for (const k of vocab.keywords) add(k, "keyword");
    for (const f of vocab.functions) add(f, "function", "function");
    return {from: word.from, options, validFor: /^\w*$/};
  };
}

// An error from the server as a diagnostic: the message, the hint, and the code linking to its documentation.
function diagnostic(error, length, errorsUrl) {
  const from = Math.min(error.mark.from, length), to = Math.min(Math.max(error.mark.to, from), length);
  return {from, to, severity: "error", message: error.message,
    renderMessage() {
      const box = document.createElement("div");
      box.className = "arch-diagnostic";
      const head = box.appendChild(document.createElement("div"));
      if (error.code) {
        const link = head.appendChild(document.createElement("a"));
        link.href = errorsUrl + "#" + error.code;
        link.target = "_blank";
        link.rel = "noopener";
        link.className = "arch-code";
        link.textContent = error.code;
        head.appendChild(document.createTextNode(" "));
      }
      head.appendChild(document.createTextNode(error.message));
      if (error.mark_at === "call" || error.mark_at === "import")
        box.appendChild(document.createElement("div")).textContent = `(raised at ${error.where}, reached from here)`;
      if (error.hint) {
        const hint = box.appendChild(document.createElement("div"));
        hint.className = "arch-hint";
        hint.textContent = "hint: " + error.hint;
      }
      return box;
    }};
}

export function createEditor({parent, doc, onChange, errorsUrl}) {
  const language = new Compartment(), completion = new Compartment();
  const view = new EditorView({
    parent,
    state: EditorState.create({doc, extensions: [
      lineNumbers(), highlightActiveLineGutter(), highlightSpecialChars(), history(), drawSelection(),
      dropCursor(), EditorState.allowMultipleSelections.of(true), indentOnInput(), bracketMatching(),
      closeBrackets(), rectangularSelection(), highlightActiveLine(), highlightSelectionMatches(),
      indentUnit.of("    "), syntaxHighlighting(highlight), lintGutter(),
      language.of(archLanguage(EMPTY)), completion.of(autocompletion({override: [completions(EMPTY)]})),
      EditorView.lineWrapping,
      keymap.of([{key: "Mod-/", run: toggleComment}, ...closeBracketsKeymap, ...defaultKeymap, ...searchKeymap,
        ...historyKeymap, ...completionKeymap, indentWithTab]),
      EditorView.updateListener.of((u) => {
        if (u.docChanged && !u.transactions.some((t) => t.annotation(external))) onChange();
      }),
    ]}),
  });
  return {
    view,
    getText: () => view.state.doc.toString(),
    // Another editor's text from disk: replaced in one change, keeping the cursor where it can.
    setText(text) {
      const head = Math.min(view.state.selection.main.head, text.length);
      view.dispatch({changes: {from: 0, to: view.state.doc.length, insert: text}, selection: {anchor: head},
        annotations: external.of(true)});
    },
    setVocabulary(vocab) {
      view.dispatch({effects: [language.reconfigure(archLanguage(vocab)),
        completion.reconfigure(autocompletion({override: [completions(vocab)]}))]});
    },
    setError(error) {
      const list = error && error.mark ? [diagnostic(error, view.state.doc.length, errorsUrl)] : [];
      view.dispatch(setDiagnostics(view.state, list));
    },
    focus: () => view.focus(),
  };
}
