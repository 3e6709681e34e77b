// Fails when src/generated/graphql.ts is not what graphql-codegen makes of docs/schema.graphql
// and src/operations.graphql today (the schema changed, or the operations did): run
// `npm run codegen` and commit the result.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const committed = join(root, "src/generated/graphql.ts");
const dir = mkdtempSync(join(tmpdir(), "asyncimg-codegen-"));
const fresh = join(dir, "graphql.ts");
try {
  execFileSync(join(root, "node_modules/.bin/graphql-codegen"), ["--config", "codegen.ts", "--silent"], {
    cwd: root,
    env: { ...process.env, CODEGEN_OUT: fresh },
    stdio: ["ignore", "ignore", "inherit"],
  });
  if (readFileSync(fresh, "utf8") !== readFileSync(committed, "utf8")) {
    console.error("src/generated/graphql.ts is stale: run `npm run codegen` in clients/js and commit it.");
    process.exitCode = 1;
  } else {
    console.log("codegen: src/generated/graphql.ts is current");
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
