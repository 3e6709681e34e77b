// @ts-check
/**
 * Browser client of django-async-image-upload: ask for presigned POSTs, upload straight to the
 * bucket with progress, and follow processing over GraphQL subscriptions (graphql-transport-ws).
 *
 * An ES module without dependencies. Documented in docs/client.md.
 *
 *     import { createClient } from "/static/asyncimg/client.js";
 *     const client = createClient({ graphqlUrl: "/graphql/" });
 *
 * @module asyncimg/client
 */

/** @typedef {"PENDING" | "UPLOADED" | "PROCESSING" | "READY" | "FAILED" | "EXPIRED"} UploadStatus */

/**
 * @typedef {object} ImageVariant
 * @property {string} name
 * @property {number} width
 * @property {number} height
 * @property {string} format   "webp" or "jpeg"
 * @property {string} url
 * @property {number} size     bytes
 */

/**
 * @typedef {object} ProcessedImage
 * @property {string} id
 * @property {number} width
 * @property {number} height
 * @property {string} format
 * @property {string} url      the normalised original
 * @property {ImageVariant[]} variants
 * @property {Record<string, unknown>} metadata
 */

/**
 * @typedef {object} Upload
 * @property {string} id
 * @property {UploadStatus} status
 * @property {string} filename
 * @property {string} contentType
 * @property {number} size
 * @property {string} createdAt
 * @property {string} updatedAt
 * @property {string} expiresAt
 * @property {{code: string, message: string} | null} error
 * @property {ProcessedImage | null} image
 */

/**
 * @typedef {object} PresignedPost
 * @property {string} url
 * @property {Record<string, string>} fields
 * @property {string} expiresAt
 */

/**
 * @typedef {object} UploadTicket
 * @property {Upload} upload
 * @property {PresignedPost} presignedPost
 */

/**
 * @typedef {object} GraphQLErrorEntry
 * @property {string} message
 * @property {{code?: string} & Record<string, unknown>} [extensions]
 * @property {Array<string | number>} [path]
 */

/**
 * @template T
 * @typedef {object} Sink
 * @property {(value: T) => void} [next]
 * @property {(error: AsyncImageError) => void} [error]
 * @property {() => void} [complete]
 */

/**
 * @typedef {object} Progress
 * @property {number} loaded   bytes sent
 * @property {number} total    bytes to send (the multipart body, slightly more than the file)
 * @property {number} fraction 0 to 1
 */

/** @typedef {"idle" | "connecting" | "connected" | "reconnecting" | "closed"} ConnectionState */

/**
 * @typedef {object} ClientOptions
 * @property {string} graphqlUrl  GraphQL over HTTP endpoint, e.g. "/graphql/"
 * @property {string} [wsUrl]     websocket endpoint; default: graphqlUrl with a ws(s) scheme
 * @property {string} [csrfToken] Django CSRF token to send as X-CSRFToken
 * @property {() => string | null | undefined} [getCsrfToken] read the token per request; default:
 *   the "csrftoken" cookie (set by a page served with ensure_csrf_cookie)
 * @property {typeof fetch} [fetch]
 * @property {RequestCredentials} [credentials]  fetch credentials; default "same-origin"
 * @property {Record<string, unknown> | (() => Record<string, unknown>)} [connectionParams]
 *   payload of connection_init
 * @property {{initialDelay?: number, maxDelay?: number}} [retry]  websocket reconnect backoff
 *   (ms; default 500 doubling up to 10000, with full jitter)
 * @property {number} [pingInterval] ms between client pings; a connection silent for two
 *   intervals is reopened (default 20000; 0 disables)
 * @property {number} [lazyCloseTimeout] ms the websocket stays open without subscriptions
 *   (default 3000)
 * @property {(state: ConnectionState) => void} [onConnectionChange]
 * @property {typeof WebSocket} [WebSocket]
 */

