/**
 * Where to ask and where to save: request targets from a user's FILE or URL, redirect
 * `Location`s, the Host field, and the local file name — which is chosen once, from FILE or
 * `-o`, and can never leave DIR. Nothing a server sends (Content-Disposition, a redirect)
 * chooses a local path.
 *
 * What a name may not be (refused with a usage error rather than silently changed, so that the
 * user knows where the file went): empty, `.` or `..`, anything with `/`, `\`, NUL or another
 * control character, or longer than {@linkcode MAX_NAME_BYTES}.
 *
 * @example
 * ```ts
 * import { encodeFilePath, nameFromPath } from "./names.ts";
 * console.log(encodeFilePath("docs/a b.pdf")); // /docs/a%20b.pdf
 * console.log(nameFromPath("/docs/a%20b.pdf")); // a b.pdf
 * ```
 * @module
 */

import { ClientError, EXIT } from "./errors.ts";

/** Longest saved name in UTF-8 bytes: 255 (the usual NAME_MAX) minus ".part.meta", so that the
 * resume side files fit too. */
export const MAX_NAME_BYTES = 255 - ".part.meta".length;
/** The name saved for a path that ends in `/` (a directory URL). */
export const INDEX_NAME = "index.html";

/** A place on an HTTP server. */
export interface Location {
  /** Host name or address as given, IPv6 without brackets. */
  host: string;
  /** TCP port. */
  port: number;
  /** The request target in origin form, percent-encoded (`/a%20b?q=1`). */
  path: string;
  /** https: TLS on the connection. @default false */
  secure?: boolean;
}

/** The same origin (RFC 6454 §4): scheme (http or https), host (case-insensitive) and port.
 * http and https of one host:port are two origins: credentials and resume fields (Range,
 * If-Range) never cross between them. */
export function sameOrigin(a: Location, b: Location): boolean {
  return (a.secure ?? false) === (b.secure ?? false) &&
    a.host.toLowerCase() === b.host.toLowerCase() && a.port === b.port;
}

/** The default port of a scheme: 443 for https, 80 for http. */
export function defaultPort(l: { secure?: boolean }): number {
  return l.secure ? 443 : 80;
}

/** `http[s]://host[:port]/path`, IPv6 in brackets, the port left out when the default. */
export function formatUrl(l: Location): string {
  return `${l.secure ? "https" : "http"}://${hostHeader(l.host, l.port, defaultPort(l))}${l.path}`;
}

/** The Host field value (RFC 9110 §7.2): IPv6 in brackets, the port only when not the
 * scheme's default. */
export function hostHeader(host: string, port: number, dflt = 80): string {
  const h = host.includes(":") ? `[${host}]` : host;
  return port === dflt ? h : `${h}:${port}`;
}

/** `host:port` for messages, IPv6 in brackets, the port always shown. */
export function hostPort(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/**
 * Checks a HOST argument: a DNS name, IPv4 or IPv6 (brackets optional). Returns it without
 * brackets. Refusing anything else keeps the Host field free of injected text.
 */
export function checkHost(host: string): string {
  const h = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  const ok = h.includes(":")
    ? /^[0-9A-Fa-f:.]+(%[A-Za-z0-9_.-]+)?$/.test(h)
    : /^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$/.test(h) && h.length <= 253;
  if (!ok) {
    throw new ClientError(
      EXIT.usage,
      `HOST ${JSON.stringify(host.slice(0, 80))} is not a host name, IPv4 or IPv6 address`,
    );
  }
  return h;
}

/** Checks a PORT argument: an integer from 1 to 65535. */
export function checkPort(text: string): number {
  const n = Number(text);
  if (!/^\d{1,5}$/.test(text) || n < 1 || n > 65535) {
    throw new ClientError(
      EXIT.usage,
      `PORT must be a number from 1 to 65535, got ${JSON.stringify(text.slice(0, 20))}`,
    );
  }
  return n;
}

/** RFC 3986 §5.2.4 remove_dot_segments over decoded segments; keeps a trailing-slash marker
 * as an empty last segment. */
function removeDots(segments: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i];
    const last = i === segments.length - 1;
    if (s === "." || s === "..") {
      if (s === ".." && out.length > 0) out.pop();
      if (last) out.push("");
    } else if (s !== "" || last) {
      out.push(s);
    }
  }
  return out;
}

