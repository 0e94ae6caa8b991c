// Unit tests of the editor's geometry (node --test). Cross-checks against the Python
// rules on the same cases live in tests/test_editor.py (through geometry_cli.mjs).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import {
  ASPECT_TOLERANCE, MOTION_TYPES, conformToMotion, cropAspect, cropAt, ease, fitAspect,
  frameCrop, inferMotion, maxCropWidth, motionError, moveCrop, resizeCrop, roundCrop,
} from "../../comfy_vidgen/web/camera_geometry.js";

const CASES = JSON.parse(readFileSync(new URL("./motion_cases.json", import.meta.url))).cases;
// a real photo size (skimage coffee is 600x400) and two output sizes
const SIZES = [[600, 400, 1024, 576], [600, 400, 512, 512], [4000, 3000, 832, 480], [1080, 1920, 1024, 576]];
const inside = (c) => c.x >= -1e-12 && c.y >= -1e-12 && c.x + c.w <= 1 + 1e-9 && c.y + c.h <= 1 + 1e-9 && c.w > 0 && c.h > 0;
const aspectOk = (c, iw, ih, ow, oh) => Math.abs(cropAspect(c, iw, ih) / (ow / oh) - 1) <= ASPECT_TOLERANCE;

// deterministic pseudo-random numbers (mulberry32) so failures reproduce
function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function randomCrop(r, iw, ih, ow, oh) {
  return fitAspect({ x: r(), y: r(), w: 0.05 + 0.95 * r(), h: 0.1 }, iw, ih, ow, oh);
}

test("motionError: the documented rules on clear cases", () => {
  const full = { x: 0, y: 0, w: 1, h: 1 };
  const half = { x: 0.25, y: 0.25, w: 0.5, h: 0.5 };
  assert.equal(motionError("zoom_in", full, half), null);
  assert.match(motionError("zoom_in", half, full), /end crop smaller/);
  assert.equal(motionError("zoom_out", half, full), null);
  assert.equal(motionError("dolly_out", half, full), null);
  assert.match(motionError("static", full, half), /identical/);
  assert.equal(motionError("static", half, { ...half }), null);
  const left = { x: 0, y: 0.25, w: 0.5, h: 0.5 };
  const right = { x: 0.4, y: 0.25, w: 0.5, h: 0.5 };
  assert.equal(motionError("pan_right", left, right), null);
  assert.match(motionError("pan_left", left, right), /leftward/);
  assert.match(motionError("tilt_down", left, right), /downward/);
  assert.match(motionError("pan_right", left, { ...right, w: 0.6, h: 0.6 }), /same size/);
  assert.equal(motionError("custom", left, { x: 0, y: 0, w: 0.9, h: 0.2 }), null);
  assert.match(motionError("spin", left, right), /unknown motion/);
});

test("inferMotion keeps a consistent choice and otherwise names the move", () => {
  for (const c of CASES) {
    const got = inferMotion(c.start, c.end, c.motion);
    assert.equal(motionError(got, c.start, c.end), null, `${c.name} -> ${got}`);
    if (motionError(c.motion, c.start, c.end) === null) assert.equal(got, c.motion, c.name);
  }
  const s = { x: 0, y: 0, w: 0.5, h: 0.5 };
  assert.equal(inferMotion(s, { x: 0.1, y: 0.1, w: 0.3, h: 0.3 }, "pan_left"), "zoom_in");
  assert.equal(inferMotion(s, { x: 0.1, y: 0.1, w: 0.3, h: 0.3 }, "dolly_out"), "dolly_in");
  assert.equal(inferMotion(s, { x: 0.3, y: 0, w: 0.5, h: 0.5 }, "zoom_in"), "pan_right");
  assert.equal(inferMotion(s, { x: 0, y: 0.3, w: 0.5, h: 0.5 }, "static"), "tilt_down");
  assert.equal(inferMotion(s, { ...s }, "zoom_out"), "static");
  assert.equal(inferMotion(s, { x: 0.2, y: 0, w: 0.7, h: 0.7 }, "custom"), "custom");
});

test("conformToMotion makes every motion type hold, inside the image, aspect kept", () => {
  const r = rng(7);
  for (const [iw, ih, ow, oh] of SIZES) {
    for (let i = 0; i < 60; i++) {
      const start = randomCrop(r, iw, ih, ow, oh);
      const end = randomCrop(r, iw, ih, ow, oh);
      for (const m of MOTION_TYPES) {
        const out = conformToMotion(m, start, end, iw, ih, ow, oh);
        const s = roundCrop(out.start);
        const e = roundCrop(out.end);
        assert.equal(motionError(m, s, e), null, `${m} ${JSON.stringify(out)}`);
        for (const c of [s, e]) {
          assert.ok(inside(c), `${m} leaves the image: ${JSON.stringify(c)}`);
          assert.ok(aspectOk(c, iw, ih, ow, oh), `${m} aspect ${cropAspect(c, iw, ih)} vs ${ow / oh}`);
        }
        if (motionError(m, start, end) === null) assert.deepEqual(out, { start, end });
      }
    }
  }
});

