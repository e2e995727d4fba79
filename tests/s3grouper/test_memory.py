import os
import subprocess
import sys

import pytest

CHECK = (
    "import s3grouper.cli, pyarrow as pa; from s3grouper.grouper import return_freed_memory; "
    "return_freed_memory(); print(pa.default_memory_pool().backend_name)"
)


@pytest.mark.skipif(sys.platform != "linux", reason="jemalloc is chosen on Linux only")
@pytest.mark.parametrize(("preset", "backend"), [(None, "jemalloc"), ("system", "system")])
def test_arrow_allocator_of_the_grouper_process(preset, backend):
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if preset:
        env["ARROW_DEFAULT_MEMORY_POOL"] = preset  # the user's choice wins
    out = subprocess.run(
        [sys.executable, "-c", CHECK], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == backend
    assert out.stderr == ""
