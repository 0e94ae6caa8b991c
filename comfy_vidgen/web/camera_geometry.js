// Camera-path geometry for the editor: pure functions, no DOM, no ComfyUI.
//
// Crops are {x, y, w, h} normalised to the keyframe (0..1), exactly the
// CameraPathConditioner widget values and the manifest's start_frame/end_frame.
// The rules mirror comfy_vidgen/manifest.py (_motion_error, ASPECT_TOLERANCE,
// GEOMETRY_EPS) and comfy_vidgen/camera/path.py (easing, rects_at); the Python
// tests run these functions through Node on shared cases to prove they agree.

export const MOTION_TYPES = [
  "static", "pan_left", "pan_right", "tilt_up", "tilt_down",
  "zoom_in", "zoom_out", "dolly_in", "dolly_out", "custom",
];
export const EASINGS = ["linear", "ease_in", "ease_out", "ease_in_out"];
export const ASPECT_TOLERANCE = 0.01;
export const GEOMETRY_EPS = 1e-4;
/** Smallest crop width the editor lets an artist draw (fraction of the keyframe width). */
export const MIN_CROP_W = 0.05;

const cx = (c) => c.x + c.w / 2;
const cy = (c) => c.y + c.h / 2;
const fmt = (v) => Number(v.toPrecision(4)).toString();
const signed = (v) => (v >= 0 ? "+" : "") + fmt(v);

/** Why start/end geometry contradicts `motion` (null when consistent); as manifest._motion_error. */
export function motionError(motion, start, end) {
  const scale = end.w / start.w;
  const dx = cx(end) - cx(start);
  const dy = cy(end) - cy(start);
  const sameScale = Math.abs(scale - 1) <= ASPECT_TOLERANCE;
  const moved = Math.max(Math.abs(dx), Math.abs(dy)) > GEOMETRY_EPS;
  if (motion === "static") {
    if (!(Math.abs(scale - 1) <= GEOMETRY_EPS && !moved)) return "static needs identical start and end crops";
  } else if (motion === "zoom_in" || motion === "dolly_in") {
    if (scale >= 1 - GEOMETRY_EPS) {
      return `${motion} needs an end crop smaller than the start crop (end/start width = ${fmt(scale)})`;
    }
  } else if (motion === "zoom_out" || motion === "dolly_out") {
    if (scale <= 1 + GEOMETRY_EPS) {
      return `${motion} needs an end crop larger than the start crop (end/start width = ${fmt(scale)})`;
    }
  } else if (["pan_left", "pan_right", "tilt_up", "tilt_down"].includes(motion)) {
    if (!sameScale) {
      return `${motion} needs start and end crops of the same size (end/start width = ${fmt(scale)})`;
    }
    const horizontal = motion === "pan_left" || motion === "pan_right";
    const [main, cross] = horizontal ? [dx, dy] : [dy, dx];
    const sign = motion === "pan_left" || motion === "tilt_up" ? -1 : 1;
    const direction = { pan_left: "leftward", pan_right: "rightward", tilt_up: "upward", tilt_down: "downward" }[motion];
    if (main * sign <= GEOMETRY_EPS || Math.abs(cross) > Math.abs(main)) {
      return `${motion} needs a mainly ${direction} move of the crop centre (moved dx = ${signed(dx)}, dy = ${signed(dy)} of the image)`;
    }
  } else if (motion !== "custom") {
    return `unknown motion type ${JSON.stringify(motion)}`;
  }
  return null;
}

/** The motion type that describes the rectangles, keeping `previous` when it still fits. */
export function inferMotion(start, end, previous) {
  if (previous === "custom") return "custom";
  if (MOTION_TYPES.includes(previous) && motionError(previous, start, end) === null) return previous;
  const scale = end.w / start.w;
  const dolly = previous === "dolly_in" || previous === "dolly_out";
  if (scale < 1 - GEOMETRY_EPS) return dolly ? "dolly_in" : "zoom_in";
  if (scale > 1 + GEOMETRY_EPS) return dolly ? "dolly_out" : "zoom_out";
  const dx = cx(end) - cx(start);
  const dy = cy(end) - cy(start);
  let guess;
  if (Math.max(Math.abs(dx), Math.abs(dy)) <= GEOMETRY_EPS) guess = "static";
  else if (Math.abs(dx) >= Math.abs(dy)) guess = dx > 0 ? "pan_right" : "pan_left";
  else guess = dy > 0 ? "tilt_down" : "tilt_up";
  return motionError(guess, start, end) === null ? guess : "custom";
}

