"""Signed packages (difypkg.signing, `make keys`, `make package SIGN_KEY=…`, `make verify`).

The verifier is held to a package the Dify Marketplace signed and Dify's official public key
(copied from langgenius/dify-plugin-daemon, found by tests/support/shared.py; skipped with a
reason where absent, a failure under CI): it must accept it, and reject it after any change of an
entry, the time or the signature. Our own signatures must verify with our key and not with the
official one. The rules are the daemon's (`signer/withkey/sign_with_key.go`,
`decoder/verifier.go`, `utils/encryption/rsa.go`).
"""

from __future__ import annotations

import base64
import io
import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from difypkg import signing
from difypkg.errors import SignatureError

from tests.support.shared import signing_fixtures

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_SCRIPT = ROOT / "scripts" / "package.py"
SIGNATURE_SCRIPT = ROOT / "scripts" / "signature.py"
FIXTURE_TIME = 1744632035


@pytest.fixture(scope="module")
def official() -> tuple[bytes, Path]:
    """(the Marketplace-signed package, Dify's official public key file)."""
    folder = signing_fixtures()
    return (folder / "langgenius-agent_0.0.14.difypkg").read_bytes(), folder / "official_public_key.pem"


@pytest.fixture(scope="module")
def own_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return signing.generate_keys(tmp_path_factory.mktemp("keys"), "test")


