"""The s3bundler benchmark (``make bench``, ``python -m bench``); see docs/performance.md."""