// --------------------------------------------------------------------------- aspect

/** Crop aspect in keyframe pixels. */
export function cropAspect(c, iw, ih) {
  return (c.w * iw) / (c.h * ih);
}

/** Normalised crop height that gives width `w` the output aspect outW/outH in keyframe pixels. */
export function heightFor(w, iw, ih, outW, outH) {
  return (w * iw * outH) / (ih * outW);
}

/** Widest crop of the output aspect that fits the keyframe (normalised width). */
export function maxCropWidth(iw, ih, outW, outH) {
  return Math.min(1, (outW / outH) * ih / iw);
}

const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

/** The crop moved (not resized) so that it lies inside the image. */
export function clampInside(c) {
  return { x: clamp(c.x, 0, Math.max(0, 1 - c.w)), y: clamp(c.y, 0, Math.max(0, 1 - c.h)), w: c.w, h: c.h };
}

/** The crop with the output aspect, same centre and width (shrunk when it would not fit), inside. */
export function fitAspect(c, iw, ih, outW, outH) {
  const w = clamp(c.w, MIN_CROP_W, maxCropWidth(iw, ih, outW, outH));
  const h = heightFor(w, iw, ih, outW, outH);
  return clampInside({ x: cx(c) - w / 2, y: cy(c) - h / 2, w, h });
}

/** The crop shifted by (dx, dy) (normalised), kept inside the image. */
export function moveCrop(c, dx, dy) {
  return clampInside({ x: c.x + dx, y: c.y + dy, w: c.w, h: c.h });
}

/**
 * Resize by dragging `corner` ("nw", "ne", "sw", "se") to point (px, py), the opposite
 * corner fixed, aspect locked to the output; the crop never leaves the image.
 */
export function resizeCrop(c, corner, px, py, iw, ih, outW, outH) {
  const left = corner.includes("w");
  const top = corner.includes("n");
  const ax = left ? c.x + c.w : c.x; // anchor (fixed corner)
  const ay = top ? c.y + c.h : c.y;
  const hPerW = heightFor(1, iw, ih, outW, outH);
  // the larger of the widths implied by the pointer's horizontal and vertical distance
  let w = Math.max(left ? ax - px : px - ax, (top ? ay - py : py - ay) / hPerW);
  const roomW = left ? ax : 1 - ax;
  const roomH = top ? ay : 1 - ay;
  w = Math.min(w, roomW, roomH / hPerW, maxCropWidth(iw, ih, outW, outH));
  w = Math.max(w, Math.min(MIN_CROP_W, roomW, roomH / hPerW));
  const h = w * hPerW;
  return { x: left ? ax - w : ax, y: top ? ay - h : ay, w, h };
}

/** Scale a crop about its centre by `k` (aspect kept), then keep it inside. */
export function scaleCrop(c, k, iw, ih, outW, outH) {
  const w = clamp(c.w * k, MIN_CROP_W, maxCropWidth(iw, ih, outW, outH));
  const h = (w * c.h) / c.w;
  return clampInside({ x: cx(c) - w / 2, y: cy(c) - h / 2, w, h });
}

// --------------------------------------------------------------------------- motion templates

/**
 * Start/end adjusted so that `motion` holds (unchanged when it already does): what the
 * editor does when the artist picks a motion type the rectangles contradict.
 */
