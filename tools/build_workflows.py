"""Author the versioned workflows once, in both formats, from one description.

    python tools/build_workflows.py            # writes missing workflows/<name>/v<N>/
                                               # and refreshes example_workflows/
    python tools/build_workflows.py --check    # fails if a committed file differs

Each graph below is written once; the API form (what the orchestrator submits) and the
UI form (what artists open in ComfyUI: nodes with positions, typed slots, links and
widgets_values in the front end's widget order) are both generated from it using the
committed /object_info snapshot. A released version is immutable: this tool never
overwrites an existing version unless told to with --force, and `vidgen workflow
lint` proves the two files still describe the same graph. Then each workflow's newest
version is copied into example_workflows/ (ComfyUI's template browser) with a thumbnail
(comfy_vidgen/workflow_examples.py), from whatever versions workflows/ holds.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from comfy_vidgen import workflow_examples
from comfy_vidgen.manifest_loading import INLINE_CHOICE
from comfy_vidgen.workflow_graph import _input_decls, is_widget, load_object_info

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Link:
    node: int
    output: str


@dataclass
class Node:
    id: int
    type: str
    col: int
    row: int
    inputs: dict[str, Any] = field(default_factory=dict)
    title: str | None = None


def L(node: int, output: str) -> Link:
    return Link(node, output)


# --------------------------------------------------------------------------- graphs
# Columns/rows only place nodes for artists; they do not change the graph.

ML = 1  # ManifestLoader is node 1 in every workflow


@dataclass(frozen=True)
class Release:
    """What differs between released versions of the same graph.

    @1 of the first five workflows: ManifestLoader declares nothing; the encode sets
    quality/bit depth as literals. From @2 on, and in every workflow first released
    after the declaration existed (``SELF_DECLARING_FROM_1``), ManifestLoader
    declares the workflow id (a manifest of another workflow is refused at /prompt
    validation) and every encode setting is a link.
    """

    ref: str

    @property
    def version(self) -> int:
        return int(self.ref.rsplit("@", 1)[1])

    @property
    def linked(self) -> bool:
        return self.version >= 2 or self.ref.rsplit("@", 1)[0] in SELF_DECLARING_FROM_1

    @property
    def timing(self) -> str | None:
        """RIFEInterpolate's timing: none in the @1 graphs (arbitrary, from before the
        option), midpoint in the @2 graphs, midpoint_gated from the releases after it
        (``GATED_TIMING_FROM``)."""
        name = self.ref.rsplit("@", 1)[0]
        if self.version >= GATED_TIMING_FROM.get(name, 3):
            return "midpoint_gated"
        return "midpoint" if self.linked else None


#: workflows released after @2 introduced the declaration: self-declaring from @1
SELF_DECLARING_FROM_1 = frozenset({"wan22_i2v_a14b_4step"})
#: first version with timing midpoint_gated (3 for the first five workflows)
GATED_TIMING_FROM = {"wan22_i2v_a14b_4step": 2}


def _loader(rel: Release) -> Node:
    inputs: dict[str, Any] = {"manifest": INLINE_CHOICE, "manifest_json": ""}
    if rel.linked:
        inputs["workflow"] = rel.ref
    return Node(ML, "ManifestLoader", 0, 0, inputs)


def _conditioner(rel: Release, nid: int = 2) -> Node:
    """The camera path from the manifest, rendered at model resolution. @1 connects the
    manifest object (whose camera replaces the crop widgets); from @2 the path itself is
    a link from ManifestLoader.camera (the widgets are the editor's view of it)."""
    source = {"camera": L(ML, "camera")} if rel.linked else {}
    return Node(
        nid,
        "CameraPathConditioner",
        1,
        0,
        {
            "image": L(ML, "keyframe"),
            "width": L(ML, "width"),
            "height": L(ML, "height"),
            "length": L(ML, "frames"),
            "motion_type": "zoom_in",
            "easing": "ease_in_out",
            "start_x": 0.0,
            "start_y": 0.0,
            "start_w": 1.0,
            "start_h": 1.0,
            "end_x": 0.25,
            "end_y": 0.25,
            "end_w": 0.5,
            "end_h": 0.5,
            **(source or {"manifest": L(ML, "manifest")}),
        },
    )


def _tail(rel: Release, src: Link, first_id: int, col: int) -> list[Node]:
    """RIFE retime to output.frames, then the delivery encode (settings from the manifest)."""
    linked = rel.linked
    return [
        Node(
            first_id,
            "RIFEInterpolate",
            col,
            0,
            {
                "frames": src,
                "target_frames": L(ML, "output_frames"),
                "model": "rife-4.25.pkl",
                "dtype": "auto",
                "batch_size": 0,
                "scene_cut_guard": L(ML, "scene_cut_guard"),
                **({"timing": rel.timing} if rel.timing else {}),
            },
        ),
        Node(
            first_id + 1,
            "NVENCEncode",
            col + 1,
            0,
            {
                "images": L(first_id, "frames"),
                "fps": L(ML, "fps"),
                "quality": L(ML, "quality") if linked else 20,
                "bit_depth": L(ML, "bit_depth") if linked else "10",
                "encoder": "auto",
                "filename_prefix": "vidgen",
                "job_id": "",
                "manifest": L(ML, "manifest"),
            },
        ),
    ]


def _sampler(
    nid: int, model: Link, pos: Link, neg: Link, latent: Link, sampler: str, scheduler: str
) -> Node:
    return Node(
        nid,
        "KSampler",
        3,
        0,
        {
            "model": model,
            "seed": L(ML, "seed"),
            "steps": L(ML, "steps"),
            "cfg": L(ML, "cfg"),
            "sampler_name": sampler,
            "scheduler": scheduler,
            "positive": pos,
            "negative": neg,
            "latent_image": latent,
            "denoise": 1.0,
        },
    )


def _prompts(pos_id: int, clip: Link) -> list[Node]:
    return [
        Node(pos_id, "CLIPTextEncode", 2, 1, {"text": L(ML, "prompt"), "clip": clip}, "Prompt"),
        Node(
            pos_id + 1,
            "CLIPTextEncode",
            2,
            2,
            {"text": L(ML, "negative_prompt"), "clip": clip},
            "Negative prompt",
        ),
    ]


def camera_only(rel: Release) -> list[Node]:
    return [
        _loader(rel),
        _conditioner(rel),
        Node(
            3,
            "VirtualCamera",
            2,
            0,
            {
                "images": L(ML, "keyframe"),
                "camera_path": L(2, "camera_path"),
                "width": L(ML, "width"),
                "height": L(ML, "height"),
                "frames": L(ML, "frames"),
            },
        ),
        *_tail(rel, L(3, "frames"), 4, 3),
    ]


def svd_xt(rel: Release) -> list[Node]:
    return [
        _loader(rel),
        _conditioner(rel),
        Node(3, "ImageOnlyCheckpointLoader", 0, 1, {"ckpt_name": "svd_xt_1_1.safetensors"}),
        Node(
            4, "VideoLinearCFGGuidance", 1, 1, {"model": L(3, "MODEL"), "min_cfg": L(ML, "min_cfg")}
        ),
        Node(
            5,
            "SVD_img2vid_Conditioning",
            2,
            0,
            {
                "clip_vision": L(3, "CLIP_VISION"),
                "init_image": L(2, "start_image"),
                "vae": L(3, "VAE"),
                "width": L(ML, "width"),
                "height": L(ML, "height"),
                "video_frames": L(ML, "frames"),
                "motion_bucket_id": L(ML, "motion_bucket_id"),
                "fps": L(ML, "model_fps_int"),
                "augmentation_level": L(ML, "noise_aug_strength"),
            },
        ),
        _sampler(
            6, L(4, "MODEL"), L(5, "positive"), L(5, "negative"), L(5, "latent"), "euler", "karras"
        ),
        Node(7, "VAEDecode", 4, 0, {"samples": L(6, "LATENT"), "vae": L(3, "VAE")}),
        *_tail(rel, L(7, "IMAGE"), 8, 5),
    ]


def wan22_ti2v_5b(rel: Release) -> list[Node]:
    return [
        _loader(rel),
        _conditioner(rel),
        Node(
            3,
            "UNETLoader",
            0,
            1,
            {"unet_name": "wan2.2_ti2v_5B_fp16.safetensors", "weight_dtype": "default"},
        ),
        Node(
            4,
            "CLIPLoader",
            0,
            2,
            {
                "clip_name": "umt5_xxl_fp8_e4m3fn_scaled.safetensors",
                "type": "wan",
                "device": "default",
            },
        ),
        Node(5, "VAELoader", 0, 3, {"vae_name": "wan2.2_vae.safetensors"}),
        Node(6, "ModelSamplingSD3", 1, 1, {"model": L(3, "MODEL"), "shift": 8.0}),
        *_prompts(7, L(4, "CLIP")),
        Node(
            9,
            "Wan22ImageToVideoLatent",
            2,
            0,
            {
                "vae": L(5, "VAE"),
                "width": L(ML, "width"),
                "height": L(ML, "height"),
                "length": L(ML, "frames"),
                "batch_size": 1,
                "start_image": L(2, "start_image"),
            },
        ),
        _sampler(
            10,
            L(6, "MODEL"),
            L(7, "CONDITIONING"),
            L(8, "CONDITIONING"),
            L(9, "LATENT"),
            "uni_pc",
            "simple",
        ),
        Node(11, "VAEDecode", 4, 0, {"samples": L(10, "LATENT"), "vae": L(5, "VAE")}),
        *_tail(rel, L(11, "IMAGE"), 12, 5),
    ]


def wan21_fun_camera(rel: Release) -> list[Node]:
    return [
        _loader(rel),
        _conditioner(rel),
        Node(
            3,
            "UNETLoader",
            0,
            1,
            {
                "unet_name": "wan2.1_fun_camera_v1.1_1.3B_bf16.safetensors",
                "weight_dtype": "default",
            },
        ),
        Node(
            4,
            "CLIPLoader",
            0,
            2,
            {
                "clip_name": "umt5_xxl_fp8_e4m3fn_scaled.safetensors",
                "type": "wan",
                "device": "default",
            },
        ),
        Node(5, "VAELoader", 0, 3, {"vae_name": "wan_2.1_vae.safetensors"}),
        Node(6, "CLIPVisionLoader", 0, 4, {"clip_name": "clip_vision_h.safetensors"}),
        Node(
            7,
            "CLIPVisionEncode",
            1,
            2,
            {"clip_vision": L(6, "CLIP_VISION"), "image": L(2, "start_image"), "crop": "none"},
        ),
        *_prompts(8, L(4, "CLIP")),
        Node(
            10,
            "WanCameraImageToVideo",
            2,
            0,
            {
                "positive": L(8, "CONDITIONING"),
                "negative": L(9, "CONDITIONING"),
                "vae": L(5, "VAE"),
                "width": L(ML, "width"),
                "height": L(ML, "height"),
                "length": L(ML, "frames"),
                "batch_size": 1,
                "clip_vision_output": L(7, "CLIP_VISION_OUTPUT"),
                "start_image": L(2, "start_image"),
                "camera_conditions": L(2, "camera_embedding"),
            },
        ),
        Node(11, "ModelSamplingSD3", 1, 1, {"model": L(3, "MODEL"), "shift": 5.0}),
        _sampler(
            12,
            L(11, "MODEL"),
            L(10, "positive"),
            L(10, "negative"),
            L(10, "latent"),
            "uni_pc",
            "simple",
        ),
        Node(13, "VAEDecode", 4, 0, {"samples": L(12, "LATENT"), "vae": L(5, "VAE")}),
        *_tail(rel, L(13, "IMAGE"), 14, 5),
    ]


def ltxv_i2v(rel: Release) -> list[Node]:
    return [
        _loader(rel),
        _conditioner(rel),
        Node(3, "CheckpointLoaderSimple", 0, 1, {"ckpt_name": "ltx-video-2b-v0.9.5.safetensors"}),
        Node(
            4,
            "CLIPLoader",
            0,
            2,
            {"clip_name": "t5xxl_fp16.safetensors", "type": "ltxv", "device": "default"},
        ),
        *_prompts(5, L(4, "CLIP")),
        Node(
            7,
            "LTXVImgToVideo",
            2,
            0,
            {
                "positive": L(5, "CONDITIONING"),
                "negative": L(6, "CONDITIONING"),
                "vae": L(3, "VAE"),
                "image": L(2, "start_image"),
                "width": L(ML, "width"),
                "height": L(ML, "height"),
                "length": L(ML, "frames"),
                "batch_size": 1,
                "strength": 1.0,
            },
        ),
        Node(
            8,
            "LTXVConditioning",
            2,
            1,
            {
                "positive": L(7, "positive"),
                "negative": L(7, "negative"),
                "frame_rate": L(ML, "model_fps"),
            },
        ),
        _sampler(
            9, L(3, "MODEL"), L(8, "positive"), L(8, "negative"), L(7, "latent"), "euler", "simple"
        ),
        Node(10, "VAEDecode", 4, 0, {"samples": L(9, "LATENT"), "vae": L(3, "VAE")}),
        *_tail(rel, L(10, "IMAGE"), 11, 5),
    ]


def wan22_i2v_a14b_4step(rel: Release) -> list[Node]:
    """ComfyUI's official Wan 2.2 I2V A14B template, 4-step LoRA group: per expert a
    UNETLoader -> LoraLoaderModelOnly -> ModelSamplingSD3; the high-noise expert
    samples [0, split_step) and returns its leftover noise, the low-noise expert
    continues from split_step to the end without adding noise."""

    def expert(nid: int, row: int, unet: str, lora: str) -> list[Node]:
        return [
            Node(nid, "UNETLoader", 0, row, {"unet_name": unet, "weight_dtype": "default"}),
            Node(
                nid + 1,
                "LoraLoaderModelOnly",
                1,
                row,
                {
                    "model": L(nid, "MODEL"),
                    "lora_name": lora,
                    "strength_model": L(ML, "lora_strength"),
                },
            ),
            Node(
                nid + 2,
                "ModelSamplingSD3",
                2,
                row,
                {"model": L(nid + 1, "MODEL"), "shift": L(ML, "shift")},
            ),
        ]

    def stage(nid: int, row: int, model: Link, latent: Link, first: bool) -> Node:
        return Node(
            nid,
            "KSamplerAdvanced",
            4,
            row,
            {
                "model": model,
                "add_noise": "enable" if first else "disable",
                "noise_seed": L(ML, "seed"),
                "steps": L(ML, "steps"),
                "cfg": L(ML, "cfg"),
                "sampler_name": "euler",
                "scheduler": "simple",
                "positive": L(12, "positive"),
                "negative": L(12, "negative"),
                "latent_image": latent,
                # the schedule's outer ends are literals (workflow_graph.SCHEDULE_ENDS)
                "start_at_step": 0 if first else L(ML, "split_step"),
                "end_at_step": L(ML, "split_step") if first else 10000,
                "return_with_leftover_noise": "enable" if first else "disable",
            },
            "High-noise expert" if first else "Low-noise expert",
        )

    return [
        _loader(rel),
        _conditioner(rel),
        *expert(
            3,
            1,
            "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors",
            "wan2.2_i2v_lightx2v_4steps_lora_v1_high_noise.safetensors",
        ),
        *expert(
            6,
            2,
            "wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors",
            "wan2.2_i2v_lightx2v_4steps_lora_v1_low_noise.safetensors",
        ),
        Node(
            9,
            "CLIPLoader",
            0,
            3,
            {
                "clip_name": "umt5_xxl_fp8_e4m3fn_scaled.safetensors",
                "type": "wan",
                "device": "default",
            },
        ),
        *_prompts(10, L(9, "CLIP")),
        Node(
            12,
            "WanImageToVideo",
            3,
            0,
            {
                "positive": L(10, "CONDITIONING"),
                "negative": L(11, "CONDITIONING"),
                "vae": L(15, "VAE"),
                "width": L(ML, "width"),
                "height": L(ML, "height"),
                "length": L(ML, "frames"),
                "batch_size": 1,
                "start_image": L(2, "start_image"),
            },
        ),
        stage(13, 1, L(5, "MODEL"), L(12, "latent"), first=True),
        stage(14, 2, L(8, "MODEL"), L(13, "LATENT"), first=False),
        Node(15, "VAELoader", 0, 4, {"vae_name": "wan_2.1_vae.safetensors"}),
        Node(16, "VAEDecode", 5, 0, {"samples": L(14, "LATENT"), "vae": L(15, "VAE")}),
        *_tail(rel, L(16, "IMAGE"), 17, 6),
    ]


BUILDERS = (camera_only, svd_xt, wan22_ti2v_5b, wan21_fun_camera, ltxv_i2v)
#: every released (name, version); @1 graphs stay byte-identical (audits name their sha256)
GRAPHS = {
    **{(b.__name__, v): b for b in BUILDERS for v in (1, 2, 3)},
    **{("wan22_i2v_a14b_4step", v): wan22_i2v_a14b_4step for v in (1, 2)},
}
#: refs whose UI form was rendered against older node definitions (ManifestLoader has
#: since gained outputs and the optional ``workflow`` widget): the committed file is
#: kept as released; --check compares only their API form
UI_RENDERED_EARLIER = frozenset(f"{b.__name__}@1" for b in BUILDERS)
#: ManifestLoader outputs that existed when a UI form was rendered: the @2 forms
#: show the 21 of their release; rows appended since (split_step, shift,
#: lora_strength) are not drawn there, so those released files stay byte-identical.
#: Links address outputs by slot, so the missing tail changes nothing they run.
LOADER_OUTPUTS_AT_RELEASE = {f"{b.__name__}@2": 21 for b in BUILDERS}


# --------------------------------------------------------------------------- rendering


def _slot(info: dict[str, Any], output: str) -> int:
    names = info.get("output_name") or info["output"]
    if output not in names:
        raise KeyError(f"{info.get('name')} has no output {output!r} (has {names})")
    return list(names).index(output)


def to_api(nodes: list[Node], oi: dict[str, Any]) -> dict[str, Any]:
    api: dict[str, Any] = {}
    for n in sorted(nodes, key=lambda n: n.id):
        inputs: dict[str, Any] = {}
        for name, value in n.inputs.items():
            if isinstance(value, Link):
                src = next(x for x in nodes if x.id == value.node)
                inputs[name] = [str(value.node), _slot(oi[src.type], value.output)]
            else:
                inputs[name] = value
        api[str(n.id)] = {"class_type": n.type, "inputs": inputs}
        if n.title:
            api[str(n.id)]["_meta"] = {"title": n.title}
    return api


def to_ui(nodes: list[Node], oi: dict[str, Any]) -> dict[str, Any]:
    links: list[list[Any]] = []
    ui_nodes = []
    out_links: dict[tuple[int, int], list[int]] = {}
    pending: list[tuple[Node, list[dict[str, Any]], list[Any]]] = []
    for n in sorted(nodes, key=lambda n: n.id):
        info = oi[n.type]
        slots: list[dict[str, Any]] = []
        widgets: list[Any] = []
        for name, typ, opts in _input_decls(info):
            value = n.inputs.get(name)
            widget = is_widget(typ, opts)
            type_name = "COMBO" if isinstance(typ, list) else typ
            if widget:
                literal = (
                    value if not isinstance(value, Link) else opts.get("default", _default_for(typ))
                )
                widgets.append(literal)
                if opts.get("control_after_generate"):
                    widgets.append("fixed")
                if isinstance(value, Link):
                    slots.append(
                        {"name": name, "type": type_name, "widget": {"name": name}, "link": value}
                    )
            else:
                slots.append({"name": name, "type": type_name, "link": value})
        pending.append((n, slots, widgets))
    link_id = 0
    for n, slots, _ in pending:
        for dst_slot, s in enumerate(slots):
            v = s["link"]
            if isinstance(v, Link):
                link_id += 1
                src = next(x for x in nodes if x.id == v.node)
                src_slot = _slot(oi[src.type], v.output)
                links.append([link_id, v.node, src_slot, n.id, dst_slot, s["type"]])
                out_links.setdefault((v.node, src_slot), []).append(link_id)
                s["link"] = link_id
            else:
                s["link"] = None
    order = {n.id: i for i, n in enumerate(sorted(nodes, key=lambda n: (n.col, n.row)))}
    for n, slots, widgets in pending:
        info = oi[n.type]
        outputs = []
        for i, (typ, name) in enumerate(
            zip(info["output"], info.get("output_name") or info["output"], strict=True)
        ):
            outputs.append(
                {"name": name, "type": typ, "links": out_links.get((n.id, i), []), "slot_index": i}
            )
        ui_nodes.append(
            {
                "id": n.id,
                "type": n.type,
                "pos": [40 + 380 * n.col, 60 + 300 * n.row],
                "size": [340, 120 + 26 * (len(slots) + len(widgets))],
                "flags": {},
                "order": order[n.id],
                "mode": 0,
                "inputs": slots,
                "outputs": outputs,
                "properties": {"Node name for S&R": n.type},
                "widgets_values": widgets,
                **({"title": n.title} if n.title else {}),
            }
        )
    name_space = uuid.UUID("6f1d2c64-3b4e-4a6f-9d0e-9a6b5b1f3c21")
    return {
        "id": str(uuid.uuid5(name_space, json.dumps([n.id for n in nodes]))),
        "revision": 0,
        "last_node_id": max(n.id for n in nodes),
        "last_link_id": link_id,
        "nodes": ui_nodes,
        "links": links,
        "groups": [],
        "config": {},
        "extra": {"ds": {"scale": 1.0, "offset": [0, 0]}},
        "version": 0.4,
    }


def _default_for(typ: Any) -> Any:
    return {"INT": 0, "FLOAT": 0.0, "STRING": "", "BOOLEAN": False}.get(
        typ if isinstance(typ, str) else "", ""
    )


def as_released(oi: dict[str, Any], ref: str) -> dict[str, Any]:
    """The snapshot as a version's UI form was rendered: ManifestLoader's outputs cut
    to those it had then (``LOADER_OUTPUTS_AT_RELEASE``)."""
    n = LOADER_OUTPUTS_AT_RELEASE.get(ref)
    if n is None:
        return oi
    loader = dict(oi["ManifestLoader"])
    for key in ("output", "output_name", "output_is_list", "output_tooltips"):
        if key in loader:
            loader[key] = list(loader[key])[:n]
    return {**oi, "ManifestLoader": loader}


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--check", action="store_true", help="compare instead of writing")
    ap.add_argument(
        "--force", action="store_true", help="overwrite existing versions (never for released ones)"
    )
    args = ap.parse_args()
    oi = load_object_info()
    status = 0
    for (name, version), build in GRAPHS.items():
        folder = ROOT / "workflows" / name / f"v{version}"
        nodes = build(Release(f"{name}@{version}"))
        files = {
            "api.json": json.dumps(to_api(nodes, oi), indent=2) + "\n",
            "workflow.json": json.dumps(
                to_ui(nodes, as_released(oi, f"{name}@{version}")), indent=2
            )
            + "\n",
        }
        for fname, text in files.items():
            path = folder / fname
            if (
                args.check
                and fname == "workflow.json"
                and f"{name}@{version}" in UI_RENDERED_EARLIER
            ):
                continue  # the lint proves it still converts to exactly api.json
            if args.check:
                if not path.is_file() or path.read_text() != text:
                    print(f"differs: {path}")
                    status = 1
            elif args.force or not path.exists():
                folder.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
                print(f"wrote {path}")
    if args.check:
        for problem in workflow_examples.check():
            print(f"differs: {problem}")
            status = 1
    else:
        for path in workflow_examples.write():
            print(f"{'wrote' if path.exists() else 'removed'} {path}")
    return status


if __name__ == "__main__":
    sys.exit(main())
