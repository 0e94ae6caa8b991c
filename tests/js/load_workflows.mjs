// Load every released workflow.json into a running ComfyUI's front end (headless Chromium)
// and report, per node renderer and workflow, the API prompt the front end makes of it
// (graphToPrompt), page errors, error-level console lines and dialogs.
// tests/test_editor_browser.py compares that with api.json.
//   node load_workflows.mjs --url URL --workflows DIR [--node-modes classic,vue]
//                           [--chromium /usr/bin/chromium]
import { readFileSync, readdirSync, existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";
import { openComfy } from "./comfy_page.mjs";

const { values: opt } = parseArgs({
  options: {
    url: { type: "string" },
    workflows: { type: "string" },
    "node-modes": { type: "string", default: "classic" },
    chromium: { type: "string", default: process.env.CHROMIUM || "/usr/bin/chromium" },
  },
});
const browser = await chromium.launch({
  executablePath: opt.chromium,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
const report = { modes: {} };
try {
  for (const mode of opt["node-modes"].split(",")) {
    const page = await browser.newPage();
    const out = { startupErrors: [], renderer: null, workflows: {} };
    report.modes[mode] = out;
    let errors = out.startupErrors;
    // the pinned 1.27.10 throws once at start-up by itself (settings store); errors at
    // start-up count when they pass through our modules, every error during a load counts
    out.foreignStartupErrors = [];
    page.on("pageerror", (e) => {
      const text = `pageerror: ${e.stack || e.message}`;
      if (errors === out.startupErrors && !/comfy-vidgen/.test(text)) out.foreignStartupErrors.push(text);
      else errors.push(text);
    });
    // our extension logs what it catches: any such line is a failure of ours
    page.on("console", (m) => {
      if (m.type() === "error" && m.text().includes("comfy-vidgen")) errors.push(`console: ${m.text()}`);
    });
    page.on("dialog", async (d) => {
      errors.push(`dialog: ${d.message()}`);
      await d.dismiss();
    });
    out.renderer = await openComfy(page, opt.url, { nodeMode: mode, types: ["ManifestLoader"] });
    // 1.58 reports each use of a deprecated API (input.link, ...) to these callbacks, by
    // default once per session: every use made from our extension's modules is recorded
    // (the front end still makes some itself while loading and converting graphs)
    await page.evaluate(() => {
      window.__deprecations = [];
      const LG = window.LiteGraph;
      if (!Array.isArray(LG.onDeprecationWarning)) return;
      LG.alwaysRepeatWarnings = true;
      LG.onDeprecationWarning.push((message) => {
        const stack = new Error().stack ?? "";
        if (stack.includes("/extensions/comfy-vidgen/")) window.__deprecations.push(`${message}\n${stack}`);
      });
    });
    for (const name of readdirSync(opt.workflows).sort()) {
      for (const version of readdirSync(`${opt.workflows}/${name}`).sort()) {
        const file = `${opt.workflows}/${name}/${version}/workflow.json`;
        if (!existsSync(file)) continue;
        errors = [];
        // each ManifestLoader created asks which workflow each manifest is for
        const asked = page.waitForResponse((r) => r.url().includes("/vidgen/manifest_workflows"), { timeout: 30000 });
        const got = await page.evaluate(async (wf) => {
          const app = window.comfyAPI.app.app;
          await app.loadGraphData(wf);
          // an in-app error dialog (not window.alert) is how the front end reports a failed load
          const dialogs = [...document.querySelectorAll(".p-dialog, [role=dialog]")]
            .filter((d) => d.offsetParent !== null).map((d) => d.textContent.trim().slice(0, 300));
          return { prompt: (await app.graphToPrompt()).output, dialogs, nodes: app.graph.nodes.length };
        }, JSON.parse(readFileSync(file, "utf8")));
        await asked;
        for (const d of await page.evaluate(() => window.__deprecations.splice(0))) errors.push(`deprecated: ${d}`);
        await page.waitForTimeout(100);
        // what the ManifestLoader's dropdown offers now (narrowed to the graph's workflow)
        got.manifestChoices = await page.evaluate(() => {
          const loader = window.comfyAPI.app.app.graph.nodes.find((n) => n.type === "ManifestLoader");
          return loader?.widgets?.find((w) => w.name === "manifest")?.options?.values ?? null;
        });
        report.modes[mode].workflows[`${name}@${version.slice(1)}`] = { ...got, errors };
      }
    }
    await page.close();
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
