// ComfyUI extension: the camera-path editor on CameraPathConditioner nodes.
//
// Documented extension API only (app.registerExtension, beforeRegisterNodeDef,
// node.addDOMWidget, api.fetchApi / api.apiURL). The editor writes the node's own
// widgets (motion_type, easing, start_*, end_*), so the workflow JSON and the API
// prompt carry exactly what the artist drew; its DOM widget is not serialised.

import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import { CameraEditor } from "./camera_editor_widget.js";

export const NODE_TYPE = "CameraPathConditioner";
const CROP_KEYS = ["x", "y", "w", "h"];
/** Output rate and length the preview plays at (manifest defaults: 120 frames at 30 fps). */
const OUTPUT_FPS = 30;
const OUTPUT_FRAMES = 120;

function widget(node, name) {
  return node.widgets?.find((w) => w.name === name);
}

/** The node feeding our `image` input (LoadImage, ManifestLoader, ...), if any. */
function imageSource(node) {
  const slot = node.findInputSlot ? node.findInputSlot("image") : node.inputs?.findIndex((i) => i.name === "image");
  if (slot == null || slot < 0) return null;
  // A node not yet in a graph has no links to read: newer frontends (links in a
  // separate store) throw NullGraphError from getInputNode then, e.g. while a workflow
  // is being loaded. No source yet; the editor asks again on its next refresh.
  try {
    return node.getInputNode?.(slot) ?? null;
  } catch {
    return null;
  }
}

/** Whether input `name` (e.g. width) is fed by a link rather than the widget. */
function linked(node, name) {
  return node.inputs?.some((i) => i.name === name && i.link != null) ?? false;
}

/**
 * Manifests chosen in a ManifestLoader upstream: looked up once per choice through
 * /vidgen/manifest_info (keyframe, camera, output size); `onNew` gets each new one.
 */
class ManifestLookup {
  constructor(onNew) {
    this.onNew = onNew;
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
        if (r.status !== 200) this.error = data.error || `HTTP ${r.status}`;
        else { this.info = data; this.onNew(data); }
      }).catch((e) => { if (this.key === key) this.error = String(e); });
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
    manifests: new ManifestLookup((info) => {
      // a newly chosen manifest: show its keyframe and load its camera (undoable)
      host.fps = info.output.fps;
      host.frames = info.output.frames;
      host.editor?.loadCamera(info.camera, `camera of the selected manifest (${info.image})`);
    }),
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
      const nodes = node.graph?._nodes ?? node.graph?.nodes ?? [];
      const loader = nodes.find((n) => (n.comfyClass ?? n.type) === "ManifestLoader");
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
  const w = node.addDOMWidget("camera_editor", "vidgen_camera_editor", editor.element, {
    serialize: false,
    hideOnZoom: false,
    getValue: () => "",
    setValue: () => {},
    getMinHeight: () => 380,
    onDraw: () => editor.refresh(),
  });
  w.serialize = false;
  node.vidgenEditor = editor;
  const size = node.computeSize?.();
  if (size) node.setSize([Math.max(node.size?.[0] ?? 0, 460), Math.max(node.size?.[1] ?? 0, size[1])]);
  // redraw the editor when the DOM widget is resized with the node
  new ResizeObserver(() => editor.draw()).observe(editor.canvas);
  return editor;
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
      try {
        attachEditor(this);
      } catch (e) {
        console.error("comfy-vidgen: the camera-path editor could not start", e);
        this.vidgenEditorError = String(e?.message ?? e);
      }
      return r;
    };
    const onConfigure = nodeType.prototype.onConfigure;
    nodeType.prototype.onConfigure = function () {
      const r = onConfigure?.apply(this, arguments);
      try {
        this.vidgenEditor?.refresh();
      } catch (e) {
        console.error("comfy-vidgen: camera-path editor refresh failed", e);
      }
      return r;
    };
  },
});
