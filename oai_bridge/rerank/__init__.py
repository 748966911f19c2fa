"""Rerank over any server's shape: request bodies and answers (shapes), ordering (ranking),
and the calls themselves (run: path detection, batches, concurrency)."""
