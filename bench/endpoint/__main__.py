"""``python -m bench.endpoint --port P ...``: serve the benchmark endpoint in this process."""

from bench.endpoint import main

main()