/** Every failure the client reports: GraphQL errors, storage rejections, network errors. */
export class AsyncImageError extends Error {
  /**
   * @param {string} message
   * @param {string} code  the server's `extensions.code` (e.g. UNSUPPORTED_CONTENT_TYPE,
   *   FILE_TOO_LARGE, NOT_FOUND), or NETWORK_ERROR, HTTP_<status>, STORAGE_<S3 code>, ABORTED,
   *   WEBSOCKET_<close code>, UPLOAD_<error code> for a FAILED/EXPIRED upload
   * @param {GraphQLErrorEntry[]} [errors]  every GraphQL error of the response
   */
  constructor(message, code, errors = []) {
    super(message);
    this.name = "AsyncImageError";
    this.code = code;
    this.errors = errors;
  }
}

/** The fields of every Upload the client returns. */
export const UPLOAD_FIELDS = `
fragment AsyncImageUploadFields on Upload {
  id status filename contentType size createdAt updatedAt expiresAt
  error { code message }
  image {
    id width height format url metadata
    variants { name width height format url size }
  }
}`;

const TICKET_FIELDS = `upload { ...AsyncImageUploadFields } presignedPost { url fields expiresAt }`;

const REQUEST_UPLOAD = `mutation RequestImageUpload($input: RequestImageUploadInput!) {
  requestImageUpload(input: $input) { ${TICKET_FIELDS} }
}${UPLOAD_FIELDS}`;

const REQUEST_UPLOADS = `mutation RequestImageUploads($inputs: [RequestImageUploadInput!]!) {
  requestImageUploads(inputs: $inputs) { ${TICKET_FIELDS} }
}${UPLOAD_FIELDS}`;

const CANCEL_UPLOAD = `mutation CancelUpload($id: ID!) {
  cancelUpload(id: $id) { ...AsyncImageUploadFields }
}${UPLOAD_FIELDS}`;

const IMAGE_PROCESSED = `subscription ImageProcessed($uploadId: ID!) {
  imageProcessed(uploadId: $uploadId) { ...AsyncImageUploadFields }
}${UPLOAD_FIELDS}`;

const UPLOAD_EVENTS = `subscription UploadEvents {
  uploadEvents { ...AsyncImageUploadFields }
}${UPLOAD_FIELDS}`;

const PROTOCOL = "graphql-transport-ws";
/** Close codes after which reconnecting cannot help (graphql-transport-ws). */
const FATAL_CLOSE_CODES = new Set([4400, 4401, 4403, 4406, 4409, 4429]);

/** Content types by extension, for files the browser gives no type (HEIC on some systems). */
const TYPES_BY_EXTENSION = /** @type {Record<string, string>} */ ({
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  png: "image/png",
  gif: "image/gif",
  webp: "image/webp",
  heic: "image/heic",
  heif: "image/heif",
  avif: "image/avif",
});

/**
 * The content type to declare for a file: the browser's, else guessed from the extension.
 * @param {{name: string, type?: string}} file
 * @returns {string}
 */
export function contentTypeOf(file) {
  if (file.type) return file.type;
  const extension = file.name.split(".").pop()?.toLowerCase() ?? "";
  return TYPES_BY_EXTENSION[extension] ?? "application/octet-stream";
}

/**
 * True once the upload can no longer change.
 * @param {UploadStatus} status
 */
export function isTerminal(status) {
  return status === "READY" || status === "FAILED" || status === "EXPIRED";
}

/**
 * A `srcset` attribute for the image's variants of one format, narrowest first.
 * @param {ProcessedImage} image
 * @param {string} [format]  "webp" or "jpeg"; default: every variant of the first format listed
 * @returns {string}
 */
export function srcsetOf(image, format) {
  const wanted = format ?? image.variants[0]?.format;
  return image.variants
    .filter((v) => v.format === wanted)
    .sort((a, b) => a.width - b.width)
    .map((v) => `${v.url} ${v.width}w`)
    .join(", ");
}

/**
 * The `csrftoken` cookie, or null.
 * @param {string} [name]
 * @returns {string | null}
 */
