// @asyncimg/client 0.1.0, built from clients/js (npm run build) with graphql-ws
// inside: do not edit, edit clients/js/src/ and rebuild. Documented in docs/client.md.
var __defProp = Object.defineProperty;
var __defNormalProp = (obj, key, value) => key in obj ? __defProp(obj, key, { enumerable: true, configurable: true, writable: true, value }) : obj[key] = value;
var __publicField = (obj, key, value) => __defNormalProp(obj, typeof key !== "symbol" ? key + "" : key, value);

// src/errors.ts
var AsyncImageError = class extends Error {
  constructor(message, code, options = {}) {
    super(message, options.cause === void 0 ? void 0 : { cause: options.cause });
    this.name = "AsyncImageError";
    this.code = code;
    this.errors = options.errors ?? [];
    if (options.closeCode !== void 0) this.closeCode = options.closeCode;
  }
};
function asErrors(value) {
  return Array.isArray(value) ? value : [];
}
function graphqlError(errors) {
  const first = errors[0] ?? { message: "Unknown GraphQL error." };
  const code = first.extensions?.code;
  return new AsyncImageError(first.message, typeof code === "string" ? code : "GRAPHQL_ERROR", {
    errors
  });
}
function aborted() {
  return new AsyncImageError("The upload was aborted.", "ABORTED");
}
function isCloseLike(value) {
  return typeof value === "object" && value !== null && "code" in value && "reason" in value;
}
function closeError(event) {
  const detail = `${event.code} ${event.reason ?? ""}`.trim();
  if (event.code === 4403) {
    return new AsyncImageError(
      `The subscription server refused the connection (${detail}): the token is missing, invalid or expired.`,
      "UNAUTHENTICATED",
      { closeCode: event.code }
    );
  }
  return new AsyncImageError(
    `The subscription server closed the connection: ${detail}.`,
    `WEBSOCKET_${event.code}`,
    { closeCode: event.code }
  );
}
function toAsyncImageError(value) {
  if (value instanceof AsyncImageError) return value;
  if (Array.isArray(value)) return graphqlError(value);
  if (isCloseLike(value)) return closeError(value);
  const message = value instanceof Error ? value.message : "the websocket failed";
  return new AsyncImageError(`Could not reach the subscription server: ${message}.`, "NETWORK_ERROR", {
    cause: value
  });
}

// src/transfer.ts
function requestOf(ticket, file) {
  const post = ticket.presignedPost;
  const method = (post.method ?? "POST").toUpperCase();
  if (method !== "PUT") return { method: "POST", body: formOf(ticket, file), headers: {} };
  const headers = {};
  for (const [name, value] of Object.entries(post.headers ?? {})) {
    headers[name] = String(value);
  }
  return { method, body: file, headers };
}
function formOf(ticket, file) {
  const form = new FormData();
  const fields = ticket.presignedPost.fields ?? {};
  for (const [name, value] of Object.entries(fields)) form.append(name, String(value));
  form.append("file", file);
  return form;
}
function storageError(status, text) {
  const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1] ?? `HTTP_${status}`;
  const message = /<Message>([^<]+)<\/Message>/.exec(text)?.[1] ?? `Storage answered HTTP ${status}.`;
  return new AsyncImageError(message, `STORAGE_${code}`);
}
function networkError(cause) {
  return new AsyncImageError("Could not reach the storage (network or CORS).", "NETWORK_ERROR", { cause });
}
function sendFile(ticket, file, handlers = {}, environment = {}) {
  const { signal, onProgress } = handlers;
  if (signal?.aborted) return Promise.reject(aborted());
  const Xhr = environment.XMLHttpRequest ?? globalThis.XMLHttpRequest;
  if (!Xhr) return sendWithFetch(ticket, file, handlers, environment.fetch ?? globalThis.fetch);
  const request = requestOf(ticket, file);
  return new Promise((resolve, reject) => {
    const xhr = new Xhr();
    const onAbort = () => xhr.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    const finish = () => signal?.removeEventListener("abort", onAbort);
    if (onProgress) {
      xhr.upload.addEventListener("progress", (event) => {
        if (!event.lengthComputable || !event.total) return;
        onProgress({ loaded: event.loaded, total: event.total, fraction: event.loaded / event.total });
      });
    }
    xhr.addEventListener("load", () => {
      finish();
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress?.({ loaded: file.size, total: file.size, fraction: 1 });
        resolve();
      } else {
        reject(storageError(xhr.status, xhr.responseText || ""));
      }
    });
    xhr.addEventListener("error", () => {
      finish();
      reject(networkError());
    });
    xhr.addEventListener("abort", () => {
      finish();
      reject(aborted());
    });
    xhr.open(request.method, ticket.presignedPost.url);
    for (const [name, value] of Object.entries(request.headers)) xhr.setRequestHeader(name, value);
    xhr.send(request.body);
  });
}
async function sendWithFetch(ticket, file, { signal, onProgress }, fetchImpl) {
  let response;
  const request = requestOf(ticket, file);
  try {
    response = await fetchImpl(ticket.presignedPost.url, {
      method: request.method,
      body: request.body,
      headers: request.headers,
      signal
    });
  } catch (cause) {
    if (signal?.aborted) throw aborted();
    throw networkError(cause);
  }
  if (!response.ok) throw storageError(response.status, await response.text().catch(() => ""));
  onProgress?.({ loaded: file.size, total: file.size, fraction: 1 });
}

// src/generated/graphql.ts
var TypedDocumentString = class extends String {
  constructor(value, __meta__) {
    super(value);
    this.value = value;
    this.__meta__ = __meta__;
  }
  toString() {
    return this.value;
  }
};
var UploadFieldsFragmentDoc = new TypedDocumentString(`
    fragment UploadFields on Upload {
  id
  status
  filename
  contentType
  size
  createdAt
  updatedAt
  expiresAt
  error {
    code
    message
  }
  moderation {
    status
    labels {
      name
      parentName
      confidence
    }
  }
  image {
    id
    width
    height
    format
    url
    metadata
    placeholder {
      hash
      dataUrl
    }
    labels {
      name
      confidence
    }
    variants {
      name
      width
      height
      format
      url
      size
    }
  }
}
    `, { "fragmentName": "UploadFields" });
