import { AsyncImageError, aborted } from "./errors.js";
import type { FileBody } from "./files.js";
import type { Progress, UploadTicket } from "./types.js";

export interface TransferHandlers {
  onProgress?: (progress: Progress) => void;
  signal?: AbortSignal;
}

export interface TransferEnvironment {
  XMLHttpRequest?: typeof XMLHttpRequest;
  fetch?: typeof fetch;
}

/**
 * What the POST needs of a ticket: this client's UploadTicket, or the `presignedPost` another
 * GraphQL client returned (its `fields` typed as the JSON scalar).
 */
export type PresignedTicket =
  | Pick<UploadTicket, "presignedPost">
  | { presignedPost: { url: string; fields: unknown; method?: string; headers?: unknown } };

/** How the ticket says to send the file: a form POST (S3, GCS) or a PUT of the bytes (Azure). */
function requestOf(
  ticket: PresignedTicket,
  file: FileBody,
): {
  method: string;
  body: FormData | Blob;
  headers: Record<string, string>;
} {
  const post = ticket.presignedPost as { method?: string; headers?: unknown };
  const method = (post.method ?? "POST").toUpperCase();
  if (method !== "PUT") return { method: "POST", body: formOf(ticket, file), headers: {} };
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries((post.headers ?? {}) as Record<string, unknown>)) {
    headers[name] = String(value);
  }
  return { method, body: file as Blob, headers };
}

function formOf(ticket: PresignedTicket, file: FileBody): FormData {
  const form = new FormData();
  const fields = (ticket.presignedPost.fields ?? {}) as Record<string, unknown>;
  for (const [name, value] of Object.entries(fields)) form.append(name, String(value));
  // S3 ignores every field after the file: it goes last. React Native's FormData takes a
  // {uri, name, type} object where browsers take a Blob.
  form.append("file", file as Blob);
  return form;
}

/** S3 explains refusals in XML: <Error><Code>EntityTooLarge</Code><Message>…</Message>. */
function storageError(status: number, text: string): AsyncImageError {
  const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1] ?? `HTTP_${status}`;
  const message = /<Message>([^<]+)<\/Message>/.exec(text)?.[1] ?? `Storage answered HTTP ${status}.`;
  return new AsyncImageError(message, `STORAGE_${code}`);
}

function networkError(cause?: unknown): AsyncImageError {
  return new AsyncImageError("Could not reach the storage (network or CORS).", "NETWORK_ERROR", { cause });
}

/**
 * Send the file as the ticket says: POST with its presigned fields (multipart/form-data, the
 * file last; S3, GCS), or PUT of the bytes with its headers (Azure Blob SAS). Resolves when the storage accepted it. `XMLHttpRequest` where there is one (browsers,
 * React Native): `fetch` cannot report upload progress; `fetch` elsewhere (Node, workers), with
 * progress only at the end.
 */
export function sendFile(
  ticket: PresignedTicket,
  file: FileBody,
  handlers: TransferHandlers = {},
  environment: TransferEnvironment = {},
): Promise<void> {
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

async function sendWithFetch(
  ticket: PresignedTicket,
  file: FileBody,
  { signal, onProgress }: TransferHandlers,
  fetchImpl: typeof fetch,
): Promise<void> {
  let response: Response;
  const request = requestOf(ticket, file);
  try {
    response = await fetchImpl(ticket.presignedPost.url, {
      method: request.method,
      body: request.body,
      headers: request.headers,
      signal,
    });
  } catch (cause) {
    if (signal?.aborted) throw aborted();
    throw networkError(cause);
  }
  if (!response.ok) throw storageError(response.status, await response.text().catch(() => ""));
  onProgress?.({ loaded: file.size, total: file.size, fraction: 1 });
}
