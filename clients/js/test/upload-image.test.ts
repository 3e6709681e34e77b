import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { AsyncImageError, createClient, type Upload } from "../src/index.js";
import { FakeWebSocket, FakeXHR, IMAGE, file, graphqlFetch, settle, ticketOf, uploadOf } from "./fakes.js";

const URL = "https://api.example.com/graphql/";

beforeEach(() => {
  FakeWebSocket.reset();
  FakeXHR.reset();
  vi.stubGlobal("XMLHttpRequest", FakeXHR);
});
afterEach(() => vi.unstubAllGlobals());

/** A GraphQL endpoint granting tickets (optionally held until released) and recording cancels. */
function server() {
  const tickets: ReturnType<typeof ticketOf>[] = [];
  let hold: Promise<void> | null = null;
  let release = () => {};
  const http = graphqlFetch({
    RequestImageUpload: async (v) => {
      if (hold) await hold;
      const ticket = ticketOf(uploadOf({ filename: v.input.filename }));
      tickets.push(ticket);
      return { data: { requestImageUpload: ticket } };
    },
    RequestImageUploads: async (v) => {
      const granted = v.inputs.map((input: { filename: string }) =>
        ticketOf(uploadOf({ filename: input.filename })),
      );
      tickets.push(...granted);
      return { data: { requestImageUploads: granted } };
    },
    CancelUpload: (v) => ({
      data: {
        cancelUpload: uploadOf({
          id: v.id,
          status: "FAILED",
          error: { code: "CANCELLED", message: "Cancelled." },
        }),
      },
    }),
  });
  return {
    ...http,
    tickets,
    holdTickets() {
      hold = new Promise((resolve) => (release = () => resolve()));
    },
    releaseTickets: () => release(),
    cancelled: () =>
      http.calls.filter((c) => c.operationName === "CancelUpload").map((c) => c.variables.id as string),
  };
}

function clientFor(http: { fetch: typeof fetch }) {
  return createClient({
    graphqlUrl: URL,
    fetch: http.fetch,
    WebSocket: FakeWebSocket,
    retry: { initialDelay: 1, maxDelay: 2 },
    lazyCloseTimeout: 0,
    pingInterval: 0,
  });
}

/** The subscription of upload `id` on the current socket (accepting the socket if new). */
async function subscriptionOf(id: string) {
  let found: { socket: FakeWebSocket; opId: string } | null = null;
  await vi.waitFor(async () => {
    const socket = FakeWebSocket.last;
    if (socket.readyState === FakeWebSocket.CONNECTING) await socket.accept();
    const sub = socket.ofType("subscribe").find((m) => m.payload.variables.uploadId === id);
    if (!sub?.id) throw new Error(`no subscription for ${id} yet`);
    found = { socket, opId: sub.id };
  });
  const { socket, opId } = found as unknown as { socket: FakeWebSocket; opId: string };
  return {
    socket,
    push: (upload: Record<string, unknown>) => socket.next(opId, { imageProcessed: upload }),
    completedByClient: () => socket.ofType("complete").some((m) => m.id === opId),
  };
}