var TicketFieldsFragmentDoc = new TypedDocumentString(`
    fragment TicketFields on UploadTicket {
  upload {
    ...UploadFields
  }
  presignedPost {
    url
    fields
    expiresAt
    method
    headers
  }
}
    fragment UploadFields on Upload {
  id
  status
  filename
  contentType
  size
  createdAt
  updatedAt
  expiresAt
  error {
    code
    message
  }
  moderation {
    status
    labels {
      name
      parentName
      confidence
    }
  }
  image {
    id
    width
    height
    format
    url
    metadata
    placeholder {
      hash
      dataUrl
    }
    labels {
      name
      confidence
    }
    variants {
      name
      width
      height
      format
      url
      size
    }
  }
}`, { "fragmentName": "TicketFields" });
var RequestImageUploadDocument = new TypedDocumentString(`
    mutation RequestImageUpload($input: RequestImageUploadInput!) {
  requestImageUpload(input: $input) {
    ...TicketFields
  }
}
    fragment UploadFields on Upload {
  id
  status
  filename
  contentType
  size
  createdAt
  updatedAt
  expiresAt
  error {
    code
    message
  }
  moderation {
    status
    labels {
      name
      parentName
      confidence
    }
  }
  image {
    id
    width
    height
    format
    url
    metadata
    placeholder {
      hash
      dataUrl
    }
    labels {
      name
      confidence
    }
    variants {
      name
      width
      height
      format
      url
      size
    }
  }
}
fragment TicketFields on UploadTicket {
  upload {
    ...UploadFields
  }
  presignedPost {
    url
    fields
    expiresAt
    method
    headers
  }
}`);
var RequestImageUploadsDocument = new TypedDocumentString(`
    mutation RequestImageUploads($inputs: [RequestImageUploadInput!]!) {
  requestImageUploads(inputs: $inputs) {
    ...TicketFields
  }
}
    fragment UploadFields on Upload {
  id
  status
  filename
  contentType
  size
  createdAt
  updatedAt
  expiresAt
  error {
    code
    message
  }
  moderation {
    status
    labels {
      name
      parentName
      confidence
    }
  }
  image {
    id
    width
    height
    format
    url
    metadata
    placeholder {
      hash
      dataUrl
    }
    labels {
      name
      confidence
    }
    variants {
      name
      width
      height
      format
      url
      size
    }
  }
}
fragment TicketFields on UploadTicket {
  upload {
    ...UploadFields
  }
  presignedPost {
    url
    fields
    expiresAt
    method
    headers
  }
}`);
var CancelUploadDocument = new TypedDocumentString(`
    mutation CancelUpload($id: ID!) {
  cancelUpload(id: $id) {
    ...UploadFields
  }
}
    fragment UploadFields on Upload {
  id
  status
  filename
  contentType
  size
  createdAt
  updatedAt
  expiresAt
  error {
    code
    message
  }
  moderation {
    status
    labels {
      name
      parentName
      confidence
    }
  }
  image {
    id
    width
    height
    format
    url
    metadata
    placeholder {
      hash
      dataUrl
    }
    labels {
      name
      confidence
    }
    variants {
      name
      width
      height
      format
      url
      size
    }
  }
}`);
var ImageProcessedDocument = new TypedDocumentString(`
    subscription ImageProcessed($uploadId: ID!) {
  imageProcessed(uploadId: $uploadId) {
    ...UploadFields
  }
}
    fragment UploadFields on Upload {
  id
  status
  filename
  contentType
  size
  createdAt
  updatedAt
  expiresAt
  error {
    code
    message
  }
  moderation {
    status
    labels {
      name
      parentName
      confidence
    }
  }
  image {
    id
    width
    height
    format
    url
    metadata
    placeholder {
      hash
      dataUrl
    }
    labels {
      name
      confidence
    }
    variants {
      name
      width
      height
      format
      url
      size
    }
  }
}`);
var UploadEventsDocument = new TypedDocumentString(`
    subscription UploadEvents {
  uploadEvents {
    ...UploadFields
  }
}
    fragment UploadFields on Upload {
  id
  status
  filename
  contentType
  size
  createdAt
  updatedAt
  expiresAt
  error {
    code
    message
  }
  moderation {
    status
    labels {
      name
      parentName
      confidence
    }
  }
  image {
    id
    width
    height
    format
    url
    metadata
    placeholder {
      hash
      dataUrl
    }
    labels {
      name
      confidence
    }
    variants {
      name
      width
      height
      format
      url
      size
    }
  }
}`);

// src/files.ts
var TYPES_BY_EXTENSION = {
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  png: "image/png",
  gif: "image/gif",
  webp: "image/webp",
  heic: "image/heic",
  heif: "image/heif",
  avif: "image/avif"
};
function contentTypeOf(file) {
  if (file.type) return file.type;
  const extension = file.name.split(".").pop()?.toLowerCase() ?? "";
  return TYPES_BY_EXTENSION[extension] ?? "application/octet-stream";
}
function isTerminal(status) {
  return status === "READY" || status === "FAILED" || status === "EXPIRED";
}
function srcsetOf(image, format) {
  const wanted = format ?? image.variants[0]?.format;
  return image.variants.filter((v) => v.format === wanted).sort((a, b) => a.width - b.width).map((v) => `${v.url} ${v.width}w`).join(", ");
}
function csrfCookie(name = "csrftoken") {
  if (typeof document === "undefined" || typeof document.cookie !== "string") return null;
  for (const part of document.cookie.split(";")) {
    const [key, ...value] = part.trim().split("=");
    if (key === name) return decodeURIComponent(value.join("="));
  }
  return null;
}

