import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  AsyncImageError,
  createClient,
  type ClientOptions,
  type ConnectionState,
  type Upload,
} from "../src/index.js";
import { FakeWebSocket, nextSocket, settle, uploadOf } from "./fakes.js";

const URL = "https://api.example.com/graphql/";

function client(options: Partial<ClientOptions> = {}) {
  return createClient({
    graphqlUrl: URL,
    WebSocket: FakeWebSocket,
    fetch: vi.fn() as unknown as typeof fetch,
    retry: { initialDelay: 1, maxDelay: 2 },
    lazyCloseTimeout: 0,
    pingInterval: 0,
    ...options,
  });
}

function recorder() {
  const values: Upload[] = [];
  const errors: AsyncImageError[] = [];
  let completed = 0;
  return {
    values,
    errors,
    get completed() {
      return completed;
    },
    sink: {
      next: (u: Upload) => values.push(u),
      error: (e: AsyncImageError) => errors.push(e),
      complete: () => (completed += 1),
    },
  };
}

beforeEach(() => FakeWebSocket.reset());
afterEach(() => FakeWebSocket.reset());

describe("connecting", () => {
  it("opens nothing until the first subscription, then one graphql-transport-ws socket", async () => {
    const c = client();
    await settle();
    expect(FakeWebSocket.instances).toHaveLength(0);
    c.subscribe("a", {});
    c.subscribe("b", {});
    const socket = await nextSocket(1);
    expect(socket.protocol).toBe("graphql-transport-ws");
    await socket.accept();
    const first = await socket.subscription(1);
    const second = await socket.subscription(2);
    expect(first.payload.variables).toEqual({ uploadId: "a" });
    expect(second.payload.variables).toEqual({ uploadId: "b" });
    expect(first.payload.query).toContain("subscription ImageProcessed($uploadId: ID!)");
    expect(first.payload.query).toContain("fragment UploadFields on Upload");
    // The placeholder is selected, so a READY upload carries it (the demo paints it first).
    expect(first.payload.query).toMatch(/placeholder \{\s*hash\s*dataUrl\s*\}/);
    expect(first.payload.query).toMatch(/moderation \{\s*status/);
    expect(FakeWebSocket.instances).toHaveLength(1);
    c.dispose();
  });

  it("sends connection_init without a payload when there is no token (cookie auth)", async () => {
    const c = client();
    c.subscribe("a", {});
    const init = await (await nextSocket(1)).accept();
    expect(init).toEqual({ type: "connection_init" });
    c.dispose();
  });

  it("sends the token as connectionParams {authorization: 'Bearer <token>'}", async () => {
    const c = client({ getToken: async () => "tok-1", connectionParams: { locale: "fr" } });
    c.subscribe("a", {});
    const init = await (await nextSocket(1)).accept();
    expect(init).toEqual({
      type: "connection_init",
      payload: { locale: "fr", authorization: "Bearer tok-1" },
    });
    c.dispose();
  });

  it("asks getToken again for every connection (a refreshed token after a drop)", async () => {
    let n = 0;
    const c = client({ getToken: () => `tok-${++n}` });
    c.subscribe("a", {});
    const first = await nextSocket(1);
    expect((await first.accept()).payload).toEqual({ authorization: "Bearer tok-1" });
    first.drop(1006);
    const second = await nextSocket(2);
    expect((await second.accept()).payload).toEqual({ authorization: "Bearer tok-2" });
    c.dispose();
  });

  it("a getToken that throws fails the subscription with UNAUTHENTICATED, without retrying", async () => {
    const c = client({ getToken: () => Promise.reject(new Error("refresh failed")) });
    const r = recorder();
    c.subscribe("a", r.sink);
    (await nextSocket(1)).open();
    await vi.waitFor(() => expect(r.errors).toHaveLength(1));
    expect(r.errors[0]).toBeInstanceOf(AsyncImageError);
    expect(r.errors[0]?.code).toBe("UNAUTHENTICATED");
    expect(r.errors[0]?.message).toContain("refresh failed");
    await settle(20);
    expect(FakeWebSocket.instances).toHaveLength(1);
  });
});

describe("close codes", () => {
  // Codes after which reconnecting cannot help: the subscription fails with the code.
  it.each([
    [4400, "WEBSOCKET_4400"],
    [4401, "WEBSOCKET_4401"],
    [4406, "WEBSOCKET_4406"],
    [4409, "WEBSOCKET_4409"],
    [4429, "WEBSOCKET_4429"],
    [4500, "WEBSOCKET_4500"],
    [1009, "WEBSOCKET_1009"],
    [1011, "WEBSOCKET_1011"],
  ])("%i fails every subscription with %s and does not reconnect", async (code, expected) => {
    const states: ConnectionState[] = [];
    const c = client({ onConnectionChange: (s) => states.push(s) });
    const a = recorder();
    const b = recorder();
    c.subscribe("a", a.sink);
    c.subscribe("b", b.sink);
    const socket = await nextSocket(1);
    await socket.accept();
    await socket.subscription(2);
    socket.drop(code, "bye");
    await vi.waitFor(() => expect(a.errors.length + b.errors.length).toBe(2));
    for (const error of [a.errors[0], b.errors[0]]) {
      expect(error).toBeInstanceOf(AsyncImageError);
      expect(error?.code).toBe(expected);
      expect(error?.closeCode).toBe(code);
    }
    expect(states.at(-1)).toBe("closed");
    await settle(20);
    expect(FakeWebSocket.instances).toHaveLength(1);
  });

  it("4403 at connection_init (a bad token) rejects with UNAUTHENTICATED, no retry", async () => {
    const getToken = vi.fn(() => "bad");
    const c = client({ getToken });
    const r = recorder();
    c.subscribe("a", r.sink);
    const socket = await nextSocket(1);
    socket.open();
    await socket.waitFor("connection_init");
    socket.drop(4403, "Forbidden");
    await vi.waitFor(() => expect(r.errors).toHaveLength(1));
    expect(r.errors[0]?.code).toBe("UNAUTHENTICATED");
    expect(r.errors[0]?.closeCode).toBe(4403);
    await settle(20);
    expect(FakeWebSocket.instances).toHaveLength(1);
    expect(getToken).toHaveBeenCalledTimes(1);
  });

  it("4403 on an acknowledged socket (the token expired) reconnects with a fresh token", async () => {
    let n = 0;
    const c = client({ getToken: () => `tok-${++n}` });
    const r = recorder();
    c.subscribe("a", r.sink);
    const first = await nextSocket(1);
    await first.accept();
    await first.subscription();
    first.drop(4403, "Token expired");
    const second = await nextSocket(2);
    expect((await second.accept()).payload).toEqual({ authorization: "Bearer tok-2" });
    const again = await second.subscription();
    expect(again.payload.variables).toEqual({ uploadId: "a" });
    expect(r.errors).toEqual([]);
    // The fresh token is refused too: now it is final.
    second.drop(4403, "Token expired");
    const third = await nextSocket(3);
    third.open();
    await third.waitFor("connection_init");
    third.drop(4403, "Forbidden");
    await vi.waitFor(() => expect(r.errors.map((e) => e.code)).toEqual(["UNAUTHENTICATED"]));
  });

  // Codes a new connection may cure: the client reconnects and subscribes again.
  it.each([
    [1006, "abnormal closure (network drop)"],
    [1001, "going away (server restart)"],
    [1005, "no status (socket.close() without a code)"],
    [1012, "service restart"],
    [1000, "normal closure while subscriptions are active"],
    [4408, "connection_init timeout"],
    [4499, "terminated"],
    [4504, "connection_ack timeout"],
  ])("%i (%s) reconnects and re-subscribes; the repeated current state arrives once", async (code) => {
    const states: ConnectionState[] = [];
    const c = client({ onConnectionChange: (s) => states.push(s) });
    const r = recorder();
    c.subscribe("a", r.sink);
    const pending = uploadOf({ id: "a" });
    const first = await nextSocket(1);
    await first.accept();
    const sub1 = await first.subscription();
    first.next(sub1.id, { imageProcessed: pending });
    await vi.waitFor(() => expect(r.values).toHaveLength(1));

    first.drop(code, "gone");
    const second = await nextSocket(2);
    await second.accept();
    const sub2 = await second.subscription();
    expect(sub2.payload).toEqual(sub1.payload);
    // The server's contract: the current state first. Delivered once, then the change.
    second.next(sub2.id, { imageProcessed: pending });
    second.next(sub2.id, {
      imageProcessed: { ...pending, status: "PROCESSING", updatedAt: "2026-01-01T00:00:05+00:00" },
    });
    await vi.waitFor(() => expect(r.values.map((u) => u.status)).toEqual(["PENDING", "PROCESSING"]));
    expect(r.errors).toEqual([]);
    expect(states).toEqual(["connecting", "connected", "reconnecting", "connected"]);
    c.dispose();
    expect(states.at(-1)).toBe("idle");
  });

  it("a failed connection (error event, then 1006) is retried until the server is back", async () => {
    const c = client();
    const r = recorder();
    c.subscribe("a", r.sink);
    (await nextSocket(1)).fail();
    (await nextSocket(2)).fail();
    const third = await nextSocket(3);
    await third.accept();
    await third.subscription();
    expect(r.errors).toEqual([]);
    c.dispose();
  });

  it("a socket that stops answering pings is dropped and reopened", async () => {
    const c = client({ pingInterval: 30 });
    c.subscribe("a", {});
    const first = await nextSocket(1);
    await first.accept();
    await first.subscription();
    await first.waitFor("ping");
    // No pong: after one more interval the client gives up on this socket.
    const second = await nextSocket(2);
    second.autoPong = true;
    await second.accept();
    await second.subscription();
    await second.waitFor("ping", 3);
    expect(FakeWebSocket.instances).toHaveLength(2);
    expect(FakeWebSocket.instances).toHaveLength(2);
    c.dispose();
  });

  it("answers the server's pings", async () => {
    const c = client();
    c.subscribe("a", {});
    const socket = await nextSocket(1);
    await socket.accept();
    socket.receive({ type: "ping" });
    await socket.waitFor("pong");
    c.dispose();
  });
});

describe("subscription messages", () => {
  it("a GraphQL error message fails the subscription with the server's code", async () => {
    const c = client();
    const r = recorder();
    c.subscribe("nope", r.sink);
    const socket = await nextSocket(1);
    await socket.accept();
    const sub = await socket.subscription();
    socket.receive({
      id: sub.id,
      type: "error",
      payload: [{ message: "Upload not found.", extensions: { code: "NOT_FOUND" } }],
    });
    await vi.waitFor(() => expect(r.errors).toHaveLength(1));
    expect(r.errors[0]?.code).toBe("NOT_FOUND");
    expect(r.errors[0]?.errors).toHaveLength(1);
  });

  it("a next with errors and no data fails the subscription and completes it on the server", async () => {
    const c = client();
    const r = recorder();
    c.subscribe("x", r.sink);
    const socket = await nextSocket(1);
    await socket.accept();
    const sub = await socket.subscription();
    socket.receive({
      id: sub.id,
      type: "next",
      payload: { data: null, errors: [{ message: "no", extensions: { code: "NOT_FOUND" } }] },
    });
    await vi.waitFor(() => expect(r.errors.map((e) => e.code)).toEqual(["NOT_FOUND"]));
    await socket.waitFor("complete");
  });

  it("complete from the server completes the sink; unsubscribe sends complete", async () => {
    const c = client({ lazyCloseTimeout: 1000 });
    const a = recorder();
    c.subscribe("a", a.sink);
    const stop = c.subscribe("b", {});
    const socket = await nextSocket(1);
    await socket.accept();
    const subA = await socket.subscription(1);
    const subB = await socket.subscription(2);
    socket.receive({ id: subA.id, type: "complete" });
    await vi.waitFor(() => expect(a.completed).toBe(1));
    stop();
    const complete = await socket.waitFor("complete");
    expect(complete.id).toBe(subB.id);
    c.dispose();
  });

  it("closes the socket when the last subscription ends, after lazyCloseTimeout", async () => {
    const states: ConnectionState[] = [];
    const c = client({ lazyCloseTimeout: 20, onConnectionChange: (s) => states.push(s) });
    const stop = c.subscribe("a", {});
    const socket = await nextSocket(1);
    await socket.accept();
    await socket.subscription();
    stop();
    await vi.waitFor(() => expect(socket.closedWith).toEqual({ code: 1000, reason: "Normal Closure" }));
    await vi.waitFor(() => expect(states.at(-1)).toBe("idle"));
    c.dispose();
  });

  it("subscribeAll follows uploadEvents", async () => {
    const c = client();
    const r = recorder();
    c.subscribeAll(r.sink);
    const socket = await nextSocket(1);
    await socket.accept();
    const sub = await socket.subscription();
    expect(sub.payload.query).toContain("subscription UploadEvents");
    socket.next(sub.id, { uploadEvents: uploadOf({ id: "x" }) });
    socket.next(sub.id, { uploadEvents: uploadOf({ id: "y" }) });
    await vi.waitFor(() => expect(r.values.map((u) => u.id)).toEqual(["x", "y"]));
    c.dispose();
  });

  it("dispose completes every subscription and closes the socket; a later subscribe reconnects", async () => {
    const c = client();
    const r = recorder();
    c.subscribe("a", r.sink);
    const socket = await nextSocket(1);
    await socket.accept();
    await socket.subscription();
    c.dispose();
    expect(r.completed).toBe(1);
    await vi.waitFor(() => expect(socket.readyState).toBe(FakeWebSocket.CLOSED));
    c.subscribe("b", {});
    const second = await nextSocket(2);
    await second.accept();
    expect((await second.subscription()).payload.variables).toEqual({ uploadId: "b" });
    await settle(10);
    expect(r.errors).toEqual([]);
    c.close();
  });
});

describe("retry attempts", () => {
  it("with retry.attempts, gives up after that many reconnections with the last close code", async () => {
    const states: ConnectionState[] = [];
    const c = client({
      retry: { initialDelay: 1, maxDelay: 2, attempts: 2 },
      onConnectionChange: (s) => states.push(s),
    });
    const r = recorder();
    c.subscribe("a", r.sink);
    (await nextSocket(1)).drop(1006);
    (await nextSocket(2)).drop(1006);
    (await nextSocket(3)).drop(1006);
    await vi.waitFor(() => expect(r.errors.map((e) => e.code)).toEqual(["WEBSOCKET_1006"]));
    expect(states.at(-1)).toBe("closed");
    await settle(20);
    expect(FakeWebSocket.instances).toHaveLength(3);
  });
});
