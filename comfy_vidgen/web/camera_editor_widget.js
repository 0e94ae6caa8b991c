// The camera-path editor as a plain DOM element: keyframe, start/end rectangles, toolbar.
//
// No ComfyUI import: the extension entry (camera_editor.js) and the browser-test
// harness both construct it with a `host` that reads/writes the node's widget
// values and calls the pack's routes. Every edit writes exactly the
// CameraPathConditioner widget values (motion_type, easing, start_*, end_*).

import {
  EASINGS, MOTION_TYPES, conformToMotion, cropAspect, cropPixels, fitAspect, frameCrop,
  inferMotion, motionError, moveCrop, resizeCrop, roundCrop, scaleCrop,
} from "./camera_geometry.js";

const COLORS = { start: "#3ddc84", end: "#ff9f1c" };
const HANDLE = 7; // handle half-size, CSS px
const UNDO_LIMIT = 100;
const STYLE_ID = "vidgen-camera-editor-style";
const CSS = `
.vidgen-editor { display: flex; flex-direction: column; gap: 4px; width: 100%; height: 100%;
  box-sizing: border-box; font: 12px system-ui, sans-serif; color: #ddd; }
.vidgen-editor .vg-bar { display: flex; flex-wrap: wrap; gap: 4px; align-items: center; }
.vidgen-editor button, .vidgen-editor select, .vidgen-editor input { font: inherit; color: #eee;
  background: #333; border: 1px solid #555; border-radius: 4px; padding: 2px 6px; }
.vidgen-editor button[aria-pressed="true"] { background: #555; border-color: #aaa; }
.vidgen-editor button:disabled { opacity: .5; }
.vidgen-editor .vg-stage { position: relative; flex: 1 1 auto; min-height: 120px; display: flex; }
.vidgen-editor canvas { flex: 1 1 auto; width: 100%; min-height: 120px; background: #111;
  border-radius: 4px; outline: none; touch-action: none; }
.vidgen-editor .vg-keys { position: absolute; left: 0; top: 0; width: 1px; height: 1px; opacity: 0;
  padding: 0; border: 0; pointer-events: none; }
.vidgen-editor .vg-stage:focus-within canvas { box-shadow: 0 0 0 1px #aaa; }
.vidgen-editor .vg-readout { font-family: ui-monospace, monospace; font-size: 11px; white-space: pre-wrap; }
.vidgen-editor .vg-status { min-height: 1em; font-size: 11px; color: #aaa; }
.vidgen-editor .vg-status.vg-error { color: #ff6b6b; }
.vidgen-editor input.vg-name { width: 9em; }
`;

function el(tag, attrs = {}, children = []) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function select(name, options) {
  return el("select", { name, title: name.replace("_", " ") }, options.map((o) => el("option", { value: o, text: o })));
}

/**
 * host = {
 *   getValues() -> {motion_type, easing, start:{x,y,w,h}, end:{x,y,w,h}, width, height, length},
 *   setValues(partial) -> void,          // writes the node's widgets
 *   imageName() -> string | null,        // input-folder name of the keyframe (LoadImage value)
 *   imageUrl(name) -> string,            // URL that serves it (/view?...&type=input)
 *   fetchApi(route, init) -> Promise<Response>,
 *   fps: 30, frames: 120,                // output frame rate and length the preview plays at
 * }
 */
export class CameraEditor {
  constructor(host) {
    this.host = host;
    this.selected = "end";
    this.undoStack = [];
    this.image = null;
    this.imageSrcName = null;
    this.drag = null;
    this.playing = null;
    this.playStats = { framesShown: 0, lastFrame: -1, frames: 0, fps: 0, runs: 0 };
    this.lastSignature = "";
    this.suggestions = [];
    this.element = this.#build();
    this.element.vidgenEditor = this;
    this.values = this.#readValues();
    this.refresh();
  }

  // ----------------------------------------------------------------- DOM