// src/http.ts
async function tokenOf(getToken) {
  try {
    return await getToken() || null;
  } catch (cause) {
    throw new AsyncImageError(
      `getToken failed: ${cause instanceof Error ? cause.message : String(cause)}`,
      "UNAUTHENTICATED",
      { cause }
    );
  }
}
function isAbort(error) {
  return typeof error === "object" && error !== null && error.name === "AbortError";
}
function createRequester(options, defaultCsrf) {
  const fetchImpl = (...args) => (options.fetch ?? globalThis.fetch)(...args);
  const getCsrfToken = options.getCsrfToken ?? (() => options.csrfToken ?? defaultCsrf());
  return async function request(operation, variables, init = {}) {
    const headers = {
      "Content-Type": "application/json",
      Accept: "application/json"
    };
    const token = options.getToken ? await tokenOf(options.getToken) : null;
    if (token) {
      headers.Authorization = `Bearer ${token}`;
    } else {
      const csrf = getCsrfToken();
      if (csrf) headers["X-CSRFToken"] = csrf;
    }
    let response;
    try {
      response = await fetchImpl(options.graphqlUrl, {
        method: "POST",
        headers,
        credentials: options.credentials ?? "same-origin",
        body: JSON.stringify({ query: String(operation), variables: variables ?? {} }),
        signal: init.signal
      });
    } catch (cause) {
      if (isAbort(cause)) throw new AsyncImageError("The request was aborted.", "ABORTED", { cause });
      throw new AsyncImageError(`GraphQL request failed: ${String(cause)}`, "NETWORK_ERROR", { cause });
    }
    let body;
    try {
      body = await response.json();
    } catch {
      const hint = response.status === 403 ? " (CSRF: is the csrftoken cookie set?)" : "";
      throw new AsyncImageError(
        `GraphQL endpoint answered HTTP ${response.status}${hint}.`,
        `HTTP_${response.status}`
      );
    }
    const errors = asErrors(body?.errors);
    if (errors.length) throw graphqlError(errors);
    if (!response.ok || !body?.data) {
      throw new AsyncImageError(
        `GraphQL endpoint answered HTTP ${response.status}.`,
        `HTTP_${response.status}`
      );
    }
    return body.data;
  };
}

// node_modules/graphql-ws/dist/common-CGW11Fyb.js
function extendedTypeof(val) {
  if (val === null) {
    return "null";
  }
  if (Array.isArray(val)) {
    return "array";
  }
  return typeof val;
}
function isObject(val) {
  return extendedTypeof(val) === "object";
}
function areGraphQLFormattedErrors(obj) {
  return Array.isArray(obj) && // must be at least one error
  obj.length > 0 && // error has at least a message
  obj.every((ob) => "message" in ob);
}
function limitCloseReason(reason, whenTooLong) {
  return reason.length < 124 ? reason : whenTooLong;
}
var GRAPHQL_TRANSPORT_WS_PROTOCOL = "graphql-transport-ws";
var CloseCode = /* @__PURE__ */ ((CloseCode2) => {
  CloseCode2[CloseCode2["InternalServerError"] = 4500] = "InternalServerError";
  CloseCode2[CloseCode2["InternalClientError"] = 4005] = "InternalClientError";
  CloseCode2[CloseCode2["BadRequest"] = 4400] = "BadRequest";
  CloseCode2[CloseCode2["BadResponse"] = 4004] = "BadResponse";
  CloseCode2[CloseCode2["Unauthorized"] = 4401] = "Unauthorized";
  CloseCode2[CloseCode2["Forbidden"] = 4403] = "Forbidden";
  CloseCode2[CloseCode2["SubprotocolNotAcceptable"] = 4406] = "SubprotocolNotAcceptable";
  CloseCode2[CloseCode2["ConnectionInitialisationTimeout"] = 4408] = "ConnectionInitialisationTimeout";
  CloseCode2[CloseCode2["ConnectionAcknowledgementTimeout"] = 4504] = "ConnectionAcknowledgementTimeout";
  CloseCode2[CloseCode2["SubscriberAlreadyExists"] = 4409] = "SubscriberAlreadyExists";
  CloseCode2[CloseCode2["TooManyInitialisationRequests"] = 4429] = "TooManyInitialisationRequests";
  return CloseCode2;
})(CloseCode || {});
var MessageType = /* @__PURE__ */ ((MessageType2) => {
  MessageType2["ConnectionInit"] = "connection_init";
  MessageType2["ConnectionAck"] = "connection_ack";
  MessageType2["Ping"] = "ping";
  MessageType2["Pong"] = "pong";
  MessageType2["Subscribe"] = "subscribe";
  MessageType2["Next"] = "next";
  MessageType2["Error"] = "error";
  MessageType2["Complete"] = "complete";
  return MessageType2;
})(MessageType || {});
function validateMessage(val) {
  if (!isObject(val)) {
    throw new Error(
      `Message is expected to be an object, but got ${extendedTypeof(val)}`
    );
  }
  if (!val.type) {
    throw new Error(`Message is missing the 'type' property`);
  }
  if (typeof val.type !== "string") {
    throw new Error(
      `Message is expects the 'type' property to be a string, but got ${extendedTypeof(
        val.type
      )}`
    );
  }
  switch (val.type) {
    case "connection_init":
    case "connection_ack":
    case "ping":
    case "pong": {
      if (val.payload != null && !isObject(val.payload)) {
        throw new Error(
          `"${val.type}" message expects the 'payload' property to be an object or nullish or missing, but got "${val.payload}"`
        );
      }
      break;
    }
    case "subscribe": {
      if (typeof val.id !== "string") {
        throw new Error(
          `"${val.type}" message expects the 'id' property to be a string, but got ${extendedTypeof(
            val.id
          )}`
        );
      }
      if (!val.id) {
        throw new Error(
          `"${val.type}" message requires a non-empty 'id' property`
        );
      }
      if (!isObject(val.payload)) {
        throw new Error(
          `"${val.type}" message expects the 'payload' property to be an object, but got ${extendedTypeof(
            val.payload
          )}`
        );
      }
      if (typeof val.payload.query !== "string") {
        throw new Error(
          `"${val.type}" message payload expects the 'query' property to be a string, but got ${extendedTypeof(
            val.payload.query
          )}`
        );
      }
      if (val.payload.variables != null && !isObject(val.payload.variables)) {
        throw new Error(
          `"${val.type}" message payload expects the 'variables' property to be a an object or nullish or missing, but got ${extendedTypeof(
            val.payload.variables
          )}`
        );
      }
      if (val.payload.operationName != null && extendedTypeof(val.payload.operationName) !== "string") {
        throw new Error(
          `"${val.type}" message payload expects the 'operationName' property to be a string or nullish or missing, but got ${extendedTypeof(
            val.payload.operationName
          )}`
        );
      }
      if (val.payload.extensions != null && !isObject(val.payload.extensions)) {
        throw new Error(
          `"${val.type}" message payload expects the 'extensions' property to be a an object or nullish or missing, but got ${extendedTypeof(
            val.payload.extensions
          )}`
        );
      }
      break;
    }
    case "next": {
      if (typeof val.id !== "string") {
        throw new Error(
          `"${val.type}" message expects the 'id' property to be a string, but got ${extendedTypeof(
            val.id
          )}`
        );
      }
      if (!val.id) {
        throw new Error(
          `"${val.type}" message requires a non-empty 'id' property`
        );
      }
      if (!isObject(val.payload)) {
        throw new Error(
          `"${val.type}" message expects the 'payload' property to be an object, but got ${extendedTypeof(
            val.payload
          )}`
        );
      }
      break;
    }
    case "error": {
      if (typeof val.id !== "string") {
        throw new Error(
          `"${val.type}" message expects the 'id' property to be a string, but got ${extendedTypeof(
            val.id
          )}`
        );
      }
      if (!val.id) {
        throw new Error(
          `"${val.type}" message requires a non-empty 'id' property`
        );
      }
      if (!areGraphQLFormattedErrors(val.payload)) {
        throw new Error(
          `"${val.type}" message expects the 'payload' property to be an array of GraphQL errors, but got ${JSON.stringify(
            val.payload
          )}`
        );
      }
      break;
    }
    case "complete": {
      if (typeof val.id !== "string") {
        throw new Error(
          `"${val.type}" message expects the 'id' property to be a string, but got ${extendedTypeof(
            val.id
          )}`
        );
      }
      if (!val.id) {
        throw new Error(
          `"${val.type}" message requires a non-empty 'id' property`
        );
      }
      break;
    }
    default:
      throw new Error(`Invalid message 'type' property "${val.type}"`);
  }
  return val;
}
function parseMessage(data, reviver) {
  return validateMessage(
    typeof data === "string" ? JSON.parse(data, reviver) : data
  );
}
function stringifyMessage(msg, replacer) {
  validateMessage(msg);
  return JSON.stringify(msg, replacer);
}

