import type { ProcessedImage, UploadStatus } from "./types.js";

/** What the client declares for a file: a `File`, or its description. */
export interface FileDescription {
  name: string;
  type?: string;
  size: number;
}

/**
 * A file on disk as React Native's FormData sends it (what image pickers give: `uri`, plus the
 * name, type and size they report).
 */
export interface NativeFile {
  uri: string;
  name: string;
  type: string;
  size: number;
}

/** What can be sent to storage: a Blob (File), or a React Native file. */
export type FileBody = Blob | NativeFile;

/** What uploadImage takes: a File, a Blob with a name, or a React Native file. */
export type UploadableFile = File | (Blob & FileDescription) | NativeFile;

/** Content types by extension, for files the browser gives no type (HEIC on some systems). */
const TYPES_BY_EXTENSION: Record<string, string> = {
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  png: "image/png",
  gif: "image/gif",
  webp: "image/webp",
  heic: "image/heic",
  heif: "image/heif",
  avif: "image/avif",
};

/** The content type to declare for a file: the browser's, else guessed from the extension. */
export function contentTypeOf(file: { name: string; type?: string }): string {
  if (file.type) return file.type;
  const extension = file.name.split(".").pop()?.toLowerCase() ?? "";
  return TYPES_BY_EXTENSION[extension] ?? "application/octet-stream";
}

/** True once the upload can no longer change (READY, FAILED, EXPIRED). */
export function isTerminal(status: UploadStatus | string): boolean {
  return status === "READY" || status === "FAILED" || status === "EXPIRED";
}

/** A `srcset` attribute for the image's variants of one format, narrowest first. */
export function srcsetOf(image: Pick<ProcessedImage, "variants">, format?: string): string {
  const wanted = format ?? image.variants[0]?.format;
  return image.variants
    .filter((v) => v.format === wanted)
    .sort((a, b) => a.width - b.width)
    .map((v) => `${v.url} ${v.width}w`)
    .join(", ");
}

/** A cookie of the page (by default Django's `csrftoken`), or null outside a page. */
export function csrfCookie(name = "csrftoken"): string | null {
  if (typeof document === "undefined" || typeof document.cookie !== "string") return null;
  for (const part of document.cookie.split(";")) {
    const [key, ...value] = part.trim().split("=");
    if (key === name) return decodeURIComponent(value.join("="));
  }
  return null;
}
