/**
 * Test peers (curl, wget, nginx, python3, ...): a test whose peer is missing fails under CI
 * (CI=true), where .ci/run installs every peer, and is skipped with a printed reason elsewhere.
 *
 * @module
 */

const found = new Map<string, boolean>();

/** The full path of `cmd` (searching PATH and /usr/sbin), or null. */
export function peerPath(cmd: string): string | null {
  const dirs = (Deno.env.get("PATH") ?? "").split(":").concat(["/usr/sbin", "/usr/bin"]);
  for (const d of dirs) {
    try {
      if (Deno.statSync(`${d}/${cmd}`).isFile) return `${d}/${cmd}`;
    } catch { /* not here */ }
  }
  return null;
}

/**
 * Whether the peer program `cmd` can be used. Missing under CI → throws (the test fails);
 * missing elsewhere → prints why the test is skipped and returns false.
 */
export function havePeer(cmd: string): boolean {
  let ok = found.get(cmd);
  if (ok === undefined) {
    ok = peerPath(cmd) !== null;
    found.set(cmd, ok);
  }
  if (ok) return true;
  if (Deno.env.get("CI") === "true") {
    throw new Error(`test peer "${cmd}" is missing; .ci/run should have installed it`);
  }
  console.log(`  (skipped: "${cmd}" is not installed; apt-get install it to run this test)`);
  return false;
}
