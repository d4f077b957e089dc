import assert from "node:assert/strict";
import { serverUrls } from "../../lib/server/listen.ts";

Deno.test("serverUrls(): one URL per interface address on a wildcard, the scheme as served", () => {
  assert.deepEqual(serverUrls("127.0.0.1", 8443, "https"), ["https://127.0.0.1:8443/"]);
  assert.deepEqual(serverUrls("::1", 80, "http"), ["http://[::1]:80/"]);
  const v4 = Deno.networkInterfaces().filter((i) =>
    i.family === "IPv4" && !i.address.startsWith("127.")
  );
  const urls = serverUrls("0.0.0.0", 8443, "https");
  assert.equal(urls[0], "https://127.0.0.1:8443/");
  for (const i of v4) assert.ok(urls.includes(`https://${i.address}:8443/`), i.address);
  assert.ok(urls.every((u) => !u.includes("[")), "no IPv6 for 0.0.0.0");
  const six = serverUrls("::", 80, "http");
  assert.ok(six.includes("http://[::1]:80/"));
  assert.ok(six.every((u) => !u.includes("fe80")));
});
