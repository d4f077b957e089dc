/**
 * The listing page in a real browser: Debian's headless Chromium, driven over the DevTools
 * protocol (tests/e2e/cdp.ts), opens the real `server.ts`'s listing and uses it as a person
 * would — clicks breadcrumbs and sort links, types in the filter, follows the archive link, looks
 * at it on a phone — while every request, console message and dialog is recorded.
 *
 * Screenshots at 1280 and 390 px (and 390 px dark) are written to a temporary directory whose
 * path the test prints; they are left there to be looked at.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { startServer } from "./raw.ts";
import { havePeer } from "./peers.ts";
import { type Browser, type CdpEvent, launchChromium, type Page } from "./cdp.ts";

const HOUR = 3600_000;
const BASE_TIME = Date.UTC(2026, 0, 15, 12, 0);

const XSS_FILE = "<img src=x onerror=alert(1)>.txt";
const XSS_DIR = "<svg onload=alert(1)>";
const BIDI_FILE = "invoice\u202Efdp.exe";
const LONG_NAME = "quarterly report for the board of directors, final version (2).pdf";
const LONG_WORD = "a_very_long_file_name_without_any_spaces_that_cannot_fit_on_a_phone_line.tar.gz";

/** Files of the fixture: name → [size, hours after BASE_TIME]. */
const FILES: Record<string, [number, number]> = {
  "alpha.txt": [10, 5],
  "beta.bin": [50_000, 1],
  "gamma.pdf": [3_000, 9],
  "photo.png": [700_000, 3],
  "song.mp3": [4_000_000, 2],
  "main.ts": [1_200, 7],
  [XSS_FILE]: [1, 4],
  [BIDI_FILE]: [20, 6],
  [LONG_NAME]: [123_456, 8],
  [LONG_WORD]: [99, 0],
};

async function makeFixture(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "ferry-browser-" });
  for (const [name, [size, hours]] of Object.entries(FILES)) {
    const path = join(dir, name);
    await Deno.writeFile(path, new Uint8Array(size).fill(97));
    const t = new Date(BASE_TIME + hours * HOUR);
    await Deno.utime(path, t, t);
  }
  await Deno.mkdir(join(dir, "sub", "inner"), { recursive: true });
  await Deno.writeTextFile(join(dir, "sub", "inner", "deep.txt"), "deep\n");
  await Deno.mkdir(join(dir, "Archive 2025"));
  await Deno.mkdir(join(dir, XSS_DIR));
  return dir;
}

/** The names of the visible rows (entries, not the parent row), as displayed. */
function rowNames(page: Page): Promise<string[]> {
  return page.evaluate(`Array.from(document.querySelectorAll("tbody tr:not(.up)"))
    .filter((r) => r.offsetParent !== null)
    .map((r) => r.querySelector("td.n bdi").textContent)`);
}

/** What went wrong on the page so far: console errors, exceptions, failed or refused loads. */
function problems(events: CdpEvent[]): string[] {
  const out: string[] = [];
  for (const e of events) {
    if (e.method === "Runtime.consoleAPICalled" && e.params.type === "error") {
      out.push(`console.error: ${JSON.stringify(e.params.args)}`);
    } else if (e.method === "Runtime.exceptionThrown") {
      out.push(`exception: ${e.params.exceptionDetails?.exception?.description}`);
    } else if (e.method === "Log.entryAdded" && e.params.entry.level === "error") {
      out.push(`log: ${e.params.entry.text} ${e.params.entry.url ?? ""}`);
    } else if (e.method === "Page.javascriptDialogOpening") {
      out.push(`dialog: ${e.params.message}`);
    } else if (e.method === "Network.loadingFailed" && !e.params.canceled) {
      out.push(`load failed: ${e.params.errorText} ${e.params.blockedReason ?? ""}`);
    } else if (e.method === "Network.responseReceived" && e.params.response.status >= 400) {
      out.push(`HTTP ${e.params.response.status}: ${e.params.response.url}`);
    }
  }
  return out;
}

/**
 * Clicks the "download this folder" link of `kind` on the listing at `url` and follows what the
 * browser does with it: resolves with the path of the saved file when the answer was an
 * attachment, or null when it was a page (the link navigated). Fails if the click sent no
 * request for `url?download=kind`.
 */
