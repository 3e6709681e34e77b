import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { upload, type Progress } from "../src/index.js";
import { FakeXHR, file, ticketOf } from "./fakes.js";

beforeEach(() => {
  FakeXHR.reset();
  vi.stubGlobal("XMLHttpRequest", FakeXHR);
});
afterEach(() => vi.unstubAllGlobals());

describe("upload over XMLHttpRequest", () => {
  it("POSTs the presigned fields in order, then the file last, and reports progress", async () => {
    const ticket = ticketOf();
    const progress: Progress[] = [];
    const done = upload(ticket, file(), { onProgress: (p) => progress.push(p) });
    const xhr = FakeXHR.last;
    expect([xhr.method, xhr.url]).toEqual(["POST", ticket.presignedPost.url]);
    expect([...(xhr.body as FormData).keys()]).toEqual(["key", "policy", "x-amz-signature", "file"]);
    expect((xhr.body as FormData).get("key")).toBe(ticket.presignedPost.fields.key);
    xhr.progress(50, 200);
    xhr.progress(200, 200);
    xhr.respond(204);
    await done;
    expect(progress.map((p) => p.fraction)).toEqual([0.25, 1, 1]);
    expect(progress[0]).toEqual({ loaded: 50, total: 200, fraction: 0.25 });
  });

  it("PUTs the bytes with the ticket's headers when it says PUT (Azure Blob SAS)", async () => {
    const base = ticketOf();
    const headers = { "x-ms-blob-type": "BlockBlob", "Content-Type": "image/jpeg" };
    const ticket = {
      ...base,
      presignedPost: {
        ...base.presignedPost,
        url: "https://acct.blob.example/c/k?sig=1",
        fields: {},
        method: "PUT",
        headers,
      },
    };
    const body = file();
    const done = upload(ticket, body);
    const xhr = FakeXHR.last;
    expect([xhr.method, xhr.url]).toEqual(["PUT", "https://acct.blob.example/c/k?sig=1"]);
    expect(xhr.headers).toEqual(headers);
    expect(xhr.body).toBe(body); // the bytes themselves, not a form
    xhr.respond(201);
    await done;
  });

  it("PUT over fetch too (Node, workers)", async () => {
    vi.unstubAllGlobals();
    vi.stubGlobal("XMLHttpRequest", undefined);
    const calls: [string, RequestInit][] = [];
    vi.stubGlobal("fetch", async (url: string, init: RequestInit) => {
      calls.push([url, init]);
      return new Response(null, { status: 201 });
    });
    const base = ticketOf();
    const ticket = {
      ...base,
      presignedPost: {
        ...base.presignedPost,
        fields: {},
        method: "PUT",
        headers: { "x-ms-blob-type": "BlockBlob" },
      },
    };
    await upload(ticket, file());
    expect(calls[0]?.[1].method).toBe("PUT");
    expect(calls[0]?.[1].headers).toEqual({ "x-ms-blob-type": "BlockBlob" });
  });

  it("a refusal of the bucket is STORAGE_<S3 code> with S3's message", async () => {
    const done = upload(ticketOf(), file());
    FakeXHR.last.respond(
      400,
      "<Error><Code>EntityTooLarge</Code><Message>Your proposed upload exceeds the maximum allowed size</Message></Error>",
    );
    await expect(done).rejects.toMatchObject({
      code: "STORAGE_EntityTooLarge",
      message: "Your proposed upload exceeds the maximum allowed size",
    });
    const expired = upload(ticketOf(), file());
    FakeXHR.last.respond(403, "<Error><Code>AccessDenied</Code><Message>Policy expired</Message></Error>");
    await expect(expired).rejects.toMatchObject({ code: "STORAGE_AccessDenied" });
    const bare = upload(ticketOf(), file());
    FakeXHR.last.respond(500, "");
    await expect(bare).rejects.toMatchObject({ code: "STORAGE_HTTP_500" });
  });

  it("an unreachable bucket (or missing CORS) is NETWORK_ERROR", async () => {
    const done = upload(ticketOf(), file());
    FakeXHR.last.fail();
    await expect(done).rejects.toMatchObject({ code: "NETWORK_ERROR" });
  });

  it("the signal aborts the POST: ABORTED; an aborted signal sends nothing", async () => {
    const abort = new AbortController();
    const done = upload(ticketOf(), file(), { signal: abort.signal });
    abort.abort();
    await expect(done).rejects.toMatchObject({ code: "ABORTED" });
    expect(FakeXHR.last.aborted).toBe(true);
    FakeXHR.reset();
    await expect(upload(ticketOf(), file(), { signal: abort.signal })).rejects.toMatchObject({
      code: "ABORTED",
    });
    expect(FakeXHR.instances).toHaveLength(0);
  });
});

describe("upload without XMLHttpRequest (Node, workers)", () => {
  it("POSTs the same form with fetch, progress only at the end", async () => {
    vi.stubGlobal("XMLHttpRequest", undefined);
    const fetch = vi.fn(async (_url: string, _init: RequestInit) => new Response(null, { status: 204 }));
    vi.stubGlobal("fetch", fetch);
    const progress: number[] = [];
    await upload(ticketOf(), file(), { onProgress: (p) => progress.push(p.fraction) });
    const init = fetch.mock.calls[0]?.[1];
    expect(init?.method).toBe("POST");
    expect([...(init?.body as FormData).keys()]).toEqual(["key", "policy", "x-amz-signature", "file"]);
    expect(progress).toEqual([1]);
    fetch.mockResolvedValueOnce(
      new Response("<Error><Code>AccessDenied</Code><Message>no</Message></Error>", { status: 403 }),
    );
    await expect(upload(ticketOf(), file())).rejects.toMatchObject({ code: "STORAGE_AccessDenied" });
  });
});

describe("upload from React Native", () => {
  it("sends a {uri, name, type} file object as the form's file, last", async () => {
    const appended: Array<[string, unknown]> = [];
    // React Native's FormData takes such objects; Node's would turn them into strings.
    class NativeFormData {
      append(name: string, value: unknown) {
        appended.push([name, value]);
      }
    }
    vi.stubGlobal("FormData", NativeFormData);
    const photo = { uri: "file:///data/photo.jpg", name: "photo.jpg", type: "image/jpeg", size: 1234 };
    const progress: number[] = [];
    const done = upload(ticketOf(), photo, { onProgress: (p) => progress.push(p.fraction) });
    expect(appended.map(([name]) => name)).toEqual(["key", "policy", "x-amz-signature", "file"]);
    expect(appended.at(-1)?.[1]).toBe(photo);
    FakeXHR.last.respond(204);
    await done;
    expect(progress).toEqual([1]);
  });
});
