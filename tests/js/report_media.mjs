// Open a shootout report folder's page in headless Chromium (file://, offline) and report,
// for every <video> and <img>, whether it loaded and plays. Run by
// tests/test_preview_browser.py.
//   node report_media.mjs --page FILE [--out PNG] [--width 1400]
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

const { values: opt } = parseArgs({
  options: {
    page: { type: "string" },
    out: { type: "string" },
    width: { type: "string", default: "1400" },
    chromium: { type: "string", default: process.env.CHROMIUM || "/usr/bin/chromium" },
  },
});
const browser = await chromium.launch({
  executablePath: opt.chromium,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--autoplay-policy=no-user-gesture-required"],
});
const report = { requests: [], errors: [] };
try {
  const page = await browser.newPage({ viewport: { width: Number(opt.width), height: 1000 } });
  page.on("request", (r) => report.requests.push(r.url()));
  page.on("pageerror", (e) => report.errors.push(String(e)));
  await page.goto(pathToFileURL(opt.page).href, { waitUntil: "load" });
  // a reader presses play: each preview must buffer and advance
  report.videos = await page.evaluate(async () => {
    const out = [];
    for (const v of document.querySelectorAll("video")) {
      try { await v.play(); } catch (e) { out.push({ src: v.getAttribute("src"), error: String(e) }); continue; }
      const t0 = performance.now();
      while (v.currentTime < 0.2 && performance.now() - t0 < 10000) await new Promise((r) => setTimeout(r, 50));
      out.push({ src: v.getAttribute("src"), readyState: v.readyState, currentTime: v.currentTime,
                 videoWidth: v.videoWidth, videoHeight: v.videoHeight, error: v.error ? v.error.code : null });
      v.pause();
    }
    return out;
  });
  report.images = await page.evaluate(() => [...document.querySelectorAll("img")].map((i) => ({
    src: i.getAttribute("src"), naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight })));
  if (opt.out) await page.screenshot({ path: opt.out, fullPage: true });
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
