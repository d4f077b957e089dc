/**
 * A small Chrome DevTools Protocol driver for browser tests: starts Debian's headless Chromium
 * on a fresh profile, connects over the WebSocket it announces, and drives one page (navigate,
 * click, type, evaluate, screenshot) while recording what the page does.
 *
 * Everything is bounded: Chromium must announce its port within {@linkcode LAUNCH_TIMEOUT_MS},
 * every command answers within {@linkcode COMMAND_TIMEOUT_MS}, and `close()` stops the browser
 * by its PID (SIGTERM, then SIGKILL after {@linkcode STOP_TIMEOUT_MS}) and removes the profile.
 *
 * @example
 * ```ts ignore
 * import { launchChromium } from "./cdp.ts";
 * await using browser = await launchChromium();
 * const page = await browser.newPage();
 * await page.navigate("http://127.0.0.1:8000/");
 * console.log(await page.evaluate("document.title"));
 * ```
 * @module
 */

import { peerPath } from "./peers.ts";

/** How long Chromium may take to write its DevToolsActivePort file. */
export const LAUNCH_TIMEOUT_MS = 30_000;
/** How long one protocol command (or an awaited event) may take. */
export const COMMAND_TIMEOUT_MS = 15_000;
/** How long `close()` waits after SIGTERM before SIGKILL. */
export const STOP_TIMEOUT_MS = 5_000;

/** The flags every test browser runs with: headless, no sandbox (root in CI), and nothing that
 * talks to the network on its own (updates, sync, QUIC probes, first-run pages). */
export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--no-default-browser-check",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-breakpad",
  "--disable-crash-reporter",
  "--disable-dev-shm-usage",
  "--remote-debugging-port=0",
];

/** The Chromium binary: `/usr/bin/chromium` (Debian's package) or one on PATH. */
export function chromiumPath(): string | null {
  return peerPath("chromium");
}

// deno-lint-ignore no-explicit-any
type Json = any;

/** A protocol event. */
export interface CdpEvent {
  method: string;
  params: Json;
  sessionId?: string;
}

function timeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let id: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => {
    id = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(id));
}

/** One WebSocket to the browser, shared by the page sessions attached over it. */
class Connection {
  #ws: WebSocket;
  #next = 1;
  #pending = new Map<number, { resolve: (v: Json) => void; reject: (e: Error) => void }>();
  #listeners = new Set<(e: CdpEvent) => void>();
  #closed: Promise<void>;

  constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (m) => {
      const msg = JSON.parse(String(m.data));
      if (msg.id !== undefined) {
        const p = this.#pending.get(msg.id);
        this.#pending.delete(msg.id);
        if (msg.error) p?.reject(new Error(`${msg.error.message} (${msg.error.code})`));
        else p?.resolve(msg.result);
      } else {
        for (const l of this.#listeners) l(msg as CdpEvent);
      }
    };
    this.#closed = new Promise((resolve) => {
      ws.onclose = () => {
        for (const p of this.#pending.values()) p.reject(new Error("DevTools socket closed"));
        this.#pending.clear();
        resolve();
      };
    });
  }

  send(method: string, params: Json = {}, sessionId?: string): Promise<Json> {
    const id = this.#next++;
    const p = new Promise<Json>((resolve, reject) => this.#pending.set(id, { resolve, reject }));
    this.#ws.send(JSON.stringify({ id, method, params, sessionId }));
    return timeout(p, COMMAND_TIMEOUT_MS, method);
  }

  listen(l: (e: CdpEvent) => void): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }

  async close(): Promise<void> {
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.close();
    await timeout(this.#closed, STOP_TIMEOUT_MS, "closing the DevTools socket").catch(() => {});
  }
}

/** One tab, attached in flat mode: commands and events carry its session id. */
export class Page {
  readonly #conn: Connection;
  readonly sessionId: string;
  /** Every event of this page since it was attached, in order. */
  readonly events: CdpEvent[] = [];

