"""Build, check, sign and verify a Dify plugin package the way Dify's CLI and daemon do.

One job per module: ``ignore`` (.difyignore and the walk), ``rules`` (what the daemon requires of
manifest.yaml and the provider YAML), ``archive`` (the reproducible zip), ``signing`` (keys,
signature, verification). ``scripts/package.py`` and ``scripts/signature.py`` are the command
lines; the tests import these modules, so the checks exist once.
"""
