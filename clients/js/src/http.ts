import { AsyncImageError, asErrors, graphqlError } from "./errors.js";

/** A token (or nothing) for the next request; may refresh it first. */
export type TokenGetter = () => string | null | undefined | Promise<string | null | undefined>;

export interface HttpOptions {
  graphqlUrl: string;
  fetch?: typeof fetch;
  getToken?: TokenGetter;
  csrfToken?: string;
  getCsrfToken?: () => string | null | undefined;
  credentials?: RequestCredentials;
}

/** A GraphQL operation: a string, or a generated typed document (a `String` subclass). */
export type Operation<TResult = unknown, TVariables = unknown> =
  string | (String & { __apiType?: (variables: TVariables) => TResult });

export async function tokenOf(getToken: TokenGetter): Promise<string | null> {
  try {
    return (await getToken()) || null;
  } catch (cause) {
    throw new AsyncImageError(
      `getToken failed: ${cause instanceof Error ? cause.message : String(cause)}`,
      "UNAUTHENTICATED",
      { cause },
    );
  }
}

function isAbort(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { name?: unknown }).name === "AbortError";
}

/** GraphQL over HTTP: POST `{query, variables}`; resolves with `data`, rejects with AsyncImageError. */
export function createRequester(options: HttpOptions, defaultCsrf: () => string | null) {
  const fetchImpl = (...args: Parameters<typeof fetch>) => (options.fetch ?? globalThis.fetch)(...args);
  const getCsrfToken = options.getCsrfToken ?? (() => options.csrfToken ?? defaultCsrf());

  return async function request<TResult = Record<string, unknown>, TVariables = Record<string, unknown>>(
    operation: Operation<TResult, TVariables>,
    variables?: TVariables,
    init: { signal?: AbortSignal } = {},
  ): Promise<TResult> {
    const headers: Record<string, string> = {
      "Content-Type": "application/json",
      Accept: "application/json",
    };
    // A bearer token is the credential: no cookie, so no CSRF token either. Without one, the
    // session cookie is, and Django wants the CSRF cookie's value back in a header.
    const token = options.getToken ? await tokenOf(options.getToken) : null;
    if (token) {
      headers.Authorization = `Bearer ${token}`;
    } else {
      const csrf = getCsrfToken();
      if (csrf) headers["X-CSRFToken"] = csrf;
    }
    let response: Response;
    try {
      response = await fetchImpl(options.graphqlUrl, {
        method: "POST",
        headers,
        credentials: options.credentials ?? "same-origin",
        body: JSON.stringify({ query: String(operation), variables: variables ?? {} }),
        signal: init.signal,
      });
    } catch (cause) {
      if (isAbort(cause)) throw new AsyncImageError("The request was aborted.", "ABORTED", { cause });
      throw new AsyncImageError(`GraphQL request failed: ${String(cause)}`, "NETWORK_ERROR", { cause });
    }
    let body: { data?: unknown; errors?: unknown } | null;
    try {
      body = (await response.json()) as typeof body;
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
      throw new AsyncImageError(
        `GraphQL endpoint answered HTTP ${response.status}.`,
        `HTTP_${response.status}`,
      );
    }
    return body.data as TResult;
  };
}

export type Requester = ReturnType<typeof createRequester>;
