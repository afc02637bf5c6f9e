// The board's build, in one place for `make board`, `make typecheck` and the drift test:
//   1. @graphql-codegen turns schema.graphql + web/board/operations/*.graphql into
//      TypeScript types and typed operation strings (web/board/src/gql/, not committed);
//   2. esbuild bundles web/board/src/main.ts (with the graphql-ws client) into
//      server/static/board/board.js, which is committed so the server needs no node.
//
//   node web/build.mjs            types, then the bundle
//   node web/build.mjs --types    types only (before `tsc --noEmit -p web`)
//   node web/build.mjs --check    types, then fail if the committed bundle differs from a build
import { generate } from "@graphql-codegen/cli";
import { build } from "esbuild";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const BUNDLE = join(ROOT, "server", "static", "board", "board.js");

const codegen = {
  cwd: ROOT,
  overwrite: true,
  silent: true,
  schema: "schema.graphql",
  documents: "web/board/operations/*.graphql",
  generates: {
    "web/board/src/gql/": {
      preset: "client",
      presetConfig: { fragmentMasking: false },
      config: {
        documentMode: "string",
        enumsAsTypes: true,
        useTypeImports: true,
        scalars: { DateTime: "string" },
      },
    },
  },
};

const mode = process.argv[2] ?? "";
await generate(codegen, true);
if (mode === "--types") process.exit(0);

const result = await build({
  absWorkingDir: ROOT,
  entryPoints: ["web/board/src/main.ts"],
  bundle: true,
  format: "iife",
  target: "es2020",
  charset: "utf8",
  legalComments: "inline",
  write: false,
  outfile: BUNDLE,
  logLevel: "warning",
});
const built = result.outputFiles[0].contents;
const where = relative(ROOT, BUNDLE);
if (mode === "--check") {
  if (Buffer.compare(Buffer.from(built), readFileSync(BUNDLE)) !== 0) {
    console.error(`${where} is not the build of web/board: run \`make board\` and commit it`);
    process.exit(1);
  }
  console.log(`${where} matches a fresh build of web/board`);
} else {
  writeFileSync(BUNDLE, built);
  console.log(`wrote ${where} (${built.length} bytes)`);
}
