// Load every released workflow.json into a running ComfyUI's front end (headless Chromium)
// and report, per workflow, the API prompt the front end makes of it (graphToPrompt),
// page errors and dialogs. tests/test_editor_browser.py compares that with api.json.
//   node load_workflows.mjs --url URL --workflows DIR [--chromium /usr/bin/chromium]
import { readFileSync, readdirSync, existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";

const { values: opt } = parseArgs({
  options: {
    url: { type: "string" },
    workflows: { type: "string" },
    chromium: { type: "string", default: process.env.CHROMIUM || "/usr/bin/chromium" },
  },
});
const browser = await chromium.launch({
  executablePath: opt.chromium,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
const report = { startupErrors: [], workflows: {} };
try {
  const page = await browser.newPage();
  let errors = report.startupErrors;
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("dialog", async (d) => {
    errors.push(`dialog: ${d.message()}`);
    await d.dismiss();
  });
  await fetch(`${opt.url}/api/settings/Comfy.TutorialCompleted`, { method: "POST", body: "true" });
  await page.goto(opt.url);
  await page.waitForFunction(
    () => window.LiteGraph?.registered_node_types?.ManifestLoader && window.comfyAPI?.app?.app?.graph,
    null,
    { timeout: 120000 },
  );
  await page.waitForTimeout(1500); // newer front ends reload their start-up workflow once
  for (const name of readdirSync(opt.workflows).sort()) {
    for (const version of readdirSync(`${opt.workflows}/${name}`).sort()) {
      const file = `${opt.workflows}/${name}/${version}/workflow.json`;
      if (!existsSync(file)) continue;
      errors = [];
      const prompt = await page.evaluate(async (wf) => {
        const app = window.comfyAPI.app.app;
        await app.loadGraphData(wf);
        return (await app.graphToPrompt()).output;
      }, JSON.parse(readFileSync(file, "utf8")));
      report.workflows[`${name}@${version.slice(1)}`] = { prompt, errors };
    }
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
