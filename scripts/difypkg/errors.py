"""The one error type of the packager, signer and verifier."""


class PackageError(Exception):
    """The plugin cannot be packaged, signed or verified (the message says what to fix)."""


class SignatureError(PackageError):
    """A package's signature does not verify, or a key file is unusable."""
