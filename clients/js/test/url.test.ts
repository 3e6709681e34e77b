import { afterEach, describe, expect, it, vi } from "vitest";
import { createClient, websocketUrl } from "../src/index.js";
import { FakeWebSocket, nextSocket } from "./fakes.js";

describe("websocketUrl", () => {
  it.each([
    ["http://localhost:8000/graphql/", "ws://localhost:8000/graphql/"],
    ["https://api.example.com/graphql/", "wss://api.example.com/graphql/"],
    ["HTTPS://api.example.com/graphql/", "wss://api.example.com/graphql/"],
    ["wss://push.example.com/graphql/", "wss://push.example.com/graphql/"],
    ["ws://127.0.0.1:8000/graphql/", "ws://127.0.0.1:8000/graphql/"],
    ["https://api.example.com:8443/graphql/?x=1", "wss://api.example.com:8443/graphql/?x=1"],
  ])("%s → %s", (url, expected) => {
    expect(websocketUrl(url)).toBe(expected);
  });

  it("resolves a relative URL against the page", () => {
    expect(websocketUrl("/graphql/", "https://site.example/upload/")).toBe("wss://site.example/graphql/");
    expect(websocketUrl("/graphql/", "http://localhost:8000/")).toBe("ws://localhost:8000/graphql/");
    vi.stubGlobal("location", { href: "https://page.example/a/b" });
    expect(websocketUrl("graphql/")).toBe("wss://page.example/a/graphql/");
  });

  it("refuses a relative URL outside a page, and other schemes", () => {
    expect(() => websocketUrl("/graphql/")).toThrow(expect.objectContaining({ code: "INVALID_URL" }));
    expect(() => websocketUrl("ftp://example.com/graphql/")).toThrow(
      expect.objectContaining({ code: "INVALID_URL" }),
    );
  });
});

describe("the client's websocket URL", () => {
  afterEach(() => FakeWebSocket.reset());

  async function openedUrl(options: { graphqlUrl: string; wsUrl?: string }): Promise<string> {
    const client = createClient({ ...options, WebSocket: FakeWebSocket, pingInterval: 0 });
    client.subscribe("a", {});
    const socket = await nextSocket(1);
    client.dispose();
    return socket.url;
  }

  it("keeps an explicit wss:// wsUrl (the hand-written client downgraded it to ws://)", async () => {
    expect(
      await openedUrl({
        graphqlUrl: "https://api.example.com/graphql/",
        wsUrl: "wss://push.example.com/graphql/",
      }),
    ).toBe("wss://push.example.com/graphql/");
  });

  it("derives wss:// from an https:// graphqlUrl and ws:// from http://", async () => {
    expect(await openedUrl({ graphqlUrl: "https://api.example.com/graphql/" })).toBe(
      "wss://api.example.com/graphql/",
    );
    FakeWebSocket.reset();
    expect(await openedUrl({ graphqlUrl: "http://127.0.0.1:8000/graphql/" })).toBe(
      "ws://127.0.0.1:8000/graphql/",
    );
  });
});
