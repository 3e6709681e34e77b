import { AsyncImageError, aborted } from "./errors.js";
import {
  contentTypeOf,
  csrfCookie,
  isTerminal,
  type FileBody,
  type FileDescription,
  type UploadableFile,
} from "./files.js";
import {
  CancelUploadDocument,
  ImageProcessedDocument,
  RequestImageUploadDocument,
  RequestImageUploadsDocument,
  UploadEventsDocument,
} from "./generated/graphql.js";
import { createRequester, tokenOf, type TokenGetter } from "./http.js";
import { createSubscriptions } from "./socket.js";
import { sendFile, type PresignedTicket, type TransferHandlers } from "./transfer.js";
import type { ConnectionState, Progress, Sink, Upload, UploadTicket } from "./types.js";
import { websocketUrl } from "./url.js";

export interface ClientOptions {
  /** GraphQL over HTTP, e.g. "/graphql/" (absolute outside a page). */
  graphqlUrl: string;
  /** The websocket endpoint; default: graphqlUrl with http→ws, https→wss. */
  wsUrl?: string;
  /**
   * A bearer token (mobile apps, SPAs on other origins): sent as `Authorization: Bearer <token>`
   * on HTTP and as the connection_init payload `{authorization: "Bearer <token>"}` on the
   * websocket. Called for every request and every (re)connection, so it may refresh the token.
   * Without it (or when it returns nothing): the session cookie and `X-CSRFToken`.
   */
  getToken?: TokenGetter;
  /** Django's CSRF token; default: the `csrftoken` cookie. */
  csrfToken?: string;
  getCsrfToken?: () => string | null | undefined;
  fetch?: typeof fetch;
  /** `fetch` credentials; default "same-origin". */
  credentials?: RequestCredentials;
  /** A WebSocket class (Node < 22: the `ws` package); default the global one. */
  WebSocket?: unknown;
  /** Default the global one; without any, uploads use `fetch` (no progress until the end). */
  XMLHttpRequest?: typeof XMLHttpRequest;
  /** More of the connection_init payload (the token's `authorization` is added to it). */
  connectionParams?:
    Record<string, unknown> | (() => Record<string, unknown> | Promise<Record<string, unknown>>);
  /** Reconnect backoff in ms, doubled per attempt, full jitter; attempts default: no limit. */
  retry?: { initialDelay?: number; maxDelay?: number; attempts?: number };
  /** ms between client pings; no pong within one interval reopens the socket; 0 disables. */
  pingInterval?: number;
  /** ms the websocket stays open after the last subscription ended (default 3000). */
  lazyCloseTimeout?: number;
  onConnectionChange?: (state: ConnectionState) => void;
}

export interface UploadHandlers extends TransferHandlers {
  /** Each state of the upload: the ticket's PENDING, then what the subscription pushes. */
  onUpdate?: (upload: Upload) => void;
}

export interface UploadsHandlers {
  onProgress?: (progress: Progress, index: number) => void;
  onUpdate?: (upload: Upload, index: number) => void;
  signal?: AbortSignal;
}

function inputOf(file: FileDescription) {
  return { filename: file.name, contentType: contentTypeOf(file), size: file.size };
}

function uploadError(upload: Upload): AsyncImageError {
  const error = upload.error ?? { code: upload.status, message: `Upload ${upload.status}.` };
  return new AsyncImageError(error.message, `UPLOAD_${error.code}`);
}

