"""Side-by-side performance benchmarks: `python -m bench.run [--quick] [--write-docs]` (see README.md)."""
