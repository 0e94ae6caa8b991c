"""The manifest contract: strict validation, stable identity, confinement to the input root."""

from __future__ import annotations

import copy
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comfy_vidgen import manifest as M
from comfy_vidgen.fsutil import sha256_file


def good() -> dict[str, Any]:
    """A valid camera_only manifest for a 600x400 keyframe (the coffee photo)."""
    return {
        "schema": M.SCHEMA_ID,
        "id": "coffee-001",
        "keyframe": {"path": "coffee.jpg", "sha256": "a" * 64, "width": 600, "height": 400},
        "camera": {
            "motion_type": "zoom_in",
            "start_frame": {"x": 0.0, "y": 0.078125, "w": 1.0, "h": 0.84375},
            "end_frame": {"x": 0.3, "y": 0.3, "w": 0.4, "h": 0.3375},
            "easing": "ease_in_out",
        },
        "output": {"width": 1024, "height": 576, "fps": 30, "frames": 120},
        "generation": {"workflow": "camera_only@1", "seed": 42, "frames": 25},
        "interpolation": {"model": "rife-4.25", "scene_cut_guard": True},
    }


def svd() -> dict[str, Any]:
    d = good()
    d["generation"] = {
        "workflow": "svd_xt@1",
        "seed": 1,
        "frames": 25,
        "steps": 20,
        "cfg": 2.5,
        "min_cfg": 1.0,
        "motion_bucket_id": 127,
        "noise_aug_strength": 0.02,
    }
    return d


def errors_of(data: Any) -> list[M.FieldError]:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    with pytest.raises(M.ManifestError) as exc:
        M.parse_manifest(raw)
    assert exc.value.errors, "a refusal must say why"
    return exc.value.errors