  #build() {
    if (!document.getElementById(STYLE_ID)) {
      document.head.append(el("style", { id: STYLE_ID, text: CSS }));
    }
    this.btnStart = el("button", { type: "button", "data-role": "select-start", title: "Edit the start crop (S)", text: "Start" });
    this.btnEnd = el("button", { type: "button", "data-role": "select-end", title: "Edit the end crop (E)", text: "End" });
    this.motionSel = select("motion_type", MOTION_TYPES);
    this.easingSel = select("easing", EASINGS);
    this.btnPlay = el("button", { type: "button", "data-role": "play", title: "Preview the move at the output frame rate (Space)", text: "▶ Play" });
    this.btnUndo = el("button", { type: "button", "data-role": "undo", title: "Undo the last change (Ctrl+Z)", text: "↶ Undo" });
    this.btnSuggest = el("button", { type: "button", "data-role": "suggest", title: "Ask vidgen camera suggest for moves", text: "Suggest" });
    this.suggestBox = el("span", { class: "vg-suggestions" });
    this.nameInput = el("input", { class: "vg-name", "data-role": "name", placeholder: "manifest name", title: "Manifest file name (saved as input/manifests/<name>.json, listed by ManifestLoader)" });
    this.btnSave = el("button", { type: "button", "data-role": "save", title: "Save a manifest into the input folder", text: "Save manifest" });
    this.canvas = el("canvas", { "data-role": "canvas" });
    // Keys go to a read-only <input>, not the canvas: ComfyUI's change tracker listens for
    // Ctrl+Z on window in the capture phase (so stopPropagation cannot stop it) and only
    // leaves keys typed into inputs alone; otherwise it would also undo the whole graph.
    this.keys = el("input", {
      class: "vg-keys", readonly: "", "data-role": "keys",
      "aria-label": "camera path editor: arrows move, +/- resize, S/E select, Space plays, Ctrl+Z undoes",
    });
    this.readout = el("div", { class: "vg-readout", "data-role": "readout" });
    this.status = el("div", { class: "vg-status", "data-role": "status" });
    const root = el("div", { class: "vidgen-editor" }, [
      el("div", { class: "vg-bar" }, [this.btnStart, this.btnEnd, this.motionSel, this.easingSel, this.btnPlay, this.btnUndo]),
      el("div", { class: "vg-bar" }, [this.btnSuggest, this.suggestBox]),
      el("div", { class: "vg-stage" }, [this.canvas, this.keys]),
      this.readout,
      el("div", { class: "vg-bar" }, [this.nameInput, this.btnSave]),
      this.status,
    ]);
    this.btnStart.onclick = () => this.select("start");
    this.btnEnd.onclick = () => this.select("end");
    this.motionSel.onchange = () => this.setMotion(this.motionSel.value);
    this.easingSel.onchange = () => this.#commit({ easing: this.easingSel.value });
    this.btnPlay.onclick = () => (this.playing ? this.stop() : this.play());
    this.btnUndo.onclick = () => this.undo();
    this.btnSuggest.onclick = () => this.suggest();
    this.btnSave.onclick = () => this.save();
    this.canvas.addEventListener("pointerdown", (e) => this.#pointerDown(e));
    this.canvas.addEventListener("pointermove", (e) => this.#pointerMove(e));
    this.canvas.addEventListener("pointerup", (e) => this.#pointerUp(e));
    this.canvas.addEventListener("pointercancel", (e) => this.#pointerUp(e));
    this.keys.addEventListener("keydown", (e) => this.#keyDown(e));
    // keep the graph canvas from treating clicks and keys inside the editor as its own
    for (const type of ["pointerdown", "wheel", "keydown", "keyup", "contextmenu"]) {
      root.addEventListener(type, (e) => e.stopPropagation());
    }
    return root;
  }

  // ----------------------------------------------------------------- values

  #readValues() {
    const v = this.host.getValues();
    return {
      motion_type: v.motion_type, easing: v.easing, width: v.width, height: v.height, length: v.length,
      start: { ...v.start }, end: { ...v.end },
    };
  }

  #signature(v) {
    return JSON.stringify([v.motion_type, v.easing, v.start, v.end, v.width, v.height]);
  }

  /** Re-read the node (widgets typed by hand, another keyframe, another output size); cheap. */
  refresh() {
    const name = this.host.imageName();
    if (name !== this.imageSrcName) this.#loadImage(name);
    const v = this.#readValues();
    const sig = this.#signature(v);
    if (sig !== this.lastSignature) {
      const resized = this.values && (v.width !== this.values.width || v.height !== this.values.height);
      this.values = v;
      this.lastSignature = sig;
      if (resized) this.#refitAspect();
      this.#syncControls();
      this.draw();
    }
  }

  #dims() {
    const v = this.values;
    return [this.image?.naturalWidth || 1, this.image?.naturalHeight || 1, v.width, v.height];
  }

  #refitAspect() {
    if (!this.image) return;
    const d = this.#dims();
    const start = fitAspect(this.values.start, ...d);
    const end = fitAspect(this.values.end, ...d);
    this.#write({ start, end, motion_type: inferMotion(start, end, this.values.motion_type) });
  }

