"""models.lock.json covers every weight file any released workflow loads."""

from __future__ import annotations

from comfy_vidgen.models import load_lock
from comfy_vidgen.workflow_graph import list_workflows, load_workflow

#: (loader node, input) -> the ComfyUI models folder it lists
LOADERS = {
    ("ImageOnlyCheckpointLoader", "ckpt_name"): "checkpoints",
    ("CheckpointLoaderSimple", "ckpt_name"): "checkpoints",
    ("UNETLoader", "unet_name"): "diffusion_models",
    ("CLIPLoader", "clip_name"): "text_encoders",
    ("VAELoader", "vae_name"): "vae",
    ("CLIPVisionLoader", "clip_name"): "clip_vision",
    ("LoraLoaderModelOnly", "lora_name"): "loras",
    ("RIFEInterpolate", "model"): "rife",
}


def test_every_model_file_of_every_workflow_is_locked() -> None:
    lock = load_lock()
    by_file = {(m.folder, m.filename): m for m in lock.models}
    seen = 0
    for ref in list_workflows():
        for nid, node in load_workflow(ref).api.items():
            for (ctype, inp), folder in LOADERS.items():
                if node["class_type"] != ctype:
                    continue
                filename = node["inputs"][inp]
                entry = by_file.get((folder, filename))
                assert entry is not None, (
                    f"{ref} node {nid}: {folder}/{filename} is not in models.lock.json"
                )
                assert ref in entry.used_by, f"{entry.name}.used_by lacks {ref}"
                seen += 1
    assert seen >= 15


def test_every_entry_is_pinned_or_says_why() -> None:
    for m in load_lock().models:
        assert m.sha256 or (m.sha256_missing_reason and len(m.sha256_missing_reason) > 20), m.name
        assert m.license and m.sources, m.name
        assert all(s.url or s.package for s in m.sources), m.name
