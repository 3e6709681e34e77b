/**
 * Fakes for the unit tests: a WebSocket the test plays the server of (graphql-transport-ws), an
 * XMLHttpRequest the test answers, and a fetch answering GraphQL operations by name. The real
 * server is exercised by tests/test_js_client.py (Node) and tests/browser/ (Chromium).
 */
import { vi } from "vitest";
import type { Upload, UploadTicket } from "../src/index.js";

type Message = { type: string; id?: string; payload?: any };

export class FakeWebSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;
  static instances: FakeWebSocket[] = [];

  readonly url: string;
  readonly protocol: string;
  readyState = FakeWebSocket.CONNECTING;
  sent: Message[] = [];
  /** Answer the client's pings, as a live server does. */
  autoPong = false;
  closedWith: { code?: number; reason?: string } | null = null;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: string }) => void) | null = null;
  onclose: ((event: { code: number; reason: string; wasClean: boolean }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;

  constructor(url: string, protocol: string) {
    this.url = url;
    this.protocol = protocol;
    FakeWebSocket.instances.push(this);
  }

  static reset() {
    FakeWebSocket.instances = [];
  }

  static get last(): FakeWebSocket {
    const socket = FakeWebSocket.instances.at(-1);
    if (!socket) throw new Error("no websocket was opened");
    return socket;
  }

  // --- what the client calls
  send(data: string) {
    // As browsers do: an error while connecting, silently dropped once closing or closed.
    if (this.readyState === FakeWebSocket.CONNECTING) throw new Error("InvalidStateError");
    if (this.readyState !== FakeWebSocket.OPEN) return;
    const message = JSON.parse(data) as Message;
    this.sent.push(message);
    if (message.type === "ping" && this.autoPong) queueMicrotask(() => this.receive({ type: "pong" }));
  }

  close(code?: number, reason?: string) {
    if (this.readyState === FakeWebSocket.CLOSED) return;
    this.closedWith = { code, reason };
    this.readyState = FakeWebSocket.CLOSED;
    const event = { code: code ?? 1005, reason: reason ?? "", wasClean: true };
    queueMicrotask(() => this.onclose?.(event));
  }

  // --- what the test (the server) does
  open() {
    this.readyState = FakeWebSocket.OPEN;
    this.onopen?.({});
  }

  receive(message: Message) {
    this.onmessage?.({ data: JSON.stringify(message) });
  }

  /** The server closes the connection (or it drops: 1006). */
  drop(code: number, reason = "") {
    this.readyState = FakeWebSocket.CLOSED;
    this.onclose?.({ code, reason, wasClean: code !== 1006 });
  }

  /** A browser's failed connection: an error event, then the close event. */
  fail() {
    this.onerror?.({ type: "error" });
    this.drop(1006);
  }

  ofType(type: string): Message[] {
    return this.sent.filter((m) => m.type === type);
  }

  async waitFor(type: string, count = 1): Promise<Message> {
    await vi.waitFor(() => {
      if (this.ofType(type).length < count) throw new Error(`no ${type} message yet`);
    });
    return this.ofType(type)[count - 1] as Message;
  }

  /** open, wait for connection_init, acknowledge it; returns the init message. */
  async accept(): Promise<Message> {
    this.open();
    const init = await this.waitFor("connection_init");
    this.receive({ type: "connection_ack" });
    return init;
  }

  /** The id of the nth subscribe message, once it arrived. */
  async subscription(count = 1): Promise<Message & { id: string }> {
    return (await this.waitFor("subscribe", count)) as Message & { id: string };
  }

  next(id: string, data: unknown) {
    this.receive({ id, type: "next", payload: { data } });
  }
}

/** The next websocket the client opens (waiting for it). */
export async function nextSocket(count: number): Promise<FakeWebSocket> {
  await vi.waitFor(() => {
    if (FakeWebSocket.instances.length < count) throw new Error(`socket ${count} not opened yet`);
  });
  return FakeWebSocket.instances[count - 1] as FakeWebSocket;
}

export class FakeXHR extends EventTarget {
  static instances: FakeXHR[] = [];
  upload = new EventTarget();
  method = "";
  url = "";
  body: FormData | Blob | null = null;
  headers: Record<string, string> = {};
  status = 0;
  responseText = "";
  aborted = false;

  constructor() {
    super();
    FakeXHR.instances.push(this);
  }

  static reset() {
    FakeXHR.instances = [];
  }

  static get last(): FakeXHR {
    const xhr = FakeXHR.instances.at(-1);
    if (!xhr) throw new Error("no XMLHttpRequest was made");
    return xhr;
  }

  open(method: string, url: string) {
    this.method = method;
    this.url = url;
  }

  setRequestHeader(name: string, value: string) {
    this.headers[name] = value;
  }

  send(body: FormData | Blob) {
    this.body = body;
  }

  abort() {
    this.aborted = true;
    this.dispatchEvent(new Event("abort"));
  }

  progress(loaded: number, total: number) {
    this.upload.dispatchEvent(
      Object.assign(new Event("progress"), { lengthComputable: true, loaded, total }),
    );
  }

  respond(status: number, text = "") {
    this.status = status;
    this.responseText = text;
    this.dispatchEvent(new Event("load"));
  }

  fail() {
    this.dispatchEvent(new Event("error"));
  }
}

export interface GraphQLCall {
  operationName: string;
  query: string;
  variables: Record<string, any>;
  headers: Record<string, string>;
  credentials: RequestCredentials | undefined;
  signal: AbortSignal | null | undefined;
}

type Answer =
  | { data?: unknown; errors?: unknown[] }
  | Response
  | Promise<{ data?: unknown; errors?: unknown[] } | Response>;

/**
 * A fetch for the GraphQL endpoint: each operation (by its name in the query) is answered by a
 * handler of the test; every call is recorded.
 */
export function graphqlFetch(handlers: Record<string, (variables: any, call: GraphQLCall) => Answer>) {
  const calls: GraphQLCall[] = [];
  const fetch = vi.fn(async (_url: RequestInfo | URL, init?: RequestInit) => {
    const body = JSON.parse(String(init?.body));
    const operationName = /(?:query|mutation|subscription)\s+(\w+)/.exec(body.query)?.[1] ?? "";
    const call: GraphQLCall = {
      operationName,
      query: body.query,
      variables: body.variables,
      headers: { ...(init?.headers as Record<string, string>) },
      credentials: init?.credentials,
      signal: init?.signal,
    };
    calls.push(call);
    const handler = handlers[operationName];
    if (!handler) throw new Error(`no handler for ${operationName}`);
    const answer = await handler(body.variables, call);
    if (answer instanceof Response) return answer;
    return new Response(JSON.stringify(answer), {
      status: 200,
      headers: { "Content-Type": "application/json" },
    });
  });
  return { fetch: fetch as unknown as typeof globalThis.fetch, calls, mock: fetch };
}

let counter = 0;

export function uploadOf(overrides: Partial<Upload> = {}): Upload {
  counter += 1;
  return {
    id: `00000000-0000-4000-8000-${String(counter).padStart(12, "0")}`,
    status: "PENDING",
    filename: "cat.jpg",
    contentType: "image/jpeg",
    size: 4,
    createdAt: "2026-01-01T00:00:00+00:00",
    updatedAt: "2026-01-01T00:00:00+00:00",
    expiresAt: "2026-01-01T00:16:40+00:00",
    error: null,
    moderation: null,
    image: null,
    ...overrides,
  };
}

export function ticketOf(upload: Upload = uploadOf()): UploadTicket {
  return {
    upload,
    presignedPost: {
      url: "https://bucket.s3.example.com/",
      fields: { key: `temp/${upload.id}/cat.jpg`, policy: "p", "x-amz-signature": "s" },
      expiresAt: upload.expiresAt,
      method: "POST",
      headers: {},
    },
  };
}

export const IMAGE: NonNullable<Upload["image"]> = {
  id: "11111111-0000-4000-8000-000000000000",
  width: 1200,
  height: 800,
  format: "jpeg",
  url: "https://cdn.example.com/o.jpg",
  metadata: {},
  placeholder: { hash: "LEHV6nWB2yk8pyo0adR*.7kCMdnj", dataUrl: "data:image/webp;base64,UklGRg==" },
  labels: [{ name: "Cat", confidence: 98.5 }],
  variants: [
    {
      name: "800w.webp",
      width: 800,
      height: 533,
      format: "webp",
      url: "https://cdn.example.com/800.webp",
      size: 9,
    },
    {
      name: "320w.webp",
      width: 320,
      height: 213,
      format: "webp",
      url: "https://cdn.example.com/320.webp",
      size: 3,
    },
    {
      name: "320w.jpeg",
      width: 320,
      height: 213,
      format: "jpeg",
      url: "https://cdn.example.com/320.jpeg",
      size: 4,
    },
  ],
};

export function file(name = "cat.jpg", type = "image/jpeg"): File {
  return new File([new Uint8Array([0xff, 0xd8, 0xff, 0xd9])], name, { type });
}

/** Resolves after pending promise callbacks and timers of 0 ms ran. */
export function settle(ms = 0): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
