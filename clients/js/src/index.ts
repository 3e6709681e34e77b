/**
 * @asyncimg/client: ask django-async-image-upload for presigned POSTs, send files straight to the
 * bucket with progress, and follow processing over a GraphQL subscription (graphql-ws).
 * Documented in docs/client.md.
 */
import { sendFile, type PresignedTicket, type TransferHandlers } from "./transfer.js";
import type { FileBody } from "./files.js";
import { UploadFieldsFragmentDoc } from "./generated/graphql.js";

export { createClient } from "./client.js";
export type { AsyncImageClient, ClientOptions, UploadHandlers, UploadsHandlers } from "./client.js";
export { AsyncImageError } from "./errors.js";
export type { GraphQLErrorEntry } from "./errors.js";
export { contentTypeOf, csrfCookie, isTerminal, srcsetOf } from "./files.js";
export type { FileBody, FileDescription, NativeFile, UploadableFile } from "./files.js";
export type { Operation, TokenGetter } from "./http.js";
export type { PresignedTicket, TransferHandlers } from "./transfer.js";
export type {
  ConnectionState,
  ImageVariant,
  ProcessedImage,
  Progress,
  Sink,
  Upload,
  UploadError,
  UploadStatus,
  UploadTicket,
} from "./types.js";
export { websocketUrl } from "./url.js";
/** The raw operations, typed, for your own GraphQL client (urql, Apollo, graphql-ws). */
export {
  CancelUploadDocument,
  ImageProcessedDocument,
  RequestImageUploadDocument,
  RequestImageUploadsDocument,
  TicketFieldsFragmentDoc,
  UploadEventsDocument,
  UploadFieldsFragmentDoc,
} from "./generated/graphql.js";
export type {
  CancelUploadMutation,
  CancelUploadMutationVariables,
  ImageProcessedSubscription,
  ImageProcessedSubscriptionVariables,
  RequestImageUploadInput,
  RequestImageUploadMutation,
  RequestImageUploadMutationVariables,
  RequestImageUploadsMutation,
  RequestImageUploadsMutationVariables,
  TypedDocumentString,
  UploadEventsSubscription,
  UploadEventsSubscriptionVariables,
} from "./generated/graphql.js";

/** The fragment the client selects on Upload, as GraphQL text (for queries of your own). */
export const UPLOAD_FIELDS: string = String(UploadFieldsFragmentDoc);

/** POST a file to storage with a ticket's presigned fields (the same as `client.upload`). */
export function upload(
  ticket: PresignedTicket,
  file: FileBody,
  handlers: TransferHandlers = {},
): Promise<void> {
  return sendFile(ticket, file, handlers);
}
