// Bundles src/editor.js with CodeMirror into ../static/editor.js, and the bundled
// packages' licences into ../static/editor-licenses.txt. Run with `make serve-assets`
// (npm ci, then node build.mjs); the outputs are committed, so that the package needs
// neither node nor the network.
import {build} from "esbuild";
import {readFileSync, writeFileSync, existsSync} from "node:fs";
import {dirname, join} from "node:path";
import {fileURLToPath} from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "static");

const result = await build({
  entryPoints: [join(here, "src", "editor.js")],
  bundle: true, format: "esm", minify: true, target: "es2020", legalComments: "none",
  outfile: join(out, "editor.js"), metafile: true,
  banner: {js: "// archlang playground editor: CodeMirror 6 (MIT, see editor-licenses.txt), bundled by build.mjs"},
});

// One licence text per bundled package, in a stable order.
const packages = new Set();
for (const input of Object.keys(result.metafile.inputs)) {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
  if (m) packages.add(m[1]);
}
const texts = [...packages].sort().map((name) => {
  const dir = join(here, "node_modules", name);
  const meta = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  const file = ["LICENSE", "LICENSE.md", "LICENSE.txt"].map((f) => join(dir, f)).find(existsSync);
  return `${name} ${meta.version} (${meta.license})\n\n${file ? readFileSync(file, "utf8").trim() : meta.license}\n`;
});
writeFileSync(join(out, "editor-licenses.txt"), texts.join("\n" + "-".repeat(72) + "\n\n"));
console.log(`wrote ${join(out, "editor.js")} and the licences of ${packages.size} packages`);
