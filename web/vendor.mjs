// Copies the browser files of the pinned npm packages into server/static/vendor/, with their
// licences, and checks each against the sha256 recorded in MANIFEST.json.
//
//   node web/vendor.mjs           copy; fail if a file's hash differs from the manifest's
//   node web/vendor.mjs --update  copy and record new versions and hashes (after a version bump)
//
// `make vendor` runs the first; `make vendor-update` the second. The copies are committed, so
// the server needs no network and no node at run time.
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const MODULES = join(ROOT, "node_modules");
const OUT = join(ROOT, "server", "static", "vendor");
const MANIFEST = join(OUT, "MANIFEST.json");

// served name -> [npm package, path inside it]
const FILES = {
  "react.production.min.js": ["react", "umd/react.production.min.js"],
  "react-dom.production.min.js": ["react-dom", "umd/react-dom.production.min.js"],
  "graphiql.min.js": ["graphiql", "graphiql.min.js"],
  "graphiql.min.css": ["graphiql", "graphiql.min.css"],
  "plugin-explorer.umd.js": ["@graphiql/plugin-explorer", "dist/index.umd.js"],
  "plugin-explorer.css": ["@graphiql/plugin-explorer", "dist/style.css"],
  "graphql-ws.min.js": ["graphql-ws", "umd/graphql-ws.min.js"],
};

// licence texts, served name -> [npm package, path inside node_modules]. The explorer plugin
// ships none of its own: it comes from the graphql/graphiql repository, under GraphiQL's
// licence, and bundles graphiql-explorer, whose licence it carries in its dependency.
const LICENSES = {
  "LICENSE.react.txt": ["react", "react/LICENSE"],
  "LICENSE.react-dom.txt": ["react-dom", "react-dom/LICENSE"],
  "LICENSE.graphiql.txt": ["graphiql", "graphiql/LICENSE"],
  "LICENSE.plugin-explorer.txt": ["@graphiql/plugin-explorer", "graphiql/LICENSE"],
  "LICENSE.graphiql-explorer.txt": [
    "@graphiql/plugin-explorer",
    "@graphiql/plugin-explorer/node_modules/graphiql-explorer/LICENSE",
  ],
  "LICENSE.graphql-ws.txt": ["graphql-ws", "graphql-ws/LICENSE.md"],
};

const update = process.argv.includes("--update");
const pins = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).devDependencies;
const old = existsSync(MANIFEST) ? JSON.parse(readFileSync(MANIFEST, "utf8")).files : {};
const sha256 = (path) => createHash("sha256").update(readFileSync(path)).digest("hex");
const problems = [];
const files = {};

function take(name, pkg, source) {
  const meta = JSON.parse(readFileSync(join(MODULES, pkg, "package.json"), "utf8"));
  if (pins[pkg] !== meta.version) {
    problems.push(`${pkg}: package.json must pin it exactly (has ${pins[pkg]}, installed ${meta.version})`);
    return;
  }
  const hash = sha256(source);
  const before = old[name];
  if (!update && before && (before.version !== meta.version || before.sha256 !== hash)) {
    problems.push(
      `${name}: ${pkg}@${meta.version} ${hash} differs from the manifest's ` +
        `${before.package}@${before.version} ${before.sha256} (run \`make vendor-update\` after a deliberate bump)`,
    );
    return;
  }
  if (!update && !before) {
    problems.push(`${name}: not in the manifest (run \`make vendor-update\` to add it)`);
    return;
  }
  copyFileSync(source, join(OUT, name));
  files[name] = { package: pkg, version: meta.version, license: meta.license, sha256: hash };
}

mkdirSync(OUT, { recursive: true });
for (const [name, [pkg, path]] of Object.entries(FILES)) take(name, pkg, join(MODULES, pkg, path));
for (const [name, [pkg, path]] of Object.entries(LICENSES)) take(name, pkg, join(MODULES, path));

if (problems.length) {
  console.error(`vendor: nothing recorded; ${problems.length} problem(s):\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
const sorted = Object.fromEntries(Object.entries(files).sort(([a], [b]) => a.localeCompare(b)));
writeFileSync(MANIFEST, JSON.stringify({ files: sorted }, null, 2) + "\n");
console.log(`vendor: ${Object.keys(sorted).length} files in server/static/vendor match MANIFEST.json`);
