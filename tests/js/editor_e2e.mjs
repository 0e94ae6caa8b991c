// Drive the camera-path editor in headless Chromium (Debian's /usr/bin/chromium through
// playwright-core; no browser download). Run by tests/test_editor_browser.py, which
// starts the server (harness or real ComfyUI) and asserts on the JSON report this
// script prints and on the manifest it saved.
//
//   node editor_e2e.mjs --url URL --mode harness|comfyui --image NAME --name MANIFEST
//                       --out DIR [--workflow UI_JSON] [--manifest FILE]
//                       [--node-mode classic|vue] [--chromium /usr/bin/chromium]
import { readFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";
import { openComfy } from "./comfy_page.mjs";

const { values: opt } = parseArgs({
  options: {
    url: { type: "string" },
    mode: { type: "string", default: "harness" },
    image: { type: "string" },
    name: { type: "string", default: "e2e_shot" },
    out: { type: "string" },
    workflow: { type: "string" },
    manifest: { type: "string" },
    "node-mode": { type: "string", default: "classic" },
    chromium: { type: "string", default: process.env.CHROMIUM || "/usr/bin/chromium" },
  },
});
mkdirSync(opt.out, { recursive: true });
const shots = [];
const report = { mode: opt.mode, nodeMode: opt["node-mode"], screenshots: shots, console: [] };

const browser = await chromium.launch({
  executablePath: opt.chromium,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1100 }, deviceScaleFactor: 1 });
  // resource failures are reported by URL below (the console line has none)
  // In ComfyUI, error lines of the front end itself (1.58 on a 0.3.64 backend logs 404s of
  // /api/jobs, which that backend lacks) are kept apart: ours name the pack or come from it.
  report.foreignConsole = [];
  page.on("console", (m) => {
    if (m.type() !== "error" || m.text().startsWith("Failed to load resource")) return;
    const ours = opt.mode === "harness" || /comfy-vidgen|vidgen/.test(m.text() + (m.location()?.url ?? ""));
    (ours ? report.console : report.foreignConsole).push(m.text());
  });
  // failures of what the editor loads or calls (ComfyUI itself probes optional user files)
  page.on("response", (r) => { if (r.status() >= 400 && /\/(vidgen|extensions|view|scripts)\b/.test(r.url())) report.console.push(`HTTP ${r.status()} ${r.url()}`); });
  // ComfyUI 1.27.10 itself throws once at start-up (settings store); ours are the errors
  // whose stack passes through the pack's modules
  report.foreignErrors = [];
  page.on("pageerror", (e) => {
    const ours = opt.mode === "harness" || /comfy-vidgen/.test(e.stack || "");
    (ours ? report.console : report.foreignErrors).push(`pageerror: ${e.stack || e.message}`);
  });
  page.on("dialog", (d) => d.accept());
  const snap = async (name, locator) => {
    const path = join(opt.out, `${name}.png`);
    await (locator ?? page).screenshot({ path });
    shots.push(path);
  };

  // ------------------------------------------------------------ open the node
  let editorHandle;
  if (opt.mode === "harness") {
    await page.goto(opt.url);
    await page.waitForSelector("body[data-ready=true]", { timeout: 30000 });
    editorHandle = await page.evaluateHandle(() => window.harness.editor);
    await page.evaluate(() => { window.__values = () => window.harness.widgetValues(); });
  } else {
    // node definitions register after the graph exists: wait for ours, and for the
    // front end's own start-up reload
    report.renderer = await openComfy(page, opt.url, {
      nodeMode: opt["node-mode"], types: ["CameraPathConditioner", "ManifestLoader", "LoadImage"],
    });
    const workflow = opt.workflow ? JSON.parse(readFileSync(opt.workflow, "utf8")) : null;
    report.setup = await page.evaluate(async ({ workflow, image, manifest }) => {
      const app = window.comfyAPI.app.app;
      const LG = window.LiteGraph;
      const loaded = [];
      if (workflow) {
        await app.loadGraphData(workflow);
        loaded.push(...app.graph.nodes.map((n) => n.type));
      } else {
        app.graph.clear();
      }
      let cam = app.graph.nodes.find((n) => n.type === "CameraPathConditioner");
      if (!cam) {
        // the workflow has no CameraPathConditioner: add LoadImage -> CameraPathConditioner
        const load = LG.createNode("LoadImage");
        load.pos = [20, 80];
        app.graph.add(load);
        cam = LG.createNode("CameraPathConditioner");
        cam.pos = [360, 40];
        app.graph.add(cam);
        load.connect(0, cam, cam.findInputSlot("image"));
      }
      // the keyframe: a LoadImage file, or the manifest a ManifestLoader reads (camera_only@1)
      const src = cam.getInputNode(cam.findInputSlot("image"));
      const w = src?.widgets?.find((w) => w.name === "image") || src?.widgets?.find((w) => w.name === "manifest");
      if (!w) throw new Error(`no keyframe source widget: ${JSON.stringify({ type: src?.type, widgets: src?.widgets?.map((x) => x.name), nodes: app.graph.nodes.map((n) => n.type) })}`);
      w.value = w.name === "image" ? image : manifest;
      w.callback?.(w.value);
      // bring the node into view at 100% (assigned, not mutated: 1.58 keeps positions in a
      // layout store that the Vue nodes renderer reads; both versions' setters copy the values)
      cam.pos = [360, 40];
      app.canvas.ds.scale = 1;
      app.canvas.ds.offset[0] = 0;
      app.canvas.ds.offset[1] = 0;
      app.graph.setDirtyCanvas(true, true);
      window.__cam = cam;
      window.__values = () => Object.fromEntries(cam.widgets.filter((w) => w.serialize !== false && w.options?.serialize !== false).map((w) => [w.name, w.value]));
      return { loaded, nodeId: cam.id, source: src.type };
    }, { workflow, image: opt.image, manifest: opt.manifest });
    editorHandle = await page.evaluateHandle(() => window.__cam.vidgenEditor);
  }
  await page.waitForFunction((ed) => ed.element.dataset.imageLoaded === "true", editorHandle, { timeout: 60000 });
  await page.waitForTimeout(300); // let the canvas settle to its laid-out size
  const editorBox = await page.evaluateHandle((ed) => ed.element, editorHandle);
  const editorEl = editorBox.asElement();
  const values = () => page.evaluate(() => window.__values());
  const layout = () => page.evaluate((ed) => {
    const c = ed.canvas.getBoundingClientRect();
    const img = ed.image;
    const s = Math.min(c.width / img.naturalWidth, c.height / img.naturalHeight);
    return { dw: img.naturalWidth * s, dh: img.naturalHeight * s, iw: img.naturalWidth, ih: img.naturalHeight, end: ed.clientBox("end"), start: ed.clientBox("start") };
  }, editorHandle);

  report.initial = await values();
  await snap("01-initial", editorEl);

  // ------------------------------------------------------------ drag the end rectangle
  const L0 = await layout();
  report.layout = L0;
  const from = { x: L0.end.x + L0.end.w / 2, y: L0.end.y + L0.end.h / 2 };
  const drag = { dx: 60, dy: 30 };
  await page.mouse.move(from.x, from.y);
  await page.mouse.down();
  for (let i = 1; i <= 6; i++) await page.mouse.move(from.x + (drag.dx * i) / 6, from.y + (drag.dy * i) / 6);
  await page.mouse.up();
  report.drag = drag;
  report.afterDrag = await values();
  await snap("02-after-drag", editorEl);

  // ------------------------------------------------------------ resize with a handle (aspect locked)
  const L1 = await layout();
  const corner = { x: L1.end.x + L1.end.w, y: L1.end.y + L1.end.h };
  await page.mouse.move(corner.x, corner.y);
  await page.mouse.down();
  await page.mouse.move(corner.x - 40, corner.y - 5, { steps: 4 });
  await page.mouse.up();
  report.afterResize = await values();

  // ------------------------------------------------------------ keyboard nudge + undo
  await page.evaluate((ed) => ed.focus(), editorHandle);
  await page.keyboard.press("ArrowRight");
  await page.keyboard.press("ArrowRight");
  report.afterNudge2 = await values();
  await page.keyboard.press("ArrowRight");
  report.afterNudge3 = await values();
  await page.keyboard.press("Control+z");
  report.afterUndo = await values();
  if (opt.mode === "comfyui") {
    // the graph was not reloaded by ComfyUI's own Ctrl+Z (its change tracker)
    await page.waitForTimeout(300);
    report.sameNodeAfterUndo = await page.evaluate(() => window.comfyAPI.app.app.graph.nodes.includes(window.__cam));
  }

  // ------------------------------------------------------------ motion selector conforms the rectangles
  await page.selectOption(".vidgen-editor select[name=motion_type]", "pan_right");
  report.afterPanRight = await values();
  await page.click(".vidgen-editor button[data-role=undo]");
  report.afterPanUndo = await values();

  // ------------------------------------------------------------ suggestions
  await page.click(".vidgen-editor button[data-role=suggest]");
  await page.waitForSelector(".vidgen-editor button[data-role=suggestion-0]", { timeout: 120000 });
  report.suggestions = await page.evaluate((ed) => ed.suggestions, editorHandle);
  await page.click(".vidgen-editor button[data-role=suggestion-0]");
  report.afterSuggestion = await values();
  await page.click(".vidgen-editor button[data-role=undo]");
  report.afterSuggestionUndo = await values();

  // ------------------------------------------------------------ play at the output frame rate
  await page.click(".vidgen-editor button[data-role=play]");
  await page.waitForFunction((ed) => ed.playing && ed.playing.frame >= 50, editorHandle, { timeout: 60000 }).catch(async (e) => {
    const state = await page.evaluate((ed) => JSON.stringify({ playing: ed.playing, stats: ed.playStats, fps: ed.host.fps, frames: ed.host.frames, btn: ed.btnPlay.textContent, status: ed.status.textContent }), editorHandle);
    await snap("error-play");
    throw new Error(`playback did not reach frame 50: ${state}\n${e}`);
  });
  await snap("03-playing", editorEl);
  await page.waitForFunction((ed) => !ed.playing && ed.playStats.runs >= 1, editorHandle, { timeout: 60000 });
  report.playStats = await page.evaluate((ed) => ({ ...ed.playStats }), editorHandle);

  // ------------------------------------------------------------ save the manifest
  await page.fill(".vidgen-editor input[data-role=name]", opt.name);
  await page.click(".vidgen-editor button[data-role=save]");
  await page.waitForFunction((ed) => ed.element.dataset.savedPath || ed.element.dataset.saveError, editorHandle, { timeout: 60000 });
  report.saved = await page.evaluate((ed) => ({ path: ed.element.dataset.savedPath || null, error: ed.element.dataset.saveError || null, status: ed.status.textContent }), editorHandle);
  report.final = await values();
  report.readout = await page.evaluate((ed) => ed.readout.textContent, editorHandle);
  await snap("04-saved", editorEl);
  if (opt.mode === "comfyui") {
    // what "Queue" would send: the API prompt carries the drawn values, not the editor widget
    report.prompt = await page.evaluate(async () => {
      const p = await window.comfyAPI.app.app.graphToPrompt();
      return p.output[String(window.__cam.id)];
    });
  }
  if (opt.mode === "harness") {
    // an error inside a hook of ours is caught, logged and shown in the editor, never thrown
    // to the front end (on 1.58 an exception from a node hook aborts the workflow load)
    report.guard = await page.evaluate(() => {
      const { node, editor } = window.harness;
      const orig = editor.host.getValues;
      editor.host.getValues = () => { throw new Error("boom from the test"); };
      let threw = null;
      try {
        node.onConfigure({});
        node.onConnectionsChange(1, 0, true);
      } catch (e) {
        threw = String(e);
      }
      editor.host.getValues = orig;
      return { threw, error: editor.element.dataset.error ?? null, status: editor.status.textContent, statusIsError: editor.status.classList.contains("vg-error") };
    });
  }
  await snap("05-page");
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(report) + "\n");
