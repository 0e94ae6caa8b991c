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

/** Input-folder name of the keyframe: the `image` widget of the node feeding our `image` input. */
function keyframeName(node) {
  const slot = node.findInputSlot ? node.findInputSlot("image") : node.inputs?.findIndex((i) => i.name === "image");
  if (slot == null || slot < 0) return null;
  const src = node.getInputNode?.(slot);
  const w = src && widget(src, "image");
  return typeof w?.value === "string" && w.value ? w.value : null;
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
  return {
    fps: OUTPUT_FPS,
    frames: OUTPUT_FRAMES,
    getValues() {
      const crop = (p) => Object.fromEntries(CROP_KEYS.map((k) => [k, num(`${p}_${k}`)]));
      return {
        motion_type: widget(node, "motion_type")?.value,
        easing: widget(node, "easing")?.value,
        start: crop("start"),
        end: crop("end"),
        width: num("width"),
        height: num("height"),
        length: num("length"),
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
    imageName: () => keyframeName(node),
    imageUrl: viewUrl,
    fetchApi: (route, init) => api.fetchApi(route, init),
  };
}

export function attachEditor(node) {
  const editor = new CameraEditor(nodeHost(node));
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
      attachEditor(this);
      return r;
    };
    const onConfigure = nodeType.prototype.onConfigure;
    nodeType.prototype.onConfigure = function () {
      const r = onConfigure?.apply(this, arguments);
      this.vidgenEditor?.refresh();
      return r;
    };
  },
});
