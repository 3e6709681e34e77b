/**
 * The static bundle Django serves (asyncimg/static/asyncimg/client.js) is a fresh build of this
 * package, and has what the demo page (config/templates/asyncimg_project/demo.html) imports.
 */
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { expect, it } from "vitest";
// @ts-expect-error a plain .mjs script without types
import { BUNDLE, bundle } from "../scripts/bundle.mjs";

it("the committed bundle equals a fresh build", async () => {
  const fresh: string = await bundle();
  expect(
    readFileSync(BUNDLE, "utf8") === fresh,
    "run `npm run build` in clients/js and commit the bundle",
  ).toBe(true);
});

it("is one module without imports, exporting what the demo page uses", async () => {
  const text = readFileSync(BUNDLE, "utf8");
  expect(text).not.toMatch(/^\s*import\s/m);
  const module = await import(pathToFileURL(BUNDLE).href);
  for (const name of [
    "createClient",
    "isTerminal",
    "srcsetOf",
    "upload",
    "AsyncImageError",
    "contentTypeOf",
    "csrfCookie",
    "UPLOAD_FIELDS",
  ]) {
    expect(module, name).toHaveProperty(name);
  }
  const client = module.createClient({ graphqlUrl: "https://x/graphql/" });
  for (const method of [
    "requestUpload",
    "requestUploads",
    "upload",
    "subscribe",
    "cancel",
    "uploadImage",
    "uploadImages",
    "dispose",
    "close",
  ]) {
    expect(typeof client[method], method).toBe("function");
  }
});