export function csrfCookie(name = "csrftoken") {
  if (typeof document === "undefined") return null;
  for (const part of document.cookie.split(";")) {
    const [key, ...value] = part.trim().split("=");
    if (key === name) return decodeURIComponent(value.join("="));
  }
  return null;
}

/**
 * @param {unknown} value
 * @returns {GraphQLErrorEntry[]}
 */
function asErrors(value) {
  return Array.isArray(value) ? /** @type {GraphQLErrorEntry[]} */ (value) : [];
}

/**
 * @param {GraphQLErrorEntry[]} errors
 * @returns {AsyncImageError}
 */
function graphqlError(errors) {
  const first = errors[0] ?? { message: "Unknown GraphQL error." };
  const code = first.extensions?.code;
  return new AsyncImageError(first.message, typeof code === "string" ? code : "GRAPHQL_ERROR", errors);
}

/**
 * @param {string} url
 * @returns {string}
 */
function websocketUrl(url) {
  const base = typeof location === "undefined" ? "http://localhost/" : location.href;
  const absolute = new URL(url, base);
  absolute.protocol = absolute.protocol === "https:" ? "wss:" : "ws:";
  return absolute.toString();
}

/**
 * Create a client. Nothing connects until the first request or subscription.
 * @param {ClientOptions} options
 */
