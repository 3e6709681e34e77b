import { AsyncImageError } from "./errors.js";

const SCHEME = /^([a-z][a-z0-9+.-]*):/i;
const WS_SCHEMES: Record<string, string> = { http: "ws", https: "wss", ws: "ws", wss: "wss" };

/**
 * The websocket URL of a GraphQL endpoint: `http:` becomes `ws:`, `https:` becomes `wss:`, and a
 * `ws:`/`wss:` URL is kept as it is. A relative URL is resolved against the page (`location`).
 *
 * String work rather than `URL.protocol`: React Native's `URL` does not implement the setter.
 */
export function websocketUrl(url: string, base?: string): string {
  let absolute = url;
  if (!SCHEME.test(url)) {
    const page = base ?? (typeof location === "undefined" ? undefined : location.href);
    if (!page) {
      throw new AsyncImageError(
        `Cannot derive a websocket URL from the relative "${url}" outside a page: pass an absolute graphqlUrl or wsUrl.`,
        "INVALID_URL",
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
