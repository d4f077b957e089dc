import assert from "node:assert/strict";
import {
  authorizationField,
  maskFields,
  mayReceive,
  parseUserOption,
  urlCredentials,
} from "../../lib/client/credentials.ts";
import type { Location } from "../../lib/client/names.ts";

Deno.test("mayReceive(): credentials go to their origin only (scheme, host and port)", () => {
  const http: Location = { host: "h", port: 80, path: "/" };
  const https: Location = { host: "h", port: 443, path: "/", secure: true };
  const table: Array<[Location, Location, boolean]> = [
    [http, { host: "h", port: 80, path: "/x" }, true],
    [http, { host: "H", port: 80, path: "/" }, true],
    [http, { host: "other", port: 80, path: "/" }, false],
    [http, { host: "h", port: 8080, path: "/" }, false],
    [http, https, false],
    [http, { host: "h", port: 80, path: "/", secure: true }, false], // same host:port, https
    [http, { host: "other", port: 443, path: "/", secure: true }, false],
    [https, http, false],
    [https, { host: "h", port: 8443, path: "/", secure: true }, false],
  ];
  for (const [from, to, want] of table) {
    assert.equal(mayReceive(from, to), want, `${JSON.stringify(from)} -> ${JSON.stringify(to)}`);
  }
});

Deno.test("credentials: -u and URL userinfo parsed, header encoded as UTF-8, masked for output", () => {
  assert.deepEqual(parseUserOption("ann:a:b"), { user: "ann", pass: "a:b" });
  assert.throws(() => parseUserOption("ann"), /USER:PASS/);
  assert.deepEqual(urlCredentials("https://b%C3%B6b:p%40ss@h/"), { user: "böb", pass: "p@ss" });
  assert.equal(urlCredentials("https://h/"), null);
  assert.deepEqual(authorizationField({ user: "ä", pass: "b" }), [
    "Authorization",
    "Basic w6Q6Yg==",
  ]);
  assert.deepEqual(maskFields([["Host", "h"], ["Authorization", "Basic w6Q6Yg=="]]), [
    ["Host", "h"],
    ["Authorization", "Basic ***"],
  ]);
});

Deno.test("parseClientArgs(): URL credentials become options.credentials and never appear in messages", async () => {
  const { parseClientArgs } = await import("../../lib/client/args.ts");
  const r = parseClientArgs(["https://ann:top%20secret@h:8443/f.bin", "d"]);
  assert.ok(r.kind === "run");
  assert.deepEqual(r.options.credentials, { user: "ann", pass: "top secret" });
  assert.equal(r.options.source, "https://h:8443/f.bin");
  assert.deepEqual(r.options.target, { host: "h", port: 8443, path: "/f.bin", secure: true });
  assert.throws(() => parseClientArgs(["https://ann:topsecret@h/a%2Fb"]), (e) => {
    assert.match((e as Error).message, /refusing to save as/);
    assert.doesNotMatch((e as Error).message, /topsecret/);
    return true;
  });
  const u = parseClientArgs(["-u", "bob:pw", "https://ann:x@h/f"]);
  assert.ok(u.kind === "run");
  assert.deepEqual(u.options.credentials, { user: "bob", pass: "pw" }, "-u wins");
});
