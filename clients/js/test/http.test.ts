import { afterEach, describe, expect, it, vi } from "vitest";
import { AsyncImageError, createClient } from "../src/index.js";
import { graphqlFetch, ticketOf } from "./fakes.js";

const URL = "https://api.example.com/graphql/";

function answerTicket() {
  return { data: { requestImageUpload: ticketOf() } };
}

afterEach(() => vi.unstubAllGlobals());

describe("authentication over HTTP", () => {
  it("with getToken: Authorization: Bearer <token>, and no X-CSRFToken even when a cookie is there", async () => {
    vi.stubGlobal("document", { cookie: "csrftoken=cookie-token" });
    let n = 0;
    const server = graphqlFetch({ RequestImageUpload: answerTicket });
    const client = createClient({ graphqlUrl: URL, fetch: server.fetch, getToken: async () => `tok-${++n}` });
    await client.requestUpload({ name: "a.jpg", type: "image/jpeg", size: 4 });
    await client.requestUpload({ name: "b.jpg", type: "image/jpeg", size: 4 });
    expect(server.calls.map((c) => c.headers.Authorization)).toEqual(["Bearer tok-1", "Bearer tok-2"]);
    expect(server.calls[0]?.headers["X-CSRFToken"]).toBeUndefined();
  });

  it("without a token: the csrftoken cookie as X-CSRFToken, same-origin credentials", async () => {
    vi.stubGlobal("document", { cookie: "sessionid=s; csrftoken=abc%3D; other=1" });
    const server = graphqlFetch({ RequestImageUpload: answerTicket });
    const client = createClient({ graphqlUrl: URL, fetch: server.fetch });
    await client.requestUpload({ name: "a.jpg", type: "image/jpeg", size: 4 });
    const call = server.calls[0];
    expect(call?.headers["X-CSRFToken"]).toBe("abc=");
    expect(call?.headers.Authorization).toBeUndefined();
    expect(call?.credentials).toBe("same-origin");
  });

  it("a getToken that returns nothing falls back to the cookie", async () => {
    vi.stubGlobal("document", { cookie: "csrftoken=abc" });
    const server = graphqlFetch({ RequestImageUpload: answerTicket });
    const client = createClient({ graphqlUrl: URL, fetch: server.fetch, getToken: () => null });
    await client.requestUpload({ name: "a.jpg", type: "image/jpeg", size: 4 });
    expect(server.calls[0]?.headers).toMatchObject({ "X-CSRFToken": "abc" });
    expect(server.calls[0]?.headers.Authorization).toBeUndefined();
  });

  it("a getToken that throws rejects with UNAUTHENTICATED and sends nothing", async () => {
    const server = graphqlFetch({});
    const client = createClient({
      graphqlUrl: URL,
      fetch: server.fetch,
      getToken: () => {
        throw new Error("logged out");
      },
    });
    await expect(client.requestUpload({ name: "a.jpg", size: 4 })).rejects.toMatchObject({
      code: "UNAUTHENTICATED",
    });
    expect(server.calls).toHaveLength(0);
  });

  it("the server's 401 UNAUTHENTICATED (bad or expired token) is the error's code", async () => {
    const server = graphqlFetch({
      RequestImageUpload: () =>
        new Response(
          JSON.stringify({
            data: null,
            errors: [
              { message: "The token is invalid or has expired.", extensions: { code: "UNAUTHENTICATED" } },
            ],
          }),
          {
            status: 401,
            headers: { "Content-Type": "application/json", "WWW-Authenticate": "Bearer" },
          },
        ),
    });
    const client = createClient({ graphqlUrl: URL, fetch: server.fetch, getToken: () => "expired" });
    const error = await client.requestUpload({ name: "a.jpg", size: 4 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AsyncImageError);
    expect(error).toMatchObject({ code: "UNAUTHENTICATED", message: "The token is invalid or has expired." });
  });
});

describe("GraphQL over HTTP", () => {
  it("sends the generated operation and returns the ticket", async () => {
    const ticket = ticketOf();
    const server = graphqlFetch({ RequestImageUpload: () => ({ data: { requestImageUpload: ticket } }) });
    const client = createClient({ graphqlUrl: URL, fetch: server.fetch });
    const got = await client.requestUpload({ name: "IMG_1.HEIC", type: "", size: 123 });
    expect(got).toEqual(ticket);
    const call = server.calls[0];
    expect(call?.query).toContain("mutation RequestImageUpload($input: RequestImageUploadInput!)");
    expect(call?.variables).toEqual({
      input: { filename: "IMG_1.HEIC", contentType: "image/heic", size: 123 },
    });
  });

  it("requestUploads sends every file in one mutation", async () => {
    const server = graphqlFetch({
      RequestImageUploads: (v) => ({ data: { requestImageUploads: v.inputs.map(() => ticketOf()) } }),
    });
    const client = createClient({ graphqlUrl: URL, fetch: server.fetch });
    const tickets = await client.requestUploads([
      { name: "a.jpg", type: "image/jpeg", size: 1 },
      { name: "b.png", type: "image/png", size: 2 },
    ]);
    expect(tickets).toHaveLength(2);
    expect(server.calls).toHaveLength(1);
    expect(server.calls[0]?.variables.inputs.map((i: { filename: string }) => i.filename)).toEqual([
      "a.jpg",
      "b.png",
    ]);
  });

  it("a refusal carries the server's extensions.code and every error", async () => {
    const errors = [
      { message: "image/svg+xml is not allowed.", extensions: { code: "UNSUPPORTED_CONTENT_TYPE" } },
    ];
    const server = graphqlFetch({ RequestImageUpload: () => ({ data: null, errors }) });
    const client = createClient({ graphqlUrl: URL, fetch: server.fetch });
    const error = (await client
      .requestUpload({ name: "x.svg", type: "image/svg+xml", size: 1 })
      .catch((e: unknown) => e)) as AsyncImageError;
    expect(error.code).toBe("UNSUPPORTED_CONTENT_TYPE");
    expect(error.errors).toEqual(errors);
  });

  it("an answer without JSON is HTTP_<status>", async () => {
    const server = graphqlFetch({
      RequestImageUpload: () => new Response("<h1>Forbidden</h1>", { status: 403 }),
    });
    const client = createClient({ graphqlUrl: URL, fetch: server.fetch });
    await expect(client.requestUpload({ name: "a.jpg", size: 1 })).rejects.toMatchObject({
      code: "HTTP_403",
    });
  });

  it("an unreachable endpoint is NETWORK_ERROR; an aborted request is ABORTED", async () => {
    const failing = createClient({
      graphqlUrl: URL,
      fetch: (() => Promise.reject(new TypeError("fetch failed"))) as typeof fetch,
    });
    await expect(failing.requestUpload({ name: "a.jpg", size: 1 })).rejects.toMatchObject({
      code: "NETWORK_ERROR",
    });
    const abort = new AbortController();
    const server = graphqlFetch({
      RequestImageUpload: (_v, call) =>
        new Promise((_resolve, reject) =>
          call.signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError"))),
        ),
    });
    const client = createClient({ graphqlUrl: URL, fetch: server.fetch });
    const pending = client.requestUpload({ name: "a.jpg", size: 1 }, { signal: abort.signal });
    await vi.waitFor(() => expect(server.calls).toHaveLength(1));
    abort.abort();
    await expect(pending).rejects.toMatchObject({ code: "ABORTED" });
  });

  it("request() runs any operation", async () => {
    const server = graphqlFetch({ Mine: () => ({ data: { uploads: { totalCount: 3 } } }) });
    const client = createClient({ graphqlUrl: URL, fetch: server.fetch });
    const data = await client.request<{ uploads: { totalCount: number } }>(
      "query Mine { uploads { totalCount } }",
    );
    expect(data.uploads.totalCount).toBe(3);
  });
});
