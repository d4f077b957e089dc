/**
 * Credentials for HTTP Basic authentication (RFC 7617): from `-u USER:PASS` or the URL's
 * `user:pass@`, sent only to the origin they were given for — as curl does, never to another
 * host, port or scheme after a redirect (not even from http to https of the same host: that is
 * another origin, and the password would go where the user did not send it). Never printed:
 * request lines shown to people and in JSON carry `Authorization: Basic ***`.
 *
 * @example
 * ```ts
 * import { authorizationField, parseUserOption } from "./credentials.ts";
 * console.log(authorizationField(parseUserOption("ann:s3cret"))); // ["Authorization", "Basic YW5uOnMzY3JldA=="]
 * ```
 * @module
 */

import { ClientError, EXIT } from "./errors.ts";
import { type Location, sameOrigin } from "./names.ts";

/** A user name and password. */
export interface Credentials {
  user: string;
  pass: string;
}

/** What a request line shows instead of the credentials. */
export const MASKED_AUTHORIZATION = "Basic ***";

/**
 * Parses `-u USER:PASS` (split at the first colon: RFC 7617 §2 forbids a colon in the user
 * name, not in the password).
 * @throws {ClientError} usage when there is no colon or a control character.
 */
export function parseUserOption(v: string): Credentials {
  const i = v.indexOf(":");
  if (i < 0) {
    throw new ClientError(
      EXIT.usage,
      "-u/--user must be USER:PASS (Ferry does not prompt for a password) (see --help)",
    );
  }
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f]/.test(v)) {
    throw new ClientError(EXIT.usage, "-u/--user must not contain control characters");
  }
  return { user: v.slice(0, i), pass: v.slice(i + 1) };
}

/** The credentials in a URL's userinfo (`https://user:pass@host/`), decoded, or null. */
export function urlCredentials(text: string): Credentials | null {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return null;
  }
  if (u.username === "" && u.password === "") return null;
  try {
    return { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) };
  } catch {
    return { user: u.username, pass: u.password };
  }
}

/** `text` without the URL's `user:pass@`, when it has one (for messages); else `text` as is. */
export function withoutUserinfo(text: string): string {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return text;
  }
  if (u.username === "" && u.password === "") return text;
  u.username = "";
  u.password = "";
  return u.href;
}

/** The `Authorization` field for `c`: `Basic base64(utf-8(user ":" pass))` (RFC 7617 §2.1,
 * charset UTF-8). */
export function authorizationField(c: Credentials): [string, string] {
  const bytes = new TextEncoder().encode(`${c.user}:${c.pass}`);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return ["Authorization", `Basic ${btoa(bin)}`];
}

/** Whether credentials given for `origin` may go to `to`: only the same scheme, host and port
 * ({@linkcode sameOrigin}). */
export function mayReceive(origin: Location, to: Location): boolean {
  return sameOrigin(origin, to);
}

/** `fields` with any Authorization value replaced by {@linkcode MASKED_AUTHORIZATION}. */
export function maskFields(fields: Array<[string, string]>): Array<[string, string]> {
  return fields.map(([k, v]) =>
    k.toLowerCase() === "authorization" ? [k, MASKED_AUTHORIZATION] : [k, v]
  );
}