/**
 * Turns a FILE argument (a path as a person writes it: `docs/a b.pdf`) into an origin-form
 * target: dot segments resolved as a URL would, each segment percent-encoded (RFC 3986 §3.3),
 * so `?`, `#`, `%` and spaces are part of the name, not syntax.
 */
export function encodeFilePath(file: string): string {
  const segments = removeDots(file.split("/"));
  try {
    return "/" + segments.map(encodeURIComponent).join("/");
  } catch {
    throw new ClientError(EXIT.usage, `FILE ${JSON.stringify(file)} is not valid Unicode`);
  }
}

/** The decoded last segment of an origin-form path, or {@linkcode INDEX_NAME} when the path
 * ends in `/`. Not yet checked: pass it to {@linkcode checkName}. */
export function nameFromPath(path: string): string {
  const p = path.split("?")[0];
  const last = p.slice(p.lastIndexOf("/") + 1);
  if (last === "") return INDEX_NAME;
  try {
    return decodeURIComponent(last);
  } catch {
    return last; // not UTF-8 once decoded: keep the encoded form, which is safe text
  }
}

/**
 * Checks that `name` is one plain file name inside DIR and returns it.
 * @throws {ClientError} usage, with what is wrong and the `-o` hint.
 */
export function checkName(name: string, from: string): string {
  let why: string | null = null;
  if (name === "") why = "is empty";
  else if (name === "." || name === "..") why = "is a directory reference";
  else if (name.includes("/") || name.includes("\\")) why = "contains a path separator";
  else if (name.includes("\0")) why = "contains a NUL byte";
  // deno-lint-ignore no-control-regex
  else if (/[\x00-\x1f\x7f]/.test(name)) why = "contains a control character";
  else if (new TextEncoder().encode(name).length > MAX_NAME_BYTES) {
    why = `is longer than ${MAX_NAME_BYTES} bytes`;
  }
  if (why === null) return name;
  throw new ClientError(
    EXIT.usage,
    `refusing to save as ${JSON.stringify(name.slice(0, 80))} (from ${from}): the name ${why}; ` +
      `choose a plain file name with -o NAME`,
  );
}

/**
 * Parses an `http://` or `https://host[:port]/path` URL given by the user; other schemes are
 * refused. Credentials in the URL (`user:pass@`) are read by lib/client/credentials.ts, never
 * kept in the Location.
 * @throws {ClientError} usage.
 */
export function parseHttpUrl(text: string): Location {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new ClientError(EXIT.usage, `${JSON.stringify(text.slice(0, 200))} is not a valid URL`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new ClientError(
      EXIT.usage,
      `${u.protocol} URLs are not supported (Ferry speaks HTTP/1.1); use an http:// or ` +
        `https:// URL`,
    );
  }
  return fromUrl(u);
}

function fromUrl(u: URL): Location {
  const host = u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname;
  const secure = u.protocol === "https:";
  const port = u.port === "" ? (secure ? 443 : 80) : Number(u.port);
  const l: Location = { host, port, path: u.pathname + u.search };
  if (secure) l.secure = true;
  return l;
}

/**
 * Resolves a redirect's `Location` (RFC 9110 §10.2.2: a URI reference, relative to the request
 * target) against the current place. Refuses control characters (CR/LF would be a header
 * injection) and every scheme but http.
 * @throws {ClientError} protocol, saying why.
 */
export function resolveLocation(location: string, base: Location): Location {
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f]/.test(location)) {
    throw new ClientError(
      EXIT.protocol,
      `refusing redirect: Location contains control characters (${
        JSON.stringify(location.slice(0, 80))
      })`,
    );
  }
  let u: URL;
  try {
    u = new URL(location, formatUrl(base));
  } catch {
    throw new ClientError(
      EXIT.protocol,
      `refusing redirect: invalid Location ${JSON.stringify(location.slice(0, 80))}`,
    );
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    const why = "only http: and https: redirects are followed";
    throw new ClientError(
      EXIT.protocol,
      `refusing redirect to ${JSON.stringify(location.slice(0, 80))}: ${why}`,
    );
  }
  return fromUrl(u);
}
