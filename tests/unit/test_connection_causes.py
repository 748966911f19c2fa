"""Each connection failure is named by its real cause, against real sockets: a TLS endpoint whose
certificate an internal CA signed (made at test time), a plain-HTTP port spoken to in HTTPS and
the reverse, and names the resolver does not know (injected at the resolver layer, under gevent
as in the plugin). The requests go through the transport as the model types send them."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the SDK's pydantic deprecation warnings
    from dify_plugin.errors.model import InvokeConnectionError, InvokeError

    from oai_bridge.errors.invoke import to_invoke_error
from oai_bridge.config.settings import Settings, SettingsError, parse_settings
from oai_bridge.transport.send import post_json
from tests.support.fake_server import FakeServer, chat_completion, json_response
from tests.support.patched import run_patched
from tests.support.tls import Pki, TLSFront, make_pki

pytestmark = pytest.mark.timeout(60)

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def origin() -> Iterator[FakeServer]:
    server = FakeServer()
    server.always(json_response(chat_completion("hi")))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def front(pki: Pki, origin: FakeServer) -> Iterator[TLSFront]:
    with TLSFront(pki, origin.port) as tls:
        yield tls


def settings(base_url: str, **form: str) -> Settings:
    return parse_settings("m", {"base_url": base_url, "max_retries": "2", **form})


def failure(base_url: str, **form: str) -> InvokeError:
    with pytest.raises(Exception) as caught:
        post_json(settings(base_url, **form), "/chat/completions", BODY)
    return to_invoke_error(caught.value, url=base_url)


def test_an_untrusted_certificate_says_so_with_both_fixes_and_is_not_retried(front: TLSFront) -> None:
    error = failure(front.origin + "/v1")
    assert type(error) is InvokeConnectionError
    message = str(error)
    assert "certificate" in message and "not trusted" in message
    assert "unable to get local issuer certificate" in message  # OpenSSL's own reason
    assert "`ca_certificate`" in message and "`verify_tls`" in message
    assert "Check that the server is running" not in message and "host.docker.internal" not in message
    assert front.connections == 1, "a certificate that failed to verify was tried again"


def test_the_ca_certificate_field_makes_the_internal_ca_trusted(front: TLSFront, pki: Pki, origin: FakeServer) -> None:
    answer = post_json(settings(front.origin + "/v1", ca_certificate=pki.ca_pem), "/chat/completions", BODY)
    assert answer["choices"][0]["message"]["content"] == "hi"
    assert front.handshakes == 1 and len(origin.requests) == 1


def test_a_ca_certificate_pasted_into_a_one_line_field_still_works(front: TLSFront, pki: Pki) -> None:
    # A browser's one-line input drops the line breaks of a pasted PEM.
    one_line = pki.ca_pem.replace("\n", "")
    answer = post_json(settings(front.origin + "/v1", ca_certificate=one_line), "/chat/completions", BODY)
    assert answer["choices"][0]["message"]["content"] == "hi"


def test_verify_tls_off_accepts_the_certificate(front: TLSFront) -> None:
    answer = post_json(settings(front.origin + "/v1", verify_tls="off"), "/chat/completions", BODY)
    assert answer["choices"][0]["message"]["content"] == "hi"


@pytest.mark.parametrize("text", ["not a certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"])
def test_a_ca_certificate_that_is_not_one_is_a_settings_error_naming_the_field(text: str) -> None:
    with pytest.raises(SettingsError, match="`ca_certificate` must be a certificate in PEM form"):
        settings("https://127.0.0.1:1/v1", ca_certificate=text)


def test_https_to_a_plain_http_port_says_to_use_http(origin: FakeServer) -> None:
    # The fake server, like llama-server, waits for a request line that never comes: the
    # handshake times out (the form's 3 s timeout bounds connecting too).
    base = origin.base_url.replace("http://", "https://")
    error = failure(base, timeout="3", max_retries="0")
    assert type(error) is InvokeConnectionError
    message = str(error)
    assert "answers plain HTTP" in message and f"({origin.base_url})" in message
    assert "firewall" not in message


def test_http_to_a_tls_port_says_to_use_https(front: TLSFront) -> None:
    base = front.origin.replace("https://", "http://") + "/v1"
    error = failure(base)
    assert type(error) is InvokeConnectionError
    message = str(error)
    assert "speaks HTTPS" in message and f"(https://127.0.0.1:{front.port}/v1)" in message
    assert "crashed" not in message


def test_a_plain_http_server_that_drops_the_connection_is_not_called_a_tls_port(origin: FakeServer) -> None:
    from tests.support.fake_server import reset

    origin.clear()
    origin.always(reset())
    error = failure(origin.base_url, max_retries="0")
    assert "HTTPS" not in str(error)
    assert "closed before the server sent any response" in str(error)


def _resolver_run(code: int) -> list[str]:
    """A call to a name whose lookup fails with `code`, under gevent with the plugin's resolver in
    front of an inner one that answers only that: (lookups made, the message)."""
    return run_patched(
        f"""
        import socket, gevent
        from oai_bridge.config.settings import parse_settings
        from oai_bridge.errors.invoke import to_invoke_error
        from oai_bridge.transport import resolver
        from oai_bridge.transport.send import post_json

        resolver.install()
        asked = []
        class Failing:
            def getaddrinfo(self, host, *rest):
                asked.append(host)
                raise socket.gaierror({code}, "injected")
        gevent.get_hub().resolver.inner = Failing()
        url = "http://model-box.internal:8000/v1"
        settings = parse_settings("m", {{"base_url": url, "max_retries": "2"}})
        try:
            post_json(settings, "/chat/completions", {{}})
        except Exception as exc:
            error = to_invoke_error(exc, url=url)
        print(len(asked))
        print(type(error).__name__, error)
        """
    )


def test_a_name_that_does_not_exist_is_named_and_not_retried() -> None:
    import socket

    asked, message = _resolver_run(socket.EAI_NONAME)
    assert asked == "1"
    assert message.startswith("InvokeConnectionError The host name 'model-box.internal' does not exist")
    assert "Check that the server is running" not in message


def test_a_dns_server_that_does_not_answer_is_retried_as_before() -> None:
    import socket

    asked, message = _resolver_run(socket.EAI_AGAIN)
    assert asked == "3"
    assert message.startswith("InvokeConnectionError Could not look up the host name 'model-box.internal'")


def test_the_tls_error_is_found_under_httpx_and_httpcores_wrappers(front: TLSFront) -> None:
    """httpcore's pool re-raises its ConnectError `from None`: the ssl error is only its argument
    and suppressed context. If this starts failing, httpx keeps the chain again and
    `errors.connection.under` may go back to plain `causes`."""
    import ssl

    from oai_bridge.errors.connection import Failure, failure_of, under
    from oai_bridge.errors.kinds import causes

    with pytest.raises(Exception) as caught:
        post_json(settings(front.origin + "/v1", max_retries="0"), "/chat/completions", BODY)
    assert not [e for e in causes(caught.value) if isinstance(e, ssl.SSLError)]
    assert [e for e in under(caught.value) if isinstance(e, ssl.SSLCertVerificationError)]
    assert failure_of(caught.value) is Failure.UNTRUSTED_CERTIFICATE


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate",
            "UNTRUSTED_CERTIFICATE",
        ),
        ("[Errno -2] Name or service not known", "NO_SUCH_NAME"),
        ("[Errno -3] Temporary failure in name resolution", "DNS_TEMPORARY"),
        ("[SSL: WRONG_VERSION_NUMBER] wrong version number", "TLS"),
        ("[Errno 111] Connection refused", None),
    ],
)
def test_only_the_message_is_enough_when_nothing_is_chained(text: str, expected: str | None) -> None:
    import httpx

    from oai_bridge.errors.connection import failure_of

    found = failure_of(httpx.ConnectError(text))
    assert (found.name if found else None) == expected


def test_a_proxy_answering_the_probe_is_not_taken_for_the_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy in the environment answers any plain-HTTP request itself (502 here): the scheme probe
    goes straight to the port, or an https:// TLS failure would be blamed on a plain-HTTP port."""
    import socket
    import threading

    import httpx

    from oai_bridge.errors.connection import Failure, failure_of
    from oai_bridge.transport.probe import wrong_scheme

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def close_every_connection() -> None:  # neither TLS nor HTTP: a handshake ends in EOF
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(4096)  # read the ClientHello, so closing is a clean EOF, not a reset

    threading.Thread(target=close_every_connection, daemon=True).start()
    proxy = FakeServer()
    proxy.always(json_response({"error": "bad gateway"}, status=502))
    base = f"https://127.0.0.1:{port}/v1"
    try:
        with pytest.raises(httpx.TransportError) as caught, httpx.Client(trust_env=False, timeout=5) as client:
            client.get(base + "/models")
        monkeypatch.setenv("HTTP_PROXY", proxy.origin)
        monkeypatch.setenv("http_proxy", proxy.origin)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        assert failure_of(caught.value) is Failure.TLS
        assert wrong_scheme(base, caught.value) is None
        assert proxy.requests == []
    finally:
        listener.close()
        proxy.stop()