export function createClient(options) {
  const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  const getCsrfToken = options.getCsrfToken ?? (() => options.csrfToken ?? csrfCookie());
  const socket = new SubscriptionSocket(options);

  /**
   * Run one GraphQL operation over HTTP; resolves with `data`, rejects with AsyncImageError.
   * @param {string} query
   * @param {Record<string, unknown>} [variables]
   * @returns {Promise<Record<string, any>>}
   */
  async function request(query, variables = {}) {
    /** @type {Record<string, string>} */
    const headers = { "Content-Type": "application/json", Accept: "application/json" };
    const token = getCsrfToken();
    if (token) headers["X-CSRFToken"] = token;
    let response;
    try {
      response = await fetchImpl(options.graphqlUrl, {
        method: "POST",
        headers,
        credentials: options.credentials ?? "same-origin",
        body: JSON.stringify({ query, variables }),
      });
    } catch (cause) {
      throw new AsyncImageError(`GraphQL request failed: ${String(cause)}`, "NETWORK_ERROR");
    }
    let body;
    try {
      body = await response.json();
    } catch {
      const hint = response.status === 403 ? " (CSRF: is the csrftoken cookie set?)" : "";
      throw new AsyncImageError(
        `GraphQL endpoint answered HTTP ${response.status}${hint}.`,
        `HTTP_${response.status}`,
      );
    }
    const errors = asErrors(body?.errors);
    if (errors.length) throw graphqlError(errors);
    if (!response.ok || !body?.data) {
      throw new AsyncImageError(`GraphQL endpoint answered HTTP ${response.status}.`, `HTTP_${response.status}`);
    }
    return body.data;
  }

  /**
   * @param {{name: string, type?: string, size: number}} file
   */
  function inputOf(file) {
    return { filename: file.name, contentType: contentTypeOf(file), size: file.size };
  }

  /**
   * Ask for a presigned POST for one file (mutation requestImageUpload).
   * @param {{name: string, type?: string, size: number}} file  a File, or its description
   * @returns {Promise<UploadTicket>}
   */
  async function requestUpload(file) {
    const data = await request(REQUEST_UPLOAD, { input: inputOf(file) });
    return data.requestImageUpload;
  }

  /**
   * Ask for presigned POSTs for several files at once (mutation requestImageUploads): all are
   * granted or, if one file is refused, none.
   * @param {Array<{name: string, type?: string, size: number}>} files
   * @returns {Promise<UploadTicket[]>}
   */
  async function requestUploads(files) {
    const data = await request(REQUEST_UPLOADS, { inputs: Array.from(files, inputOf) });
    return data.requestImageUploads;
  }

  /**
   * Cancel an upload that has not finished (mutation cancelUpload): it ends FAILED/CANCELLED.
   * @param {string} id
   * @returns {Promise<Upload>}
   */
  async function cancel(id) {
    const data = await request(CANCEL_UPLOAD, { id });
    return data.cancelUpload;
  }

  /**
   * Follow one upload (subscription imageProcessed): its current state first, then every
   * change; completes after READY, FAILED or EXPIRED. Survives reconnects.
   * @param {string} uploadId
   * @param {Sink<Upload>} sink
   * @returns {() => void} unsubscribe
   */
  function subscribe(uploadId, sink) {
    return socket.subscribe(IMAGE_PROCESSED, { uploadId }, "imageProcessed", sink);
  }

  /**
   * Every change to any of the caller's uploads (subscription uploadEvents). Changes made while
   * the websocket was reconnecting are not replayed: query `uploads` or use `subscribe`.
   * @param {Sink<Upload>} sink
   * @returns {() => void} unsubscribe
   */
  function subscribeAll(sink) {
    return socket.subscribe(UPLOAD_EVENTS, {}, "uploadEvents", sink);
  }

  /**
   * Request, upload and follow one file; resolves with the READY upload.
   * @param {File} file
   * @param {{onProgress?: (p: Progress) => void, onUpdate?: (u: Upload) => void,
   *   signal?: AbortSignal}} [handlers]
   * @returns {Promise<Upload>}
   */
  async function uploadImage(file, handlers = {}) {
    const ticket = await requestUpload(file);
    handlers.onUpdate?.(ticket.upload);
    /** @type {() => void} */
    let unsubscribe = () => {};
    const done = new Promise((resolve, reject) => {
      unsubscribe = subscribe(ticket.upload.id, {
        next(upload) {
          handlers.onUpdate?.(upload);
          if (upload.status === "READY") resolve(upload);
          else if (isTerminal(upload.status)) {
            const error = upload.error ?? { code: upload.status, message: `Upload ${upload.status}.` };
            reject(new AsyncImageError(error.message, `UPLOAD_${error.code}`));
          }
        },
        error: reject,
        complete() {
          reject(new AsyncImageError("The subscription ended before the image was ready.", "INCOMPLETE"));
        },
      });
    });
    try {
      await upload(ticket, file, { onProgress: handlers.onProgress, signal: handlers.signal });
      return /** @type {Upload} */ (await done);
    } catch (error) {
      done.catch(() => {});
      if (error instanceof AsyncImageError && error.code === "ABORTED") {
        await cancel(ticket.upload.id).catch(() => {});
      }
      throw error;
    } finally {
      unsubscribe();
    }
  }

  return {
    request,
    requestUpload,
    requestUploads,
    upload,
    cancel,
    subscribe,
    subscribeAll,
    uploadImage,
    /** Close the websocket, completing every subscription; later ones open a new one. */
    close: () => socket.close(),
  };
}

/**
 * POST the file to the bucket with the ticket's presigned fields (multipart/form-data, the file
 * last, as S3 requires). Resolves when the storage accepted it.
 * @param {UploadTicket} ticket
 * @param {Blob} file
 * @param {{onProgress?: (p: Progress) => void, signal?: AbortSignal}} [handlers]
 * @returns {Promise<void>}
 */
