// The archlang extension: the language and its grammar are declared in package.json; this
// starts `archlang lsp` (the command in the `archlang.command` setting) for .arch files and
// passes it the `archlang` settings. Bundled into dist/extension.js by `npm run build`.
const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const [command, ...args] = vscode.workspace.getConfiguration("archlang").get("command", ["archlang", "lsp"]);
  const server = { command, args, transport: TransportKind.stdio };
  client = new LanguageClient("archlang", "archlang", server, {
    documentSelector: [{ scheme: "file", language: "arch" }, { scheme: "untitled", language: "arch" }],
    synchronize: { configurationSection: "archlang" },
    initializationOptions: { archlang: vscode.workspace.getConfiguration("archlang") },
  });
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