export function conformToMotion(motion, start, end, iw, ih, outW, outH) {
  if (motionError(motion, start, end) === null) return { start, end };
  const full = maxCropWidth(iw, ih, outW, outH);
  if (motion === "static") return { start, end: { ...start } };
  if (motion === "zoom_in" || motion === "dolly_in") {
    let s = start;
    if (s.w < MIN_CROP_W / 0.7) s = fitAspect({ ...s, w: full }, iw, ih, outW, outH);
    return { start: s, end: scaleCrop(s, 0.7, iw, ih, outW, outH) };
  }
  if (motion === "zoom_out" || motion === "dolly_out") {
    const bigger = scaleCrop(start, 1 / 0.7, iw, ih, outW, outH);
    if (bigger.w > start.w * (1 + 10 * GEOMETRY_EPS)) return { start, end: bigger };
    return { start: scaleCrop(start, 0.7, iw, ih, outW, outH), end: { ...start } };
  }
  if (motion === "custom") return { start, end };
  // pans and tilts: equal sizes, a move of 30% of the crop along the axis
  let s = start;
  const horizontal = motion === "pan_left" || motion === "pan_right";
  const room = horizontal ? 1 - s.w : 1 - s.h;
  if (room < 0.05) s = scaleCrop(s, 0.8, iw, ih, outW, outH);
  const size = horizontal ? s.w : s.h;
  const travel = Math.min(0.3 * size, 1 - size);
  const forward = motion === "pan_right" || motion === "tilt_down";
  const pos = horizontal ? s.x : s.y;
  const from = forward ? clamp(pos, 0, 1 - size - travel) : clamp(pos, travel, 1 - size);
  const to = forward ? from + travel : from - travel;
  const a = horizontal ? { ...s, x: from } : { ...s, y: from };
  const b = horizontal ? { ...s, x: to } : { ...s, y: to };
  return { start: a, end: b };
}

// --------------------------------------------------------------------------- path

/** Eased progress for raw time t in [0, 1]; as camera/path.py EASING_FUNCTIONS. */
export function ease(name, t) {
  const u = clamp(t, 0, 1);
  switch (name) {
    case "linear": return u;
    case "ease_in": return u * u;
    case "ease_out": return 1 - (1 - u) * (1 - u);
    case "ease_in_out": return u * u * (3 - 2 * u);
    default: throw new Error(`easing must be one of ${EASINGS.join(", ")}, got ${name}`);
  }
}

/** The crop at eased progress e: geometric size, fixed zoom anchor (camera/path.py rects_at). */
export function cropAt(start, end, e) {
  const out = {};
  for (const [p, l] of [["x", "w"], ["y", "h"]]) {
    const logK = Math.log(end[l] / start[l]);
    out[l] = start[l] * Math.exp(e * logK);
    const frac = Math.abs(logK) < 1e-12 ? e : Math.expm1(e * logK) / Math.expm1(logK);
    out[p] = start[p] + (end[p] - start[p]) * frac;
  }
  out.w = Math.min(out.w, 1);
  out.h = Math.min(out.h, 1);
  return clampInside(out);
}

/** The crop shown at frame i of n (frame 0 = start, frame n-1 = end). */
export function frameCrop(start, end, easing, i, n) {
  const t = n <= 1 ? 0 : i / (n - 1);
  return cropAt(start, end, ease(easing, t));
}

// --------------------------------------------------------------------------- values

/** Round to 1e-6 for the widgets, keeping the crop inside the image and w, h > 0. */
export function roundCrop(c) {
  const r = (v) => Math.round(v * 1e6) / 1e6;
  const w = Math.max(1e-6, Math.min(1, r(c.w)));
  const h = Math.max(1e-6, Math.min(1, r(c.h)));
  let x = Math.max(0, r(c.x));
  let y = Math.max(0, r(c.y));
  if (x + w > 1) x = r(1 - w);
  if (y + h > 1) y = r(1 - h);
  return { x, y, w, h };
}

/** The crop in keyframe pixels, rounded for display. */
export function cropPixels(c, iw, ih) {
  return { x: Math.round(c.x * iw), y: Math.round(c.y * ih), w: Math.round(c.w * iw), h: Math.round(c.h * ih) };
}