// node_modules/graphql-ws/dist/client.js
function createClient(options) {
  const {
    url,
    connectionParams,
    lazy = true,
    onNonLazyError = console.error,
    lazyCloseTimeout: lazyCloseTimeoutMs = 0,
    keepAlive = 0,
    disablePong,
    connectionAckWaitTimeout = 0,
    retryAttempts = 5,
    retryWait = async function randomisedExponentialBackoff(retries2) {
      const retryDelaySeconds = Math.pow(2, retries2);
      await new Promise(
        (resolve) => setTimeout(
          resolve,
          retryDelaySeconds * 1e3 + // add random timeout from 300ms to 3s
          Math.floor(Math.random() * (3e3 - 300) + 300)
        )
      );
    },
    shouldRetry = isLikeCloseEvent,
    on,
    webSocketImpl,
    /**
     * Generates a v4 UUID to be used as the ID using `Math`
     * as the random number generator. Supply your own generator
     * in case you need more uniqueness.
     *
     * Reference: https://gist.github.com/jed/982883
     */
    generateID = function generateUUID() {
      return "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, (c) => {
        const r = Math.random() * 16 | 0, v = c == "x" ? r : r & 3 | 8;
        return v.toString(16);
      });
    },
    jsonMessageReplacer: replacer,
    jsonMessageReviver: reviver
  } = options;
  let ws;
  if (webSocketImpl) {
    if (!isWebSocket(webSocketImpl)) {
      throw new Error("Invalid WebSocket implementation provided");
    }
    ws = webSocketImpl;
  } else if (typeof WebSocket !== "undefined") {
    ws = WebSocket;
  } else if (typeof global !== "undefined") {
    ws = global.WebSocket || // @ts-expect-error: Support more browsers
    global.MozWebSocket;
  } else if (typeof window !== "undefined") {
    ws = window.WebSocket || // @ts-expect-error: Support more browsers
    window.MozWebSocket;
  }
  if (!ws)
    throw new Error(
      "WebSocket implementation missing; on Node you can `import WebSocket from 'ws';` and pass `webSocketImpl: WebSocket` to `createClient`"
    );
  const WebSocketImpl = ws;
  const emitter = (() => {
    const message = /* @__PURE__ */ (() => {
      const listeners2 = {};
      return {
        on(id, listener) {
          listeners2[id] = listener;
          return () => {
            delete listeners2[id];
          };
        },
        emit(message2) {
          if ("id" in message2) listeners2[message2.id]?.(message2);
        }
      };
    })();
    const listeners = {
      connecting: on?.connecting ? [on.connecting] : [],
      opened: on?.opened ? [on.opened] : [],
      connected: on?.connected ? [on.connected] : [],
      ping: on?.ping ? [on.ping] : [],
      pong: on?.pong ? [on.pong] : [],
      message: on?.message ? [message.emit, on.message] : [message.emit],
      closed: on?.closed ? [on.closed] : [],
      error: on?.error ? [on.error] : []
    };
    return {
      onMessage: message.on,
      on(event, listener) {
        const l = listeners[event];
        l.push(listener);
        return () => {
          const i = l.indexOf(listener);
          if (i > -1) {
            l.splice(i, 1);
          }
        };
      },
      emit(event, ...args) {
        for (const listener of [...listeners[event]]) {
          listener(...args);
        }
      }
    };
  })();
  function errorOrClosed(cb) {
    const listening = [
      // errors are fatal and more critical than close events, throw them first
      emitter.on("error", (err) => {
        listening.forEach((unlisten) => unlisten());
        cb(err);
      }),
      // closes can be graceful and not fatal, throw them second (if error didnt throw)
      emitter.on("closed", (event) => {
        listening.forEach((unlisten) => unlisten());
        cb(event);
      })
    ];
    return () => listening.forEach((unlisten) => unlisten());
  }
  let connecting, locks = 0, lazyCloseTimeout, retrying = false, retries = 0, disposed = false;
  async function connect() {
    clearTimeout(lazyCloseTimeout);
    const [socket, throwOnClose] = await (connecting ?? (connecting = new Promise(
      (connected, denied) => (async () => {
        if (retrying) {
          await retryWait(retries);
          if (!locks) {
            connecting = void 0;
            return denied({ code: 1e3, reason: "All Subscriptions Gone" });
          }
          retries++;
        }
        emitter.emit("connecting", retrying);
        const socket2 = new WebSocketImpl(
          typeof url === "function" ? await url() : url,
          GRAPHQL_TRANSPORT_WS_PROTOCOL
        );
        let connectionAckTimeout, queuedPing;
        function enqueuePing() {
          if (isFinite(keepAlive) && keepAlive > 0) {
            clearTimeout(queuedPing);
            queuedPing = setTimeout(() => {
              if (socket2.readyState === WebSocketImpl.OPEN) {
                socket2.send(stringifyMessage({ type: MessageType.Ping }));
                emitter.emit("ping", false, void 0);
              }
            }, keepAlive);
          }
        }
        errorOrClosed((errOrEvent) => {
          connecting = void 0;
          clearTimeout(connectionAckTimeout);
          clearTimeout(queuedPing);
          denied(errOrEvent);
          if (errOrEvent instanceof TerminatedCloseEvent) {
            socket2.close(4499, "Terminated");
            socket2.onerror = null;
            socket2.onclose = null;
          }
        });
        socket2.onerror = (err) => emitter.emit("error", err);
        socket2.onclose = (event) => emitter.emit("closed", event);
        socket2.onopen = async () => {
          try {
            emitter.emit("opened", socket2);
            const payload = typeof connectionParams === "function" ? await connectionParams() : connectionParams;
            if (socket2.readyState !== WebSocketImpl.OPEN) return;
            socket2.send(
              stringifyMessage(
                payload ? {
                  type: MessageType.ConnectionInit,
                  payload
                } : {
                  type: MessageType.ConnectionInit
                  // payload is completely absent if not provided
                },
                replacer
              )
            );
            if (isFinite(connectionAckWaitTimeout) && connectionAckWaitTimeout > 0) {
              connectionAckTimeout = setTimeout(() => {
                socket2.close(
                  CloseCode.ConnectionAcknowledgementTimeout,
                  "Connection acknowledgement timeout"
                );
              }, connectionAckWaitTimeout);
            }
            enqueuePing();
          } catch (err) {
            emitter.emit("error", err);
            socket2.close(
              CloseCode.InternalClientError,
              limitCloseReason(
                err instanceof Error ? err.message : String(err),
                "Internal client error"
              )
            );
          }
        };
        let acknowledged = false;
        socket2.onmessage = ({ data }) => {
          try {
            const message = parseMessage(data, reviver);
            emitter.emit("message", message);
            if (message.type === "ping" || message.type === "pong") {
              emitter.emit(message.type, true, message.payload);
              if (message.type === "pong") {
                enqueuePing();
              } else if (!disablePong) {
                socket2.send(
                  stringifyMessage(
                    message.payload ? {
                      type: MessageType.Pong,
                      payload: message.payload
                    } : {
                      type: MessageType.Pong
                      // payload is completely absent if not provided
                    },
                    replacer
                  )
                );
                emitter.emit("pong", false, message.payload);
              }
              return;
            }
            if (acknowledged) return;
            if (message.type !== MessageType.ConnectionAck)
              throw new Error(
                `First message cannot be of type ${message.type}`
              );
            clearTimeout(connectionAckTimeout);
            acknowledged = true;
            emitter.emit("connected", socket2, message.payload, retrying);
            retrying = false;
            retries = 0;
            const throwOnClose2 = new Promise(
              (_, reject) => errorOrClosed(reject)
            );
            throwOnClose2.catch(() => {
            });
            connected([socket2, throwOnClose2]);
          } catch (err) {
            socket2.onmessage = null;
            emitter.emit("error", err);
            socket2.close(
              CloseCode.BadResponse,
              limitCloseReason(
                err instanceof Error ? err.message : String(err),
                "Bad response"
              )
            );
          }
        };
      })()
    )));
    if (socket.readyState === WebSocketImpl.CLOSING) await throwOnClose;
    let release = () => {
    };
    const released = new Promise((resolve) => release = resolve);
    return [
      socket,
      release,
      // resolves on release or rejects on error/close, whichever comes first.
      // not racing with throwOnClose on purpose, it lives as long as the socket
      // and every race would leak memory per operation
      new Promise((resolve, reject) => {
        const unlisten = errorOrClosed(reject);
        if (socket.readyState !== WebSocketImpl.OPEN)
          throwOnClose.catch(reject);
        released.then(() => {
          unlisten();
          if (!locks) {
            const complete = () => socket.close(1e3, "Normal Closure");
            if (isFinite(lazyCloseTimeoutMs) && lazyCloseTimeoutMs > 0) {
              clearTimeout(lazyCloseTimeout);
              lazyCloseTimeout = setTimeout(() => {
                if (!locks && socket.readyState === WebSocketImpl.OPEN)
                  complete();
              }, lazyCloseTimeoutMs);
            } else {
              complete();
            }
          }
          resolve();
        });
      })
    ];
  }
  function shouldRetryConnectOrThrow(errOrCloseEvent) {
    if (isLikeCloseEvent(errOrCloseEvent) && (isFatalInternalCloseCode(errOrCloseEvent.code) || [
      CloseCode.InternalServerError,
      CloseCode.InternalClientError,
      CloseCode.BadRequest,
      CloseCode.BadResponse,
      CloseCode.Unauthorized,
      // CloseCode.Forbidden, might grant access out after retry
      CloseCode.SubprotocolNotAcceptable,
      // CloseCode.ConnectionInitialisationTimeout, might not time out after retry
      // CloseCode.ConnectionAcknowledgementTimeout, might not time out after retry
      CloseCode.SubscriberAlreadyExists,
      CloseCode.TooManyInitialisationRequests
      // 4499, // Terminated, probably because the socket froze, we want to retry
    ].includes(errOrCloseEvent.code)))
      throw errOrCloseEvent;
    if (disposed) return false;
    if (isLikeCloseEvent(errOrCloseEvent) && errOrCloseEvent.code === 1e3)
      return locks > 0;
    if (!retryAttempts || retries >= retryAttempts) throw errOrCloseEvent;
    if (!shouldRetry(errOrCloseEvent)) throw errOrCloseEvent;
    return retrying = true;
  }
  if (!lazy) {
    (async () => {
      locks++;
      for (; ; ) {
        try {
          const [, , throwOnClose] = await connect();
          await throwOnClose;
        } catch (errOrCloseEvent) {
          try {
            if (!shouldRetryConnectOrThrow(errOrCloseEvent)) return;
          } catch (errOrCloseEvent2) {
            return onNonLazyError?.(errOrCloseEvent2);
          }
        }
      }
    })();
  }
  function subscribe(payload, sink) {
    const id = generateID(payload);
    let done = false, errored = false, releaser = () => {
      locks--;
      done = true;
    };
    (async () => {
      locks++;
      for (; ; ) {
        try {
          const [socket, release, waitForReleaseOrThrowOnClose] = await connect();
          if (done) {
            waitForReleaseOrThrowOnClose.catch(() => {
            });
            return release();
          }
          const unlisten = emitter.onMessage(id, (message) => {
            switch (message.type) {
              case MessageType.Next: {
                sink.next(message.payload);
                return;
              }
              case MessageType.Error: {
                errored = true, done = true;
                sink.error(message.payload);
                releaser();
                return;
              }
              case MessageType.Complete: {
                done = true;
                releaser();
                return;
              }
            }
          });
          socket.send(
            stringifyMessage(
              {
                id,
                type: MessageType.Subscribe,
                payload
              },
              replacer
            )
          );
          releaser = () => {
            if (!done && socket.readyState === WebSocketImpl.OPEN)
              socket.send(
                stringifyMessage(
                  {
                    id,
                    type: MessageType.Complete
                  },
                  replacer
                )
              );
            locks--;
            done = true;
            release();
          };
          await waitForReleaseOrThrowOnClose.finally(unlisten);
          return;
        } catch (errOrCloseEvent) {
          if (!shouldRetryConnectOrThrow(errOrCloseEvent)) return;
        }
      }
    })().then(() => {
      if (!errored) sink.complete();
    }).catch((err) => {
      sink.error(err);
    });
    return () => {
      if (!done) releaser();
    };
  }
  return {
    on: emitter.on,
    subscribe,
    iterate(request) {
      const pending = [];
      const deferred = {
        done: false,
        error: null,
        resolve: () => {
        }
      };
      const dispose = subscribe(request, {
        next(val) {
          pending.push(val);
          deferred.resolve();
        },
        error(err) {
          deferred.done = true;
          deferred.error = err;
          deferred.resolve();
        },
        complete() {
          deferred.done = true;
          deferred.resolve();
        }
      });
      const iterator = (async function* iterator2() {
        for (; ; ) {
          if (!pending.length) {
            await new Promise((resolve) => deferred.resolve = resolve);
          }
          while (pending.length) {
            yield pending.shift();
          }
          if (deferred.error) {
            throw deferred.error;
          }
          if (deferred.done) {
            return;
          }
        }
      })();
      iterator.throw = async (err) => {
        if (!deferred.done) {
          deferred.done = true;
          deferred.error = err;
          deferred.resolve();
        }
        return { done: true, value: void 0 };
      };
      iterator.return = async () => {
        dispose();
        return { done: true, value: void 0 };
      };
      return iterator;
    },
    async dispose() {
      disposed = true;
      if (connecting) {
        const [socket] = await connecting;
        socket.close(1e3, "Normal Closure");
      }
    },
    terminate() {
      if (connecting) {
        emitter.emit("closed", new TerminatedCloseEvent());
      }
    }
  };
}
var TerminatedCloseEvent = class extends Error {
  constructor() {
    super(...arguments);
    __publicField(this, "name", "TerminatedCloseEvent");
    __publicField(this, "message", "4499: Terminated");
    __publicField(this, "code", 4499);
    __publicField(this, "reason", "Terminated");
    __publicField(this, "wasClean", false);
  }
};
function isLikeCloseEvent(val) {
  return isObject(val) && "code" in val && "reason" in val;
}
function isFatalInternalCloseCode(code) {
  if ([
    1e3,
    // Normal Closure is not an erroneous close code
    1001,
    // Going Away
    1006,
    // Abnormal Closure
    1005,
    // No Status Received
    1012,
    // Service Restart
    1013,
    // Try Again Later
    1014
    // Bad Gateway
  ].includes(code))
    return false;
  return code >= 1e3 && code <= 1999;
}
function isWebSocket(val) {
  return typeof val === "function" && "constructor" in val && "CLOSED" in val && "CLOSING" in val && "CONNECTING" in val && "OPEN" in val;
}

