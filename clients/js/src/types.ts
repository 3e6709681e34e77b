import type {
  TicketFieldsFragment,
  UploadFieldsFragment,
  UploadStatus as GeneratedUploadStatus,
} from "./generated/graphql.js";
import type { AsyncImageError } from "./errors.js";

/** PENDING → UPLOADED → PROCESSING → READY | FAILED; PENDING → EXPIRED. */
export type UploadStatus = GeneratedUploadStatus;
/** An upload as the client selects it (fragment `UploadFields` of src/operations.graphql). */
export type Upload = UploadFieldsFragment;
export type ProcessedImage = NonNullable<Upload["image"]>;
export type ImageVariant = ProcessedImage["variants"][number];
export type UploadError = NonNullable<Upload["error"]>;
/** A new (or reused, live) upload and its presigned POST. */
export interface UploadTicket {
  upload: Upload;
  presignedPost: Omit<TicketFieldsFragment["presignedPost"], "fields"> & {
    /** Form fields to send exactly as given, before the file. */
    fields: Record<string, string>;
  };
}

export interface Progress {
  /** Bytes sent. */
  loaded: number;
  /** Bytes to send (the multipart body: slightly more than the file). */
  total: number;
  /** 0 to 1. */
  fraction: number;
}

export interface Sink<T> {
  next?: (value: T) => void;
  error?: (error: AsyncImageError) => void;
  complete?: () => void;
}

export type ConnectionState = "idle" | "connecting" | "connected" | "reconnecting" | "closed";