describe("uploadImage", () => {
  it("requests, subscribes, POSTs and resolves at READY, reporting each state and the progress", async () => {
    const http = server();
    const client = clientFor(http);
    const updates: string[] = [];
    const progress: number[] = [];
    const done = client.uploadImage(file(), {
      onUpdate: (u) => updates.push(u.status),
      onProgress: (p) => progress.push(p.fraction),
    });
    await vi.waitFor(() => expect(http.tickets).toHaveLength(1));
    const ticket = http.tickets[0]!;
    const sub = await subscriptionOf(ticket.upload.id);
    sub.push(ticket.upload);
    await vi.waitFor(() => expect(FakeXHR.instances).toHaveLength(1));
    FakeXHR.last.progress(2, 4);
    FakeXHR.last.respond(204);
    sub.push({ ...ticket.upload, status: "PROCESSING", updatedAt: "2026-01-01T00:00:01+00:00" });
    sub.push({ ...ticket.upload, status: "READY", updatedAt: "2026-01-01T00:00:02+00:00", image: IMAGE });
    const ready = await done;
    expect(ready.status).toBe("READY");
    expect(ready.image?.variants).toHaveLength(3);
    expect(ready.image?.placeholder?.dataUrl).toMatch(/^data:image\/webp;base64,/);
    expect(ready.image?.labels).toEqual([{ name: "Cat", confidence: 98.5 }]);
    // The ticket's PENDING (its repetition as the subscription's current state is dropped),
    // then the changes.
    expect(updates).toEqual(["PENDING", "PROCESSING", "READY"]);
    expect(progress).toEqual([0.5, 1]);
    expect(http.cancelled()).toEqual([]);
  });

  it("rejects with UPLOAD_<code> when the upload ends FAILED or EXPIRED", async () => {
    const http = server();
    const client = clientFor(http);
    const done = client.uploadImage(file("cat.jpg"));
    await vi.waitFor(() => expect(http.tickets).toHaveLength(1));
    const ticket = http.tickets[0]!;
    const sub = await subscriptionOf(ticket.upload.id);
    FakeXHR.last.respond(204);
    sub.push({
      ...ticket.upload,
      status: "FAILED",
      updatedAt: "x",
      error: { code: "UNSUPPORTED_TYPE", message: "Not an image." },
    });
    const error = (await done.catch((e: unknown) => e)) as AsyncImageError;
    expect(error).toBeInstanceOf(AsyncImageError);
    expect([error.code, error.message]).toEqual(["UPLOAD_UNSUPPORTED_TYPE", "Not an image."]);
  });

  it("a refused request rejects with the server's code, and nothing is uploaded", async () => {
    const http = graphqlFetch({
      RequestImageUpload: () => ({
        data: null,
        errors: [{ message: "Too large.", extensions: { code: "FILE_TOO_LARGE" } }],
      }),
    });
    const client = clientFor(http);
    await expect(client.uploadImage(file())).rejects.toMatchObject({ code: "FILE_TOO_LARGE" });
    expect(FakeXHR.instances).toHaveLength(0);
    expect(FakeWebSocket.instances).toHaveLength(0);
  });

  it("a storage refusal rejects with STORAGE_<code> and stops following", async () => {
    const http = server();
    const client = clientFor(http);
    const done = client.uploadImage(file());
    await vi.waitFor(() => expect(FakeXHR.instances).toHaveLength(1));
    const sub = await subscriptionOf(http.tickets[0]!.upload.id);
    FakeXHR.last.respond(403, "<Error><Code>AccessDenied</Code><Message>Expired</Message></Error>");
    await expect(done).rejects.toMatchObject({ code: "STORAGE_AccessDenied" });
    await vi.waitFor(() => expect(sub.completedByClient()).toBe(true));
  });

  it("a subscription that completes before a final state rejects with INCOMPLETE", async () => {
    const http = server();
    const client = clientFor(http);
    const done = client.uploadImage(file());
    await vi.waitFor(() => expect(http.tickets).toHaveLength(1));
    const sub = await subscriptionOf(http.tickets[0]!.upload.id);
    const opId = sub.socket.ofType("subscribe")[0]!.id!;
    sub.socket.receive({ id: opId, type: "complete" });
    await expect(done).rejects.toMatchObject({ code: "INCOMPLETE" });
  });
});

describe("cancelling uploadImage at every stage", () => {
  it("a signal aborted before the call: ABORTED, nothing requested", async () => {
    const http = server();
    const client = clientFor(http);
    const abort = new AbortController();
    abort.abort();
    await expect(client.uploadImage(file(), { signal: abort.signal })).rejects.toMatchObject({
      code: "ABORTED",
    });
    expect(http.calls).toHaveLength(0);
  });

  it("while the credential is being requested: ABORTED at once, and the late ticket is cancelled", async () => {
    const http = server();
    http.holdTickets();
    const client = clientFor(http);
    const abort = new AbortController();
    const done = client.uploadImage(file(), { signal: abort.signal });
    await vi.waitFor(() => expect(http.calls).toHaveLength(1));
    abort.abort();
    await expect(done).rejects.toMatchObject({ code: "ABORTED" });
    http.releaseTickets();
    await vi.waitFor(() => expect(http.cancelled()).toEqual([http.tickets[0]?.upload.id]));
    expect(FakeXHR.instances).toHaveLength(0);
  });

  it("during the POST: the transfer stops, cancelUpload is sent, ABORTED", async () => {
    const http = server();
    const client = clientFor(http);
    const abort = new AbortController();
    const done = client.uploadImage(file(), { signal: abort.signal });
    await vi.waitFor(() => expect(FakeXHR.instances).toHaveLength(1));
    FakeXHR.last.progress(1, 4);
    abort.abort();
    await expect(done).rejects.toMatchObject({ code: "ABORTED" });
    expect(FakeXHR.last.aborted).toBe(true);
    await vi.waitFor(() => expect(http.cancelled()).toEqual([http.tickets[0]?.upload.id]));
  });

  it("after the POST, while processing: cancelUpload is sent, the subscription ends, ABORTED", async () => {
    const http = server();
    const client = clientFor(http);
    const abort = new AbortController();
    const done = client.uploadImage(file(), { signal: abort.signal });
    await vi.waitFor(() => expect(http.tickets).toHaveLength(1));
    const id = http.tickets[0]!.upload.id;
    const sub = await subscriptionOf(id);
    FakeXHR.last.respond(204);
    sub.push({ ...http.tickets[0]!.upload, status: "PROCESSING", updatedAt: "x" });
    await settle();
    abort.abort();
    await expect(done).rejects.toMatchObject({ code: "ABORTED" });
    await vi.waitFor(() => expect(http.cancelled()).toEqual([id]));
    await vi.waitFor(() => expect(sub.completedByClient()).toBe(true));
  });

  it("client.cancel(id) stops the transfer too and rejects with UPLOAD_CANCELLED", async () => {
    const http = server();
    const client = clientFor(http);
    const done = client.uploadImage(file());
    await vi.waitFor(() => expect(FakeXHR.instances).toHaveLength(1));
    const id = http.tickets[0]!.upload.id;
    const cancelled = await client.cancel(id);
    expect(cancelled.error?.code).toBe("CANCELLED");
    await expect(done).rejects.toMatchObject({ code: "UPLOAD_CANCELLED" });
    expect(FakeXHR.last.aborted).toBe(true);
    expect(http.cancelled()).toEqual([id]);
  });

  it("an abort after READY changes nothing", async () => {
    const http = server();
    const client = clientFor(http);
    const abort = new AbortController();
    const done = client.uploadImage(file(), { signal: abort.signal });
    await vi.waitFor(() => expect(http.tickets).toHaveLength(1));
    const ticket = http.tickets[0]!;
    const sub = await subscriptionOf(ticket.upload.id);
    FakeXHR.last.respond(204);
    sub.push({ ...ticket.upload, status: "READY", updatedAt: "y", image: IMAGE });
    await done;
    abort.abort();
    await settle(10);
    expect(http.cancelled()).toEqual([]);
  });
});

