"""Sign and verify a ``.difypkg`` exactly as Dify's plugin daemon does, and make its key pair.

dify-plugin-daemon ``signer/withkey/sign_with_key.go``, ``decoder/verifier.go``,
``utils/encryption/rsa.go``:

* signed data: the SHA-256 digest of every entry's uncompressed content, in central-directory
  order (``.verification.dify.json`` included, like any entry), then the signing time in Unix
  seconds as decimal ASCII;
* RSA PKCS#1 v1.5 over SHA-256; the zip comment holds ``{"signature": <base64>, "time": <int>}``;
* keys are RSA-4096 PEM in PKCS#1 form only (``RSA PRIVATE KEY`` / ``RSA PUBLIC KEY``), and the
  daemon refuses any byte after the PEM block.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import time as _time
import zipfile
import zlib
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from difypkg.archive import with_comment
from difypkg.errors import SignatureError

KEY_BITS = 4096
VERIFICATION_ENTRY = ".verification.dify.json"
CATEGORIES = ("langgenius", "partner", "community")

_PEM_BEGIN = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")


# --- keys --------------------------------------------------------------------------------------
def generate_keys(directory: Path, name: str) -> tuple[Path, Path]:
    """Write ``NAME.private.pem`` (mode 0600 from its creation) and ``NAME.public.pem`` under
    ``directory``, like ``dify signature generate -f NAME``. Refuses to overwrite either file."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name.startswith("."):
        raise SignatureError(f"key name {name!r}: use letters, digits, '_', '-' and '.' only")
    directory = Path(directory)
    private_path = directory / f"{name}.private.pem"
    public_path = directory / f"{name}.public.pem"
    existing = [str(p) for p in (private_path, public_path) if p.exists() or p.is_symlink()]
    if existing:
        raise SignatureError(
            f"{' and '.join(existing)} already exist(s): not overwriting a key (packages signed with it would "
            "no longer verify); remove it yourself or choose another name"
        )
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
    directory.mkdir(parents=True, exist_ok=True)
    # O_EXCL: never replace a file that appeared meanwhile; 0o600 at creation: never readable by others
    _write_new(private_path, private_pem, 0o600)
    try:
        _write_new(public_path, public_pem, 0o644)
    except BaseException:
        private_path.unlink(missing_ok=True)
        raise
    return private_path, public_path


