"""Connection failures named by their real cause through Dify's stdio runtime (`python -m main`),
at save, in calls and in `make doctor`: a real TLS endpoint (Python's `ssl`, with a certificate
an internal CA made at test time signed) in front of the real llama-server, that server's plain
port spoken to in HTTPS, and a host name that does not exist."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.support.plugin_process import REPO_ROOT
from tests.support.tls import Pki, TLSFront, make_pki

pytestmark = [pytest.mark.llama, pytest.mark.timeout(300)]

USER = [{"role": "user", "content": "hi"}]
KEY = "sk-canary-tls-5e4d3c2b1a"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def front(pki: Pki, llama_server) -> Iterator[TLSFront]:
    port = int(llama_server.origin.rsplit(":", 1)[1])
    with TLSFront(pki, port) as tls:
        yield tls


def validate(plugin, base_url: str, **form: str):
    credentials = {"base_url": base_url, "api_key": KEY, **form}
    return plugin.invoke("validate_model_credentials", model="tiny", credentials=credentials, model_type="llm")


def chat(plugin, base_url: str, **form: str):
    return plugin.invoke(
        "invoke_llm",
        model="tiny",
        credentials={"base_url": base_url, "api_key": KEY, **form},
        prompt_messages=USER,
        model_parameters={"max_tokens": 4},
        stream=True,
    )


def test_saving_behind_an_untrusted_certificate_says_so_and_each_fix_works(plugin, front: TLSFront, pki: Pki):
    refused = validate(plugin, front.origin + "/v1")
    assert refused.error_type == "CredentialsValidateFailedError"
    message = refused.error["message"]
    assert "TLS certificate" in message and "not trusted" in message
    assert "`ca_certificate`" in message and "`verify_tls`" in message
    assert "Check that the server is running" not in message
    assert KEY not in message

    trusted = validate(plugin, front.origin + "/v1", ca_certificate=pki.ca_pem.replace("\n", ""))
    assert trusted.result["result"] is True, trusted.error
    unverified = validate(plugin, front.origin + "/v1", verify_tls="off")
    assert unverified.result["result"] is True, unverified.error


def test_a_call_behind_an_untrusted_certificate_is_a_connection_error_tried_once(plugin, front: TLSFront):
    result = chat(plugin, front.origin + "/v1")  # the default: 2 retries
    assert result.error_type == "InvokeConnectionError"
    assert "not trusted" in result.error["message"]
    assert front.connections == 1 and front.failed_handshakes == 1


def test_a_call_with_the_ca_certificate_is_answered(plugin, front: TLSFront, pki: Pki):
    result = chat(plugin, front.origin + "/v1", ca_certificate=pki.ca_pem)
    assert result.error is None
    assert result.finish_reason and front.handshakes >= 1


def test_the_daemons_ssl_cert_file_is_trusted(plugin_factory, front: TLSFront, pki: Pki):
    # Dify's daemon passes its environment, SSL_CERT_FILE included, to the plugin process.
    plugin = plugin_factory(env={"SSL_CERT_FILE": str(pki.ca_file), "SSL_CERT_DIR": None})
    assert validate(plugin, front.origin + "/v1").result["result"] is True


def test_https_to_the_servers_plain_port_says_to_use_http(plugin, llama_server):
    # llama-server waits for a request line that never comes: the handshake times out.
    result = chat(plugin, llama_server.base_url.replace("http://", "https://"), timeout="3", max_retries="0")
    assert result.error_type == "InvokeConnectionError"
    message = result.error["message"]
    assert "answers plain HTTP" in message and f"({llama_server.base_url})" in message
    assert "firewall" not in message


def test_http_to_a_tls_port_says_to_use_https(plugin, front: TLSFront):
    result = chat(plugin, front.origin.replace("https://", "http://") + "/v1")
    assert result.error_type == "InvokeConnectionError"
    message = result.error["message"]
    assert "speaks HTTPS" in message and f"(https://127.0.0.1:{front.port}/v1)" in message
    assert "crashed" not in message


def test_a_host_name_that_does_not_exist_is_named_and_not_retried(plugin):
    # RFC 6761: `.invalid` never resolves. What this machine's resolver answers decides what the
    # plugin must say; a resolver that cannot answer at all is the retried case (unit-tested).
    try:
        socket.getaddrinfo("nonexistent.invalid", 8000)
        answer = "an address"
    except socket.gaierror as exc:
        answer = exc.errno
    if answer != socket.EAI_NONAME:
        pytest.skip(f"this machine's resolver answers {answer!r} for .invalid, not NXDOMAIN")
    before = len(plugin.logs)
    result = chat(plugin, "http://nonexistent.invalid:8000/v1")
    assert result.error_type == "InvokeConnectionError"
    message = result.error["message"]
    assert "The host name 'nonexistent.invalid' does not exist" in message
    assert "Check that the server is running" not in message
    assert not [log for log in plugin.logs[before:] if "retry" in str(log.get("message"))]


def test_the_doctor_names_an_untrusted_certificate(front: TLSFront):
    done = subprocess.run(
        [sys.executable, "-m", "oai_bridge.doctor", "--base-url", front.origin + "/v1", "--model", "tiny"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAILED (InvokeConnectionError)" in done.stdout
    assert "not trusted" in done.stdout and "`ca_certificate`" in done.stdout