async function clickDownload(
  page: Page,
  browser: Browser,
  url: string,
  kind: string,
  downloads: string,
): Promise<string | null> {
  await page.navigate(url);
  const target = `${url}?download=${kind}`;
  const mark = page.events.length;
  const browserMark = browser.events.length;
  await page.click(`.dl a[href="?download=${kind}"]`);
  const sent = await page.waitFor(
    "Network.requestWillBeSent",
    (p) => p.request.url === target,
    mark,
  );
  const res = await page.waitFor(
    "Network.responseReceived",
    (p) => p.requestId === sent.params.requestId,
    mark,
  );
  assert.equal(res.params.response.status, 200, `${target} answered`);
  const headers = res.params.response.headers as Record<string, string>;
  const disposition = Object.entries(headers).find(([k]) =>
    k.toLowerCase() === "content-disposition"
  );
  if (disposition === undefined || !/^attachment/i.test(disposition[1])) {
    await page.waitFor("Page.loadEventFired", () => true, mark);
    return null;
  }
  const begin = await browser.waitFor(
    "Browser.downloadWillBegin",
    (p) => p.url === target,
    browserMark,
  );
  assert.equal(begin.params.suggestedFilename, `sub.${kind}`);
  const done = await browser.waitFor(
    "Browser.downloadProgress",
    (p) => p.guid === begin.params.guid && p.state !== "inProgress",
    browserMark,
  );
  assert.equal(done.params.state, "completed", `the ${kind} download did not complete`);
  return join(downloads, begin.params.guid);
}

