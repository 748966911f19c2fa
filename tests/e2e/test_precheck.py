"""`make precheck PKG=…` on this plugin's Marketplace build: every check the Marketplace runs, the
install test included (installed with uv like the daemon, then `python -m main` with
INSTALL_METHOD=serverless on a free port: "Serving Flask app" within 20 s, GET / answers 200 or 404).

Needs uv and PyPI, like tests/e2e/test_install.py; fails, never skips, without them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from difypkg import install
from difypkg.errors import PackageError

from tests.unit.test_marketplace import TEST_VALUES, build

pytestmark = pytest.mark.timeout(900)

ROOT = Path(__file__).resolve().parents[2]
CHECKS = (
    "Package contents",
    "Manifest metadata",
    "README metadata",
    "Package secrets",
    "Package dependencies",
    "Python compile and icon",
    "Plugin install",
)


def make(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MAKELEVEL", "MFLAGS"}}
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def marketplace_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("dist"), *TEST_VALUES)


def test_make_precheck_passes_on_our_marketplace_build(marketplace_package: Path) -> None:
    done = make("precheck", f"PKG={marketplace_package}")
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    for check in CHECKS:
        assert f"{check} check passed" in out, out
    assert "errors:" not in out
    served = next(line for line in out.splitlines() if "Serving Flask app" in line)
    assert "127.0.0.1:" in served and ":8080" not in served  # a free port, not the Marketplace's
    assert "GET / answered 404" in served or "GET / answered 200" in served
    assert out.rstrip().endswith("precheck passed")


def test_make_precheck_reports_a_plain_build_like_the_marketplace(tmp_path: Path) -> None:
    plain = build(tmp_path)
    checked = subprocess.run(
        [sys.executable, "scripts/precheck.py", str(plain), "--no-install"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert checked.returncode == 1
    assert "Manifest metadata errors:\n- missing required field: repo\n- missing required field: contact\n" in (
        checked.stdout
    )
    assert "README metadata errors:\n- README.md must link the source repository" in checked.stdout
    assert checked.stdout.rstrip().endswith("precheck failed: 3 blocking error(s)")


def test_make_precheck_without_pkg_prints_usage() -> None:
    done = make("precheck", timeout=60)
    assert done.returncode == 2 and "usage: make precheck PKG=" in done.stdout + done.stderr


# --- the serverless start on its own ---------------------------------------------------------------
def fake_plugin(tmp_path: Path, main: str) -> Path:
    """A directory laid out like an installed plugin whose `main` is ``main``."""
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").symlink_to(sys.executable)
    (tmp_path / "main.py").write_text(main, encoding="utf-8")
    return tmp_path


def test_serve_check_reports_a_plugin_that_exits(tmp_path: Path) -> None:
    plugin = fake_plugin(tmp_path, "import sys\nprint('boom: missing setting')\nsys.exit(3)\n")
    with pytest.raises(PackageError, match=r"exited with 3 print 'Serving Flask app'[\s\S]*boom: missing setting"):
        install.serve_check(plugin)


def test_serve_check_gives_up_after_the_limit(tmp_path: Path) -> None:
    plugin = fake_plugin(tmp_path, "import time\nprint('starting', flush=True)\ntime.sleep(60)\n")
    with pytest.raises(PackageError, match=r"did not within 1s print 'Serving Flask app'"):
        install.serve_check(plugin, limit=1)


def http_main(status: int) -> str:
    """A `main` that serves on SERVERLESS_HOST:SERVERLESS_PORT, answering every GET with ``status``."""
    return (
        "import http.server, os\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        f"        self.send_response({status}); self.end_headers()\n"
        "    def log_message(self, *a): pass\n"
        "s = http.server.HTTPServer((os.environ['SERVERLESS_HOST'], int(os.environ['SERVERLESS_PORT'])), H)\n"
        "assert os.environ['INSTALL_METHOD'] == 'serverless'\n"
        "print(\"* Serving Flask app 'x'\", flush=True)\n"
        "s.serve_forever()\n"
    )


def test_serve_check_wants_200_or_404_from_get_root(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match=r"answered 500, expected 200 or 404"):
        install.serve_check(fake_plugin(tmp_path, http_main(500)))
    assert "GET / answered 200" in install.serve_check(fake_plugin(tmp_path / "ok", http_main(200)))


def test_strict_mode_serves_on_all_interfaces_at_the_marketplace_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The Marketplace's 8080 may be taken here: the same strict code path on another fixed port.
    port = install.free_port()
    monkeypatch.setattr(install, "MARKETPLACE_PORT", port)
    summary = install.serve_check(fake_plugin(tmp_path, http_main(404)), strict=True)
    assert f"on 0.0.0.0:{port}" in summary and "GET / answered" in summary


def test_serve_check_asks_the_plugin_itself_not_a_proxy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A machine whose environment names a proxy (and no NO_PROXY for loopback): GET / must reach
    # the plugin, not the proxy, which answers for any address (a 502 here).
    from tests.support.fake_server import FakeServer, json_response

    proxy = FakeServer()
    proxy.always(json_response({"error": "bad gateway"}, status=502))
    try:
        for name in ("HTTP_PROXY", "http_proxy"):
            monkeypatch.setenv(name, proxy.origin)
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        assert "GET / answered 404" in install.serve_check(fake_plugin(tmp_path, http_main(404)))
        assert proxy.requests == []
    finally:
        proxy.stop()