  constructor(conn: Connection, sessionId: string) {
    this.#conn = conn;
    this.sessionId = sessionId;
    conn.listen((e) => {
      if (e.sessionId === sessionId) this.events.push(e);
    });
  }

  /** Sends one protocol command to this page. */
  send(method: string, params: Json = {}): Promise<Json> {
    return this.#conn.send(method, params, this.sessionId);
  }

  /** Resolves with the first event `method` (after `since`, an index into `events`) that
   * matches `pred`. */
  waitFor(
    method: string,
    pred: (params: Json) => boolean = () => true,
    since = 0,
  ): Promise<CdpEvent> {
    const seen = this.events.slice(since).find((e) => e.method === method && pred(e.params));
    if (seen) return Promise.resolve(seen);
    let stop = () => {};
    const p = new Promise<CdpEvent>((resolve) => {
      stop = this.#conn.listen((e) => {
        if (e.sessionId === this.sessionId && e.method === method && pred(e.params)) resolve(e);
      });
    });
    return timeout(p, COMMAND_TIMEOUT_MS, `waiting for ${method}`).finally(stop);
  }

  /** Evaluates `expression` in the page and returns its value (promises awaited); a thrown
   * exception rejects. */
  async evaluate(expression: string): Promise<Json> {
    const r = await this.send("Runtime.evaluate", {
      expression,
      returnByValue: true,
      awaitPromise: true,
    });
    if (r.exceptionDetails) {
      throw new Error(`evaluate failed: ${r.exceptionDetails.exception?.description ?? ""}`);
    }
    return r.result.value;
  }

  /** Runs `action` and waits for the page's next load event (a navigation it caused). */
  async waitForLoad(action: () => Promise<unknown>): Promise<void> {
    const mark = this.events.length;
    await action();
    await this.waitFor("Page.loadEventFired", () => true, mark);
  }

  /** Navigates and waits for the load event; rejects on a network-level failure. */
  async navigate(url: string): Promise<void> {
    await this.waitForLoad(async () => {
      const r = await this.send("Page.navigate", { url });
      if (r.errorText) throw new Error(`navigate ${url}: ${r.errorText}`);
    });
  }

  /** Clicks the centre of the first element matching `selector` with the mouse, as a user
   * would (it must be visible). */
  async click(selector: string): Promise<void> {
    const box = await this.evaluate(`(() => {
      const el = document.querySelector(${JSON.stringify(selector)});
      if (!el) return null;
      el.scrollIntoView({ block: "center" });
      const r = el.getBoundingClientRect();
      return { x: r.left + r.width / 2, y: r.top + r.height / 2, w: r.width, h: r.height };
    })()`);
    if (box === null) throw new Error(`no element matches ${selector}`);
    if (box.w === 0 || box.h === 0) throw new Error(`${selector} is not visible`);
    for (const type of ["mouseMoved", "mousePressed", "mouseReleased"]) {
      await this.send("Input.dispatchMouseEvent", {
        type,
        x: box.x,
        y: box.y,
        button: type === "mouseMoved" ? "none" : "left",
        clickCount: 1,
      });
    }
  }

  /** Types `text` into the focused element, one key event per character. */
  async type(text: string): Promise<void> {
    for (const ch of text) {
      await this.send("Input.dispatchKeyEvent", { type: "keyDown", text: ch, key: ch });
      await this.send("Input.dispatchKeyEvent", { type: "keyUp", key: ch });
    }
  }

  /** Sets the viewport (CSS pixels) as a phone or a desktop. */
  async viewport(width: number, height: number, mobile: boolean): Promise<void> {
    await this.send("Emulation.setDeviceMetricsOverride", {
      width,
      height,
      deviceScaleFactor: mobile ? 2 : 1,
      mobile,
    });
  }

  /** A PNG of the whole page (beyond the viewport). */
  async screenshot(): Promise<Uint8Array> {
    const r = await this.send("Page.captureScreenshot", {
      format: "png",
      captureBeyondViewport: true,
    });
    return Uint8Array.from(atob(r.data), (c) => c.charCodeAt(0));
  }
}

