// The real client against the real server, authenticated by a bearer token only (a mobile app's
// way: no cookie, no CSRF token, no Origin): run by tests/test_js_client.py, which starts the
// server, the storage and the processor, mints the token and checks what this prints.
//
//   node [--experimental-websocket] token-upload.mjs
//
// Environment: ASYNCIMG_CLIENT (the module to test: the static bundle or dist/index.js),
// ASYNCIMG_GRAPHQL_URL, ASYNCIMG_TOKEN, ASYNCIMG_JPEG (a path). Prints one JSON object.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const { createClient, AsyncImageError } = await import(pathToFileURL(process.env.ASYNCIMG_CLIENT).href);
const graphqlUrl = process.env.ASYNCIMG_GRAPHQL_URL;
const token = process.env.ASYNCIMG_TOKEN;
const jpeg = readFileSync(process.env.ASYNCIMG_JPEG);

// Every HTTP exchange, to show that no cookie went either way.
const exchanges = [];
async function recordingFetch(input, init = {}) {
  const response = await fetch(input, init);
  const headers = new Headers(init.headers);
  exchanges.push({
    url: String(input),
    authorization: headers.get("authorization"),
    csrf: headers.get("x-csrftoken"),
    cookieSent: headers.has("cookie"),
    setCookie: response.headers.get("set-cookie"),
  });
  return response;
}

const states = [];
let tokenCalls = 0;
const client = createClient({
  graphqlUrl,
  getToken: async () => {
    tokenCalls += 1;
    return token;
  },
  fetch: recordingFetch,
  onConnectionChange: (state) => states.push(state),
});
const result = {};

async function codeOf(promise) {
  try {
    await promise;
    return "no error";
  } catch (error) {
    return error instanceof AsyncImageError ? error.code : `not an AsyncImageError: ${error}`;
  }
}

// 1. A refusal comes back with the server's code.
result.refusal = await codeOf(client.requestUpload({ name: "x.svg", type: "image/svg+xml", size: 10 }));

// 2. The whole upload: credential, POST to the bucket, processing pushed over the websocket.
const file = new File([jpeg], "token photo.jpg", { type: "image/jpeg" });
const statuses = [];
const progress = [];
const ready = await client.uploadImage(file, {
  onUpdate: (upload) => statuses.push(upload.status),
  onProgress: (p) => progress.push(p.fraction),
});
result.ready = {
  id: ready.id,
  status: ready.status,
  filename: ready.filename,
  width: ready.image?.width,
  variants: ready.image?.variants.map((v) => v.name).sort(),
};
result.statuses = statuses;
result.lastProgress = progress.at(-1);

// 3. Cancelled by its signal once granted: ABORTED, and the server's upload ends CANCELLED.
const abort = new AbortController();
const cancelled = client.uploadImage(new File([jpeg], "never.jpg", { type: "image/jpeg" }), {
  signal: abort.signal,
  onUpdate: (upload) => {
    result.cancelledId ??= upload.id;
    abort.abort();
  },
});
result.abort = await codeOf(cancelled);
const UPLOAD = "query Upload($id: ID!) { upload(id: $id) { status error { code } } }";
for (let i = 0; i < 50; i += 1) {
  const { upload } = await client.request(UPLOAD, { id: result.cancelledId });
  result.cancelledState = upload;
  if (upload?.status !== "PENDING") break;
  await new Promise((resolve) => setTimeout(resolve, 100));
}

// 4. A bad token: 401 UNAUTHENTICATED over HTTP, 4403 (UNAUTHENTICATED) on the websocket.
const forged = createClient({
  graphqlUrl,
  getToken: () => "forged-token",
  retry: { initialDelay: 10, maxDelay: 50 },
});
result.badTokenHttp = await codeOf(forged.requestUpload({ name: "a.jpg", type: "image/jpeg", size: 10 }));
result.badTokenWebsocket = await new Promise((resolve) => {
  forged.subscribe(ready.id, {
    next: () => resolve("got a value"),
    error: (error) => resolve(error.code),
    complete: () => resolve("completed"),
  });
});
forged.dispose();

client.dispose();
result.states = states;
result.tokenCalls = tokenCalls;
result.exchanges = exchanges;
console.log(JSON.stringify(result));
