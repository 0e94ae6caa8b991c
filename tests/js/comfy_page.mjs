// Open a running ComfyUI's front end in a playwright page, ready for a test to drive:
// node renderer chosen (classic canvas or the opt-in Vue nodes), first-run dialogs off,
// and the front end's own start-up work finished (1.58 reloads its start-up workflow
// about 200 ms after the graph first exists, which would replace a graph loaded earlier).

/** Settings written before the page loads (ComfyUI keeps them per user, server side). */
async function putSetting(url, id, value) {
  const r = await fetch(`${url}/api/settings/${id}`, { method: "POST", body: JSON.stringify(value) });
  if (!r.ok) throw new Error(`setting ${id}: HTTP ${r.status}`);
}

/**
 * goto + wait until `types` are registered, the graph exists and it has been stable (no
 * node created, graph object unchanged) for `quietMs`. Returns the renderer in use.
 */
export async function openComfy(page, url, { nodeMode = "classic", types = [], quietMs = 1500 } = {}) {
  // a fresh user directory would open the first-run templates dialog over the canvas
  await putSetting(url, "Comfy.TutorialCompleted", true);
  await putSetting(url, "Comfy.VueNodes.Enabled", nodeMode === "vue");
  await page.goto(url);
  await page.waitForFunction(
    (types) => types.every((t) => window.LiteGraph?.registered_node_types?.[t]) && window.comfyAPI?.app?.app?.graph,
    types,
    { timeout: 120000 },
  );
  await page.evaluate((quietMs) => new Promise((resolve, reject) => {
    const app = window.comfyAPI.app.app;
    let graph = null;
    let since = performance.now();
    const started = since;
    const tick = () => {
      const g = app.graph;
      const nodes = g?.nodes ?? g?._nodes ?? [];
      let fresh = g !== graph;
      for (const n of nodes) {
        if (!n.__vidgenSeen) { n.__vidgenSeen = true; fresh = true; }
      }
      graph = g;
      const now = performance.now();
      if (fresh) since = now;
      if (now - since >= quietMs) return resolve();
      if (now - started > 60000) return reject(new Error("the front end's graph never settled"));
      setTimeout(tick, 50);
    };
    tick();
  }), quietMs);
  return page.evaluate(() => ({ vueNodes: Boolean(window.LiteGraph?.vueNodesMode) }));
}
