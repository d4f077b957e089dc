/**
 * Status codes, reason phrases and the one error type that carries a status.
 *
 * @example
 * ```ts
 * import { HttpError, STATUS } from "./status.ts";
 * throw new HttpError(STATUS.NotFound, "Not Found");
 * ```
 * @module
 */

/** Status codes used by Ferry, by name (RFC 9110 §15). */
export const STATUS = {
  OK: 200,
  NoContent: 204,
  PartialContent: 206,
  MovedPermanently: 301,
  Found: 302,
  NotModified: 304,
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  MethodNotAllowed: 405,
  RequestTimeout: 408,
  LengthRequired: 411,
  PreconditionFailed: 412,
  ContentTooLarge: 413,
  URITooLong: 414,
  RangeNotSatisfiable: 416,
  TooManyRequests: 429,
  RequestHeaderFieldsTooLarge: 431,
  InternalServerError: 500,
  NotImplemented: 501,
  ServiceUnavailable: 503,
  HTTPVersionNotSupported: 505,
} as const;

/** Reason phrases for the status line (RFC 9110 §15). Unknown codes get "Unknown". */
export const REASON: Readonly<Record<number, string>> = {
  100: "Continue",
  200: "OK",
  201: "Created",
  204: "No Content",
  206: "Partial Content",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  304: "Not Modified",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  411: "Length Required",
  412: "Precondition Failed",
  413: "Content Too Large",
  414: "URI Too Long",
  416: "Range Not Satisfiable",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
  505: "HTTP Version Not Supported",
};

/** The reason phrase for `status`, or "Unknown". */
export function reasonPhrase(status: number): string {
  return REASON[status] ?? "Unknown";
}

/**
 * An error that maps to an HTTP response. `message` is public: it may be shown to the peer, so it
 * never carries paths or internal error text. `close` asks for the connection to be closed after
 * the response (framing can no longer be trusted).
 *
 * @example
 * ```ts
 * import { HttpError } from "./status.ts";
 * const e = new HttpError(400, "Bad Request: bare CR in header");
 * console.log(e.status, e.close); // 400 true
 * ```
 */
export class HttpError extends Error {
  /** The status code to answer with. */
  readonly status: number;
  /** Whether the connection must be closed after answering. */
  readonly close: boolean;
  /** Extra response fields (e.g. `Allow` on 405). */
  readonly fields: ReadonlyArray<readonly [string, string]>;

  constructor(
    status: number,
    message: string = reasonPhrase(status),
    options: { close?: boolean; fields?: ReadonlyArray<readonly [string, string]> } = {},
  ) {
    super(message);
    this.name = "HttpError";
    this.status = status;
    this.close = options.close ?? true;
    this.fields = options.fields ?? [];
  }
}
