"""Check a built ``.difypkg`` against the Dify Marketplace's blocking rules before submitting it.

    python scripts/precheck.py PACKAGE.difypkg [--strict] [--no-install]

Runs the rules of ``difypkg.marketplace`` (manifest, README, secrets, contents, dependencies,
compile and icon) on the unpacked package, then installs it like Dify's daemon (``uv``) and starts
it the serverless way, as the Marketplace's install test does (``difypkg.install``; a free
loopback port, or 0.0.0.0:8080 with ``--strict``). Prints each check's findings the way the
Marketplace's report does ("<check> errors:" / "- …", then "<check> check passed") and exits 1
when any check has an error.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from difypkg import install, marketplace
from difypkg.errors import PackageError
from difypkg.marketplace import Findings, Unpacked


def _install_check(strict: bool) -> Callable[[Unpacked], Findings]:
    def check(pkg: Unpacked) -> Findings:
        found = Findings()
        try:
            install.install(pkg.root)
            found.warnings.append(install.serve_check(pkg.root, strict=strict))
        except PackageError as exc:
            found.errors.append(str(exc))
        return found

    return check


def checks(*, strict: bool, with_install: bool) -> list[tuple[str, Callable[[Unpacked], Findings]]]:
    """(name, check) in the order they run; contents first, before compiling adds files."""
    found: list[tuple[str, Callable[[Unpacked], Findings]]] = [
        ("Package contents", marketplace.contents_findings),
        ("Manifest metadata", marketplace.manifest_findings),
        ("README metadata", marketplace.readme_findings),
        ("Package secrets", marketplace.secrets_findings),
        ("Package dependencies", marketplace.dependencies_findings),
        ("Python compile and icon", marketplace.python_findings),
    ]
    if with_install:
        found.append(("Plugin install", _install_check(strict)))
    return found


def report(name: str, found: Findings, write: Callable[[str], object]) -> None:
    if found.errors:
        write(f"{name} errors:\n" + "".join(f"- {line}\n" for line in found.errors))
    if found.warnings:
        title = "notes" if name == "Plugin install" else "warnings"
        write(f"{name} {title}:\n" + "".join(f"- {line}\n" for line in found.warnings))
    if found.ok:
        write(f"{name} check passed\n")


def run(argv: Sequence[str] | None = None, write: Callable[[str], object] = sys.stdout.write) -> int:
    parser = argparse.ArgumentParser(description="Check a .difypkg against the Dify Marketplace's rules.")
    parser.add_argument("package", type=Path, help="the .difypkg to check")
    parser.add_argument("--strict", action="store_true", help="serve on 0.0.0.0:8080, as the Marketplace does")
    parser.add_argument("--no-install", action="store_true", help="skip the install-and-serve test")
    args = parser.parse_args(argv)
    errors = 0
    with tempfile.TemporaryDirectory(prefix="precheck-") as work:
        try:
            pkg = marketplace.unpack(args.package, Path(work) / "plugin")
        except PackageError as exc:
            write(f"precheck: {exc}\n")
            return 1
        write(f"Checking {args.package} ({len(pkg.files)} files)\n")
        for name, check in checks(strict=args.strict, with_install=not args.no_install):
            found = check(pkg)
            report(name, found, write)
            errors += len(found.errors)
    write("precheck passed\n" if not errors else f"precheck failed: {errors} blocking error(s)\n")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(run())