  #snapshot() {
    const v = this.values;
    return { motion_type: v.motion_type, easing: v.easing, start: { ...v.start }, end: { ...v.end } };
  }

  #pushUndo() {
    this.undoStack.push(this.#snapshot());
    if (this.undoStack.length > UNDO_LIMIT) this.undoStack.shift();
  }

  /** Write values to the node (rounded as the widgets hold them) and redraw. */
  #write(partial) {
    const out = { ...partial };
    if (out.start) out.start = roundCrop(out.start);
    if (out.end) out.end = roundCrop(out.end);
    Object.assign(this.values, out);
    this.host.setValues(out);
    this.lastSignature = this.#signature(this.values);
    this.#syncControls();
    this.draw();
  }

  /** One undoable change. */
  #commit(partial) {
    this.#pushUndo();
    this.#write(partial);
  }

  /** Give the editor keyboard focus (arrows, +/-, S/E, Space, Ctrl+Z). */
  focus() {
    this.keys.focus({ preventScroll: true });
  }

  undo() {
    const prev = this.undoStack.pop();
    if (!prev) return false;
    this.#write(prev);
    this.#say("undone");
    return true;
  }

  select(which) {
    this.selected = which;
    this.#syncControls();
    this.draw();
  }

  /** Pick a motion type; the rectangles are adjusted when they contradict it. */
  setMotion(motion) {
    const v = this.values;
    if (!this.image) return this.#commit({ motion_type: motion });
    const { start, end } = conformToMotion(motion, v.start, v.end, ...this.#dims());
    this.#commit({ motion_type: motion, start, end });
  }

  /** Apply a crop change to the selected rectangle, keeping the motion type consistent. */
  #setCrop(which, crop) {
    const v = this.values;
    const start = which === "start" ? crop : v.start;
    const end = which === "end" ? crop : v.end;
    this.#write({ [which]: crop, motion_type: inferMotion(roundCrop(start), roundCrop(end), v.motion_type) });
  }

  #syncControls() {
    const v = this.values;
    this.motionSel.value = v.motion_type;
    this.easingSel.value = v.easing;
    this.btnStart.setAttribute("aria-pressed", String(this.selected === "start"));
    this.btnEnd.setAttribute("aria-pressed", String(this.selected === "end"));
    this.btnUndo.disabled = this.undoStack.length === 0;
    this.element.dataset.motion = v.motion_type;
    this.#updateReadout();
  }

  #updateReadout() {
    const v = this.values;
    if (!this.image) {
      this.readout.textContent = this.imageSrcName ? `loading ${this.imageSrcName}…` : "connect a LoadImage (or a ManifestLoader with a manifest file) to 'image'";
      return;
    }
    const [iw, ih, ow, oh] = this.#dims();
    const line = (name) => {
      const p = cropPixels(v[name], iw, ih);
      const a = cropAspect(v[name], iw, ih) / (ow / oh);
      return `${name.padEnd(5)} ${p.w}×${p.h} px at (${p.x}, ${p.y})  aspect ${(a * 100).toFixed(1)}% of ${ow}×${oh}`;
    };
    const err = motionError(v.motion_type, v.start, v.end);
    const zoom = v.start.w / v.end.w;
    this.readout.textContent = `${line("start")}\n${line("end")}\nkeyframe ${iw}×${ih}  zoom ×${zoom.toFixed(2)}  ${err ? "⚠ " + err : v.motion_type + " ✓"}`;
  }

  /** Show an error in the editor's status line (e.g. from a guarded extension hook). */
  showError(text) {
    this.element.dataset.error = text;
    this.#say(text, true);
  }

  #say(text, isError = false) {
    this.status.textContent = text;
    this.status.classList.toggle("vg-error", isError);
  }

  // ----------------------------------------------------------------- image + drawing

  #loadImage(name) {
    this.imageSrcName = name;
    this.image = null;
    this.element.dataset.imageLoaded = "false";
    if (!name) { this.draw(); this.#updateReadout(); return; }
    const img = new Image();
    img.onload = () => {
      if (this.imageSrcName !== name) return;
      this.image = img;
      this.element.dataset.imageLoaded = "true";
      if (!this.nameInput.value) this.nameInput.value = name.replace(/\s*\[input\]$/, "").replace(/^.*\//, "").replace(/\.[^.]+$/, "").replace(/[^A-Za-z0-9._-]+/g, "-");
      // crops typed for another image get the output aspect on this one
      const d = this.#dims();
      const fits = ["start", "end"].every((k) => Math.abs(cropAspect(this.values[k], d[0], d[1]) / (d[2] / d[3]) - 1) <= 0.005);
      if (!fits) this.#refitAspect();
      this.#syncControls();
      this.draw();
    };
    img.onerror = () => { if (this.imageSrcName === name) this.#say(`cannot load keyframe ${name}`, true); };
    img.src = this.host.imageUrl(name);
  }

  /** Image placement on the canvas: scale and offset in CSS pixels. */
  #layout() {
    const rect = this.canvas.getBoundingClientRect();
    const cw = Math.max(1, rect.width);
    const ch = Math.max(1, rect.height);
    const dpr = window.devicePixelRatio || 1;
    if (this.canvas.width !== Math.round(cw * dpr) || this.canvas.height !== Math.round(ch * dpr)) {
      this.canvas.width = Math.round(cw * dpr);
      this.canvas.height = Math.round(ch * dpr);
    }
    const [iw, ih] = this.#dims();
    const s = Math.min(cw / iw, ch / ih);
    return { cw, ch, dpr, s, ox: (cw - iw * s) / 2, oy: (ch - ih * s) / 2, dw: iw * s, dh: ih * s };
  }

  /** A crop's box on the canvas in CSS pixels relative to the canvas. */
  cropBox(which, L = this.#layout()) {
    const c = this.values[which];
    return { x: L.ox + c.x * L.dw, y: L.oy + c.y * L.dh, w: c.w * L.dw, h: c.h * L.dh };
  }

  /** A crop's box in page (client) coordinates: used by tests and for hit testing. */
  clientBox(which) {
    const r = this.canvas.getBoundingClientRect();
    const b = this.cropBox(which);
    return { x: r.left + b.x, y: r.top + b.y, w: b.w, h: b.h };
  }

  draw() {
    if (!this.canvas.isConnected) return;
    const L = this.#layout();
    const ctx = this.canvas.getContext("2d");
    ctx.setTransform(L.dpr, 0, 0, L.dpr, 0, 0);
    ctx.clearRect(0, 0, L.cw, L.ch);
    if (!this.image) return;
    if (this.playing) return this.#drawPlayback(ctx, L);
    ctx.drawImage(this.image, L.ox, L.oy, L.dw, L.dh);
    // dim what neither crop shows
    ctx.fillStyle = "rgba(0,0,0,0.35)";
    ctx.fillRect(L.ox, L.oy, L.dw, L.dh);
    for (const which of ["start", "end"]) {
      const b = this.cropBox(which, L);
      ctx.drawImage(this.image, this.values[which].x * this.image.naturalWidth, this.values[which].y * this.image.naturalHeight,
        this.values[which].w * this.image.naturalWidth, this.values[which].h * this.image.naturalHeight, b.x, b.y, b.w, b.h);
    }
    // path of the crop centre and a few intermediate crops
    const v = this.values;
    ctx.strokeStyle = "rgba(255,255,255,0.35)";
    ctx.setLineDash([2, 4]);
    for (const t of [0.25, 0.5, 0.75]) {
      const c = frameCrop(v.start, v.end, "linear", t, 2);
      ctx.strokeRect(L.ox + c.x * L.dw, L.oy + c.y * L.dh, c.w * L.dw, c.h * L.dh);
    }
    ctx.setLineDash([]);
    for (const which of this.selected === "end" ? ["start", "end"] : ["end", "start"]) {
      const b = this.cropBox(which, L);
      const sel = which === this.selected;
      ctx.lineWidth = sel ? 2 : 1.5;
      ctx.strokeStyle = COLORS[which];
      ctx.setLineDash(which === "start" ? [6, 3] : []);
      ctx.strokeRect(b.x, b.y, b.w, b.h);
      ctx.setLineDash([]);
      ctx.fillStyle = COLORS[which];
      ctx.font = "bold 11px system-ui, sans-serif";
      ctx.fillText(which === "start" ? "S" : "E", b.x + 4, b.y + 13);
      if (sel) {
        for (const [hx, hy] of this.#corners(b)) ctx.fillRect(hx - HANDLE / 2, hy - HANDLE / 2, HANDLE, HANDLE);
      }
    }
  }

  #corners(b) {
    return [[b.x, b.y, "nw"], [b.x + b.w, b.y, "ne"], [b.x, b.y + b.h, "sw"], [b.x + b.w, b.y + b.h, "se"]];
  }

  // ----------------------------------------------------------------- pointer

  #canvasPoint(e) {
    const r = this.canvas.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  }

  #hit(p) {
    const L = this.#layout();
    const order = this.selected === "end" ? ["end", "start"] : ["start", "end"];
    for (const which of order) {
      const b = this.cropBox(which, L);
      for (const [hx, hy, corner] of this.#corners(b)) {
        if (Math.abs(p.x - hx) <= HANDLE + 2 && Math.abs(p.y - hy) <= HANDLE + 2) return { which, corner };
      }
    }
    for (const which of order) {
      const b = this.cropBox(which, L);
      if (p.x >= b.x && p.x <= b.x + b.w && p.y >= b.y && p.y <= b.y + b.h) return { which, corner: null };
    }
    return null;
  }

  #pointerDown(e) {
    if (!this.image || this.playing || e.button !== 0) return;
    this.focus();
    const p = this.#canvasPoint(e);
    const hit = this.#hit(p);
    if (!hit) return;
    e.preventDefault();
    this.canvas.setPointerCapture?.(e.pointerId);
    this.selected = hit.which;
    this.drag = { ...hit, p0: p, crop0: { ...this.values[hit.which] }, before: this.#snapshot(), layout: this.#layout() };
    this.#syncControls();
    this.draw();
  }

  #pointerMove(e) {
    const p = this.#canvasPoint(e);
    if (!this.drag) {
      const hit = this.image && !this.playing ? this.#hit(p) : null;
      this.canvas.style.cursor = !hit ? "default" : hit.corner ? (hit.corner === "nw" || hit.corner === "se" ? "nwse-resize" : "nesw-resize") : "move";
      return;
    }
    const { layout: L, crop0, corner, which } = this.drag;
    let crop;
    if (corner) {
      crop = resizeCrop(crop0, corner, (p.x - L.ox) / L.dw, (p.y - L.oy) / L.dh, ...this.#dims());
    } else {
      crop = moveCrop(crop0, (p.x - this.drag.p0.x) / L.dw, (p.y - this.drag.p0.y) / L.dh);
    }
    this.#setCrop(which, crop);
  }

  #pointerUp(e) {
    if (!this.drag) return;
    const before = this.drag.before;
    this.drag = null;
    this.canvas.releasePointerCapture?.(e.pointerId);
    if (this.#signature({ ...this.values, ...before }) !== this.lastSignature) {
      this.undoStack.push(before);
      this.#syncControls();
    }
  }

  // ----------------------------------------------------------------- keyboard

  #keyDown(e) {
    const mod = e.ctrlKey || e.metaKey;
    let handled = true;
    if (mod && e.key.toLowerCase() === "z") this.undo();
    else if (e.key === " ") this.playing ? this.stop() : this.play();
    else if (!mod && e.key.toLowerCase() === "s") this.select("start");
    else if (!mod && e.key.toLowerCase() === "e") this.select("end");
    else if (e.key.startsWith("Arrow") && this.image) {
      const [iw, ih] = this.#dims();
      const step = e.shiftKey ? 10 : 1; // keyframe pixels
      const dx = { ArrowLeft: -1, ArrowRight: 1 }[e.key] || 0;
      const dy = { ArrowUp: -1, ArrowDown: 1 }[e.key] || 0;
      this.#pushUndo();
      this.#setCrop(this.selected, moveCrop(this.values[this.selected], (dx * step) / iw, (dy * step) / ih));
    } else if ((e.key === "+" || e.key === "=" || e.key === "-") && this.image) {
      const k = e.key === "-" ? 1 / 1.02 : 1.02;
      this.#pushUndo();
      this.#setCrop(this.selected, scaleCrop(this.values[this.selected], k, ...this.#dims()));
    } else handled = false;
    if (handled) {
      e.preventDefault();
      e.stopPropagation();
    }
  }

  // ----------------------------------------------------------------- playback

  /** Animate the camera view frame by frame at the output frame rate; resolves when done. */
  play() {
    if (!this.image) return Promise.resolve(this.playStats);
    this.stop();
    const fps = this.host.fps || 30;
    const frames = this.host.frames || 120;
    this.playStats = { framesShown: 0, lastFrame: -1, frames, fps, runs: this.playStats.runs };
    this.element.dataset.playing = "true";
    this.btnPlay.textContent = "■ Stop";
    return new Promise((resolve) => {
      const t0 = performance.now();
      const tick = (now) => {
        if (!this.playing) return resolve(this.playStats);
        const frame = Math.min(frames - 1, Math.floor(((now - t0) / 1000) * fps));
        if (frame !== this.playStats.lastFrame) {
          this.playing.frame = frame;
          this.playStats.lastFrame = frame;
          this.playStats.framesShown += 1;
          this.draw();
        }
        if (frame >= frames - 1) {
          this.playStats.runs += 1;
          this.stop();
          return resolve(this.playStats);
        }
        this.playing.raf = requestAnimationFrame(tick);
      };
      this.playing = { frame: 0, raf: requestAnimationFrame(tick) };
    });
  }

  stop() {
    if (!this.playing) return;
    cancelAnimationFrame(this.playing.raf);
    this.playing = null;
    this.element.dataset.playing = "false";
    this.btnPlay.textContent = "▶ Play";
    this.draw();
  }

  #drawPlayback(ctx, L) {
    const v = this.values;
    const { frame } = this.playing;
    const n = this.playStats.frames;
    const c = frameCrop(v.start, v.end, v.easing, frame, n);
    const iw = this.image.naturalWidth;
    const ih = this.image.naturalHeight;
    const a = v.width / v.height;
    const w = Math.min(L.cw, L.ch * a);
    const h = w / a;
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(this.image, c.x * iw, c.y * ih, c.w * iw, c.h * ih, (L.cw - w) / 2, (L.ch - h) / 2, w, h);
    ctx.fillStyle = "rgba(0,0,0,0.55)";
    ctx.fillRect(0, L.ch - 16, L.cw, 16);
    ctx.fillStyle = COLORS.end;
    ctx.fillRect(0, L.ch - 3, (L.cw * (frame + 1)) / n, 3);
    ctx.fillStyle = "#fff";
    ctx.font = "11px ui-monospace, monospace";
    ctx.fillText(`frame ${frame + 1}/${n} @ ${this.playStats.fps} fps  ${v.motion_type} ${v.easing}`, 6, L.ch - 5);
  }

  // ----------------------------------------------------------------- routes

  async #post(route, body) {
    const resp = await this.host.fetchApi(route, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    let data = {};
    try { data = await resp.json(); } catch { /* non-JSON error page */ }
    return { status: resp.status, data };
  }

  async suggest() {
    const name = this.host.imageName();
    if (!name) return this.#say("connect a LoadImage keyframe first", true);
    this.btnSuggest.disabled = true;
    this.#say("suggesting…");
    try {
      const v = this.values;
      const { status, data } = await this.#post("/vidgen/suggest", { image: name, width: v.width, height: v.height, n: 3, easing: v.easing });
      if (status !== 200) return this.#say(`suggest failed (${status}): ${data.error || "no details"}`, true);
      this.suggestions = data.suggestions;
      this.suggestBox.replaceChildren(...data.suggestions.map((s, i) => {
        const b = el("button", { type: "button", "data-role": `suggestion-${i}`, title: s.rationale, text: `${s.camera.motion_type} ${s.score.toFixed(2)}` });
        b.onclick = () => this.applySuggestion(i);
        return b;
      }));
      this.#say(`${data.suggestions.length} suggestions; click one to apply`);
    } catch (err) {
      this.#say(`suggest failed: ${err}`, true);
    } finally {
      this.btnSuggest.disabled = false;
    }
  }

  /** Load a manifest camera fragment (a suggestion, the selected manifest's path) as one change. */
  loadCamera(c, why = "") {
    this.#commit({ motion_type: c.motion_type, easing: c.easing, start: c.start_frame, end: c.end_frame });
    if (why) this.#say(why);
  }

  applySuggestion(i) {
    const s = this.suggestions[i];
    if (!s) return;
    this.loadCamera(s.camera, s.rationale);
  }

  /** Save the drawn path as <name>.json in the input folder; returns the route's answer. */
  async save(overwrite = false) {
    const name = this.nameInput.value.trim();
    const v = this.values;
    const body = {
      name, image: this.host.imageName(), motion_type: v.motion_type, easing: v.easing,
      start: v.start, end: v.end, width: v.width, height: v.height, length: v.length, overwrite,
    };
    // the graph's declared workflow (a manifest of another one would be refused by it)
    const workflow = this.host.graphWorkflow?.();
    if (workflow) body.workflow = workflow;
    // drawn over a ManifestLoader's manifest: keep its workflow, seed, generation and output
    const base = this.host.baseManifest?.();
    if (base) body.base = base;
    this.btnSave.disabled = true;
    try {
      const { status, data } = await this.#post("/vidgen/save_manifest", body);
      if (status === 409 && !overwrite && window.confirm(`${data.error}\nOverwrite it?`)) return await this.save(true);
      if (status !== 200) {
        this.#say(`not saved (${status}): ${data.error || "no details"}`, true);
        this.element.dataset.saveError = data.error || String(status);
        return { status, data };
      }
      this.element.dataset.savedPath = data.path;
      this.#say(`saved input/${data.path} (manifest ${data.manifest_hash.slice(0, 12)}…)`);
      return { status, data };
    } finally {
      this.btnSave.disabled = false;
    }
  }
}
