// The pack's templates in ComfyUI's template browser: listed by the server, shown in the
// front end's Templates dialog with their thumbnails, and opened by clicking one.
//   node templates.mjs --url URL --title STEM [--node-mode classic|vue] [--out DIR]
//                      [--chromium /usr/bin/chromium]
import { join } from "node:path";
import { mkdirSync } from "node:fs";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";
import { openComfy } from "./comfy_page.mjs";

const { values: opt } = parseArgs({
  options: {
    url: { type: "string" },
    title: { type: "string" },
    "node-mode": { type: "string", default: "classic" },
    out: { type: "string" },
    chromium: { type: "string", default: process.env.CHROMIUM || "/usr/bin/chromium" },
  },
});
const browser = await chromium.launch({
  executablePath: opt.chromium,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
const report = { errors: [] };
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  // the pinned 1.27.10 throws once at start-up by itself (settings store): errors before
  // the template is clicked count when they pass through our modules, all errors after
  report.foreignErrors = [];
  let clicked = false;
  page.on("pageerror", (e) => {
    const text = `pageerror: ${e.stack || e.message}`;
    (clicked || /comfy-vidgen/.test(text) ? report.errors : report.foreignErrors).push(text);
  });
  page.on("dialog", async (d) => { report.errors.push(`dialog: ${d.message()}`); await d.dismiss(); });
  const thumbs = [];
  page.on("response", (r) => { if (r.url().includes("/workflow_templates/")) thumbs.push({ url: r.url(), status: r.status(), type: r.headers()["content-type"] ?? "" }); });
  await openComfy(page, opt.url, { nodeMode: opt["node-mode"], types: ["ManifestLoader"] });
  report.listed = await page.evaluate(async () => (await (await fetch("/api/workflow_templates")).json()));
  // the front end's own command opens the Templates dialog (menu: Workflow > Browse Templates)
  await page.evaluate(() => window.comfyAPI.app.app.extensionManager.command.execute("Comfy.BrowseTemplates"));
  // a pack's templates sit under a navigation entry named after its folder
  const nav = page.getByText("comfy-vidgen", { exact: true }).first();
  await nav.waitFor({ timeout: 30000 });
  await nav.click();
  const card = page.getByText(opt.title, { exact: true }).first();
  await card.waitFor({ timeout: 30000 });
  // cards load their picture when scrolled into view, and the server lists a pack's
  // templates in directory order (it differs between checkouts): bring ours into view
  await card.scrollIntoViewIfNeeded();
  // the card's picture is our thumbnail (<stem>.jpg next to <stem>.json), fetched from the
  // pack's template folder (1.58 shows it through a blob: URL) and decoded
  const want = `/workflow_templates/comfy-vidgen/${encodeURIComponent(opt.title)}.jpg`;
  const fetched = () => thumbs.find((t) => decodeURIComponent(t.url).endsWith(decodeURIComponent(want))) ?? null;
  report.thumbnail = await page.waitForFunction((title) => {
    let el = [...document.querySelectorAll("*")].find((e) => e.children.length === 0 && e.textContent.trim() === title);
    while (el && !el.querySelector("img")) el = el.parentElement;
    const img = el?.querySelector("img");
    return img && img.complete && img.naturalWidth > 0 ? { naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight } : null;
  }, opt.title, { timeout: 30000 }).then((h) => h.jsonValue());
  report.thumbnailFetch = fetched();
  if (opt.out) { mkdirSync(opt.out, { recursive: true }); await page.screenshot({ path: join(opt.out, "templates.png") }); }
  const before = await page.evaluate(() => window.comfyAPI.app.app.graph.nodes.length);
  clicked = true;
  await card.click();
  await page.waitForFunction(() => window.comfyAPI.app.app.graph.nodes.some((n) => n.type === "ManifestLoader"), null, { timeout: 30000 });
  await page.waitForTimeout(500);
  report.opened = await page.evaluate(async () => {
    const app = window.comfyAPI.app.app;
    const loader = app.graph.nodes.find((n) => n.type === "ManifestLoader");
    return {
      nodes: app.graph.nodes.map((n) => n.type).sort(),
      workflow: loader.widgets.find((w) => w.name === "workflow")?.value ?? null,
      prompt: (await app.graphToPrompt()).output,
    };
  });
  report.nodesBefore = before;
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