def _write_new(path: Path, data: bytes, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError as exc:
        raise SignatureError(f"{path} already exists: not overwriting a key") from exc
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _pem_block(path: Path, expected: str) -> tuple[str, bytes]:
    """(block type, whole file) after the checks the daemon's loader makes on the file itself."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SignatureError(f"{path}: cannot read the key file ({exc.strerror or exc})") from exc
    match = _PEM_BEGIN.search(data)
    if match is None:
        raise SignatureError(f"{path}: not a PEM key file (no '-----BEGIN {expected}-----' line)")
    kind = match.group(1).decode("ascii")
    end = data.find(f"-----END {kind}-----".encode(), match.end())
    if end == -1:
        raise SignatureError(f"{path}: the PEM block has no '-----END {kind}-----' line")
    # Go's pem.Decode returns what follows the END line's newline; the daemon wants nothing there
    newline = data.find(b"\n", end)
    rest = b"" if newline == -1 else data[newline + 1 :]
    if rest:
        what = "a blank line" if not rest.strip() else f"{len(rest)} more bytes"
        raise SignatureError(
            f"{path}: {what} after '-----END {kind}-----'; Dify's daemon refuses such a key file: delete everything "
            "after that line"
        )
    return kind, data


def load_public_key(path: Path) -> rsa.RSAPublicKey:
    """A public key file as the daemon accepts it, or ``SignatureError`` saying what is wrong."""
    kind, data = _pem_block(path, "RSA PUBLIC KEY")
    if kind == "PUBLIC KEY":
        raise SignatureError(
            f"{path}: a 'BEGIN PUBLIC KEY' (SPKI) file; Dify's daemon reads PKCS#1 only: convert to PKCS#1 with "
            f"`openssl rsa -pubin -in {Path(path).name} -RSAPublicKey_out -out NAME.public.pem`"
        )
    if "PRIVATE KEY" in kind:
        raise SignatureError(
            f"{path}: this is a private key ({kind}); give the public key (NAME.public.pem) here, and keep the "
            "private key to yourself"
        )
    if kind != "RSA PUBLIC KEY":
        raise SignatureError(f"{path}: a '{kind}' PEM block, not an 'RSA PUBLIC KEY'")
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise SignatureError(f"{path}: the RSA PUBLIC KEY block does not parse ({exc})") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise SignatureError(f"{path}: not an RSA key")
    return key


def load_private_key(path: Path) -> rsa.RSAPrivateKey:
    """A private key file as ``dify signature sign`` accepts it (PKCS#1 PEM, nothing after it)."""
    kind, data = _pem_block(path, "RSA PRIVATE KEY")
    if "PUBLIC KEY" in kind:
        raise SignatureError(f"{path}: this is a public key; signing needs the private key (NAME.private.pem)")
    if kind != "RSA PRIVATE KEY":
        raise SignatureError(
            f"{path}: a '{kind}' PEM block; Dify's tools read PKCS#1 'RSA PRIVATE KEY' files: convert with "
            f"`openssl rsa -in {Path(path).name} -traditional -out NAME.private.pem`"
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise SignatureError(f"{path}: the RSA PRIVATE KEY block does not parse ({exc})") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SignatureError(f"{path}: not an RSA key")
    return key


# --- what is signed ------------------------------------------------------------------------------
def signed_data(archive: zipfile.ZipFile, signed_at: int) -> bytes:
    """Digests of every entry's content in central-directory order, then the time as ASCII."""
    digests = b"".join(hashlib.sha256(archive.read(info)).digest() for info in archive.infolist())
    return digests + str(signed_at).encode("ascii")


def sign_package(data: bytes, key: rsa.RSAPrivateKey, signed_at: int | None = None) -> bytes:
    """The package ``data`` with its signature in the zip comment (any old comment is replaced)."""
    signed_at = int(_time.time()) if signed_at is None else signed_at
    with zipfile.ZipFile(BytesIO(data)) as archive:
        message = signed_data(archive, signed_at)
    signature = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    comment = json.dumps({"signature": base64.b64encode(signature).decode("ascii"), "time": signed_at})
    return with_comment(data, comment.encode("ascii"))


@dataclass(frozen=True)
class Verified:
    signed_at: int
    category: str | None
    """``authorized_category`` of ``.verification.dify.json``; None when the package has none
    (the daemon then treats the package as ``langgenius``)."""


def verify_package(data: bytes, key: rsa.RSAPublicKey) -> Verified:
    """Check ``data`` like the daemon; ``SignatureError`` with a one-line reason when it fails."""
    try:
        archive = zipfile.ZipFile(BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise SignatureError(f"not a zip file ({exc})") from exc
    with archive:
        if not archive.comment:
            raise SignatureError("not signed: the zip comment is empty")
        try:
            comment = json.loads(archive.comment)
        except ValueError as exc:
            raise SignatureError("the zip comment is not the signature JSON") from exc
        if not isinstance(comment, dict):
            raise SignatureError("the zip comment is not the signature JSON")
        signed_at = comment.get("time")
        if not isinstance(signed_at, int) or isinstance(signed_at, bool):
            raise SignatureError(f"the signature's time must be an integer, not {signed_at!r}")
        try:
            signature = base64.b64decode(comment.get("signature") or "", validate=True)
        except (binascii.Error, TypeError, ValueError) as exc:
            raise SignatureError("the signature is not standard base64") from exc
        if not signature:
            raise SignatureError("not signed: the zip comment holds no signature")
        try:
            message = signed_data(archive, signed_at)
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:  # e.g. a CRC mismatch
            raise SignatureError(f"an entry cannot be read ({exc})") from exc
        try:
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature as exc:
            raise SignatureError(
                "bad signature: the package was changed after signing, or it was signed with another key"
            ) from exc
        category = None
        if VERIFICATION_ENTRY in archive.namelist():
            try:
                verification = json.loads(archive.read(VERIFICATION_ENTRY))
                category = verification["authorized_category"]
            except (ValueError, KeyError, TypeError) as exc:
                raise SignatureError(
                    f"{VERIFICATION_ENTRY} does not parse: the daemon counts it as unverified"
                ) from exc
    return Verified(signed_at, category)