describe("uploadImages", () => {
  it("one mutation for all files, then each followed on its own (settled results)", async () => {
    const http = server();
    const client = clientFor(http);
    const seen: Array<[string, number]> = [];
    const done = client.uploadImages([file("a.jpg"), file("b.jpg")], {
      onUpdate: (u, i) => seen.push([u.status, i]),
    });
    await vi.waitFor(() => expect(http.tickets).toHaveLength(2));
    expect(http.calls.filter((c) => c.operationName === "RequestImageUploads")).toHaveLength(1);
    const [a, b] = http.tickets as [ReturnType<typeof ticketOf>, ReturnType<typeof ticketOf>];
    const subA = await subscriptionOf(a.upload.id);
    const subB = await subscriptionOf(b.upload.id);
    await vi.waitFor(() => expect(FakeXHR.instances).toHaveLength(2));
    for (const xhr of FakeXHR.instances) xhr.respond(204);
    subA.push({ ...a.upload, status: "READY", updatedAt: "1", image: IMAGE });
    subB.push({
      ...b.upload,
      status: "FAILED",
      updatedAt: "1",
      error: { code: "CORRUPT_IMAGE", message: "Broken." },
    });
    const results = await done;
    expect(results[0]).toMatchObject({ status: "fulfilled", value: { id: a.upload.id, status: "READY" } });
    expect(results[1]).toMatchObject({ status: "rejected", reason: { code: "UPLOAD_CORRUPT_IMAGE" } });
    expect(seen).toContainEqual(["READY", 0]);
    expect(seen).toContainEqual(["FAILED", 1]);
  });

  it("the signal cancels every unfinished upload", async () => {
    const http = server();
    const client = clientFor(http);
    const abort = new AbortController();
    const done = client.uploadImages([file("a.jpg"), file("b.jpg")], { signal: abort.signal });
    await vi.waitFor(() => expect(FakeXHR.instances).toHaveLength(2));
    abort.abort();
    const results = await done;
    expect(results.map((r) => (r.status === "rejected" ? (r.reason as AsyncImageError).code : "ok"))).toEqual(
      ["ABORTED", "ABORTED"],
    );
    await vi.waitFor(() =>
      expect(http.cancelled().sort()).toEqual(http.tickets.map((t) => t.upload.id).sort()),
    );
  });
});

describe("the building blocks, as the demo page uses them", () => {
  it("requestUpload, subscribe, upload and cancel", async () => {
    const http = server();
    const client = clientFor(http);
    const ticket = await client.requestUpload(file());
    const values: Upload[] = [];
    client.subscribe(ticket.upload.id, { next: (u) => values.push(u) });
    const sub = await subscriptionOf(ticket.upload.id);
    sub.push(ticket.upload);
    const sent = client.upload(ticket, file());
    FakeXHR.last.respond(204);
    await sent;
    await vi.waitFor(() => expect(values.map((u) => u.status)).toEqual(["PENDING"]));
    expect((await client.cancel(ticket.upload.id)).status).toBe("FAILED");
    client.dispose();
  });
});
