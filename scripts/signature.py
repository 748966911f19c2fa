"""Key pairs and signature checks for Dify plugin packages, like ``dify signature generate|verify``.

    python scripts/signature.py generate [--dir keys] [--name NAME]
    python scripts/signature.py verify PACKAGE.difypkg --key NAME.public.pem

``generate`` writes ``NAME.private.pem`` (mode 0600) and ``NAME.public.pem`` (RSA-4096, PKCS#1 PEM)
and never overwrites a key. ``verify`` checks the package exactly as Dify's plugin daemon does
and exits 1 with a one-line reason when it does not verify. Signing is ``package.py --sign-key``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from difypkg.errors import PackageError
from difypkg.signing import generate_keys, load_public_key, verify_package


def main(argv: Sequence[str] | None = None) -> str:
    """Run one command; returns what to print. Failures raise ``PackageError``."""
    parser = argparse.ArgumentParser(description="Make a signing key pair, or verify a signed .difypkg.")
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser("generate", help="make NAME.private.pem and NAME.public.pem")
    generate.add_argument("--dir", type=Path, default=Path("keys"), help="where to write them (default: keys)")
    generate.add_argument("--name", default="signing", help="file name stem (default: signing)")
    verify = commands.add_parser("verify", help="check a package's signature like Dify's plugin daemon")
    verify.add_argument("package", type=Path)
    verify.add_argument("--key", type=Path, required=True, help="public key (PKCS#1 PEM)")
    args = parser.parse_args(argv)

    if args.command == "generate":
        private, public = generate_keys(args.dir, args.name)
        return (
            f"{private} (private: keep it secret, sign with `make package SIGN_KEY={private}`)\n"
            f"{public} (public: give it to Dify's plugin daemon)"
        )
    key = load_public_key(args.key)
    try:
        data = args.package.read_bytes()
    except OSError as exc:
        raise PackageError(f"{args.package}: cannot read ({exc.strerror or exc})") from exc
    verified = verify_package(data, key)
    category = verified.category or "none (the daemon treats it as langgenius)"
    return f"{args.package}: signature OK (signed at {verified.signed_at}, category {category})"


if __name__ == "__main__":
    try:
        output = main()
    except PackageError as exc:
        sys.stderr.write("signature: " + " ".join(str(exc).split()) + "\n")  # one line

        sys.exit(1)
    sys.stdout.write(f"{output}\n")
