import assert from "node:assert/strict";
import {
  AuthConfigError,
  AuthGate,
  decodeBasic,
  FailureLimiter,
  hashPassword,
  MAX_FAILURES_PER_MINUTE,
  parseAuthFile,
  parseAuthOption,
} from "../../lib/server/auth.ts";

const basic = (s: string) => `Basic ${btoa(String.fromCharCode(...new TextEncoder().encode(s)))}`;

Deno.test("decodeBasic() reads RFC 7617 credentials and refuses malformed ones", () => {
  const table: Array<[string, { user: string; pass: string } | null]> = [
    [basic("ann:pw"), { user: "ann", pass: "pw" }],
    [basic("ann:p:w"), { user: "ann", pass: "p:w" }],
    [basic("ann:"), { user: "ann", pass: "" }],
    [basic("ümlaut:ß"), { user: "ümlaut", pass: "ß" }],
    [`basic   ${btoa("a:b")}`, { user: "a", pass: "b" }],
    [`Basic ${btoa("nocolon")}`, null],
    ["Bearer abc", null],
    ["Basic !!!", null],
    [`Basic ${btoa("\xff:\xfe")}`, null], // not UTF-8
  ];
  for (const [value, want] of table) assert.deepEqual(decodeBasic(value), want, value);
});

Deno.test("parseAuthOption() splits at the first colon; parseAuthFile() names the bad line", () => {
  assert.deepEqual(parseAuthOption("ann:a:b"), { user: "ann", pass: "a:b" });
  assert.throws(() => parseAuthOption(":pw"), AuthConfigError);
  assert.throws(() => parseAuthOption("ann"), AuthConfigError);
  const users = parseAuthFile(`# c\n\nbob:scrypt$1024$8$1$c2FsdA==$aGFzaA==\n`, "f");
  assert.deepEqual(users, [{
    user: "bob",
    scrypt: { n: 1024, r: 8, p: 1, salt: "c2FsdA==", hash: "aGFzaA==" },
  }]);
  assert.throws(() => parseAuthFile("bob:scrypt$1000$8$1$a$b\n", "f"), /f:1: not a/);
  assert.throws(() => parseAuthFile("# only\n", "f"), /f: no users/);
});

Deno.test("FailureLimiter: the address past the limit waits, others do not, the window slides", () => {
  const l = new FailureLimiter(3, 60_000);
  for (let i = 0; i < 3; i++) l.fail("10.0.0.1", 1_000 + i);
  assert.equal(l.retryAfter("10.0.0.1", 2_000), 59);
  assert.equal(l.retryAfter("10.0.0.2", 2_000), 0);
  assert.equal(l.retryAfter("10.0.0.1", 61_001), 0);
  assert.equal(MAX_FAILURES_PER_MINUTE, 10);
});

Deno.test("AuthGate: plain and scrypt users in, wrong ones 401, repeated failures 429", async () => {
  const line = hashPassword("pw2");
  const [bob] = parseAuthFile(`bob:${line}`, "f");
  const gate = new AuthGate({ users: [{ user: "ann", pass: "pw1" }, bob] });
  try {
    assert.deepEqual(await gate.check(basic("ann:pw1"), "a"), { user: "ann" });
    assert.deepEqual(await gate.check(basic("bob:pw2"), "a"), { user: "bob" });
    assert.deepEqual(await gate.check(basic("bob:pw2"), "a"), { user: "bob" }); // remembered
    const none = await gate.check(undefined, "a");
    assert.equal(none.reply?.status, 401);
    assert.deepEqual(
      none.reply?.fields.find(([k]) => k === "WWW-Authenticate"),
      ["WWW-Authenticate", 'Basic realm="Ferry", charset="UTF-8"'],
    );
    const wrong = await gate.check(basic("bob:nope"), "b");
    assert.equal(wrong.reply?.status, 401);
    assert.equal(wrong.user, undefined);
    for (let i = 1; i < MAX_FAILURES_PER_MINUTE; i++) await gate.check(basic("ann:x"), "b");
    const limited = await gate.check(basic("ann:pw1"), "b");
    assert.equal(limited.reply?.status, 429);
    assert.ok(limited.reply?.fields.some(([k]) => k === "Retry-After"));
    assert.deepEqual(await gate.check(basic("ann:pw1"), "c"), { user: "ann" });
  } finally {
    gate.close();
  }
});

Deno.test("plainAuthWarning(): warns for plain HTTP off loopback only", async () => {
  const { plainAuthWarning } = await import("../../server.ts");
  assert.match(plainAuthWarning("0.0.0.0", false)!, /passwords travel in clear.*--tls-cert/);
  assert.match(plainAuthWarning("192.168.1.2", false)!, /on 192\.168\.1\.2/);
  assert.equal(plainAuthWarning("0.0.0.0", true), null);
  assert.equal(plainAuthWarning("127.0.0.1", false), null);
  assert.equal(plainAuthWarning("::1", false), null);
});