// src/socket.ts
var RETRIED_1XXX = /* @__PURE__ */ new Set([1e3, 1001, 1005, 1006, 1012, 1013, 1014]);
var FATAL_4XXX = /* @__PURE__ */ new Set([4004, 4005, 4400, 4401, 4406, 4409, 4429, 4500]);
function createSubscriptions(options) {
  const retry = options.retry ?? {};
  const initialDelay = retry.initialDelay ?? 500;
  const maxDelay = retry.maxDelay ?? 1e4;
  const pingInterval = options.pingInterval ?? 2e4;
  const active = /* @__PURE__ */ new Set();
  let client = null;
  let state = "idle";
  let acknowledged = false;
  let pongTimer;
  function setState(next) {
    if (next === state) return;
    state = next;
    options.onConnectionChange?.(next);
  }
  function refusedForGood(value) {
    return isCloseLike(value) && value.code === 4403 && !acknowledged;
  }
  function isFatal(value) {
    if (value instanceof AsyncImageError || refusedForGood(value)) return true;
    if (!isCloseLike(value)) return false;
    const { code } = value;
    return FATAL_4XXX.has(code) || code >= 1e3 && code <= 1999 && !RETRIED_1XXX.has(code);
  }
  function build() {
    const self = createClient({
      url: options.url,
      webSocketImpl: options.WebSocket,
      lazy: true,
      lazyCloseTimeout: options.lazyCloseTimeout ?? 3e3,
      keepAlive: pingInterval,
      retryAttempts: retry.attempts ?? Infinity,
      // Full jitter: after a server restart, clients do not come back in one wave.
      retryWait: (retries) => new Promise(
        (resolve) => setTimeout(resolve, Math.random() * Math.min(maxDelay, initialDelay * 2 ** retries))
      ),
      // graphql-ws retries only close events by default; a browser reports a failed connection
      // as an `error` event first, and that must be retried too.
      shouldRetry: (value) => !isFatal(value),
      connectionParams: options.connectionParams,
      on: {
        connecting: (isRetry) => {
          if (self !== client) return;
          acknowledged = false;
          setState(isRetry || state === "reconnecting" ? "reconnecting" : "connecting");
        },
        connected: () => {
          if (self !== client) return;
          acknowledged = true;
          setState("connected");
        },
        ping: (received) => {
          if (received || !pingInterval || self !== client) return;
          clearTimeout(pongTimer);
          pongTimer = setTimeout(() => self.terminate(), pingInterval);
        },
        pong: (received) => {
          if (received) clearTimeout(pongTimer);
        },
        closed: (event) => {
          if (self !== client) return;
          clearTimeout(pongTimer);
          if (!active.size) setState("idle");
          else setState(isFatal(event) ? "closed" : "reconnecting");
        }
      }
    });
    return self;
  }
  function subscribe(query, variables, field, sink) {
    const entry = { done: false, complete: () => sink.complete?.(), seen: /* @__PURE__ */ new Map() };
    active.add(entry);
    client ?? (client = build());
    const finish = () => {
      entry.done = true;
      active.delete(entry);
    };
    const stop = client.subscribe(
      { query, variables },
      {
        next(result) {
          if (entry.done) return;
          const value = result.data?.[field];
          const errors = asErrors(result.errors);
          if (!value) {
            if (errors.length) {
              finish();
              stop();
              sink.error?.(graphqlError(errors));
            }
            return;
          }
          const key = `${value.status}|${value.updatedAt}`;
          if (entry.seen.get(value.id) === key) return;
          entry.seen.set(value.id, key);
          sink.next?.(value);
        },
        error(error) {
          if (entry.done) return;
          finish();
          if (!active.size && state === "reconnecting") setState("closed");
          sink.error?.(toAsyncImageError(error));
        },
        complete() {
          if (entry.done) return;
          finish();
          sink.complete?.();
        }
      }
    );
    return () => {
      if (entry.done) return;
      finish();
      stop();
    };
  }
  function dispose() {
    const entries = [...active];
    active.clear();
    for (const entry of entries) entry.done = true;
    const closing = client;
    client = null;
    clearTimeout(pongTimer);
    if (closing) {
      Promise.resolve(closing.dispose()).catch(() => {
      });
      if (!acknowledged) closing.terminate();
    }
    acknowledged = false;
    setState("idle");
    for (const entry of entries) entry.complete();
  }
  return { subscribe, dispose, active: () => active.size };
}

