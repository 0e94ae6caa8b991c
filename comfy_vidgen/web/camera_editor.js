// ComfyUI extension: the camera-path editor on CameraPathConditioner nodes, and the
// ManifestLoader's manifest list narrowed to the graph's workflow.
//
// Documented extension API only (app.registerExtension, beforeRegisterNodeDef,
// nodeCreated, afterConfigureGraph, node.addDOMWidget, api.fetchApi / api.apiURL), in
// the forms both the pinned frontend (1.27) and current ones (1.58) accept: links are
// read through node.isInputConnected / getInputNode (never input.link, deprecated
// since links moved into a separate store), and only once the node is in a graph.
// The editor writes the node's own widgets (motion_type, easing, start_*, end_*), so
// the workflow JSON and the API prompt carry exactly what the artist drew; its DOM
// widget is not serialised.
//
// Refresh: the editor re-reads the node on events that exist in both node renderers
// (widget callbacks here and on the upstream LoadImage/ManifestLoader, connection
// changes, graph configure) and, in the classic renderer, on every node draw. The
// opt-in Vue nodes mode (setting Comfy.VueNodes.Enabled) never calls onDraw.
//
// Errors: nothing here may abort the frontend's workflow load (an exception thrown
// from onNodeCreated aborts loadGraphData on 1.58), so every hook is guarded: the
// error is logged and shown in the editor's status line.

import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import { CameraEditor } from "./camera_editor_widget.js";

export const NODE_TYPE = "CameraPathConditioner";
const LOADER_TYPE = "ManifestLoader";
/** ManifestLoader's choice that means "use manifest_json" (manifest_loading.INLINE_CHOICE). */
const INLINE_CHOICE = "(inline manifest_json)";
const CROP_KEYS = ["x", "y", "w", "h"];
/** Output rate and length the preview plays at (manifest defaults: 120 frames at 30 fps). */
const OUTPUT_FPS = 30;
const OUTPUT_FRAMES = 120;

function widget(node, name) {
  return node.widgets?.find((w) => w.name === name);
}

function typeOf(node) {
  return node?.comfyClass ?? node?.type;
}

/** Run `fn`; an exception is logged and shown on `editor` instead of propagating. */
function guarded(what, fn, editor = null) {
  try {
    return fn();
  } catch (e) {
    console.error(`comfy-vidgen: ${what} failed`, e);
    editor?.showError?.(`${what} failed: ${e?.message ?? e}`);
    return undefined;
  }
}

/** Redraw a node's camera-path editor from its widgets and links (none: nothing). */
function refreshEditor(editor) {
  if (editor) guarded("camera-path editor refresh", () => editor.refresh(), editor);
}

/** The node's input slot index by name, or -1. */
function inputSlot(node, name) {
  if (node.findInputSlot) return node.findInputSlot(name);
  return node.inputs?.findIndex((i) => i.name === name) ?? -1;
}

/** The node feeding our `image` input (LoadImage, ManifestLoader, ...), if any. */
function imageSource(node) {
  // A node not yet in a graph has no links to read (1.58 throws NullGraphError from
  // getInputNode then, e.g. while a workflow is being loaded): no source yet; the
  // editor asks again on its next refresh.
  if (!node.graph) return null;
  const slot = inputSlot(node, "image");
  if (slot < 0) return null;
  try {
    return node.getInputNode?.(slot) ?? null;
  } catch {
    return null;
  }
}

/** Whether input `name` (e.g. width) is fed by a link rather than the widget. */
function linked(node, name) {
  const slot = inputSlot(node, name);
  if (slot < 0 || !node.graph) return false;
  try {
    return Boolean(node.isInputConnected(slot));
  } catch {
    return false;
  }
}

/** Every node of the graph `node` lives in (1.27 and 1.58 both have graph.nodes). */
function graphNodes(graph) {
  return graph?.nodes ?? graph?._nodes ?? [];
}

/** Re-read every camera-path editor of `graph` (a source node changed, a graph loaded). */
function refreshEditors(graph) {
  for (const n of graphNodes(graph)) {
    refreshEditor(n.vidgenEditor);
  }
}

/** Call `after(value)` after each of the node's widgets' own callbacks (chained, never replaced). */
function onWidgetChange(node, names, after) {
  for (const w of node.widgets ?? []) {
    if (names && !names.includes(w.name)) continue;
    const orig = w.callback;
    w.callback = function (...args) {
      const r = orig?.apply(this, args);
      after(w, ...args);
      return r;
    };
  }
}

/**
 * Manifests chosen in a ManifestLoader upstream: looked up once per choice through
 * /vidgen/manifest_info (keyframe, camera, output size); `onNew` gets each new one,
 * `onError` the server's refusal (a manifest the rules refuse, a missing keyframe).
 */
