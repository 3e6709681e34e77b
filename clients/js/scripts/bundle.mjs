// The browser bundle Django serves as /static/asyncimg/client.js: the package with graphql-ws
// inside, one ES module with no imports, so a page (and the demo) needs no npm at all.
//
//   node scripts/bundle.mjs           write asyncimg/static/asyncimg/client.js
//   node scripts/bundle.mjs --check   exit 1 when the committed file differs from a fresh build
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const BUNDLE = resolve(root, "../../asyncimg/static/asyncimg/client.js");
const { version } = JSON.parse(readFileSync(resolve(root, "package.json"), "utf8"));

export async function bundle() {
  const result = await build({
    absWorkingDir: root,
    entryPoints: ["src/index.ts"],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2020",
    write: false,
    legalComments: "inline",
    charset: "utf8",
    banner: {
      js: [
        `// @asyncimg/client ${version}, built from clients/js (npm run build) with graphql-ws`,
        "// inside: do not edit, edit clients/js/src/ and rebuild. Documented in docs/client.md.",
      ].join("\n"),
    },
  });
  return result.outputFiles[0].text;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const fresh = await bundle();
  if (process.argv.includes("--check")) {
    let committed = "";
    try {
      committed = readFileSync(BUNDLE, "utf8");
    } catch {}
    if (committed !== fresh) {
      console.error(`${BUNDLE} is not a fresh build of clients/js: run \`npm run build\` and commit it.`);
      process.exit(1);
    }
    console.log("bundle: asyncimg/static/asyncimg/client.js is current");
  } else {
    writeFileSync(BUNDLE, fresh);
    console.log(`bundle: wrote ${BUNDLE} (${fresh.length} bytes)`);
  }
}
