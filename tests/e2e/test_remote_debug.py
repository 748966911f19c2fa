"""Remote debugging (INSTALL_METHOD=remote): the plugin connects to the daemon's debug port,
hands over its key, declarations and assets, then serves requests over the same socket."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.plugin_process import PROVIDER, USER_ID, plugin_root
from tests.support.remote_daemon import FakeDaemon, RemotePlugin, clean_plugin_copy

ROOT = plugin_root()
KEY = "d1f2e3c4-remote-debug-key-0123456789"
NAME_RE = re.compile(r"^[a-z0-9_-]{1,128}$")
AUTHOR_RE = re.compile(r"^[a-z0-9_-]{1,64}$")
VERSION_RE = re.compile(r"^\d{1,4}(\.\d{1,4}){2}(-\w{1,16})?$")

pytestmark = pytest.mark.timeout(90)


def _load_yaml(rel: str) -> dict:
    return yaml.safe_load((ROOT / rel).read_text(encoding="utf-8"))


def _env(daemon: FakeDaemon, form: str) -> dict[str, str | None]:
    env: dict[str, str | None] = {
        "INSTALL_METHOD": "remote",
        "REMOTE_INSTALL_KEY": KEY,
        "REMOTE_INSTALL_URL": None,
        "REMOTE_INSTALL_HOST": None,
        "REMOTE_INSTALL_PORT": None,
    }
    if form == "url":
        env["REMOTE_INSTALL_URL"] = f"{daemon.host}:{daemon.port}"
    else:
        env["REMOTE_INSTALL_HOST"] = daemon.host
        env["REMOTE_INSTALL_PORT"] = str(daemon.port)
    return env


@pytest.fixture(params=["url", "host_port"])
def remote(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[FakeDaemon, RemotePlugin]]:
    root = ROOT
    if request.param == "host_port" and (ROOT / ".env").exists():
        # a developer's .env sets REMOTE_INSTALL_URL, which would win over HOST/PORT
        root = clean_plugin_copy(ROOT, tmp_path / "plugin")
    with FakeDaemon() as daemon, RemotePlugin(_env(daemon, request.param), root=root) as plugin:
        try:
            daemon.wait_registered(timeout=30)
        except AssertionError as exc:
            msg = f"{exc}\nplugin output:\n{plugin.output[-4000:]}"
            raise AssertionError(msg) from None
        yield daemon, plugin


def test_handshake_declarations_assets_end(remote: tuple[FakeDaemon, RemotePlugin]) -> None:
    daemon, plugin = remote
    frames = daemon.registration_frames()
    types = [f.get("type") for f in frames]
    context = f"frame types: {types}\nplugin output:\n{plugin.output[-3000:]}"

    # 1. handshake with the key, first and alone on its line
    assert frames[0] == {"type": "handshake", "data": {"key": KEY}}, context
    assert daemon.raw.startswith(b'{"type":"handshake"'), context
    # 2. manifest, 3. model declaration, then assets, then end - nothing else
    assert types[1] == "manifest_declaration", context
    assert types[2] == "model_declaration", context
    assert types[-1] == "end", context
    assert set(types[3:-1]) <= {"asset_chunk"}, context
    assert frames[-1]["data"] == {}, context
    assert not daemon.noise, daemon.noise

    # -- manifest_declaration: what the daemon validates (ManifestValidate)
    manifest = frames[1]["data"]
    source = _load_yaml("manifest.yaml")
    assert manifest["name"] == "openai_compatible_bridge" == source["name"]
    assert NAME_RE.match(manifest["name"])
    assert AUTHOR_RE.match(manifest["author"])
    assert manifest["type"] == "plugin"
    assert VERSION_RE.match(manifest["version"]), manifest["version"]
    assert manifest["version"] == str(source["version"])
    assert VERSION_RE.match(manifest["meta"]["version"])
    assert manifest["meta"]["runner"] == {"language": "python", "version": "3.12", "entrypoint": "main"}
    assert set(manifest["meta"]["arch"]) <= {"amd64", "arm64"}
    assert manifest["label"]["en_US"]
    assert manifest["description"]["en_US"]
    assert manifest["resource"]["memory"] > 0
    assert manifest["resource"]["permission"]["model"]["enabled"] is True
    plugins = manifest["plugins"]
    assert plugins["models"] == ["provider/openai_compatible_bridge.yaml"], plugins
    for kind in ("tools", "endpoints", "agent_strategies", "datasources", "triggers"):
        assert not plugins.get(kind), (kind, plugins)

    # -- model_declaration: one provider, as declared in the provider YAML
    models = frames[2]["data"]
    assert isinstance(models, list), models
    assert len(models) == 1, models
    provider = models[0]
    provider_yaml = _load_yaml("provider/openai_compatible_bridge.yaml")
    assert provider["provider"] == PROVIDER == provider_yaml["provider"]
    assert provider["configurate_methods"] == ["customizable-model"]
    assert sorted(provider["supported_model_types"]) == ["llm", "rerank", "speech2text", "text-embedding", "tts"]
    declared = [f["variable"] for f in provider["model_credential_schema"]["credential_form_schemas"]]
    expected = [f["variable"] for f in provider_yaml["model_credential_schema"]["credential_form_schemas"]]
    assert declared == expected
    assert len(declared) <= 32
    by_var = {f["variable"]: f for f in provider["model_credential_schema"]["credential_form_schemas"]}
    for form in provider_yaml["model_credential_schema"]["credential_form_schemas"]:
        sent = by_var[form["variable"]]
        assert sent["type"] == form["type"], form["variable"]
        assert bool(sent.get("required")) == bool(form.get("required", False)), form["variable"]

    # -- assets: base64 chunks reassemble into exactly the files of _assets/
    chunks: dict[str, list[dict]] = {}
    for frame in frames[3:-1]:
        data = frame["data"]
        chunks.setdefault(data["filename"], []).append(data)
    rebuilt: dict[str, bytes] = {}
    for name, parts in chunks.items():
        assert [p["end"] for p in parts] == [False] * (len(parts) - 1) + [True], name
        raw = [base64.b64decode(p["data"], validate=True) for p in parts]
        assert all(len(r) == 8192 for r in raw[:-1]), name
        rebuilt[name] = b"".join(raw)
    assets_dir: Path = ROOT / "_assets"
    on_disk = {p.name: p.read_bytes() for p in assets_dir.iterdir() if p.is_file()}
    assert set(rebuilt) == set(on_disk)
    for name, data in on_disk.items():
        assert rebuilt[name] == data, name
    assert manifest["icon"] in on_disk
    if manifest.get("icon_dark"):
        assert manifest["icon_dark"] in on_disk
    for icon in (provider_yaml.get("icon_small") or {}).values():
        assert icon in on_disk
    for icon in (provider_yaml.get("icon_large") or {}).values():
        assert icon in on_disk


def test_heartbeat_and_request_over_tcp(remote: tuple[FakeDaemon, RemotePlugin]) -> None:
    """After registration the socket carries the stdio event frames both ways. The request
    names an unknown provider, so the answer comes from the SDK alone (no model code)."""
    daemon, plugin = remote
    daemon.wait_for(lambda: any(f.get("event") == "heartbeat" for f in daemon.frames), 15, "a heartbeat over TCP")
    messages = daemon.request(
        {
            "type": "model",
            "action": "get_ai_model_schemas",
            "user_id": USER_ID,
            "provider": "no_such_provider",
            "model_type": "llm",
            "model": "m",
            "credentials": {},
        }
    )
    kinds = [m["type"] for m in messages]
    assert kinds == ["error", "end"], f"{messages}\n{plugin.output[-3000:]}"
    assert messages[0]["data"]["error_type"]
    assert plugin.proc.poll() is None, plugin.output[-3000:]


def test_model_schema_over_tcp(remote: tuple[FakeDaemon, RemotePlugin]) -> None:
    """A real model action through the debug connection (needs the model code)."""
    daemon, plugin = remote
    messages = daemon.request(
        {
            "type": "model",
            "action": "get_ai_model_schemas",
            "user_id": USER_ID,
            "provider": PROVIDER,
            "model_type": "llm",
            "model": "some-model",
            "credentials": {"base_url": "http://127.0.0.1:9/v1", "mode": "chat", "context_size": "4096"},
        },
        timeout=30,
    )
    assert [m["type"] for m in messages] == ["stream", "end"], f"{messages}\n{plugin.output[-3000:]}"
    schema = messages[0]["data"]["model_schema"]
    assert schema["model"] == "some-model"
    assert schema["model_type"] == "llm"