class ManifestLookup {
  constructor(onNew, onError) {
    this.onNew = onNew;
    this.onError = onError;
    this.key = null;
    this.info = null;
    this.error = null;
  }

  current(src) {
    const choice = widget(src, "manifest")?.value;
    const inline = widget(src, "manifest_json")?.value ?? "";
    if (typeof choice !== "string") return null;
    const key = JSON.stringify([choice, inline]);
    if (key !== this.key) {
      this.key = key;
      this.info = null;
      this.error = null;
      if (!inline.trim() && !choice.endsWith(".json")) return null;
      api.fetchApi("/vidgen/manifest_info", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ manifest: choice, manifest_json: inline }),
      }).then(async (r) => {
        const data = await r.json().catch(() => ({}));
        if (this.key !== key) return;
        if (r.status !== 200) {
          this.error = data.error || `HTTP ${r.status}`;
          this.onError(`manifest ${choice}: ${this.error}`);
        } else {
          this.info = data;
          this.onNew(data);
        }
      }).catch((e) => {
        if (this.key !== key) return;
        this.error = String(e);
        this.onError(`manifest ${choice}: ${this.error}`);
      });
    }
    return this.info;
  }
}

function viewUrl(name) {
  const clean = name.replace(/\s*\[input\]$/, "");
  const cut = clean.lastIndexOf("/");
  const params = new URLSearchParams({
    filename: cut >= 0 ? clean.slice(cut + 1) : clean,
    subfolder: cut >= 0 ? clean.slice(0, cut) : "",
    type: "input",
  });
  return api.apiURL(`/view?${params}`);
}

/** A host object binding the editor to one node's widgets. */
export function nodeHost(node) {
  const num = (name) => Number(widget(node, name)?.value);
  const host = {
    fps: OUTPUT_FPS,
    frames: OUTPUT_FRAMES,
    editor: null,
    manifests: new ManifestLookup(
      (info) => guarded("camera-path editor: loading the manifest", () => {
        // a newly chosen manifest: show its keyframe and load its camera (undoable); the
        // answer comes after the last refresh, so refresh now (Vue nodes mode draws no frames)
        host.fps = info.output.fps;
        host.frames = info.output.frames;
        host.editor?.loadCamera(info.camera, `camera of the selected manifest (${info.image})`);
        host.editor?.refresh();
      }, host.editor),
      (message) => host.editor?.showError(message),
    ),
    /** The manifest info when a ManifestLoader feeds `image`, else null. */
    manifest() {
      const src = imageSource(node);
      return src && !widget(src, "image") && widget(src, "manifest") ? host.manifests.current(src) : null;
    },
    getValues() {
      const crop = (p) => Object.fromEntries(CROP_KEYS.map((k) => [k, num(`${p}_${k}`)]));
      const info = host.manifest();
      // width/height/length wired from a ManifestLoader: the manifest's values apply
      const from = (name, value) => (linked(node, name) && value != null ? value : num(name));
      return {
        motion_type: widget(node, "motion_type")?.value,
        easing: widget(node, "easing")?.value,
        start: crop("start"),
        end: crop("end"),
        width: from("width", info?.output.width),
        height: from("height", info?.output.height),
        length: from("length", info?.generation_frames),
      };
    },
    setValues(partial) {
      for (const key of ["motion_type", "easing"]) {
        const w = widget(node, key);
        if (w && partial[key] !== undefined) w.value = partial[key];
      }
      for (const p of ["start", "end"]) {
        if (!partial[p]) continue;
        for (const k of CROP_KEYS) {
          const w = widget(node, `${p}_${k}`);
          if (w) w.value = partial[p][k];
        }
      }
      node.setDirtyCanvas?.(true, true);
      app.graph?.setDirtyCanvas?.(true, true);
    },
    imageName() {
      const src = imageSource(node);
      const w = src && widget(src, "image");
      if (typeof w?.value === "string" && w.value) return w.value;
      return host.manifest()?.image ?? null;
    },
    baseManifest() {
      const src = imageSource(node);
      if (!src || widget(src, "image") || !host.manifest()) return null;
      return { manifest: widget(src, "manifest").value, manifest_json: widget(src, "manifest_json")?.value ?? "" };
    },
    /** The workflow id the graph's ManifestLoader declares (@2 graphs), else null. */
    graphWorkflow() {
      const loader = graphNodes(node.graph).find((n) => typeOf(n) === LOADER_TYPE);
      const value = loader ? widget(loader, "workflow")?.value : null;
      return typeof value === "string" && value ? value : null;
    },
    imageUrl: viewUrl,
    fetchApi: (route, init) => api.fetchApi(route, init),
  };
  return host;
}

