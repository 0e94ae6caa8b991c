// Evaluate the editor's geometry functions on a JSON request (stdin) for the Python parity tests.
// Request: {"motion": [{motion, start, end}], "paths": [{start, end, easing, n}],
//           "conform": [{motion, start, end, iw, ih, ow, oh}], "infer": [{start, end, previous}]}
import { readFileSync } from "node:fs";
import { conformToMotion, frameCrop, inferMotion, motionError } from "../../comfy_vidgen/web/camera_geometry.js";

const req = JSON.parse(readFileSync(0, "utf8"));
const out = {
  motion: (req.motion || []).map((c) => motionError(c.motion, c.start, c.end)),
  paths: (req.paths || []).map((p) => Array.from({ length: p.n }, (_, i) => frameCrop(p.start, p.end, p.easing, i, p.n))),
  conform: (req.conform || []).map((c) => conformToMotion(c.motion, c.start, c.end, c.iw, c.ih, c.ow, c.oh)),
  infer: (req.infer || []).map((c) => inferMotion(c.start, c.end, c.previous)),
};
process.stdout.write(JSON.stringify(out));
