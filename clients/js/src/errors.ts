/** One entry of a GraphQL response's `errors` (or of a websocket `error` message). */
export interface GraphQLErrorEntry {
  message: string;
  extensions?: { code?: unknown } & Record<string, unknown>;
  path?: ReadonlyArray<string | number>;
}

/**
 * Every failure the client reports. `code` is stable and machine-readable:
 *
 * - the server's `extensions.code`: `UNSUPPORTED_CONTENT_TYPE`, `FILE_TOO_LARGE`, `RATE_LIMITED`,
 *   `NOT_FOUND`, `UNAUTHENTICATED`…
 * - `HTTP_<status>`: the GraphQL endpoint answered without a GraphQL body
 * - `NETWORK_ERROR`: the GraphQL endpoint, the websocket or the bucket could not be reached
 * - `STORAGE_<S3 code>`: the bucket refused the file (`STORAGE_EntityTooLarge`, `STORAGE_AccessDenied`)
 * - `ABORTED`: the caller's `AbortSignal` fired
 * - `UNAUTHENTICATED`: also for a websocket closed with 4403 (bad or expired token, or a foreign
 *   origin without one) and for a `getToken` that threw
 * - `WEBSOCKET_<close code>`: the server closed the websocket for good (4400, 4406, 4409, 4429…)
 * - `UPLOAD_<error code>`: the upload ended FAILED or EXPIRED (`UPLOAD_CANCELLED`,
 *   `UPLOAD_UNSUPPORTED_TYPE`, `UPLOAD_EXPIRED`…)
 * - `INCOMPLETE`: the subscription ended before the upload was final
 */
export class AsyncImageError extends Error {
  readonly code: string;
  /** Every GraphQL error of the response, when the failure came from GraphQL. */
  readonly errors: readonly GraphQLErrorEntry[];
  /** The websocket close code, when the failure is a closed websocket. */
  readonly closeCode?: number;

  constructor(
    message: string,
    code: string,
    options: { errors?: readonly GraphQLErrorEntry[]; closeCode?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "AsyncImageError";
    this.code = code;
    this.errors = options.errors ?? [];
    if (options.closeCode !== undefined) this.closeCode = options.closeCode;
  }
}

export function asErrors(value: unknown): GraphQLErrorEntry[] {
  return Array.isArray(value) ? (value as GraphQLErrorEntry[]) : [];
}

export function graphqlError(errors: readonly GraphQLErrorEntry[]): AsyncImageError {
  const first = errors[0] ?? { message: "Unknown GraphQL error." };
  const code = first.extensions?.code;
  return new AsyncImageError(first.message, typeof code === "string" ? code : "GRAPHQL_ERROR", {
    errors,
  });
}

export function aborted(): AsyncImageError {
  return new AsyncImageError("The upload was aborted.", "ABORTED");
}

export interface CloseLike {
  code: number;
  reason: string;
}

export function isCloseLike(value: unknown): value is CloseLike {
  return typeof value === "object" && value !== null && "code" in value && "reason" in value;
}

/** The error of a websocket the server closed for good. */
export function closeError(event: CloseLike): AsyncImageError {
  const detail = `${event.code} ${event.reason ?? ""}`.trim();
  if (event.code === 4403) {
    return new AsyncImageError(
      `The subscription server refused the connection (${detail}): the token is missing, invalid or expired.`,
      "UNAUTHENTICATED",
      { closeCode: event.code },
    );
  }
  return new AsyncImageError(
    `The subscription server closed the connection: ${detail}.`,
    `WEBSOCKET_${event.code}`,
    { closeCode: event.code },
  );
}

/** Whatever graphql-ws hands a sink's `error`, as an AsyncImageError. */
export function toAsyncImageError(value: unknown): AsyncImageError {
  if (value instanceof AsyncImageError) return value;
  if (Array.isArray(value)) return graphqlError(value as GraphQLErrorEntry[]);
  if (isCloseLike(value)) return closeError(value);
  const message = value instanceof Error ? value.message : "the websocket failed";
  return new AsyncImageError(`Could not reach the subscription server: ${message}.`, "NETWORK_ERROR", {
    cause: value,
  });
}
