// After a camera_only run queued from the ComfyUI front end (headless Chromium), report
// what the H.265 Encode node shows: the <video> elements on the page, their source and
// readyState, and the node's outputs. Run by tests/test_preview_browser.py, which starts
// the real ComfyUI and asserts on the JSON report this script prints.
//   node preview_e2e.mjs --url URL --workflow UI_JSON --manifest NAME --out DIR
//                        [--node-mode classic|vue] [--prefix vidgen]
//                        [--chromium /usr/bin/chromium] [--timeout-s 480]
import { readFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";

const { values: opt } = parseArgs({
  options: {
    url: { type: "string" },
    workflow: { type: "string" },
    manifest: { type: "string" },
    out: { type: "string" },
    "node-mode": { type: "string", default: "classic" },
    prefix: { type: "string", default: "vidgen" },
    "timeout-s": { type: "string", default: "480" },
    chromium: { type: "string", default: process.env.CHROMIUM || "/usr/bin/chromium" },
  },
});
mkdirSync(opt.out, { recursive: true });
const report = { errors: [], screenshots: [] };
const browser = await chromium.launch({
  executablePath: opt.chromium,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--autoplay-policy=no-user-gesture-required"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 }, deviceScaleFactor: 1 });
  page.on("pageerror", (e) => { if (/comfy-vidgen/.test(e.stack || "")) report.errors.push(`pageerror: ${e.stack || e.message}`); });
  page.on("dialog", async (d) => { report.errors.push(`dialog: ${d.message()}`); await d.dismiss(); });
  page.on("response", (r) => { if (r.status() >= 400 && /\/view\b/.test(r.url())) report.errors.push(`HTTP ${r.status()} ${r.url()}`); });
  // a fresh user directory would open the first-run templates dialog over the canvas;
  // the node renderer: the classic canvas or the opt-in Vue nodes (front ends >= 1.2x)
  await fetch(`${opt.url}/api/settings/Comfy.TutorialCompleted`, { method: "POST", body: "true" });
  await fetch(`${opt.url}/api/settings/Comfy.VueNodes.Enabled`, { method: "POST", body: JSON.stringify(opt["node-mode"] === "vue") });
  await page.goto(opt.url);
  await page.waitForFunction(
    () => window.LiteGraph?.registered_node_types?.NVENCEncode && window.comfyAPI?.app?.app?.graph,
    null,
    { timeout: 120000 },
  );
  await page.waitForTimeout(1500); // newer front ends reload their start-up workflow once
  report.setup = await page.evaluate(async ({ workflow, manifest, prefix }) => {
    const app = window.comfyAPI.app.app;
    const api = window.comfyAPI.api.api;
    window.__vidgen = { executed: [], errors: [] };
    api.addEventListener("executed", (e) => window.__vidgen.executed.push(e.detail));
    api.addEventListener("execution_error", (e) => window.__vidgen.errors.push(e.detail));
    await app.loadGraphData(workflow);
    const loader = app.graph._nodes.find((n) => n.type === "ManifestLoader");
    const w = loader.widgets.find((x) => x.name === "manifest");
    const choices = w.options.values;
    w.value = manifest;
    w.callback?.(w.value);
    // a new file name prefix: the encode node runs again in a second session, all else is cached
    const enc = app.graph._nodes.find((n) => n.type === "NVENCEncode");
    enc.widgets.find((x) => x.name === "filename_prefix").value = prefix;
    // the whole graph in view, so the encode node's preview widget is on screen
    // (mutate in place: these are typed arrays in litegraph)
    app.canvas.ds.scale = 0.75;
    app.canvas.ds.offset[0] = 0;
    app.canvas.ds.offset[1] = 40;
    app.graph.setDirtyCanvas(true, true);
    await app.queuePrompt(0, 1);
    return { choices, types: app.graph._nodes.map((n) => n.type), vueNodes: Boolean(window.LiteGraph?.vueNodesMode) };
  }, { workflow: JSON.parse(readFileSync(opt.workflow, "utf8")), manifest: opt.manifest, prefix: opt.prefix });
  const t0 = Date.now();
  const handle = await page.waitForFunction(
    () => {
      const st = window.__vidgen;
      if (st.errors.length) return { failed: st.errors };
      const enc = window.comfyAPI.app.app.graph._nodes.find((n) => n.type === "NVENCEncode");
      const done = st.executed.find((d) => String(d.node) === String(enc.id));
      if (!done) return false;
      const videos = [...document.querySelectorAll("video")].map((v) => ({
        src: v.currentSrc || v.src,
        readyState: v.readyState,
        videoWidth: v.videoWidth,
        videoHeight: v.videoHeight,
        duration: v.duration,
        error: v.error ? v.error.code : null,
        canPlayH264: v.canPlayType('video/mp4; codecs="avc1.640028"'),
        canPlayHevc: v.canPlayType('video/mp4; codecs="hvc1.1.6.L93.B0"'),
      }));
      const shown = videos.find((v) => v.src.includes(".preview-"));
      if (!shown || (shown.readyState < 2 && shown.error === null)) return false;
      return { output: done.output, videos, shown };
    },
    null,
    { timeout: Number(opt["timeout-s"]) * 1000, polling: 500 },
  );
  report.result = await handle.jsonValue();
  report.seconds = (Date.now() - t0) / 1000;
  const path = join(opt.out, `preview-${opt["node-mode"]}.png`);
  await page.screenshot({ path });
  report.screenshots.push(path);
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
