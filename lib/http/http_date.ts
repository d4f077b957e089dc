/**
 * HTTP-date, parsed strictly (RFC 9110 §5.6.7): the three forms a recipient must accept, and
 * nothing that only looks like one. Every field is range-checked — day within its month
 * (31 Feb, 29 Feb 2023 refused), hour 00–23, minute 00–59, second 00–60 (a leap second reads
 * as :59) — and day names must be real ones (`Xyz` refused). `Date.parse` alone rolls 31 Feb
 * over into March and hour 24 into the next day, which made such If-Modified-Since values
 * yield 304; RFC 9110 §13.1.3 says a field whose value is not a valid HTTP-date is ignored.
 * A day name that does not match the date is tolerated (recipients "are encouraged to be
 * robust in parsing timestamps"); it changes nothing.
 *
 * @example
 * ```ts
 * import { parseHttpDateStrict } from "./http_date.ts";
 * parseHttpDateStrict("Sun, 06 Nov 1994 08:49:37 GMT"); // 784111777000
 * parseHttpDateStrict("Thu, 31 Feb 1994 08:49:37 GMT"); // NaN
 * ```
 * @module
 */

const DAY_NAMES = new Set(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]);
const LONG_DAY_NAMES = new Set([
  "Monday",
  "Tuesday",
  "Wednesday",
  "Thursday",
  "Friday",
  "Saturday",
  "Sunday",
]);
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

// IMF-fixdate = day-name "," SP day SP month SP year SP hour ":" minute ":" second SP "GMT"
const IMF = /^([A-Za-z]{3}), (\d{2}) ([A-Za-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
// rfc850-date = day-name-l "," SP day "-" month "-" 2DIGIT SP time-of-day SP "GMT"
const RFC850 = /^([A-Za-z]{6,9}), (\d{2})-([A-Za-z]{3})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
// asctime-date = day-name SP month SP ( 2DIGIT / ( SP DIGIT ) ) SP time-of-day SP year
const ASCTIME = /^([A-Za-z]{3}) ([A-Za-z]{3}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/;

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
}

function build(
  year: number,
  monthName: string,
  day: number,
  hour: number,
  minute: number,
  second: number,
): number {
  const month = MONTHS.indexOf(monthName); // case-sensitive, as the grammar's literals are
  if (month < 0 || day < 1 || day > daysInMonth(year, month)) return NaN;
  if (hour > 23 || minute > 59 || second > 60) return NaN;
  // Date.UTC maps years 0–99 to 1900–1999: set the year after.
  const d = new Date(Date.UTC(2000, month, day, hour, minute, Math.min(second, 59)));
  d.setUTCFullYear(year);
  return d.getTime();
}

/**
 * Milliseconds since the epoch of an HTTP-date in IMF-fixdate, RFC 850 or asctime form, or NaN
 * when `value` (already trimmed of OWS) is not a valid one. `nowMs` places an RFC 850 two-digit
 * year: one that would be more than 50 years in the future is taken from the century before
 * (RFC 9110 §5.6.7).
 */
export function parseHttpDateStrict(value: string, nowMs: number = Date.now()): number {
  let m = IMF.exec(value);
  if (m !== null) {
    if (!DAY_NAMES.has(m[1])) return NaN;
    return build(Number(m[4]), m[3], Number(m[2]), Number(m[5]), Number(m[6]), Number(m[7]));
  }
  m = RFC850.exec(value);
  if (m !== null) {
    if (!LONG_DAY_NAMES.has(m[1])) return NaN;
    const nowYear = new Date(nowMs).getUTCFullYear();
    let year = nowYear - (nowYear % 100) + Number(m[4]);
    if (year > nowYear + 50) year -= 100;
    return build(year, m[3], Number(m[2]), Number(m[5]), Number(m[6]), Number(m[7]));
  }
  m = ASCTIME.exec(value);
  if (m !== null) {
    if (!DAY_NAMES.has(m[1])) return NaN;
    return build(Number(m[7]), m[2], Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  }
  return NaN;
}