/** Create a client. Nothing connects until the first request or subscription. */
export function createClient(options: ClientOptions) {
  const request = createRequester(options, csrfCookie);
  const wsUrl = options.wsUrl ?? options.graphqlUrl;
  let socket: ReturnType<typeof createSubscriptions> | null = null;
  /**
   * How to stop each uploadImage(s) in progress, by upload id (two calls may share one: the
   * server reuses a live credential for the same file): cancel(id) stops their transfers too.
   */
  const following = new Map<string, Set<(error: AsyncImageError) => void>>();

  async function connectionParams(): Promise<Record<string, unknown> | undefined> {
    const extra =
      typeof options.connectionParams === "function"
        ? await options.connectionParams()
        : options.connectionParams;
    const token = options.getToken ? await tokenOf(options.getToken) : null;
    if (!token) return extra;
    return { ...extra, authorization: `Bearer ${token}` };
  }

  function subscriptions() {
    // Built on first use: a relative graphqlUrl resolves against the page only then.
    socket ??= createSubscriptions({
      url: websocketUrl(wsUrl),
      WebSocket: options.WebSocket,
      connectionParams,
      retry: options.retry,
      pingInterval: options.pingInterval,
      lazyCloseTimeout: options.lazyCloseTimeout,
      onConnectionChange: options.onConnectionChange,
    });
    return socket;
  }

  /** Ask for a presigned POST for one file (mutation requestImageUpload). */
  async function requestUpload(
    file: FileDescription,
    init: { signal?: AbortSignal } = {},
  ): Promise<UploadTicket> {
    const data = await request(RequestImageUploadDocument, { input: inputOf(file) }, init);
    return data.requestImageUpload as UploadTicket;
  }

  /** Presigned POSTs for several files (mutation requestImageUploads): all granted, or none. */
  async function requestUploads(
    files: Iterable<FileDescription> | ArrayLike<FileDescription>,
    init: { signal?: AbortSignal } = {},
  ): Promise<UploadTicket[]> {
    const data = await request(RequestImageUploadsDocument, { inputs: Array.from(files, inputOf) }, init);
    return data.requestImageUploads as UploadTicket[];
  }

  /**
   * Cancel an unfinished upload (mutation cancelUpload): it ends FAILED with code CANCELLED (a
   * finished one is returned unchanged). An uploadImage following it stops its transfer and
   * rejects with UPLOAD_CANCELLED.
   */
  async function cancel(id: string): Promise<Upload> {
    const cancelled = new AsyncImageError("The upload was cancelled.", "UPLOAD_CANCELLED");
    for (const stop of [...(following.get(id) ?? [])]) stop(cancelled);
    const data = await request(CancelUploadDocument, { id });
    return data.cancelUpload;
  }

  function cancelQuietly(id: string) {
    request(CancelUploadDocument, { id }).catch(() => {});
  }

  /**
   * Follow one upload (subscription imageProcessed): its current state first, then every change;
   * completes after READY, FAILED or EXPIRED. Survives reconnects, delivering each state once.
   */
  function subscribe(uploadId: string, sink: Sink<Upload>): () => void {
    return subscriptions().subscribe(String(ImageProcessedDocument), { uploadId }, "imageProcessed", sink);
  }

  /**
   * Every change to any of the caller's uploads (subscription uploadEvents). Changes made while
   * the websocket was reconnecting are not replayed: query `uploads`, or use `subscribe`.
   */
  function subscribeAll(sink: Sink<Upload>): () => void {
    return subscriptions().subscribe(String(UploadEventsDocument), {}, "uploadEvents", sink);
  }

  /** POST the file to storage with the ticket's fields; progress over XMLHttpRequest. */
  function upload(ticket: PresignedTicket, file: FileBody, handlers: TransferHandlers = {}): Promise<void> {
    return sendFile(ticket, file, handlers, { XMLHttpRequest: options.XMLHttpRequest, fetch: options.fetch });
  }

  /**
   * Subscribe, send the file and wait for the result of an upload already granted. The signal
   * (or cancel(id)) ends it at any stage: the transfer stops, cancelUpload is sent, and the
   * promise rejects at once (ABORTED, or UPLOAD_CANCELLED for cancel).
   */
  function follow(ticket: UploadTicket, file: FileBody, handlers: UploadHandlers): Promise<Upload> {
    const { signal, onProgress, onUpdate } = handlers;
    const id = ticket.upload.id;
    return new Promise<Upload>((resolve, reject) => {
      let settled = false;
      let unsubscribe = () => {};
      const transfer = new AbortController();
      const settle = (error: AsyncImageError | null, value?: Upload) => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener("abort", onAbort);
        following.get(id)?.delete(stop);
        if (!following.get(id)?.size) following.delete(id);
        unsubscribe();
        transfer.abort();
        if (error) reject(error);
        else resolve(value as Upload);
      };
      const onAbort = () => {
        if (settled) return;
        cancelQuietly(id);
        settle(aborted());
      };
      const stop = (error: AsyncImageError) => settle(error);
      if (signal?.aborted) {
        onAbort();
        return;
      }
      signal?.addEventListener("abort", onAbort, { once: true });
      following.set(id, (following.get(id) ?? new Set()).add(stop));
      // The caller has seen the ticket's state: its repetition as the subscription's current
      // state is not news.
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
        complete: () =>
          settle(new AsyncImageError("The subscription ended before the upload was final.", "INCOMPLETE")),
      });
      sendFile(
        ticket,
        file,
        { onProgress, signal: transfer.signal },
        { XMLHttpRequest: options.XMLHttpRequest, fetch: options.fetch },
      ).catch((error: AsyncImageError) => settle(error));
    });
  }

  /**
   * `granted`, or ABORTED as soon as the signal fires: the mutation is not aborted (its upload
   * would be unknown and wait for expiry); what it grants after that is cancelled.
   */
  function unlessAborted<T>(
    granted: Promise<T>,
    signal: AbortSignal | undefined,
    ids: (value: T) => string[],
  ): Promise<T> {
    if (!signal) return granted;
    return new Promise<T>((resolve, reject) => {
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
        },
      );
    });
  }

  /**
   * Request, upload and follow one file. Resolves with the READY upload; rejects with an
   * AsyncImageError: the server's code when it refuses the file, UPLOAD_<code> when the upload
   * ends FAILED or EXPIRED, ABORTED when `signal` fires (at any stage, and then the upload is
   * cancelled on the server).
   */
  async function uploadImage(file: UploadableFile, handlers: UploadHandlers = {}): Promise<Upload> {
    if (handlers.signal?.aborted) throw aborted();
    const ticket = await unlessAborted(requestUpload(file), handlers.signal, (t) => [t.upload.id]);
    handlers.onUpdate?.(ticket.upload);
    return follow(ticket, file, handlers);
  }

  /**
   * Several files under one mutation (all granted, or the promise rejects with the refusal),
   * then each uploaded and followed on its own: resolves, like Promise.allSettled, with each
   * file's READY upload or its error.
   */
  async function uploadImages(
    files: Iterable<UploadableFile> | ArrayLike<UploadableFile>,
    handlers: UploadsHandlers = {},
  ): Promise<PromiseSettledResult<Upload>[]> {
    const list = Array.from(files);
    if (handlers.signal?.aborted) throw aborted();
    const tickets = await unlessAborted(requestUploads(list), handlers.signal, (all) =>
      all.map((t) => t.upload.id),
    );
    return Promise.allSettled(
      tickets.map((ticket, index) => {
        handlers.onUpdate?.(ticket.upload, index);
        return follow(ticket, list[index] as UploadableFile, {
          signal: handlers.signal,
          onProgress: handlers.onProgress && ((p) => handlers.onProgress?.(p, index)),
          onUpdate: handlers.onUpdate && ((u) => handlers.onUpdate?.(u, index)),
        });
      }),
    );
  }

  /** Close the websocket and complete every subscription; later ones open a new connection. */
  function dispose(): void {
    socket?.dispose();
  }

  return {
    request,
    requestUpload,
    requestUploads,
    upload,
    uploadImage,
    uploadImages,
    cancel,
    subscribe,
    subscribeAll,
    dispose,
    /** The same as dispose() (the name of the hand-written client's method). */
    close: dispose,
  };
}

export type AsyncImageClient = ReturnType<typeof createClient>;