test("resizeCrop locks the output aspect, keeps the opposite corner and stays inside", () => {
  const r = rng(11);
  for (const [iw, ih, ow, oh] of SIZES) {
    for (let i = 0; i < 200; i++) {
      const c = randomCrop(r, iw, ih, ow, oh);
      const corner = ["nw", "ne", "sw", "se"][i % 4];
      const out = resizeCrop(c, corner, r() * 1.4 - 0.2, r() * 1.4 - 0.2, iw, ih, ow, oh);
      assert.ok(inside(out), JSON.stringify({ c, corner, out }));
      assert.ok(aspectOk(roundCrop(out), iw, ih, ow, oh));
      const fixedX = corner.includes("w") ? c.x + c.w : c.x;
      const fixedY = corner.includes("n") ? c.y + c.h : c.y;
      const gotX = corner.includes("w") ? out.x + out.w : out.x;
      const gotY = corner.includes("n") ? out.y + out.h : out.y;
      assert.ok(Math.abs(gotX - fixedX) < 1e-9 && Math.abs(gotY - fixedY) < 1e-9, "anchor moved");
    }
  }
  // dragging the south-east corner of a full-height crop outward cannot grow it
  const [iw, ih, ow, oh] = SIZES[0];
  const full = fitAspect({ x: 0, y: 0, w: 1, h: 1 }, iw, ih, ow, oh);
  assert.ok(Math.abs(full.w - maxCropWidth(iw, ih, ow, oh)) < 1e-12);
  const grown = resizeCrop(full, "se", 2, 2, iw, ih, ow, oh);
  assert.ok(grown.w <= full.w + 1e-12);
});

test("moveCrop clamps to the image without changing the size", () => {
  const c = { x: 0.5, y: 0.5, w: 0.4, h: 0.3 };
  assert.deepEqual(moveCrop(c, 0.5, 0.5), { x: 0.6, y: 0.7, w: 0.4, h: 0.3 });
  assert.deepEqual(moveCrop(c, -1, -1), { x: 0, y: 0, w: 0.4, h: 0.3 });
  const m = moveCrop(c, 0.05, -0.1);
  assert.ok(Math.abs(m.x - 0.55) < 1e-12 && Math.abs(m.y - 0.4) < 1e-12);
});

test("easing and path: endpoints exact, monotone edges, fixed zoom anchor", () => {
  for (const name of ["linear", "ease_in", "ease_out", "ease_in_out"]) {
    assert.equal(ease(name, 0), 0);
    assert.equal(ease(name, 1), 1);
    let prev = -1;
    for (let i = 0; i <= 20; i++) {
      const v = ease(name, i / 20);
      assert.ok(v >= prev);
      prev = v;
    }
  }
  assert.throws(() => ease("bounce", 0.5), /easing must be one of/);
  const start = { x: 0, y: 0, w: 1, h: 1 };
  const end = { x: 0.5, y: 0.1, w: 0.4, h: 0.4 };
  const frames = Array.from({ length: 120 }, (_, i) => frameCrop(start, end, "ease_in_out", i, 120));
  assert.deepEqual(frames[0], start);
  for (const k of ["x", "y", "w", "h"]) assert.ok(Math.abs(frames[119][k] - end[k]) < 1e-12);
  // the anchor: the image point at the same relative place in start and end crops
  const ax = (end.x * start.w - start.x * end.w) / (start.w - end.w);
  for (const f of frames) {
    const rel = (ax - f.x) / f.w;
    assert.ok(Math.abs(rel - (ax - start.x) / start.w) < 1e-9);
    assert.ok(inside(f));
  }
  // equal sizes: the centre moves linearly in eased time
  const mid = cropAt({ x: 0, y: 0.2, w: 0.5, h: 0.5 }, { x: 0.4, y: 0.2, w: 0.5, h: 0.5 }, 0.5);
  assert.ok(Math.abs(mid.x - 0.2) < 1e-12);
});

test("roundCrop keeps crops inside the image at 1e-6", () => {
  const r = rng(3);
  for (let i = 0; i < 500; i++) {
    const w = r();
    const c = roundCrop({ x: 1 - w, y: r() * 0.5, w, h: 0.5 });
    assert.ok(inside(c), JSON.stringify(c));
  }
});
