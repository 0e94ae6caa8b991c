"""docker/: the rack image and compose file, checked without a container engine.

The Dockerfile is parsed by BuildKit's own parser (the `dockerfile` wheel) and linted by
rules written here (hadolint's intent: pinned bases, apt hygiene, pipefail, non-root,
exec-form CMD, healthcheck, no secrets); compose.yaml is parsed, interpolated like
Compose does, and its closed-by-default properties are asserted.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import dockerfile
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DOCKER = REPO / "docker"
PIN = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["vidgen"]["comfyui"]
EXAMPLE_ENV = {
    "VIDGEN_PROXY_BIND": "10.0.0.5",
    "VIDGEN_MODELS_DIR": "/srv/vidgen/models",
    "VIDGEN_TOKEN_CONTROL": "c" * 43,
    "VIDGEN_PG_PASSWORD": "p" * 24,
}


# ---------------------------------------------------------------------- Dockerfile lint
def lint_dockerfile(text: str) -> list[str]:
    """Findings for a Dockerfile (empty = clean)."""
    cmds = dockerfile.parse_string(text)
    out: list[str] = []
    args = {}
    for c in cmds:
        if c.cmd == "ARG" and "=" in c.value[0]:
            k, v = c.value[0].split("=", 1)
            args[k] = v
    froms = [c for c in cmds if c.cmd == "FROM"]
    if not froms:
        return ["no FROM"]
    base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), froms[0].value[0])
    if not re.fullmatch(r"nvidia/cuda:\d+\.\d+\.\d+-[a-z-]*runtime-[a-z0-9.]+", base):
        out.append(f"base image {base!r} is not a pinned nvidia/cuda runtime tag")
    pipefail = False
    user: str | None = None
    for c in cmds:
        where = f"line {c.start_line}"
        body = " ".join(c.value)
        if c.cmd == "SHELL" and "pipefail" in body:
            pipefail = True
        if c.cmd == "ADD":
            out.append(f"{where}: ADD (use COPY; fetch nothing opaque)")
        if c.cmd in ("ENV", "ARG"):
            names = c.value[::2] if c.cmd == "ENV" else [v.split("=")[0] for v in c.value]
            for n in names:
                if re.search(r"TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY", n, re.I):
                    out.append(f"{where}: {c.cmd} {n} would bake a secret into the image")
        if re.search(r"(^|\s):latest\b|\S+:latest(\s|$)", body):
            out.append(f"{where}: unpinned :latest")
        if c.cmd == "RUN":
            if "|" in body.replace("||", "") and not pipefail:
                out.append(f"{where}: pipe in RUN without SHELL pipefail")
            if "sudo " in body:
                out.append(f"{where}: sudo")
            if re.search(r"curl[^|]*\|\s*(ba)?sh|wget[^|]*\|\s*(ba)?sh", body):
                out.append(f"{where}: pipes a download into a shell")
            if "git clone" in body:
                out.append(f"{where}: git clone (install ComfyUI with comfy-cli at the pin)")
            if "apt-get install" in body:
                if "--no-install-recommends" not in body or " -y" not in body:
                    out.append(f"{where}: apt-get install without -y --no-install-recommends")
                if "apt-get update" not in body or "rm -rf /var/lib/apt/lists" not in body:
                    out.append(f"{where}: apt-get install without update + list cleanup")
            for spec in re.findall(r"pip install ([^&;]+)", body):
                for pkg in spec.split():
                    if pkg.startswith("-") or "/" in pkg or pkg.startswith('"$') or "{" in pkg:
                        continue
                    if "==" not in pkg:
                        out.append(f"{where}: pip package {pkg} is not pinned (==)")
        if c.cmd == "USER":
            user = c.value[0]
        if c.cmd in ("CMD", "ENTRYPOINT") and not c.json:
            out.append(f"{where}: {c.cmd} in shell form (use JSON exec form)")
        if c.cmd == "WORKDIR" and not c.value[0].startswith("/"):
            out.append(f"{where}: relative WORKDIR")
    if user is None or user.split(":")[0] in ("root", "0"):
        out.append("the image runs as root (add a non-root USER)")
    last_user = max((c.start_line for c in cmds if c.cmd == "USER"), default=10**9)
    last_cmd = max((c.start_line for c in cmds if c.cmd in ("CMD", "ENTRYPOINT")), default=-1)
    if last_cmd < last_user:
        out.append("USER must come before CMD")
    hc = [c for c in cmds if c.cmd == "HEALTHCHECK"]
    if not hc or "/system_stats" not in " ".join(hc[-1].value):
        out.append("no HEALTHCHECK on /system_stats")
    if any(re.search(r"\b[0-9a-f]{40}\b", " ".join(c.value)) for c in cmds):
        out.append("a hard-coded commit: the ComfyUI pin belongs in pyproject.toml only")
    return out


def _commands() -> list[Any]:
    return list(dockerfile.parse_file(str(DOCKER / "Dockerfile")))


def test_dockerfile_is_clean() -> None:
    assert lint_dockerfile((DOCKER / "Dockerfile").read_text()) == []


def test_the_lint_catches_what_it_claims_to() -> None:
    bad = (
        "FROM nvidia/cuda:latest\nENV HF_TOKEN=abc\nADD https://example.com/x.tgz /x\n"
        "RUN apt-get install -y curl && curl https://x | sh\nRUN pip install comfy-cli\n"
        "RUN git clone https://github.com/Comfy-Org/ComfyUI && echo a | cat\n"
        "USER root\nCMD python3 main.py\n"
    )
    found = "\n".join(lint_dockerfile(bad))
    for needle in (
        "not a pinned nvidia/cuda runtime",
        "HF_TOKEN would bake a secret",
        "ADD",
        "without -y --no-install-recommends",
        "without update + list cleanup",
        "pipes a download into a shell",
        "comfy-cli is not pinned",
        "git clone",
        "pipe in RUN without SHELL pipefail",
        "runs as root",
        "shell form",
        "no HEALTHCHECK",
    ):
        assert needle in found, needle


def test_dockerfile_installs_the_one_comfyui_pin_with_comfy_cli_and_no_manager() -> None:
    runs = " ".join(" ".join(c.value) for c in _commands() if c.cmd == "RUN")
    args = dict(c.value[0].split("=", 1) for c in _commands() if c.cmd == "ARG")
    assert re.fullmatch(r"\d+\.\d+\.\d+", args["COMFY_CLI_VERSION"])
    assert '"comfy-cli==${COMFY_CLI_VERSION}"' in runs
    assert "comfyui_pin.py /tmp/vidgen-pin/pyproject.toml commit" in runs
    assert "comfyui_pin.py /tmp/vidgen-pin/pyproject.toml version" in runs
    assert '--commit "${commit}"' in runs and "--skip-manager" in runs
    # the build fails unless the checkout is exactly the pin
    assert 'rev-parse HEAD)" = "${commit}"' in runs and "comfyui_version.py" in runs
    assert "find_spec('comfyui_manager') is not None" in runs
    copies = [c.value for c in _commands() if c.cmd == "COPY"]
    assert ("pyproject.toml", "docker/comfyui_pin.py", "/tmp/vidgen-pin/") in copies
    assert not any("ComfyUI" in v and "custom_nodes" not in v for c in copies for v in c[:-1])


def test_the_pin_script_reads_pyproject_and_refuses_a_bad_pin(tmp_path: Path) -> None:
    script = DOCKER / "comfyui_pin.py"
    for field in ("commit", "version", "repository"):
        r = subprocess.run(
            [sys.executable, str(script), str(REPO / "pyproject.toml"), field],
            capture_output=True,
            text=True,
            check=True,
        )
        assert r.stdout.strip() == PIN[field]
    bad = tmp_path / "pyproject.toml"
    bad.write_text('[tool.vidgen.comfyui]\nversion = "0.3.64"\ncommit = "main"\n')
    r = subprocess.run(
        [sys.executable, str(script), str(bad), "commit"], capture_output=True, text=True
    )
    assert r.returncode == 1 and "'main'" in r.stderr


def test_runtime_is_headless_non_root_and_loads_only_this_pack() -> None:
    cmds = _commands()
    cmd = next(c for c in reversed(cmds) if c.cmd == "CMD")
    argv = list(cmd.value)
    assert argv[:2] == ["python3", "main.py"]
    assert argv[argv.index("--listen") + 1] == "0.0.0.0"  # container network only (compose)
    assert argv[argv.index("--whitelist-custom-nodes") + 1] == "comfy-vidgen"
    assert "--disable-all-custom-nodes" in argv and "--disable-auto-launch" in argv
    assert argv[argv.index("--output-directory") + 1] == "/data/output"
    assert [c.value[0] for c in cmds if c.cmd == "EXPOSE"] == ["8188"]
    env = " ".join(" ".join(c.value) for c in cmds if c.cmd == "ENV")
    assert "NVIDIA_DRIVER_CAPABILITIES compute,utility,video" in env  # NVENC needs "video"
    ignore = (DOCKER / "Dockerfile.dockerignore").read_text().split()
    for pattern in ("**/.env", ".git", ".venv", "**/*.safetensors", "**/*.pem", "**/*.db"):
        assert pattern in ignore


# ---------------------------------------------------------------------- compose
_VAR = re.compile(r"\$\$|\$\{(\w+)(?:(:?[-?])([^}]*))?\}|\$(\w+)")


class ComposeEnvError(Exception):
    pass


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's variable substitution: ${V}, ${V:-default}, ${V-default}, ${V:?err}, $$."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(4)
        op, arg = m.group(2), m.group(3) or ""
        v = env.get(name)
        if op in (":-", "-"):
            return v if (v if op == ":-" else v is not None) else arg
        if op in (":?", "?"):
            if not v if op == ":?" else v is None:
                raise ComposeEnvError(f"{name}: {arg}")
            return str(v)
        return v or ""

    return _VAR.sub(sub, value)


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    return data


@pytest.fixture(scope="module")
def compose(raw: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = interpolate(raw, EXAMPLE_ENV)
    return out


def _gpu_services(c: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in c["services"].items() if k.startswith("comfyui-")}


def test_one_comfyui_service_per_gpu(compose: dict[str, Any]) -> None:
    gpus = _gpu_services(compose)
    assert len(gpus) == 4
    seen: list[str] = []
    for name, svc in gpus.items():
        (dev,) = svc["deploy"]["resources"]["reservations"]["devices"]
        assert dev["driver"] == "nvidia" and "gpu" in dev["capabilities"]
        assert "count" not in dev and len(dev["device_ids"]) == 1
        assert name == f"comfyui-gpu{dev['device_ids'][0]}"
        seen += dev["device_ids"]
        assert "video" in dev["capabilities"]  # NVENC
        limits = svc["deploy"]["resources"]["limits"]
        assert float(limits["cpus"]) > 0 and limits["memory"].endswith("g")
        assert svc["restart"] == "unless-stopped"
        assert svc["build"]["dockerfile"] == "docker/Dockerfile" and svc["build"]["context"] == ".."
    assert sorted(seen) == ["0", "1", "2", "3"]
    # the proxy routes to exactly these services, and the example fleet names them the same
    ups = compose["services"]["proxy"]["environment"]["VIDGEN_UPSTREAMS"].split()
    assert sorted(ups) == sorted(f"gpu{i}=comfyui-gpu{i}:8188" for i in range(4))
    fleet = tomllib.loads((DOCKER / "fleet.example.toml").read_text())
    assert [i["name"] for i in fleet["instance"]] == [u.split("=")[0] for u in ups]
    assert all(i["url"].endswith("/" + i["name"]) and i["token_env"] for i in fleet["instance"])


def test_no_comfyui_port_is_published_and_the_rack_network_is_internal(
    compose: dict[str, Any], raw: dict[str, Any]
) -> None:
    for name, svc in _gpu_services(compose).items():
        assert "ports" not in svc and svc.get("network_mode") is None, name
        assert svc["networks"] == ["comfy"] and svc["expose"] == ["8188"]
        assert svc["read_only"] is True and "ALL" in svc["cap_drop"]
        assert "no-new-privileges:true" in svc["security_opt"]
    assert compose["networks"]["comfy"]["internal"] is True
    for name, svc in compose["services"].items():
        assert svc.get("network_mode") != "host", name
        for port in svc.get("ports", []):
            host_ip = port.split(":")[0]
            assert host_ip == EXAMPLE_ENV["VIDGEN_PROXY_BIND"], (name, port)
    for name, svc in raw["services"].items():  # the bind address has no default at all
        for port in svc.get("ports", []):
            assert port.startswith("${VIDGEN_PROXY_BIND:?"), (name, port)
    with pytest.raises(ComposeEnvError, match="VIDGEN_PROXY_BIND"):
        interpolate(raw, {k: v for k, v in EXAMPLE_ENV.items() if k != "VIDGEN_PROXY_BIND"})


def test_models_read_only_outputs_on_volumes(compose: dict[str, Any]) -> None:
    for name, svc in _gpu_services(compose).items():
        vols = {v.split(":")[1]: v for v in svc["volumes"]}
        assert vols["/opt/ComfyUI/models"] == "/srv/vidgen/models:/opt/ComfyUI/models:ro"
        out = vols["/data/output"].split(":")[0]
        assert out in compose["volumes"], name
        writable = [v for v in svc["volumes"] if not v.endswith(":ro")]
        assert all(v.split(":")[0] in compose["volumes"] for v in writable), name


def test_tokens_and_passwords_come_only_from_the_environment(
    raw: dict[str, Any], tmp_path: Path
) -> None:
    proxy = raw["services"]["proxy"]
    tokens = {k: v for k, v in proxy["environment"].items() if k.startswith("VIDGEN_TOKEN_")}
    assert tokens and all(v.startswith("${" + k) for k, v in tokens.items())
    assert raw["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith(
        "${VIDGEN_PG_PASSWORD:?"
    )
    with pytest.raises(ComposeEnvError, match="VIDGEN_TOKEN_CONTROL"):
        interpolate(raw, {k: v for k, v in EXAMPLE_ENV.items() if k != "VIDGEN_TOKEN_CONTROL"})
    example = dict(
        line.split("=", 1)
        for line in (DOCKER / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    secrets = [k for k in example if "TOKEN" in k or "PASSWORD" in k]
    assert secrets and all(example[k] == "" for k in secrets)  # no secret in git, ever
    assert ".env" in (DOCKER / ".gitignore").read_text().split()
    # the proxy container uses the very files the nginx tests run
    mounts = proxy["volumes"]
    assert "./proxy/render.sh:/docker-entrypoint.d/40-vidgen-render.sh:ro" in mounts
    assert "./proxy/nginx.conf.template:/etc/vidgen/nginx.conf.template:ro" in mounts
    assert proxy["command"][:3] == ["nginx", "-c", proxy["environment"]["VIDGEN_PROXY_OUT"]]


def test_compose_proxy_environment_renders_a_valid_nginx_config(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    """The proxy service's own environment, through render.sh, gives a config nginx accepts."""
    from rack_env import nginx_binary

    env = {k: str(v) for k, v in compose["services"]["proxy"]["environment"].items()}
    env.update(
        VIDGEN_PROXY_TLS="off",  # the certificate lives on the rack
        VIDGEN_PROXY_OUT=str(tmp_path / "nginx.conf"),
        VIDGEN_PROXY_RUN_DIR=str(tmp_path / "run"),
        VIDGEN_PROXY_TEMPLATE=str(DOCKER / "proxy" / "nginx.conf.template"),
        VIDGEN_PROXY_ERROR_LOG=str(tmp_path / "error.log"),
        PATH=os.environ.get("PATH", "/usr/bin:/bin"),
    )
    r = subprocess.run(
        ["sh", str(DOCKER / "proxy" / "render.sh")], env=env, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    assert "1 client token(s)" in r.stderr  # CONTROL set, the optional ones left empty
    conf = (tmp_path / "nginx.conf").read_text()
    assert "resolver 127.0.0.11" in conf and "listen 8443;" in conf
    locs = (tmp_path / "vidgen" / "vidgen-locations.conf").read_text()
    assert locs.count("set $vidgen_upstream comfyui-gpu") == 4
    nginx = nginx_binary()
    t = subprocess.run(
        [nginx, "-t", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)]
        + ["-e", str(tmp_path / "error.log")],
        capture_output=True,
        text=True,
    )
    assert t.returncode == 0, t.stderr


def test_images_are_pinned_and_healthchecked(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        image = svc["image"]
        assert ":" in image and not image.endswith(":latest"), name
        if not name.startswith("comfyui-") and name != "orchestrator":
            assert svc["healthcheck"]["test"], name  # comfyui: the image's HEALTHCHECK
    assert compose["services"]["orchestrator"]["profiles"] == ["orchestrator"]
    assert compose["services"]["postgres"]["profiles"] == ["ledger"]
    text = (DOCKER / "compose.yaml").read_text().lower()
    assert "manager" not in text  # ComfyUI-Manager: nowhere in the rack
