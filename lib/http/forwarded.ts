/**
 * The hops a request passed through, as proxies record them: `X-Forwarded-For` (the de-facto
 * list of addresses) and `Forwarded` (RFC 7239, its `for=` parameters). Pure syntax: which of
 * the hops to believe is the server's decision (lib/server/behind_proxy.ts), since only hops
 * added by trusted proxies can be believed.
 *
 * @example
 * ```ts
 * import { forwardedHops } from "./forwarded.ts";
 * const headers = new Map([["forwarded", 'for=192.0.2.60;proto=http, for="[2001:db8::17]:4711"']]);
 * console.log(forwardedHops(headers)); // ["192.0.2.60", "2001:db8::17"]
 * ```
 * @module
 */

import { trimOws } from "./ows.ts";

/** Most hops read from one request: a longer chain is refused as a whole (nothing believed)
 * rather than walked, so that a client cannot make each request cost much. */
export const MAX_FORWARDED_HOPS = 32;

/**
 * The node of one hop without port or brackets: `1.2.3.4`, `1.2.3.4:80`, `[::1]`, `[::1]:80`
 * and `::1` give the address text; anything else (RFC 7239 `unknown`, obfuscated `_x`, junk)
 * gives "" — a hop that names no address, where believing must stop.
 */
export function hopAddress(node: string): string {
  if (node.startsWith("[")) {
    const close = node.indexOf("]");
    if (close < 0) return "";
    const rest = node.slice(close + 1);
    if (rest !== "" && !/^:\d{1,5}$/.test(rest)) return "";
    return node.slice(1, close);
  }
  const colons = node.split(":").length - 1;
  if (colons === 1) {
    const [host, port] = node.split(":");
    return /^\d{1,5}$/.test(port) && /^[\d.]+$/.test(host) ? host : "";
  }
  return /^[0-9A-Fa-f.:]+$/.test(node) ? node : "";
}

/** The `for=` values of a `Forwarded` field, in order (RFC 7239 §4), or null when it does not
 * parse (then nothing in it is believed). */
export function parseForwardedFor(value: string): string[] | null {
  const out: string[] = [];
  let i = 0;
  const n = value.length;
  const skipOws = () => {
    while (i < n && (value[i] === " " || value[i] === "\t")) i++;
  };
  for (;;) {
    // One forwarded-element: pairs separated by ";".
    let forValue: string | null = null;
    for (;;) {
      skipOws();
      const eq = value.indexOf("=", i);
      if (eq < 0) return null;
      const name = value.slice(i, eq).toLowerCase();
      if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name)) return null;
      i = eq + 1;
      let v: string;
      if (value[i] === '"') {
        let s = "";
        i++;
        for (;;) {
          if (i >= n) return null;
          const c = value[i++];
          if (c === '"') break;
          if (c === "\\") {
            if (i >= n) return null;
            s += value[i++];
          } else s += c;
        }
        v = s;
      } else {
        const start = i;
        while (i < n && /[!#$%&'*+.^_`|~0-9A-Za-z-]/.test(value[i])) i++;
        if (i === start) return null;
        v = value.slice(start, i);
      }
      if (name === "for") {
        if (forValue !== null) return null; // one for= per element (§4)
        forValue = v;
      }
      skipOws();
      if (i < n && value[i] === ";") {
        i++;
        continue;
      }
      break;
    }
    if (forValue !== null) out.push(forValue);
    if (out.length > MAX_FORWARDED_HOPS) return null;
    if (i >= n) return out;
    if (value[i] !== ",") return null;
    i++;
  }
}

/**
 * The hops of a request, first (the original client, as claimed) to last (added by the proxy
 * that connected to us), as address texts ("" for a hop that names none). Null when neither
 * field is present, when a field does not parse or is too long — or when both are: a proxy
 * writes one of them, so the other came from the client, and which one is the proxy's cannot be
 * told from the request alone.
 */
export function forwardedHops(headers: Map<string, string>): string[] | null {
  const xff = headers.get("x-forwarded-for");
  const fwd = headers.get("forwarded");
  if ((xff === undefined) === (fwd === undefined)) return null;
  if (fwd !== undefined) return parseForwardedFor(fwd)?.map(hopAddress) ?? null;
  const hops = xff!.split(",");
  if (hops.length > MAX_FORWARDED_HOPS) return null;
  return hops.map((h) => hopAddress(trimOws(h)));
}