def with_(path: str, value: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    d = copy.deepcopy(base or good())
    *parents, leaf = path.split(".")
    node = d
    for p in parents:
        node = node[p]
    if value is _DELETE:
        del node[leaf]
    else:
        node[leaf] = value
    return d


_DELETE = object()


def test_valid_manifest_round_trips() -> None:
    m = M.parse_manifest(json.dumps(good()))
    again = M.parse_manifest(M.dumps_pretty(m))
    assert again == m
    assert M.manifest_hash(again) == M.manifest_hash(m)
    assert m.output.bit_depth == 10 and m.interpolation.model == "rife-4.25"


def test_svd_manifest_valid() -> None:
    m = M.parse_manifest(json.dumps(svd()))
    assert m.spec.ref == "svd_xt@1"
    assert m.generation.params()["motion_bucket_id"] == 127


def test_canonical_json_is_sorted_compact_utf8() -> None:
    d = good()
    d["id"] = "café-1".replace("é", "e")
    m = M.parse_manifest(json.dumps(d))
    raw = M.canonical_json(m)
    assert b" " not in raw and b"\n" not in raw
    assert json.loads(raw) == M.manifest_dict(m)

    def sorted_everywhere(obj: Any) -> bool:
        if isinstance(obj, dict):
            return list(obj) == sorted(obj) and all(sorted_everywhere(v) for v in obj.values())
        return True

    # json.loads keeps key order, so this sees the serialised order
    assert sorted_everywhere(json.loads(raw))


def test_golden_hash_is_stable() -> None:
    """A library upgrade that changed the canonical form would re-identify every job."""
    m = M.parse_manifest(json.dumps(good()))
    assert M.canonical_json(m).startswith(
        b'{"camera":{"easing":"ease_in_out","end_frame":{"h":0.3375'
    )
    # for plain floats the form equals Python's sorted, compact json.dumps
    independent = json.dumps(
        M.manifest_dict(m), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()
    assert M.canonical_json(m) == independent
    assert M.manifest_hash(m) == "182f4e5c53918f572480ddecb7e5a316c719a5ab9d1c4dabd52ac6268be29b34"


def test_defaults_do_not_change_identity() -> None:
    explicit = good()
    explicit["output"].update({"codec": "hevc", "quality": 20, "bit_depth": 10})
    explicit["interpolation"] = {"model": "rife-4.25", "scene_cut_guard": True}
    implicit = good()
    del implicit["output"]["fps"]
    h1 = M.manifest_hash(M.parse_manifest(json.dumps(explicit)))
    h2 = M.manifest_hash(M.parse_manifest(json.dumps(implicit)))
    assert h1 == h2


def test_content_change_changes_hash() -> None:
    h1 = M.manifest_hash(M.parse_manifest(json.dumps(good())))
    h2 = M.manifest_hash(M.parse_manifest(json.dumps(with_("generation.seed", 43))))
    assert h1 != h2


def _respell(obj: Any, draw: Any) -> str:
    """Serialise with random key order, whitespace and float spellings."""
    if isinstance(obj, dict):
        items = list(obj.items())
        order = draw(st.permutations(range(len(items))))
        ws = draw(st.sampled_from(["", " ", "\n  ", "\t"]))
        body = ("," + ws).join(
            json.dumps(items[i][0]) + ws + ":" + ws + _respell(items[i][1], draw) for i in order
        )
        return "{" + ws + body + ws + "}"
    if isinstance(obj, float):
        spellings = [repr(obj), f"{obj:.17g}", f"{obj:.17e}"]
        if obj == int(obj):
            spellings += [str(int(obj)), f"{int(obj)}.000", f"{int(obj)}e0"]
        return draw(st.sampled_from(spellings))
    return json.dumps(obj)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.data())
def test_hash_invariant_to_spelling(data: st.DataObject) -> None:
    base = good()
    text = _respell(base, data.draw)
    ref = M.manifest_hash(M.parse_manifest(json.dumps(base)))
    assert M.manifest_hash(M.parse_manifest(text)) == ref


# --------------------------------------------------------------------------- the bad corpus

BAD: list[tuple[str, Any, str]] = [
    # (case name, manifest data or raw bytes, expected error location prefix)
    ("missing schema", with_("schema", _DELETE), "schema"),
    ("other schema version", with_("schema", "comfy-vidgen/manifest@2"), "schema"),
    ("schema wrong type", with_("schema", 1), "schema"),
    ("missing id", with_("id", _DELETE), "id"),
    ("id with space", with_("id", "my shot"), "id"),
    ("id with slash", with_("id", "a/b"), "id"),
    ("id only dots", with_("id", ".."), "id"),
    ("id too long", with_("id", "a" * 129), "id"),
    ("unknown top-level key", with_("extra", 1), "extra"),
    ("unknown nested key", with_("camera.zoom", 2), "camera.zoom"),
    ("keyframe missing", with_("keyframe", _DELETE), "keyframe"),
    ("sha not hex", with_("keyframe.sha256", "z" * 64), "keyframe.sha256"),
    ("sha uppercase", with_("keyframe.sha256", "A" * 64), "keyframe.sha256"),
    ("absolute path", with_("keyframe.path", "/etc/passwd"), "keyframe.path"),
    ("windows absolute path", with_("keyframe.path", "C:/x.jpg"), "keyframe.path"),
    ("traversal path", with_("keyframe.path", "shots/../../x.jpg"), "keyframe.path"),
    ("backslash path", with_("keyframe.path", "shots\\x.jpg"), "keyframe.path"),
    ("nul in path", with_("keyframe.path", "x\x00.jpg"), "keyframe.path"),
    ("keyframe width as string", with_("keyframe.width", "600"), "keyframe.width"),
    ("negative keyframe height", with_("keyframe.height", -400), "keyframe.height"),
    ("width not int", with_("output.width", 1024.0), "output.width"),
    ("width as string", with_("output.width", "1024"), "output.width"),
    ("negative width", with_("output.width", -1024), "output.width"),
    ("odd width", with_("output.width", 1023), "output.width"),
    ("width not multiple of 8", with_("output.width", 1020), "output.width"),
    ("huge height", with_("output.height", 100000), "output.height"),
    ("fps zero", with_("output.fps", 0), "output.fps"),
    ("fps bool", with_("output.fps", True), "output.fps"),
    ("frames too many", with_("output.frames", 100000), "output.frames"),
    ("bit depth 12", with_("output.bit_depth", 12), "output.bit_depth"),
    ("codec h264", with_("output.codec", "h264"), "output.codec"),
    ("seed negative", with_("generation.seed", -1), "generation.seed"),
    ("seed above uint64", with_("generation.seed", 2**64), "generation.seed"),
    ("seed float", with_("generation.seed", 1.5), "generation.seed"),
    ("unknown workflow", with_("generation.workflow", "sora@1"), "generation.workflow"),
    (
        "workflow without version",
        with_("generation.workflow", "camera_only"),
        "generation.workflow",
    ),
    ("key the workflow does not use", with_("generation.steps", 20), "generation.steps"),
    ("required workflow key missing", with_("generation.cfg", _DELETE, svd()), "generation.cfg"),
    ("cfg above workflow bound", with_("generation.cfg", 9.0, svd()), "generation.cfg"),
    ("svd frames above 25", with_("generation.frames", 49, svd()), "generation.frames"),
    ("crop x negative", with_("camera.start_frame.x", -0.1), "camera.start_frame.x"),
    ("crop outside image", with_("camera.end_frame.x", 0.7), "camera.end_frame"),
    ("crop zero width", with_("camera.end_frame.w", 0.0), "camera.end_frame.w"),
    ("crop field missing", with_("camera.end_frame.h", _DELETE), "camera.end_frame.h"),
    ("aspect mismatch", with_("camera.end_frame.h", 0.4), "camera.end_frame"),
    ("zoom_in growing", with_("camera.motion_type", "zoom_out"), "camera"),
    ("static with moving crops", with_("camera.motion_type", "static"), "camera"),
    ("pan_left moving right", with_("camera.motion_type", "pan_left"), "camera"),
    ("unknown motion type", with_("camera.motion_type", "spin"), "camera.motion_type"),
    ("unknown easing", with_("camera.easing", "bounce"), "camera.easing"),
    ("interp model bad chars", with_("interpolation.model", "../rife"), "interpolation.model"),
    (
        "scene guard as string",
        with_("interpolation.scene_cut_guard", "yes"),
        "interpolation.scene_cut_guard",
    ),
    (
        "audio absolute path",
        with_("output.audio", {"path": "/a.wav", "sha256": "b" * 64}),
        "output.audio.path",
    ),
    (
        "gain out of range",
        with_("output.audio", {"path": "a.wav", "sha256": "b" * 64, "gain_db": 99}),
        "output.audio.gain_db",
    ),
    ("NaN", b'{"schema": "comfy-vidgen/manifest@1", "x": NaN}', ""),
    ("Infinity", b'{"schema": "comfy-vidgen/manifest@1", "x": Infinity}', ""),
    (
        "1e309",
        json.dumps(good()).replace('"cfg"', '"c"').replace("0.078125", "1e309").encode(),
        "camera.start_frame.y",
    ),
    ("truncated JSON", json.dumps(good()).encode()[:-20], ""),
    ("not UTF-8", b'{"id": "\xff\xfe"}', ""),
    ("JSON array", b"[1, 2, 3]", ""),
    ("JSON string", b'"manifest"', ""),
    ("empty file", b"", ""),
    (
        "duplicate key",
        json.dumps(good()).replace('"id": "coffee-001"', '"id": "a", "id": "b"').encode(),
        "",
    ),
]


@pytest.mark.parametrize(("case", "data", "loc"), BAD, ids=[c for c, _, _ in BAD])
def test_bad_manifest_refused_naming_the_field(case: str, data: Any, loc: str) -> None:
    errs = errors_of(data)
    locs = [e.loc for e in errs]
    if loc:
        assert any(x == loc or x.startswith(loc + ".") for x in locs), (case, errs)
    for e in errs:
        assert e.msg and isinstance(e.msg, str)


def test_corpus_is_large_enough() -> None:
    assert len(BAD) >= 40


def test_every_error_reported_at_once() -> None:
    d = with_("output.width", 1023)
    d = with_("generation.seed", -5, d)
    d = with_("bogus", 1, d)
    locs = {e.loc for e in errors_of(d)}
    assert {"output.width", "generation.seed", "bogus"} <= locs


def test_workflow_constraints_wan_lengths() -> None:
    wan = good()
    wan["generation"] = {
        "workflow": "wan22_ti2v_5b@1",
        "seed": 3,
        "frames": 120,
        "steps": 30,
        "cfg": 5.0,
        "prompt": "a",
    }
    locs = {e.loc for e in errors_of(wan)}
    assert "generation.frames" in locs  # 4k+1 only
    wan["generation"]["frames"] = 121
    wan["output"]["width"], wan["output"]["height"] = 1024, 576  # multiples of 32
    M.parse_manifest(json.dumps(wan))
    wan["output"]["width"], wan["output"]["height"] = 1000, 560
    locs = {e.loc for e in errors_of(wan)}
    assert "output.width" in locs


@pytest.mark.parametrize(
    ("motion", "start", "end"),
    [
        ("pan_left", (0.4, 0.1, 0.5, 0.5 * 1.5 / (16 / 9)), (0.1, 0.1, 0.5, 0.5 * 1.5 / (16 / 9))),
        ("pan_right", (0.1, 0.1, 0.5, 0.421875), (0.4, 0.1, 0.5, 0.421875)),
        ("tilt_up", (0.2, 0.5, 0.5, 0.421875), (0.2, 0.1, 0.5, 0.421875)),
        ("tilt_down", (0.2, 0.1, 0.5, 0.421875), (0.2, 0.5, 0.5, 0.421875)),
        ("zoom_out", (0.3, 0.3, 0.4, 0.3375), (0.0, 0.078125, 1.0, 0.84375)),
        ("dolly_in", (0.0, 0.078125, 1.0, 0.84375), (0.3, 0.3, 0.4, 0.3375)),
        ("static", (0.1, 0.1, 0.5, 0.421875), (0.1, 0.1, 0.5, 0.421875)),
        ("custom", (0.1, 0.1, 0.5, 0.421875), (0.3, 0.5, 0.4, 0.3375)),
    ],
)
def test_consistent_motion_types_accepted(
    motion: str, start: tuple[float, ...], end: tuple[float, ...]
) -> None:
    d = good()
    d["camera"]["motion_type"] = motion
    d["camera"]["start_frame"] = dict(zip("xywh", start, strict=True))
    d["camera"]["end_frame"] = dict(zip("xywh", end, strict=True))
    M.parse_manifest(json.dumps(d))


def test_pan_with_dominant_vertical_move_refused() -> None:
    d = good()
    d["camera"]["motion_type"] = "pan_right"
    d["camera"]["start_frame"] = {"x": 0.1, "y": 0.1, "w": 0.5, "h": 0.421875}
    d["camera"]["end_frame"] = {"x": 0.15, "y": 0.5, "w": 0.5, "h": 0.421875}
    assert [e.loc for e in errors_of(d)] == ["camera"]


# --------------------------------------------------------------------------- files


def _write(root: Path, data: dict[str, Any], name: str = "m.json") -> Path:
    p = root / name
    p.write_text(json.dumps(data))
    return p


def _for_file(keyframe: Path, root: Path) -> dict[str, Any]:
    d = good()
    d["keyframe"]["path"] = keyframe.relative_to(root).as_posix()
    d["keyframe"]["sha256"] = sha256_file(keyframe)
    return d


def test_keyframe_verified(coffee_jpeg: Path, input_root: Path) -> None:
    m = M.load_manifest(_write(input_root, _for_file(coffee_jpeg, input_root)))
    assert M.verify_keyframe(m, input_root) == coffee_jpeg.resolve()


def test_keyframe_sha_mismatch_is_error(coffee_jpeg: Path, input_root: Path) -> None:
    d = _for_file(coffee_jpeg, input_root)
    d["keyframe"]["sha256"] = "0" * 64
    m, errs = M.validate_file(_write(input_root, d), input_root)
    assert m is not None and [e.loc for e in errs] == ["keyframe.sha256"]


def test_keyframe_size_mismatch_is_error(coffee_jpeg: Path, input_root: Path) -> None:
    d = _for_file(coffee_jpeg, input_root)
    d["keyframe"]["width"], d["keyframe"]["height"] = 1200, 800
    _, errs = M.validate_file(_write(input_root, d), input_root)
    assert [e.loc for e in errs] == ["keyframe.width"]


def test_symlink_escape_refused(tmp_path: Path, input_root: Path, coffee_jpeg: Path) -> None:
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(coffee_jpeg.read_bytes())
    (input_root / "link.jpg").symlink_to(outside)
    d = _for_file(coffee_jpeg, input_root)
    d["keyframe"]["path"] = "link.jpg"
    _, errs = M.validate_file(_write(input_root, d), input_root)
    assert errs and "outside the input root" in errs[0].msg


def test_symlink_inside_root_allowed(input_root: Path, coffee_jpeg: Path) -> None:
    (input_root / "alias.jpg").symlink_to(coffee_jpeg)
    d = _for_file(coffee_jpeg, input_root)
    d["keyframe"]["path"] = "alias.jpg"
    m, errs = M.validate_file(_write(input_root, d), input_root)
    assert m is not None and errs == []


def test_missing_keyframe(input_root: Path) -> None:
    _, errs = M.validate_file(_write(input_root, good()), input_root)
    assert errs[0].loc == "keyframe.path" and "not found" in errs[0].msg


def _png_header_only(path: Path, w: int, h: int) -> None:
    """A PNG whose header claims w x h: enough to trip the bomb guard, tiny on disk."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def test_decompression_bomb_refused_before_decoding(input_root: Path) -> None:
    bomb = input_root / "bomb.png"
    _png_header_only(bomb, 30000, 30000)
    d = good()
    d["keyframe"].update(
        {"path": "bomb.png", "sha256": sha256_file(bomb), "width": 30000, "height": 30000}
    )
    d["camera"]["start_frame"] = {"x": 0.0, "y": 0.0, "w": 1.0, "h": 0.5625}
    d["camera"]["end_frame"] = {"x": 0.25, "y": 0.25, "w": 0.5, "h": 0.28125}
    _, errs = M.validate_file(_write(input_root, d), input_root)
    assert errs and "exceeds" in errs[0].msg and "MP" in errs[0].msg


def test_oversized_file_refused_unread(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    with open(big, "wb") as f:
        f.truncate(50 * 1024 * 1024)  # 50 MB sparse file: never read
    with pytest.raises(M.ManifestError) as exc:
        M.load_manifest(big)
    assert "refused unread" in exc.value.errors[0].msg


def test_directory_and_missing_file(tmp_path: Path) -> None:
    for p in (tmp_path, tmp_path / "nope.json"):
        with pytest.raises(M.ManifestError):
            M.load_manifest(p)


def test_resolve_under_refuses_escape_forms(input_root: Path) -> None:
    for rel in ("../x", "/abs", "a/../../b", "a\\b", "x\x00"):
        with pytest.raises(M.ManifestError):
            M.resolve_under(input_root, rel)


# --------------------------------------------------------------------------- fuzz

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_fuzz_arbitrary_json_only_gives_validation_errors(value: Any) -> None:
    try:
        M.parse_manifest(json.dumps(value))
    except M.ManifestError as e:
        assert all(isinstance(x.loc, str) and x.msg for x in e.errors)


def _mutations() -> st.SearchStrategy[dict[str, Any]]:
    paths = [
        "schema",
        "id",
        "keyframe.path",
        "keyframe.width",
        "camera.motion_type",
        "camera.start_frame.x",
        "camera.end_frame.w",
        "output.width",
        "output.fps",
        "generation.seed",
        "generation.frames",
        "generation.workflow",
        "interpolation.model",
    ]
    return st.builds(lambda p, v: with_(p, v), st.sampled_from(paths), json_values)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutations())
def test_fuzz_near_valid_manifests(data: dict[str, Any]) -> None:
    try:
        m = M.parse_manifest(json.dumps(data))
    except M.ManifestError as e:
        assert e.errors
    else:
        assert len(M.manifest_hash(m)) == 64


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_raw_bytes(raw: bytes) -> None:
    try:
        M.parse_manifest(raw)
    except M.ManifestError:
        pass


def test_schema_file_is_current() -> None:
    committed = Path(M.__file__).parent / "schema" / "manifest-1.schema.json"
    assert committed.is_file(), (
        "run: vidgen manifest schema > comfy_vidgen/schema/manifest-1.schema.json"
    )
    assert json.loads(committed.read_text()) == M.json_schema(), (
        "schema is stale; regenerate with: vidgen manifest schema > comfy_vidgen/schema/manifest-1.schema.json"
    )


def test_schema_validates_the_good_manifest_shape() -> None:
    schema = M.json_schema()
    assert schema["$id"] == M.SCHEMA_ID
    assert set(schema["required"]) >= {"schema", "id", "keyframe", "camera", "output", "generation"}
    assert schema["additionalProperties"] is False


def test_build_manifest_reads_file_facts(coffee_jpeg: Path, input_root: Path) -> None:
    full = M.full_crop(600, 400, 1024, 576)
    m = M.build_manifest(
        keyframe=coffee_jpeg,
        input_root=input_root,
        motion_type="zoom_in",
        start=full,
        end={"x": 0.3, "y": 0.3, "w": 0.4, "h": 0.3375},
        workflow="svd_xt@1",
        seed=9,
    )
    assert m.keyframe.sha256 == sha256_file(coffee_jpeg)
    assert (m.keyframe.width, m.keyframe.height) == (600, 400)
    assert m.generation.steps == 25 and m.generation.motion_bucket_id == 127  # spec defaults
    assert M.verify_keyframe(m, input_root) == coffee_jpeg.resolve()


def test_build_manifest_refuses_keyframe_outside_root(tmp_path: Path, coffee_jpeg: Path) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    with pytest.raises(M.ManifestError):
        M.build_manifest(
            keyframe=coffee_jpeg,
            input_root=other,
            motion_type="static",
            start=M.full_crop(600, 400, 1024, 576),
            end=M.full_crop(600, 400, 1024, 576),
            workflow="camera_only@1",
            seed=1,
        )


def test_exif_rotated_keyframe_reports_displayed_size(input_root: Path) -> None:
    from conftest import photo
    from PIL import Image

    img = Image.fromarray(photo("coffee"))  # stored 600x400
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    path = input_root / "rotated.jpg"
    img.save(path, quality=90, exif=exif.tobytes())
    full = M.full_crop(400, 600, 1024, 576)
    m = M.build_manifest(
        keyframe=path,
        input_root=input_root,
        motion_type="static",
        start=full,
        end=full,
        workflow="camera_only@1",
        seed=1,
    )
    assert (m.keyframe.width, m.keyframe.height) == (400, 600)