/** A running headless Chromium. */
export interface Browser extends AsyncDisposable {
  /** The browser process (its PID is what `close()` signals). */
  proc: Deno.ChildProcess;
  /** Browser-level events (no session: downloads, targets) since the launch, in order. */
  events: CdpEvent[];
  /** Resolves with the first browser-level event `method` after index `since` matching `pred`. */
  waitFor(method: string, pred?: (params: Json) => boolean, since?: number): Promise<CdpEvent>;
  /** Opens a new tab and attaches to it. */
  newPage(): Promise<Page>;
  /** Sends a browser-level command. */
  send(method: string, params?: Json): Promise<Json>;
  /** Stops the browser by PID and removes its profile; safe to call twice. */
  close(): Promise<void>;
}

/**
 * Starts headless Chromium with {@linkcode CHROMIUM_FLAGS} on a fresh temporary profile and
 * connects to it. Throws when the binary is missing or does not come up in time.
 */
export async function launchChromium(): Promise<Browser> {
  const bin = chromiumPath();
  if (bin === null) throw new Error("chromium is not installed");
  const profile = await Deno.makeTempDir({ prefix: "ferry-chromium-" });
  const proc = new Deno.Command(bin, {
    args: [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, "about:blank"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let exited = false;
  const status = proc.status.then((s) => {
    exited = true;
    return s;
  });
  let conn: Connection | null = null;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await conn?.close();
    if (!exited) {
      try {
        proc.kill("SIGTERM");
      } catch { /* already gone */ }
      const killed = await timeout(status, STOP_TIMEOUT_MS, "chromium to exit").catch(() => null);
      if (killed === null) {
        try {
          proc.kill("SIGKILL");
        } catch { /* already gone */ }
        await status;
      }
    }
    // Helper processes may still be writing into the profile for a moment after the browser
    // process exits: retry a few times.
    for (let i = 0; i < 20; i++) {
      try {
        await Deno.remove(profile, { recursive: true });
        break;
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) break;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  try {
    // Chromium writes "PORT\n/devtools/browser/ID" once it listens (port 0: it picked one).
    const deadline = Date.now() + LAUNCH_TIMEOUT_MS;
    let announced = "";
    while (Date.now() < deadline && !exited) {
      try {
        announced = await Deno.readTextFile(`${profile}/DevToolsActivePort`);
        if (announced.includes("\n")) break;
      } catch { /* not yet */ }
      await new Promise((r) => setTimeout(r, 50));
    }
    const [port, path] = announced.trim().split("\n");
    if (!port || !path) throw new Error("chromium did not announce its DevTools port");
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
    await timeout(
      new Promise<void>((resolve, reject) => {
        ws.onopen = () => resolve();
        ws.onerror = () => reject(new Error("cannot connect to chromium's DevTools socket"));
      }),
      COMMAND_TIMEOUT_MS,
      "DevTools socket",
    );
    const c = new Connection(ws);
    conn = c;
    const events: CdpEvent[] = [];
    c.listen((e) => {
      if (e.sessionId === undefined) events.push(e);
    });
    return {
      proc,
      events,
      waitFor(method, pred = () => true, since = 0) {
        const seen = events.slice(since).find((e) => e.method === method && pred(e.params));
        if (seen) return Promise.resolve(seen);
        let stop = () => {};
        const p = new Promise<CdpEvent>((resolve) => {
          stop = c.listen((e) => {
            if (e.sessionId === undefined && e.method === method && pred(e.params)) resolve(e);
          });
        });
        return timeout(p, COMMAND_TIMEOUT_MS, `waiting for ${method}`).finally(stop);
      },
      send: (method, params) => c.send(method, params),
      async newPage() {
        const { targetId } = await c.send("Target.createTarget", { url: "about:blank" });
        const { sessionId } = await c.send("Target.attachToTarget", { targetId, flatten: true });
        return new Page(c, sessionId);
      },
      close,
      [Symbol.asyncDispose]: close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}