export function upload(ticket, file, handlers = {}) {
  const { url, fields } = ticket.presignedPost;
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  form.append("file", file);
  return new Promise((resolve, reject) => {
    const { signal, onProgress } = handlers;
    if (signal?.aborted) {
      reject(new AsyncImageError("The upload was aborted.", "ABORTED"));
      return;
    }
    const xhr = new XMLHttpRequest();
    const onAbort = () => xhr.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    const finish = () => signal?.removeEventListener("abort", onAbort);
    if (onProgress) {
      xhr.upload.addEventListener("progress", (event) => {
        if (!event.lengthComputable) return;
        onProgress({ loaded: event.loaded, total: event.total, fraction: event.loaded / event.total });
      });
    }
    xhr.addEventListener("load", () => {
      finish();
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress?.({ loaded: file.size, total: file.size, fraction: 1 });
        resolve();
        return;
      }
      // S3 explains refusals in XML: <Error><Code>EntityTooLarge</Code><Message>…</Message>.
      const text = xhr.responseText || "";
      const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1] ?? `HTTP_${xhr.status}`;
      const message = /<Message>([^<]+)<\/Message>/.exec(text)?.[1] ?? `Storage answered HTTP ${xhr.status}.`;
      reject(new AsyncImageError(message, `STORAGE_${code}`));
    });
    xhr.addEventListener("error", () => {
      finish();
      reject(new AsyncImageError("Could not reach the storage (network or CORS).", "NETWORK_ERROR"));
    });
    xhr.addEventListener("abort", () => {
      finish();
      reject(new AsyncImageError("The upload was aborted.", "ABORTED"));
    });
    xhr.open("POST", url);
    xhr.send(form);
  });
}

/**
 * @typedef {object} ActiveSubscription
 * @property {string} query
 * @property {Record<string, unknown>} variables
 * @property {string} field
 * @property {Sink<Upload>} sink
 * @property {string} [last]  status and updatedAt of the last value delivered
 */

/** One lazily opened graphql-transport-ws connection multiplexing every subscription. */
class SubscriptionSocket {
  /** @param {ClientOptions} options */
  constructor(options) {
    this.url = websocketUrl(options.wsUrl ?? options.graphqlUrl);
    this.options = options;
    this.WebSocket = options.WebSocket ?? globalThis.WebSocket;
    /** @type {Map<string, ActiveSubscription>} */
    this.active = new Map();
    /** @type {WebSocket | null} */
    this.ws = null;
    this.acknowledged = false;
    this.attempt = 0;
    this.nextId = 1;
    this.lastSeen = 0;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.reconnectTimer = undefined;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.idleTimer = undefined;
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this.pingTimer = undefined;
    /** @type {ConnectionState} */
    this.state = "idle";
  }