@pytest.fixture(scope="module")
def own_signed(own_keys: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(unsigned, signed) packages of this plugin built by the CLI with our private key."""
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, str(PACKAGE_SCRIPT), "--out", str(out), "--sign-key", str(own_keys[0])],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    unsigned, signed = (Path(line) for line in done.stdout.splitlines())
    assert signed == out / "openai_compatible_bridge-0.2.0.signed.difypkg"
    return unsigned, signed


def rezip(data: bytes, change: dict[str, bytes] | None = None, comment: bytes | None = None) -> bytes:
    """The same entries in the same order (contents replaced per ``change``), the same or a new comment."""
    change = change or {}
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as target:
            for info in source.infolist():
                target.writestr(info, change.get(info.filename, source.read(info)))
            target.comment = source.comment if comment is None else comment
    return out.getvalue()


def comment_of(data: bytes) -> dict:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return json.loads(archive.comment)


# --- the daemon's scheme, held to a Marketplace-signed package --------------------------------------
def test_accepts_the_marketplace_signed_package_with_the_official_key(official: tuple[bytes, Path]) -> None:
    data, key_file = official
    verified = signing.verify_package(data, signing.load_public_key(key_file))
    assert verified.signed_at == FIXTURE_TIME


def test_rezipping_without_changes_keeps_it_valid(official: tuple[bytes, Path]) -> None:
    # the signature covers contents in central-directory order, not the zip's bytes or compression
    data, key_file = official
    signing.verify_package(rezip(data), signing.load_public_key(key_file))


def test_rejects_a_change_of_any_one_entry(official: tuple[bytes, Path]) -> None:
    data, key_file = official
    key = signing.load_public_key(key_file)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        contents = {info.filename: archive.read(info) for info in archive.infolist()}
    assert len(contents) > 10
    for name, content in contents.items():
        for changed in (content + b"\n", content[:-1] if content else b"x"):
            with pytest.raises(SignatureError, match="bad signature"):
                signing.verify_package(rezip(data, {name: changed}), key)


def test_rejects_a_corrupted_byte_inside_the_zip(official: tuple[bytes, Path]) -> None:
    data, key_file = official
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        first = archive.infolist()[0]
    offset = first.header_offset + 30 + len(first.filename.encode()) + len(first.extra) + 2
    corrupted = bytearray(data)
    corrupted[offset] ^= 0xFF
    with pytest.raises(SignatureError):
        signing.verify_package(bytes(corrupted), signing.load_public_key(key_file))


def test_rejects_entries_in_another_order(official: tuple[bytes, Path]) -> None:
    data, key_file = official
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as target:
            for info in reversed(source.infolist()):
                target.writestr(info, source.read(info))
            target.comment = source.comment
    with pytest.raises(SignatureError, match="bad signature"):
        signing.verify_package(out.getvalue(), signing.load_public_key(key_file))


@pytest.mark.parametrize("delta", [1, -1, 3600])
def test_rejects_a_changed_time(official: tuple[bytes, Path], delta: int) -> None:
    data, key_file = official
    comment = comment_of(data)
    comment["time"] += delta
    with pytest.raises(SignatureError, match="bad signature"):
        signing.verify_package(rezip(data, comment=json.dumps(comment).encode()), signing.load_public_key(key_file))


@pytest.mark.parametrize("index", [0, 255, -1])
def test_rejects_a_changed_signature(official: tuple[bytes, Path], index: int) -> None:
    data, key_file = official
    comment = comment_of(data)
    raw = bytearray(base64.b64decode(comment["signature"]))
    raw[index] ^= 0x01
    comment["signature"] = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(SignatureError, match="bad signature"):
        signing.verify_package(rezip(data, comment=json.dumps(comment).encode()), signing.load_public_key(key_file))


@pytest.mark.parametrize(
    ("comment", "message"),
    [
        (b"", "not signed"),
        (b"hello", "not the signature JSON"),
        (b'{"signature": "", "time": 1}', "not signed"),
        (b'{"signature": "@@@", "time": 1}', "not standard base64"),
        (b'{"signature": "AAAA", "time": "1744632035"}', "time must be an integer"),
    ],
)
def test_unsigned_or_malformed_comments_say_what_is_wrong(
    official: tuple[bytes, Path], comment: bytes, message: str
) -> None:
    data, key_file = official
    with pytest.raises(SignatureError, match=message):
        signing.verify_package(rezip(data, comment=comment), signing.load_public_key(key_file))


# --- our own signatures -------------------------------------------------------------------------------
def test_own_signed_package_verifies_with_own_key_only(
    own_signed: tuple[Path, Path], own_keys: tuple[Path, Path], official: tuple[bytes, Path]
) -> None:
    _, signed = own_signed
    data = signed.read_bytes()
    verified = signing.verify_package(data, signing.load_public_key(own_keys[1]))
    assert verified.category is None
    with pytest.raises(SignatureError, match="bad signature"):
        signing.verify_package(data, signing.load_public_key(official[1]))


def test_signed_package_holds_the_unsigned_entries_unchanged_and_no_directories(own_signed: tuple[Path, Path]) -> None:
    unsigned, signed = own_signed
    with zipfile.ZipFile(unsigned) as plain, zipfile.ZipFile(signed) as with_signature:
        assert [i.filename for i in plain.infolist()] == [i.filename for i in with_signature.infolist()]
        for info in with_signature.infolist():
            assert not info.is_dir() and not info.filename.endswith("/"), info.filename
            assert with_signature.read(info) == plain.read(info.filename)
        assert plain.comment == b""
    comment = comment_of(signed.read_bytes())
    assert set(comment) == {"signature", "time"} and isinstance(comment["time"], int)
    assert len(base64.b64decode(comment["signature"], validate=True)) == 512  # RSA-4096


def test_signing_is_deterministic_for_a_given_time(own_keys: tuple[Path, Path], own_signed: tuple[Path, Path]) -> None:
    unsigned = own_signed[0].read_bytes()
    key = signing.load_private_key(own_keys[0])
    assert signing.sign_package(unsigned, key, 1_800_000_000) == signing.sign_package(unsigned, key, 1_800_000_000)


def test_verification_file_is_signed_and_must_parse(own_keys: tuple[Path, Path], own_signed: tuple[Path, Path]) -> None:
    key = signing.load_private_key(own_keys[0])
    public = signing.load_public_key(own_keys[1])

    def with_verification(content: bytes) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(own_signed[0]) as source, zipfile.ZipFile(out, "w") as target:
            for info in source.infolist():
                target.writestr(info, source.read(info))
            target.writestr(signing.VERIFICATION_ENTRY, content)
        return out.getvalue()

    good = signing.sign_package(with_verification(b'{"authorized_category": "community"}'), key)
    assert signing.verify_package(good, public).category == "community"
    changed = rezip(good, {signing.VERIFICATION_ENTRY: b'{"authorized_category": "langgenius"}'})
    with pytest.raises(SignatureError, match="bad signature"):
        signing.verify_package(changed, public)
    broken = signing.sign_package(with_verification(b"{not json"), key)
    with pytest.raises(SignatureError, match="does not parse"):
        signing.verify_package(broken, public)


def test_a_bad_sign_key_fails_before_anything_is_written(tmp_path: Path, own_keys: tuple[Path, Path]) -> None:
    done = subprocess.run(
        [sys.executable, str(PACKAGE_SCRIPT), "--out", str(tmp_path / "out"), "--sign-key", str(own_keys[1])],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 1
    assert "this is a public key; signing needs the private key" in done.stderr
    assert not (tmp_path / "out").exists()


# --- keys -----------------------------------------------------------------------------------------------
def test_generated_keys_are_pkcs1_rsa_4096_and_the_private_one_is_0600_from_creation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no chmod afterwards: the file must never exist with wider permissions
    def no_chmod(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("mode changed after creation")

    monkeypatch.setattr(os, "chmod", no_chmod)
    monkeypatch.setattr(os, "fchmod", no_chmod)
    old_umask = os.umask(0)  # a permissive umask must not widen the private key
    try:
        private, public = signing.generate_keys(tmp_path / "keys", "me")
    finally:
        os.umask(old_umask)
    assert (private.name, public.name) == ("me.private.pem", "me.public.pem")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    private_pem, public_pem = private.read_bytes(), public.read_bytes()
    assert private_pem.startswith(b"-----BEGIN RSA PRIVATE KEY-----\n")
    assert public_pem.startswith(b"-----BEGIN RSA PUBLIC KEY-----\n")
    assert public_pem.endswith(b"-----END RSA PUBLIC KEY-----\n")  # nothing after it: the daemon refuses that
    key = serialization.load_pem_private_key(private_pem, password=None)
    assert key.key_size == 4096
    assert signing.load_public_key(public).public_numbers() == key.public_key().public_numbers()


def test_keys_are_never_overwritten(tmp_path: Path) -> None:
    private, public = signing.generate_keys(tmp_path, "me")
    before = private.read_bytes(), public.read_bytes()
    with pytest.raises(SignatureError, match="not overwriting"):
        signing.generate_keys(tmp_path, "me")
    assert (private.read_bytes(), public.read_bytes()) == before
    private.unlink()  # only the public key left: still refused, no new private key
    with pytest.raises(SignatureError, match="not overwriting"):
        signing.generate_keys(tmp_path, "me")
    assert not private.exists() and public.read_bytes() == before[1]


def test_spki_public_key_is_refused_with_the_conversion(tmp_path: Path, own_keys: tuple[Path, Path]) -> None:
    key = signing.load_public_key(own_keys[1])
    spki = tmp_path / "spki.pem"
    spki.write_bytes(key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(SignatureError, match=r"BEGIN PUBLIC KEY.*convert to PKCS#1.*-RSAPublicKey_out"):
        signing.load_public_key(spki)


def test_trailing_blank_line_is_refused_like_the_daemon_does(tmp_path: Path, own_keys: tuple[Path, Path]) -> None:
    padded = tmp_path / "padded.pem"
    padded.write_bytes(own_keys[1].read_bytes().rstrip(b"\n") + b"\n\n")
    with pytest.raises(SignatureError, match=r"a blank line after '-----END RSA PUBLIC KEY-----'.*refuses"):
        signing.load_public_key(padded)


def test_crlf_and_a_missing_final_newline_pass_like_in_the_daemon(tmp_path: Path, own_keys: tuple[Path, Path]) -> None:
    text = own_keys[1].read_bytes()
    crlf = tmp_path / "crlf.pem"
    crlf.write_bytes(text.replace(b"\n", b"\r\n"))
    bare = tmp_path / "bare.pem"
    bare.write_bytes(text.rstrip(b"\n"))
    expected = signing.load_public_key(own_keys[1]).public_numbers()
    assert signing.load_public_key(crlf).public_numbers() == expected
    assert signing.load_public_key(bare).public_numbers() == expected


def test_private_key_given_as_the_public_key_is_refused(own_keys: tuple[Path, Path]) -> None:
    with pytest.raises(SignatureError, match=r"this is a private key.*give the public key"):
        signing.load_public_key(own_keys[0])


def test_not_a_key_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("hello\n")
    with pytest.raises(SignatureError, match="not a PEM key file"):
        signing.load_public_key(junk)
    with pytest.raises(SignatureError, match="cannot read"):
        signing.load_public_key(tmp_path / "missing.pem")


# --- the command line -------------------------------------------------------------------------------------
def run_signature(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SIGNATURE_SCRIPT), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_verify_command_accepts_and_rejects_with_one_line(official: tuple[bytes, Path], tmp_path: Path) -> None:
    data, key_file = official
    original = tmp_path / "agent.difypkg"
    original.write_bytes(data)
    ok = run_signature("verify", str(original), "--key", str(key_file))
    assert ok.returncode == 0, ok.stderr
    assert f"signature OK (signed at {FIXTURE_TIME}" in ok.stdout
    comment = comment_of(data)
    comment["time"] += 1
    tampered = tmp_path / "tampered.difypkg"
    tampered.write_bytes(rezip(data, comment=json.dumps(comment).encode()))
    bad = run_signature("verify", str(tampered), "--key", str(key_file))
    assert bad.returncode == 1 and not bad.stdout
    assert bad.stderr.startswith("signature: bad signature") and bad.stderr.count("\n") == 1


def test_verify_command_explains_a_wrong_key_file_in_one_line(official: tuple[bytes, Path], tmp_path: Path) -> None:
    data, key_file = official
    original = tmp_path / "agent.difypkg"
    original.write_bytes(data)
    padded = tmp_path / "padded.pem"
    padded.write_bytes(key_file.read_bytes().rstrip(b"\n") + b"\n\n")  # the official file has no final newline
    bad = run_signature("verify", str(original), "--key", str(padded))
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1
    assert "blank line" in bad.stderr


def test_generate_command_writes_keys_and_refuses_a_second_time(tmp_path: Path) -> None:
    first = run_signature("generate", "--dir", "keys", "--name", "mine", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "keys/mine.private.pem" in first.stdout and "keys/mine.public.pem" in first.stdout
    assert stat.S_IMODE((tmp_path / "keys" / "mine.private.pem").stat().st_mode) == 0o600
    again = run_signature("generate", "--dir", "keys", "--name", "mine", cwd=tmp_path)
    assert again.returncode == 1 and "not overwriting" in again.stderr


def test_keys_folder_is_git_ignored() -> None:
    done = subprocess.run(["git", "check-ignore", "-q", "keys/signing.private.pem"], cwd=ROOT, check=False, timeout=30)
    assert done.returncode == 0, "keys/ must be in .gitignore: a committed private key is a leaked key"
