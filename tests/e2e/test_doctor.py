"""`make doctor` for every model type: the same detection as saving, against the real peers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from oai_bridge.doctor import docker_url

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_doctor(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "oai_bridge.doctor", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("url", "inside"),
    [
        ("http://localhost:11434/v1", "http://host.docker.internal:11434/v1"),
        ("http://127.0.0.1:8000/v1", "http://host.docker.internal:8000/v1"),
        ("http://gpu-box.lan:8000/v1", None),
    ],
)
def test_docker_form_of_a_loopback_url(url: str, inside: str | None) -> None:
    assert docker_url(url) == inside


@pytest.mark.llama
def test_doctor_for_an_embedding_model(llama_server):
    done = run_doctor("--base-url", llama_server.base_url, "--model", "tiny", "--type", "embedding")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Vector size" in done.stdout
    assert "> Text Embedding" in done.stdout
    assert "from Dify running in Docker: http://host.docker.internal:" in done.stdout


@pytest.mark.llama
def test_doctor_for_a_rerank_model(rerank_server):
    done = run_doctor("--base-url", rerank_server.base_url, "--model", rerank_server.model, "--type", "rerank")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rerank_path" in done.stdout and "> Rerank" in done.stdout


def test_doctor_failure_is_one_paragraph_and_exits_non_zero():
    done = run_doctor("--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--type", "embedding", "--timeout", "3")
    assert done.returncode == 1
    assert done.stdout.startswith("FAILED (InvokeConnectionError): Cannot connect")
    assert "host.docker.internal" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