  /** @param {ConnectionState} state */
  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.options.onConnectionChange?.(state);
  }

  /**
   * @param {string} query
   * @param {Record<string, unknown>} variables
   * @param {string} field
   * @param {Sink<Upload>} sink
   * @returns {() => void}
   */
  subscribe(query, variables, field, sink) {
    const id = String(this.nextId++);
    this.active.set(id, { query, variables, field, sink });
    clearTimeout(this.idleTimer);
    if (!this.ws) this.open();
    else if (this.acknowledged) this.sendSubscribe(id);
    return () => {
      if (!this.active.delete(id)) return;
      if (this.acknowledged) this.send({ id, type: "complete" });
      this.closeWhenIdle();
    };
  }

  open() {
    clearTimeout(this.reconnectTimer);
    this.setState(this.attempt === 0 ? "connecting" : "reconnecting");
    const ws = new this.WebSocket(this.url, PROTOCOL);
    this.ws = ws;
    this.acknowledged = false;
    ws.onopen = () => {
      const params = this.options.connectionParams;
      const payload = typeof params === "function" ? params() : params;
      this.send(payload ? { type: "connection_init", payload } : { type: "connection_init" });
    };
    ws.onmessage = (event) => {
      if (ws !== this.ws) return;
      this.lastSeen = Date.now();
      let message;
      try {
        message = JSON.parse(String(event.data));
      } catch {
        ws.close(4400, "Invalid message");
        return;
      }
      this.onMessage(message);
    };
    ws.onclose = (event) => {
      if (ws !== this.ws) return;
      this.onClose(event.code, event.reason);
    };
  }

  /** @param {any} message */
  onMessage(message) {
    switch (message.type) {
      case "connection_ack":
        this.acknowledged = true;
        this.attempt = 0;
        this.setState("connected");
        this.startPings();
        for (const id of this.active.keys()) this.sendSubscribe(id);
        break;
      case "ping":
        this.send({ type: "pong" });
        break;
      case "pong":
        break;
      case "next": {
        const sub = this.active.get(message.id);
        if (!sub) break;
        const errors = asErrors(message.payload?.errors);
        const value = message.payload?.data?.[sub.field];
        if (errors.length && !value) {
          this.active.delete(message.id);
          this.send({ id: message.id, type: "complete" });
          sub.sink.error?.(graphqlError(errors));
          this.closeWhenIdle();
          break;
        }
        // After a reconnect the server repeats the current state: deliver each state once.
        const key = `${value.status}|${value.updatedAt}`;
        if (sub.last === key) break;
        sub.last = key;
        sub.sink.next?.(value);
        break;
      }
      case "error": {
        const sub = this.active.get(message.id);
        if (!sub) break;
        this.active.delete(message.id);
        sub.sink.error?.(graphqlError(asErrors(message.payload)));
        this.closeWhenIdle();
        break;
      }
      case "complete": {
        const sub = this.active.get(message.id);
        if (!sub) break;
        this.active.delete(message.id);
        sub.sink.complete?.();
        this.closeWhenIdle();
        break;
      }
      default:
        break;
    }
  }

  /**
   * @param {number} code
   * @param {string} reason
   */
  onClose(code, reason) {
    this.ws = null;
    this.acknowledged = false;
    clearInterval(this.pingTimer);
    if (!this.active.size) {
      this.setState("idle");
      return;
    }
    if (FATAL_CLOSE_CODES.has(code)) {
      const error = new AsyncImageError(
        `The subscription server closed the connection: ${code} ${reason}`.trim(),
        `WEBSOCKET_${code}`,
      );
      const sinks = [...this.active.values()].map((sub) => sub.sink);
      this.active.clear();
      this.setState("closed");
      for (const sink of sinks) sink.error?.(error);
      return;
    }
    const retry = this.options.retry ?? {};
    const ceiling = Math.min(retry.maxDelay ?? 10000, (retry.initialDelay ?? 500) * 2 ** this.attempt);
    this.attempt += 1;
    this.setState("reconnecting");
    // Full jitter: after a server restart, clients do not come back in one wave.
    this.reconnectTimer = setTimeout(() => this.open(), Math.random() * ceiling);
  }

  startPings() {
    const interval = this.options.pingInterval ?? 20000;
    clearInterval(this.pingTimer);
    if (!interval) return;
    this.pingTimer = setInterval(() => {
      if (Date.now() - this.lastSeen > 2 * interval) {
        // No message (not even a pong) for two intervals: the connection is dead.
        this.ws?.close(4408, "Ping timeout");
        const ws = this.ws;
        this.ws = null;
        if (ws) ws.onclose = null;
        this.onClose(1006, "ping timeout");
        return;
      }
      this.send({ type: "ping" });
    }, interval);
  }

  /** @param {string} id */
  sendSubscribe(id) {
    const sub = this.active.get(id);
    if (!sub) return;
    this.send({ id, type: "subscribe", payload: { query: sub.query, variables: sub.variables } });
  }

  /** @param {Record<string, unknown>} message */
  send(message) {
    if (this.ws && this.ws.readyState === 1) this.ws.send(JSON.stringify(message));
  }

  closeWhenIdle() {
    if (this.active.size) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (!this.active.size) this.close();
    }, this.options.lazyCloseTimeout ?? 3000);
  }

  /** Close the connection and end every subscription (their `complete` is called). */
  close() {
    const sinks = [...this.active.values()].map((sub) => sub.sink);
    this.active.clear();
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.idleTimer);
    clearInterval(this.pingTimer);
    const ws = this.ws;
    this.ws = null;
    this.acknowledged = false;
    this.attempt = 0;
    if (ws) {
      ws.onclose = null;
      ws.close(1000, "Normal Closure");
    }
    this.setState("idle");
    for (const sink of sinks) sink.complete?.();
  }
}
