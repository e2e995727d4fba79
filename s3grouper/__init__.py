"""s3grouper: S3 Inventory report -> size- and count-bounded sub-manifests for s3bundler."""

import os
import sys

# Arrow picks its allocator when pyarrow is imported, so this is set before any s3grouper module
# imports it: jemalloc, which run_grouper then tells to return freed pages within 0.1 s. With
# Arrow's default (mimalloc) the pages of the batches already processed stayed mapped: ~70 MiB
# more peak RSS for a 1M-row inventory. An ARROW_DEFAULT_MEMORY_POOL already set wins; Linux
# wheels of pyarrow have jemalloc built in.
if sys.platform == "linux":
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")