// src/url.ts
var SCHEME = /^([a-z][a-z0-9+.-]*):/i;
var WS_SCHEMES = { http: "ws", https: "wss", ws: "ws", wss: "wss" };
function websocketUrl(url, base) {
  let absolute = url;
  if (!SCHEME.test(url)) {
    const page = base ?? (typeof location === "undefined" ? void 0 : location.href);
    if (!page) {
      throw new AsyncImageError(
        `Cannot derive a websocket URL from the relative "${url}" outside a page: pass an absolute graphqlUrl or wsUrl.`,
        "INVALID_URL"
      );
    }
    absolute = new URL(url, page).toString();
  }
  const scheme = SCHEME.exec(absolute)?.[1]?.toLowerCase() ?? "";
  const mapped = WS_SCHEMES[scheme];
  if (!mapped) {
    throw new AsyncImageError(`"${url}" is not an http(s) or ws(s) URL.`, "INVALID_URL");
  }
  return mapped + absolute.slice(scheme.length);
}

// src/client.ts
function inputOf(file) {
  return { filename: file.name, contentType: contentTypeOf(file), size: file.size };
}
function uploadError(upload2) {
  const error = upload2.error ?? { code: upload2.status, message: `Upload ${upload2.status}.` };
  return new AsyncImageError(error.message, `UPLOAD_${error.code}`);
}
function createClient2(options) {
  const request = createRequester(options, csrfCookie);
  const wsUrl = options.wsUrl ?? options.graphqlUrl;
  let socket = null;
  const following = /* @__PURE__ */ new Map();
  async function connectionParams() {
    const extra = typeof options.connectionParams === "function" ? await options.connectionParams() : options.connectionParams;
    const token = options.getToken ? await tokenOf(options.getToken) : null;
    if (!token) return extra;
    return { ...extra, authorization: `Bearer ${token}` };
  }
  function subscriptions() {
    socket ?? (socket = createSubscriptions({
      url: websocketUrl(wsUrl),
      WebSocket: options.WebSocket,
      connectionParams,
      retry: options.retry,
      pingInterval: options.pingInterval,
      lazyCloseTimeout: options.lazyCloseTimeout,
      onConnectionChange: options.onConnectionChange
    }));
    return socket;
  }
  async function requestUpload(file, init = {}) {
    const data = await request(RequestImageUploadDocument, { input: inputOf(file) }, init);
    return data.requestImageUpload;
  }
  async function requestUploads(files, init = {}) {
    const data = await request(RequestImageUploadsDocument, { inputs: Array.from(files, inputOf) }, init);
    return data.requestImageUploads;
  }
  async function cancel(id) {
    const cancelled = new AsyncImageError("The upload was cancelled.", "UPLOAD_CANCELLED");
    for (const stop of [...following.get(id) ?? []]) stop(cancelled);
    const data = await request(CancelUploadDocument, { id });
    return data.cancelUpload;
  }
  function cancelQuietly(id) {
    request(CancelUploadDocument, { id }).catch(() => {
    });
  }
  function subscribe(uploadId, sink) {
    return subscriptions().subscribe(String(ImageProcessedDocument), { uploadId }, "imageProcessed", sink);
  }
  function subscribeAll(sink) {
    return subscriptions().subscribe(String(UploadEventsDocument), {}, "uploadEvents", sink);
  }
  function upload2(ticket, file, handlers = {}) {
    return sendFile(ticket, file, handlers, { XMLHttpRequest: options.XMLHttpRequest, fetch: options.fetch });
  }
  function follow(ticket, file, handlers) {
    const { signal, onProgress, onUpdate } = handlers;
    const id = ticket.upload.id;
    return new Promise((resolve, reject) => {
      let settled = false;
      let unsubscribe = () => {
      };
      const transfer = new AbortController();
      const settle = (error, value) => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener("abort", onAbort);
        following.get(id)?.delete(stop);
        if (!following.get(id)?.size) following.delete(id);
        unsubscribe();
        transfer.abort();
        if (error) reject(error);
        else resolve(value);
      };
      const onAbort = () => {
        if (settled) return;
        cancelQuietly(id);
        settle(aborted());
      };
      const stop = (error) => settle(error);
      if (signal?.aborted) {
        onAbort();
        return;
      }
      signal?.addEventListener("abort", onAbort, { once: true });
      following.set(id, (following.get(id) ?? /* @__PURE__ */ new Set()).add(stop));
      let seen = `${ticket.upload.status}|${ticket.upload.updatedAt}`;
      unsubscribe = subscribe(id, {
        next(value) {
          const key = `${value.status}|${value.updatedAt}`;
          if (key !== seen) onUpdate?.(value);
          seen = key;
          if (value.status === "READY") settle(null, value);
          else if (isTerminal(value.status)) settle(uploadError(value));
        },
        error: (error) => settle(error),
        complete: () => settle(new AsyncImageError("The subscription ended before the upload was final.", "INCOMPLETE"))
      });
      sendFile(
        ticket,
        file,
        { onProgress, signal: transfer.signal },
        { XMLHttpRequest: options.XMLHttpRequest, fetch: options.fetch }
      ).catch((error) => settle(error));
    });
  }
  function unlessAborted(granted, signal, ids) {
    if (!signal) return granted;
    return new Promise((resolve, reject) => {
      let gaveUp = false;
      const onAbort = () => {
        gaveUp = true;
        reject(aborted());
      };
      signal.addEventListener("abort", onAbort, { once: true });
      granted.then(
        (value) => {
          signal.removeEventListener("abort", onAbort);
          if (gaveUp) ids(value).forEach(cancelQuietly);
          else resolve(value);
        },
        (error) => {
          signal.removeEventListener("abort", onAbort);
          reject(error);
        }
      );
    });
  }
  async function uploadImage(file, handlers = {}) {
    if (handlers.signal?.aborted) throw aborted();
    const ticket = await unlessAborted(requestUpload(file), handlers.signal, (t) => [t.upload.id]);
    handlers.onUpdate?.(ticket.upload);
    return follow(ticket, file, handlers);
  }
  async function uploadImages(files, handlers = {}) {
    const list = Array.from(files);
    if (handlers.signal?.aborted) throw aborted();
    const tickets = await unlessAborted(
      requestUploads(list),
      handlers.signal,
      (all) => all.map((t) => t.upload.id)
    );
    return Promise.allSettled(
      tickets.map((ticket, index) => {
        handlers.onUpdate?.(ticket.upload, index);
        return follow(ticket, list[index], {
          signal: handlers.signal,
          onProgress: handlers.onProgress && ((p) => handlers.onProgress?.(p, index)),
          onUpdate: handlers.onUpdate && ((u) => handlers.onUpdate?.(u, index))
        });
      })
    );
  }
  function dispose() {
    socket?.dispose();
  }
  return {
    request,
    requestUpload,
    requestUploads,
    upload: upload2,
    uploadImage,
    uploadImages,
    cancel,
    subscribe,
    subscribeAll,
    dispose,
    /** The same as dispose() (the name of the hand-written client's method). */
    close: dispose
  };
}

// src/index.ts
var UPLOAD_FIELDS = String(UploadFieldsFragmentDoc);
function upload(ticket, file, handlers = {}) {
  return sendFile(ticket, file, handlers);
}
export {
  AsyncImageError,
  CancelUploadDocument,
  ImageProcessedDocument,
  RequestImageUploadDocument,
  RequestImageUploadsDocument,
  TicketFieldsFragmentDoc,
  UPLOAD_FIELDS,
  UploadEventsDocument,
  UploadFieldsFragmentDoc,
  contentTypeOf,
  createClient2 as createClient,
  csrfCookie,
  isTerminal,
  srcsetOf,
  upload,
  websocketUrl
};