Deno.test({
  name: "listing page in Chromium: breadcrumbs, sort, filter, archive link, phone width, no leaks",
  async fn() {
    if (!havePeer("chromium")) return;
    const dir = await makeFixture();
    const shots = await Deno.makeTempDir({ prefix: "ferry-listing-screens-" });
    const downloads = await Deno.makeTempDir({ prefix: "ferry-listing-downloads-" });
    const server = await startServer(dir, ["--log", "none"]);
    const browser = await launchChromium();
    try {
      const origin = server.url.replace(/\/$/, "");
      const page = await browser.newPage();
      for (const domain of ["Page", "Runtime", "Log", "Network"]) {
        await page.send(`${domain}.enable`);
      }
      // A fixed zone far from UTC, so local times are visibly not the UTC fallback.
      await page.send("Emulation.setTimezoneOverride", { timezoneId: "Asia/Kolkata" });
      await page.viewport(1280, 900, false);
      await browser.send("Browser.setDownloadBehavior", {
        behavior: "allowAndName",
        downloadPath: downloads,
        eventsEnabled: true,
      });

      // Breadcrumbs: every level is a link, and each goes where it says.
      await page.navigate(`${origin}/sub/inner/`);
      assert.deepEqual(problems(page.events), [], "the first page view was not clean");
      const crumbs = await page.evaluate(
        `Array.from(document.querySelectorAll("h1 a")).map((a) => [a.textContent, a.pathname])`,
      );
      assert.deepEqual(crumbs, [["/", "/"], ["sub", "/sub/"], ["inner", "/sub/inner/"]]);
      await Deno.writeFile(join(shots, "listing-1280-sub-inner.png"), await page.screenshot());
      await page.waitForLoad(() => page.click('h1 a[href="/sub/"]'));
      assert.equal(await page.evaluate("location.pathname"), "/sub/");
      assert.deepEqual(await rowNames(page), ["inner/"]);
      await page.waitForLoad(() => page.click('a[rel="up"]'));
      assert.equal(await page.evaluate("location.pathname"), "/");

      // Default order: folders first, then files, by name.
      const byName = await rowNames(page);
      assert.deepEqual(byName.slice(0, 3), ["<svg onload=alert(1)>/", "Archive 2025/", "sub/"]);
      assert.equal(byName.length, Object.keys(FILES).length + 3);

      // Totals.
      const total = Object.values(FILES).reduce((a, [s]) => a + s, 0);
      const sum = await page.evaluate(`document.querySelector(".sum").textContent`);
      assert.match(sum, new RegExp(`^3 folders, ${Object.keys(FILES).length} files, `));
      assert.ok(total > 4_000_000 && sum.includes("MiB"), sum);

      // Sort by size (a click on the column head): largest first, folders still first, and
      // the sort kept in folder links and breadcrumbs.
      await page.waitForLoad(() => page.click("th.c-s a"));
      assert.equal(await page.evaluate("location.search"), "?sort=size&order=desc");
      const bySize = (await rowNames(page)).slice(3);
      const sizes = Object.entries(FILES).sort((a, b) => b[1][0] - a[1][0]).map(([n]) => n);
      assert.deepEqual(bySize, sizes.map((n) => n.replace("\u202E", "\\u202E")));
      const subHref = await page.evaluate(`document.querySelector('tr a[href^="sub/"]').href`);
      assert.equal(subHref, `${origin}/sub/?sort=size&order=desc`);
      await page.waitForLoad(() => page.click("th.c-s a"));
      assert.equal(await page.evaluate("location.search"), "?sort=size&order=asc");
      assert.deepEqual((await rowNames(page)).slice(3), bySize.toReversed());
      // By time, newest first.
      await page.waitForLoad(() => page.click("th.c-m a"));
      const byTime = Object.entries(FILES).sort((a, b) => b[1][1] - a[1][1]).map(([n]) => n);
      assert.deepEqual(
        (await rowNames(page)).slice(3),
        byTime.map((n) => n.replace("\u202E", "\\u202E")),
      );
      await page.navigate(`${origin}/`);

      // Local times: the reader's zone (UTC+05:30 here), UTC kept as the tooltip.
      const time = await page.evaluate(
        `(() => { const t = document.querySelector("time"); return [t.dateTime, t.textContent, t.title]; })()`,
      );
      const local = new Date(Date.parse(time[0]) + 5.5 * HOUR).toISOString();
      assert.equal(time[1], `${local.slice(0, 10)} ${local.slice(11, 16)}`);
      assert.match(time[2], /^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/);

      // Names are text: the markup names show as written and nothing ran or loaded.
      assert.ok(byName.includes(XSS_FILE), "the <img> name is shown as text");
      assert.ok(byName.includes(`${XSS_DIR}/`), "the <svg> name is shown as text");
      assert.equal(await page.evaluate(`document.querySelectorAll("img").length`), 0);
      assert.equal(await page.evaluate(`document.scripts.length`), 1);
      // A bidi override is shown escaped, never applied.
      assert.ok(byName.includes("invoice\\u202Efdp.exe"), byName.join(" | "));
      assert.ok(!byName.some((n) => n.includes("\u202E")));

      // The filter narrows the rows as one types.
      await page.click("#q");
      await page.type("pdf");
      const filtered = await rowNames(page);
      // (The bidi name only looked like a .pdf: it does not match.)
      assert.deepEqual(filtered.sort(), ["gamma.pdf", LONG_NAME].sort());
      assert.match(await page.evaluate(`document.getElementById("shown").textContent`), /^2 of /);

      await page.navigate(`${origin}/`);
      await Deno.writeFile(join(shots, "listing-1280.png"), await page.screenshot());

      // Phone width: no sideways scroll, and a word that fits on a line is not split.
      await page.viewport(390, 844, true);
      await page.navigate(`${origin}/`);
      const widths = await page.evaluate(
        `[document.documentElement.scrollWidth, window.innerWidth]`,
      );
      assert.ok(widths[0] <= widths[1], `scrollWidth ${widths[0]} > innerWidth ${widths[1]}`);
      const split = await page.evaluate(`(() => {
        const out = [];
        for (const b of document.querySelectorAll("td.n bdi")) {
          const text = b.firstChild;
          if (!text || text.nodeType !== 3) continue;
          const lineWidth = b.getBoundingClientRect().width;
          let at = 0;
          for (const word of text.data.split(" ")) {
            const r = document.createRange();
            r.setStart(text, at);
            r.setEnd(text, at + word.length);
            at += word.length + 1;
            const rects = Array.from(r.getClientRects()).filter((x) => x.width > 0);
            const width = rects.reduce((a, x) => a + x.width, 0);
            if (width < lineWidth && rects.length > 1) out.push(word);
          }
        }
        return out;
      })()`);
      assert.deepEqual(split, [], "words that fit on a line were broken");
      await Deno.writeFile(join(shots, "listing-390.png"), await page.screenshot());
      await page.navigate(`${origin}/sub/inner/`);
      await Deno.writeFile(join(shots, "listing-390-sub-inner.png"), await page.screenshot());
      await page.navigate(`${origin}/`);
      await page.send("Emulation.setEmulatedMedia", {
        features: [{ name: "prefers-color-scheme", value: "dark" }],
      });
      const bg = await page.evaluate(`getComputedStyle(document.body).backgroundColor`);
      assert.equal(bg, "rgb(21, 24, 28)", "dark mode");
      await Deno.writeFile(join(shots, "listing-390-dark.png"), await page.screenshot());
      await page.send("Emulation.setEmulatedMedia", { features: [] });
      await page.viewport(1280, 900, false);

      // The "download this folder" links.
      await page.navigate(`${origin}/sub/`);
      const archive = await page.evaluate(
        `Array.from(document.querySelectorAll(".dl a")).map((a) => a.href)`,
      );
      assert.deepEqual(archive, [`${origin}/sub/?download=zip`, `${origin}/sub/?download=tar`]);
      for (const kind of ["zip", "tar"]) {
        const saved = await clickDownload(page, browser, `${origin}/sub/`, kind, downloads);
        if (saved === null) {
          // TODO(merge): the archive endpoint is not on this branch, so the link led back to the
          // listing. Once ?download=zip|tar is merged, make a missing download fail here.
          console.log(
            `  ?download=${kind}: answered with a page, not an archive (checked the link)`,
          );
          continue;
        }
        // The saved file is a well-formed archive holding the folder's file.
        const list = kind === "zip"
          ? ["-m", "zipfile", "-l", saved]
          : ["-m", "tarfile", "-l", saved];
        const out = await new Deno.Command("python3", { args: list, stdout: "piped" }).output();
        assert.ok(out.success, `python3 ${list.join(" ")} failed`);
        assert.match(new TextDecoder().decode(out.stdout), /inner\/deep\.txt/);
        console.log(
          `  ?download=${kind}: saved ${(await Deno.stat(saved)).size} bytes, a valid ${kind}`,
        );
      }
      await page.navigate(`${origin}/`);

      // Without JavaScript the page is still whole: links, sort, UTC times; no filter box.
      await page.send("Emulation.setScriptExecutionDisabled", { value: true });
      await page.navigate(`${origin}/?sort=mtime&order=asc`);
      const bare = await page.evaluate(`({
        sortLinks: Array.from(document.querySelectorAll("th a")).map((a) => a.search),
        filterShown: !document.getElementById("q").hidden,
        firstTime: document.querySelector("time").textContent,
        rows: document.querySelectorAll("tbody tr:not(.up)").length,
      })`);
      assert.deepEqual(bare.sortLinks, [
        "?sort=name&order=asc",
        "?sort=size&order=desc",
        "?sort=mtime&order=desc",
      ]);
      assert.equal(bare.filterShown, false, "a filter box that cannot work is not shown");
      assert.match(bare.firstTime, /^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
      assert.equal(bare.rows, Object.keys(FILES).length + 3);
      await page.send("Emulation.setScriptExecutionDisabled", { value: false });

      // Nothing left the origin, nothing failed, nothing complained (CSP violations included).
      const urls = page.events.filter((e) => e.method === "Network.requestWillBeSent")
        .map((e) => e.params.request.url as string);
      assert.ok(urls.length > 5, "requests were recorded");
      const foreign = urls.filter((u) => !u.startsWith(`${origin}/`) && !u.startsWith("data:"));
      assert.deepEqual(foreign, [], "requests left the origin");
      assert.ok(!urls.some((u) => u.includes("favicon")), "the browser asked for /favicon.ico");
      // Headless Chromium fetches no favicon at all, so check the icon itself: a data: URL that
      // decodes as an image under the page's own Content-Security-Policy.
      const icon = await page.evaluate(`new Promise((resolve) => {
        const img = new Image();
        img.onload = () => resolve(img.naturalWidth);
        img.onerror = () => resolve(-1);
        img.src = document.querySelector('link[rel="icon"]').href;
      })`);
      assert.ok(icon > 0, "the inline favicon does not load");
      assert.deepEqual(problems(page.events), []);
      console.log(`  screenshots: ${shots}`);
    } finally {
      await browser.close();
      await server.stop();
      await Deno.remove(dir, { recursive: true });
      await Deno.remove(downloads, { recursive: true });
    }
  },
});
