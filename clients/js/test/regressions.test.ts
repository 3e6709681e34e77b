/**
 * The two bugs of the hand-written client (asyncimg/static/asyncimg/client.js before the
 * package), through the public API only, so the same file runs against any build:
 *
 *   ASYNCIMG_CLIENT_UNDER_TEST=/path/to/client.js npx vitest run test/regressions.test.ts
 *
 * Against the old client both tests fail (the first gets ws://, the second times out).
 */
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { FakeWebSocket, FakeXHR, file, graphqlFetch, nextSocket, ticketOf } from "./fakes.js";

const under = process.env.ASYNCIMG_CLIENT_UNDER_TEST;
const { createClient } = (await import(under ?? "../src/index.js")) as typeof import("../src/index.js");

beforeEach(() => {
  FakeWebSocket.reset();
  FakeXHR.reset();
  vi.stubGlobal("XMLHttpRequest", FakeXHR);
});
afterEach(() => vi.unstubAllGlobals());

it("an explicit wss:// wsUrl is opened as wss://, not downgraded to ws://", async () => {
  const client = createClient({
    graphqlUrl: "https://api.example.com/graphql/",
    wsUrl: "wss://push.example.com/graphql/",
    WebSocket: FakeWebSocket,
    fetch: vi.fn() as unknown as typeof fetch,
  });
  client.subscribe("00000000-0000-4000-8000-000000000001", {});
  const socket = await nextSocket(1);
  expect(socket.url).toBe("wss://push.example.com/graphql/");
  client.close();
});

it("an AbortSignal fired after the POST completed rejects ABORTED and sends cancelUpload", async () => {
  const ticket = ticketOf();
  const http = graphqlFetch({
    RequestImageUpload: () => ({ data: { requestImageUpload: ticket } }),
    CancelUpload: (v) => ({
      data: {
        cancelUpload: {
          ...ticket.upload,
          id: v.id,
          status: "FAILED",
          error: { code: "CANCELLED", message: "Cancelled." },
        },
      },
    }),
  });
  const client = createClient({
    graphqlUrl: "https://api.example.com/graphql/",
    fetch: http.fetch,
    WebSocket: FakeWebSocket,
  });
  const abort = new AbortController();
  const done = client.uploadImage(file(), { signal: abort.signal });
  done.catch(() => {});
  await vi.waitFor(() => expect(FakeXHR.instances).toHaveLength(1));
  FakeXHR.last.respond(204); // the file is in the bucket; processing has not finished
  await new Promise((resolve) => setTimeout(resolve, 10));
  abort.abort();
  const outcome = await Promise.race([
    done.then(
      () => "resolved",
      (error: { code?: string }) => error.code,
    ),
    new Promise((resolve) => setTimeout(() => resolve("still pending"), 1000)),
  ]);
  expect(outcome).toBe("ABORTED");
  await vi.waitFor(() =>
    expect(http.calls.filter((c) => c.operationName === "CancelUpload").map((c) => c.variables.id)).toEqual([
      ticket.upload.id,
    ]),
  );
  client.close();
});
