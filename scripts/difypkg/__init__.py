"""Build, check, sign and verify a Dify plugin package the way Dify's CLI and daemon do.

One job per module: ``ignore`` (.difyignore and the walk), ``rules`` (what the daemon requires of
manifest.yaml and the provider YAML), ``archive`` (the reproducible zip), ``signing`` (keys,
signature, verification), ``marketplace`` (the Marketplace's blocking rules), ``install`` (install
and start a package like the daemon and the Marketplace), ``publish`` (the Marketplace values in
a staged copy). ``scripts/package.py``, ``scripts/signature.py`` and ``scripts/precheck.py`` are
the command lines; the tests import these modules, so the checks exist once.
"""