export function attachEditor(node) {
  const host = nodeHost(node);
  const editor = new CameraEditor(host);
  host.editor = editor;
  const refresh = () => refreshEditor(editor);
  const w = node.addDOMWidget("camera_editor", "vidgen_camera_editor", editor.element, {
    serialize: false,
    hideOnZoom: false,
    getValue: () => "",
    setValue: () => {},
    getMinHeight: () => 380,
    // classic renderer only; cheap (refresh compares a signature)
    onDraw: refresh,
  });
  w.serialize = false;
  node.vidgenEditor = editor;
  // widgets typed by hand (canvas or Vue widget) call their callback in both renderers
  onWidgetChange(node, null, refresh);
  const size = node.computeSize?.();
  if (size) node.setSize([Math.max(node.size?.[0] ?? 0, 460), Math.max(node.size?.[1] ?? 0, size[1])]);
  // redraw the editor when the DOM widget is resized with the node (or mounted in Vue mode)
  new ResizeObserver(() => guarded("camera-path editor draw", () => editor.draw(), editor)).observe(editor.canvas);
  return editor;
}

/**
 * The manifest choices a ManifestLoader offers: every file whose generation.workflow is
 * the graph's declared workflow (its `workflow` widget), plus the inline choice. The
 * frontend keeps assigning the full list to `options.values` (start-up, "Refresh node
 * definitions"); a getter filters it at read time, in both renderers.
 */
const manifestWorkflows = {
  map: null,
  pending: null,
  load() {
    this.pending ??= api.fetchApi("/vidgen/manifest_workflows", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: "{}",
    }).then(async (r) => {
      const data = await r.json().catch(() => ({}));
      if (r.status !== 200) throw new Error(data.error || `HTTP ${r.status}`);
      this.map = data.manifests ?? {};
    }).catch((e) => console.error("comfy-vidgen: could not read the manifests' workflows", e))
      .finally(() => { this.pending = null; });
    return this.pending;
  },
};

export function filterManifestChoices(values, declared, map) {
  if (!Array.isArray(values) || !declared || !map) return values;
  return values.filter((v) => v === INLINE_CHOICE || map[v] === declared);
}

function narrowManifestList(node) {
  const choice = widget(node, "manifest");
  const opts = choice?.options;
  if (!opts || Object.getOwnPropertyDescriptor(opts, "values")?.get) return;
  let all = opts.values;
  Object.defineProperty(opts, "values", {
    configurable: true,
    enumerable: true,
    get() {
      const declared = widget(node, "workflow")?.value;
      return filterManifestChoices(all, typeof declared === "string" ? declared.trim() : "", manifestWorkflows.map);
    },
    set(v) {
      all = v;
      // a refreshed list may hold new files: learn their workflows
      void manifestWorkflows.load().then(() => node.setDirtyCanvas?.(true, true));
    },
  });
  void manifestWorkflows.load().then(() => node.setDirtyCanvas?.(true, true));
}

app.registerExtension({
  name: "comfy_vidgen.CameraPathEditor",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData?.name !== NODE_TYPE) return;
    const onNodeCreated = nodeType.prototype.onNodeCreated;
    nodeType.prototype.onNodeCreated = function () {
      const r = onNodeCreated?.apply(this, arguments);
      // an exception here would abort the frontend's whole workflow load: the editor
      // is an aid, so it fails alone (logged, and said on the node) instead
      guarded("the camera-path editor could not start; it", () => attachEditor(this));
      return r;
    };
    const onConfigure = nodeType.prototype.onConfigure;
    nodeType.prototype.onConfigure = function () {
      const r = onConfigure?.apply(this, arguments);
      refreshEditor(this.vidgenEditor);
      return r;
    };
    const onConnectionsChange = nodeType.prototype.onConnectionsChange;
    nodeType.prototype.onConnectionsChange = function () {
      const r = onConnectionsChange?.apply(this, arguments);
      // another keyframe source, or width/height/length wired or unwired
      refreshEditor(this.vidgenEditor);
      return r;
    };
  },
  nodeCreated(node) {
    guarded("comfy-vidgen node setup", () => {
      const type = typeOf(node);
      if (type === LOADER_TYPE) narrowManifestList(node);
      // a keyframe source upstream of an editor: its choice changes what the editor shows
      const watched = ["image", "manifest", "manifest_json"];
      if (type !== NODE_TYPE && node.widgets?.some((w) => watched.includes(w.name))) {
        onWidgetChange(node, watched, () => refreshEditors(node.graph));
      }
    });
  },
  afterConfigureGraph() {
    // links exist now: every editor finds its keyframe source
    refreshEditors(app.graph);
  },
});
