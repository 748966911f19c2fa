"""Build the plugin's ``.difypkg`` exactly as Dify's CLI ``dify plugin package`` does, reproducibly.

    python scripts/package.py [--out DIR] [--root DIR] [--max-size MB] [--sign-key PRIVATE.pem]
                              [--marketplace] [--repo URL --contact EMAIL --author ACCOUNT]

writes ``DIR/<name>-<version>.difypkg`` (default ``dist/`` in the plugin directory), prints its
path and returns it from ``main()``. With ``--sign-key`` it also writes
``<name>-<version>.signed.difypkg`` beside it, signed like ``dify signature sign``. With
``--repo/--contact/--author`` (or ``marketplace.toml``, or ``--marketplace`` to insist) it is a
Marketplace build: ``publish`` writes the values into a staged copy, which is packaged instead.

The work is in ``scripts/difypkg/`` (one implementation, also used by the tests):

* ``rules``: validate first: the daemon's manifest and provider YAML rules, ``_assets/`` and the
  icons in it, and that every file the declarations name is packed;
* ``ignore``: walk the plugin directory like the CLI (``.difyignore``, else ``.gitignore``;
  go-git patterns; no built-in ignores; directory symlinks not followed);
* ``archive``: fail above ``--max-size`` MiB uncompressed (50 by default) naming the largest
  files, then write a plain zip: one deflated entry per file, sorted, no directory entries, fixed
  timestamps, permissions and compression level, so two builds give the same bytes;
* ``signing``: the signature in the zip comment;
* ``publish``: the Marketplace values (repository, contact, account) in a staged copy.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from difypkg.archive import DEFAULT_MAX_SIZE_MB, build_archive, check_size, write_file
from difypkg.errors import PackageError
from difypkg.ignore import IgnorePattern, IgnoreRules, collect_files
from difypkg.publish import Publisher, publisher, stage
from difypkg.rules import validate

ROOT = Path(__file__).resolve().parents[1]

__all__ = [
    "ROOT",
    "IgnorePattern",
    "IgnoreRules",
    "PackageError",
    "build_archive",
    "collect_files",
    "main",
    "package",
    "run",
    "signed_name",
    "validate",
]


def signed_name(unsigned: Path) -> Path:
    """``x.difypkg`` -> ``x.signed.difypkg``, the name ``dify signature sign`` gives."""
    return unsigned.with_name(f"{unsigned.name.removesuffix('.difypkg')}.signed.difypkg")


def package(
    root: Path = ROOT,
    out_dir: Path | None = None,
    max_size: int = DEFAULT_MAX_SIZE_MB << 20,
    sign_key: Path | None = None,
    publish: Publisher | None = None,
) -> Path:
    """Validate, select, size-check and write ``<out_dir>/<name>-<version>.difypkg`` (and the
    ``.signed.difypkg`` when ``sign_key`` is given). With ``publish``, the package of a staged
    copy holding the Marketplace values. Returns the unsigned package's path."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise PackageError(f"{root} is not a directory")
    out_dir = Path(out_dir) if out_dir is not None else root / "dist"
    if publish is not None:
        with tempfile.TemporaryDirectory(prefix="difypkg-stage-") as staging:
            staged = stage(root, collect_files(root), publish, Path(staging) / root.name)
            return package(staged, out_dir.resolve(), max_size, sign_key)
    key = None
    if sign_key is not None:
        from difypkg.signing import load_private_key  # cryptography is needed only to sign

        key = load_private_key(sign_key)  # before building: a bad key leaves nothing behind
    files = collect_files(root)
    manifest = validate(root, files)
    check_size(root, files, max_size)
    data = build_archive(root, files)
    target = write_file(out_dir / f"{manifest['name']}-{manifest['version']}.difypkg", data)
    if key is not None:
        from difypkg.signing import sign_package

        write_file(signed_name(target), sign_package(data, key))
    return target


def run(argv: Sequence[str] | None = None) -> list[Path]:
    """The command line: the packages written, unsigned first."""
    parser = argparse.ArgumentParser(description="Build the plugin's .difypkg like `dify plugin package`.")
    parser.add_argument("--out", type=Path, default=None, help="output directory (default: <root>/dist)")
    parser.add_argument("--root", type=Path, default=ROOT, help="plugin directory (default: this checkout)")
    parser.add_argument(
        "--max-size", type=int, default=DEFAULT_MAX_SIZE_MB, help="uncompressed size limit in MiB (default 50)"
    )
    parser.add_argument(
        "--sign-key",
        type=Path,
        default=None,
        help="private key (PKCS#1 PEM): also write <name>-<version>.signed.difypkg",
    )
    marketplace = parser.add_argument_group("Marketplace build (all three, or marketplace.toml)")
    marketplace.add_argument("--marketplace", action="store_true", help="stop unless the values below are set")
    marketplace.add_argument("--repo", help="source repository URL (manifest repo, README link, provider help)")
    marketplace.add_argument("--contact", help="contact e-mail address (manifest contact)")
    marketplace.add_argument("--author", help="Marketplace account (manifest author)")
    args = parser.parse_args(argv)
    max_mb = args.max_size if args.max_size > 0 else DEFAULT_MAX_SIZE_MB  # the CLI's fallback too
    given = {"repo": args.repo, "contact": args.contact, "author": args.author}
    publish = publisher(args.root, given, requested=args.marketplace)
    unsigned = package(args.root, args.out, max_mb << 20, args.sign_key, publish)
    return [unsigned, signed_name(unsigned)] if args.sign_key is not None else [unsigned]


def main(argv: Sequence[str] | None = None) -> Path:
    """Build; returns the unsigned package's path."""
    return run(argv)[0]


if __name__ == "__main__":
    try:
        written = run()
    except PackageError as exc:
        sys.stderr.write(f"package: {exc}\n")
        sys.exit(1)
    sys.stdout.write("".join(f"{path}\n" for path in written))
