import assert from "node:assert/strict";
import { parseHttpDateStrict } from "../../lib/http/http_date.ts";

const NOV_1994 = 784111777000; // Sun, 06 Nov 1994 08:49:37 GMT

Deno.test("parseHttpDateStrict() reads the three forms of RFC 9110 §5.6.7", () => {
  for (
    const text of [
      "Sun, 06 Nov 1994 08:49:37 GMT",
      "Sunday, 06-Nov-94 08:49:37 GMT",
      "Sun Nov  6 08:49:37 1994",
    ]
  ) assert.equal(parseHttpDateStrict(text, Date.UTC(2026, 0, 1)), NOV_1994, text);
  assert.equal(parseHttpDateStrict("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
  assert.equal(
    parseHttpDateStrict("Fri, 01 Jan 0010 00:00:00 GMT"),
    new Date("0010-01-01T00:00:00Z").getTime(),
  );
});

Deno.test("parseHttpDateStrict(): an RFC 850 year more than 50 years ahead is the century before", () => {
  const now = Date.UTC(2026, 5, 1);
  assert.equal(
    new Date(parseHttpDateStrict("Monday, 01-Jan-76 00:00:00 GMT", now)).getUTCFullYear(),
    2076,
  );
  assert.equal(
    new Date(parseHttpDateStrict("Monday, 01-Jan-77 00:00:00 GMT", now)).getUTCFullYear(),
    1977,
  );
  assert.equal(
    new Date(parseHttpDateStrict("Monday, 01-Jan-26 00:00:00 GMT", now)).getUTCFullYear(),
    2026,
  );
});

Deno.test("parseHttpDateStrict() refuses what only looks like a date", () => {
  for (
    const text of [
      "",
      "2020",
      "Sun, 06 Nov 1994 08:49:37 PST",
      "Sun, 31 Nov 1994 08:49:37 GMT",
      "Sun, 06 Nov 1994 24:00:00 GMT",
      "Xyz, 06 Nov 1994 08:49:37 GMT",
      "Sun, 06 Nov 1994 08:49:37 GMT ",
      " Sun, 06 Nov 1994 08:49:37 GMT",
      "Sun,  06 Nov 1994 08:49:37 GMT",
      "Sun, 06 NOV 1994 08:49:37 GMT",
      "Sun Nov 6 08:49:37 1994",
    ]
  ) assert.ok(Number.isNaN(parseHttpDateStrict(text)), JSON.stringify(text));
});
