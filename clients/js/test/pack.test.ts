/**
 * What `npm pack` ships: ESM, CommonJS and types for `@asyncimg/client` and
 * `@asyncimg/client/react`, checked the way a consumer meets them: the tarball unpacked into a
 * node_modules, a TypeScript file compiled against it (ESM and CommonJS resolution), and both
 * module formats loaded by Node.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name: string) => join(root, "node_modules/.bin", name);
let work: string;
let files: string[];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "asyncimg-pack-"));
  execFileSync(bin("tsup"), ["--silent"], { cwd: root, stdio: "ignore" });
  const out = execFileSync("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", work], {
    cwd: root,
    encoding: "utf8",
  });
  const [info] = JSON.parse(out) as Array<{ filename: string; files: Array<{ path: string }> }>;
  files = info!.files.map((f) => f.path);
  const installed = join(work, "node_modules/@asyncimg/client");
  mkdirSync(installed, { recursive: true });
  execFileSync("tar", ["xzf", join(work, info!.filename), "-C", installed, "--strip-components=1"]);
  // Its dependencies and peers, as npm would install them beside it.
  for (const dep of ["graphql-ws", "graphql", "react", "@types/react", "@graphql-typed-document-node/core"]) {
    mkdirSync(dirname(join(work, "node_modules", dep)), { recursive: true });
    symlinkSync(join(root, "node_modules", dep), join(work, "node_modules", dep));
  }
}, 60000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

it("ships every file package.json points at, with types", () => {
  const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const targets: string[] = [];
  const walk = (value: unknown) => {
    if (typeof value === "string") targets.push(value.replace(/^\.\//, ""));
    else if (value && typeof value === "object") Object.values(value).forEach(walk);
  };
  walk(manifest.exports);
  targets.push(manifest.main.replace(/^\.\//, ""), manifest.types.replace(/^\.\//, ""));
  for (const target of targets) expect(files, target).toContain(target);
  for (const types of ["dist/index.d.ts", "dist/index.d.cts", "dist/react.d.ts", "dist/react.d.cts"]) {
    expect(files).toContain(types);
  }
  expect(files).toContain("src/operations.graphql");
  expect(files.some((f) => f.startsWith("test/") || f.includes("node_modules"))).toBe(false);
});

it("type-checks a consumer against the packed types (ESM and CommonJS resolution)", () => {
  writeFileSync(
    join(work, "consumer.mts"),
    `import { createClient, AsyncImageError, srcsetOf, type Upload, type UploadTicket } from "@asyncimg/client";
import { useImageUpload, type ImageUploadStatus } from "@asyncimg/client/react";
const client = createClient({ graphqlUrl: "https://api.example.com/graphql/", getToken: async () => "t" });
export const ready: Promise<Upload> = client.uploadImage(new File([], "a.jpg"));
export const ticket: Promise<UploadTicket> = client.requestUpload({ name: "a.jpg", type: "image/jpeg", size: 1 });
export const code = (e: unknown) => (e instanceof AsyncImageError ? e.code : null);
export const status: ImageUploadStatus = "READY";
export const hook = useImageUpload;
export const set = (u: Upload) => (u.image ? srcsetOf(u.image, "webp") : "");
// @ts-expect-error graphqlUrl is a string
createClient({ graphqlUrl: 1 });
`,
  );
  writeFileSync(
    join(work, "consumer.cts"),
    `import asyncimg = require("@asyncimg/client");
import react = require("@asyncimg/client/react");
export const client: asyncimg.AsyncImageClient = asyncimg.createClient({ graphqlUrl: "https://x/graphql/" });
export const hook = react.useImageUpload;
`,
  );
  writeFileSync(
    join(work, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        module: "NodeNext",
        moduleResolution: "NodeNext",
        target: "ES2022",
        lib: ["ES2022", "DOM"],
        types: [],
      },
      files: ["consumer.mts", "consumer.cts"],
    }),
  );
  execFileSync(bin("tsc"), ["-p", work], { cwd: work, encoding: "utf8" });
}, 60000);

it("loads as ESM and as CommonJS in Node", () => {
  const esm = execFileSync(
    process.execPath,
    [
      "--input-type=module",
      "-e",
      `import * as m from "@asyncimg/client"; import * as r from "@asyncimg/client/react"; console.log(typeof m.createClient, typeof r.useImageUpload, m.websocketUrl("https://a/graphql/"))`,
    ],
    { cwd: work, encoding: "utf8" },
  );
  expect(esm.trim()).toBe("function function wss://a/graphql/");
  const cjs = execFileSync(
    process.execPath,
    [
      "-e",
      `const m = require("@asyncimg/client"); console.log(typeof m.createClient, typeof m.AsyncImageError)`,
    ],
    {
      cwd: work,
      encoding: "utf8",
    },
  );
  expect(cjs.trim()).toBe("function function");
});
