import { createClient as createGraphQLWsClient, type Client as GraphQLWsClient } from "graphql-ws/client";
import { AsyncImageError, asErrors, graphqlError, isCloseLike, toAsyncImageError } from "./errors.js";
import type { ConnectionState, Sink } from "./types.js";

export interface SocketOptions {
  url: string;
  WebSocket?: unknown;
  connectionParams: () => Promise<Record<string, unknown> | undefined>;
  retry?: { initialDelay?: number; maxDelay?: number; attempts?: number };
  pingInterval?: number;
  lazyCloseTimeout?: number;
  onConnectionChange?: (state: ConnectionState) => void;
}

/**
 * graphql-ws gives up by itself (without asking `shouldRetry`) on the 1xxx codes other than
 * RETRIED_1XXX and on FATAL_4XXX; mirrored here to report the connection "closed" for them.
 */
const RETRIED_1XXX = new Set([1000, 1001, 1005, 1006, 1012, 1013, 1014]);
const FATAL_4XXX = new Set([4004, 4005, 4400, 4401, 4406, 4409, 4429, 4500]);

interface Active {
  done: boolean;
  complete: () => void;
  /** Per upload, status and updatedAt of the last value delivered. */
  seen: Map<string, string>;
}

/**
 * Subscriptions over one lazily opened graphql-transport-ws connection (graphql-ws), reopened with
 * jittered backoff while any subscription is active; graphql-ws sends every active subscription
 * again on the new socket, and `imageProcessed` answers with the current state first.
 */
export function createSubscriptions(options: SocketOptions) {
  const retry = options.retry ?? {};
  const initialDelay = retry.initialDelay ?? 500;
  const maxDelay = retry.maxDelay ?? 10000;
  const pingInterval = options.pingInterval ?? 20000;
  const active = new Set<Active>();
  let client: GraphQLWsClient | null = null;
  let state: ConnectionState = "idle";
  /** Whether the socket open now (or the one that just closed) had its connection_ack. */
  let acknowledged = false;
  let pongTimer: ReturnType<typeof setTimeout> | undefined;

  function setState(next: ConnectionState) {
    if (next === state) return;
    state = next;
    options.onConnectionChange?.(next);
  }

  /**
   * A bad token closes the socket with 4403 at connection_init: retrying cannot help. A 4403 on
   * an acknowledged socket is the token expiring: the next connection asks `getToken` again.
   */
  function refusedForGood(value: unknown): boolean {
    return isCloseLike(value) && value.code === 4403 && !acknowledged;
  }

  function isFatal(value: unknown): boolean {
    if (value instanceof AsyncImageError || refusedForGood(value)) return true;
    if (!isCloseLike(value)) return false;
    const { code } = value;
    return FATAL_4XXX.has(code) || (code >= 1000 && code <= 1999 && !RETRIED_1XXX.has(code));
  }

  function build(): GraphQLWsClient {
    const self: GraphQLWsClient = createGraphQLWsClient({
      url: options.url,
      webSocketImpl: options.WebSocket,
      lazy: true,
      lazyCloseTimeout: options.lazyCloseTimeout ?? 3000,
      keepAlive: pingInterval,
      retryAttempts: retry.attempts ?? Infinity,
      // Full jitter: after a server restart, clients do not come back in one wave.
      retryWait: (retries) =>
        new Promise((resolve) =>
          setTimeout(resolve, Math.random() * Math.min(maxDelay, initialDelay * 2 ** retries)),
        ),
      // graphql-ws retries only close events by default; a browser reports a failed connection
      // as an `error` event first, and that must be retried too.
      shouldRetry: (value) => !isFatal(value),
      connectionParams: options.connectionParams,
      on: {
        connecting: (isRetry) => {
          if (self !== client) return;
          acknowledged = false;
          // graphql-ws reopens after a 1000 close with active subscriptions without calling it a retry.
          setState(isRetry || state === "reconnecting" ? "reconnecting" : "connecting");
        },
        connected: () => {
          if (self !== client) return;
          acknowledged = true;
          setState("connected");
        },
        ping: (received) => {
          // Our ping went out: without a pong within an interval the socket is dead (a laptop
          // waking up, a NAT forgetting the flow). terminate() drops it at once and graphql-ws
          // reconnects; close() would wait for a closing handshake that never comes.
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
        },
      },
    });
    return self;
  }

  function subscribe<T extends { id: string; status: string; updatedAt: string }>(
    query: string,
    variables: Record<string, unknown>,
    field: string,
    sink: Sink<T>,
  ): () => void {
    const entry: Active = { done: false, complete: () => sink.complete?.(), seen: new Map() };
    active.add(entry);
    client ??= build();
    const finish = () => {
      entry.done = true;
      active.delete(entry);
    };
    const stop = client.subscribe<Record<string, T>>(
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
          // After a reconnect the server repeats the current state: deliver each state once.
          const key = `${value.status}|${value.updatedAt}`;
          if (entry.seen.get(value.id) === key) return;
          entry.seen.set(value.id, key);
          sink.next?.(value);
        },
        error(error) {
          if (entry.done) return;
          finish();
          // Out of retry attempts: nothing will reconnect.
          if (!active.size && state === "reconnecting") setState("closed");
          sink.error?.(toAsyncImageError(error));
        },
        complete() {
          if (entry.done) return;
          finish();
          sink.complete?.();
        },
      },
    );
    return () => {
      if (entry.done) return;
      finish();
      stop();
    };
  }

  /** Close the connection and complete every subscription; a later one opens a new connection. */
  function dispose() {
    const entries = [...active];
    active.clear();
    for (const entry of entries) entry.done = true;
    const closing = client;
    client = null;
    clearTimeout(pongTimer);
    if (closing) {
      // A connection that never opened rejects dispose(): nothing was left to close.
      Promise.resolve(closing.dispose()).catch(() => {});
      // dispose() waits for a connection_ack before closing; a socket without one goes now.
      if (!acknowledged) closing.terminate();
    }
    acknowledged = false;
    setState("idle");
    for (const entry of entries) entry.complete();
  }

  return { subscribe, dispose, active: () => active.size };
}
