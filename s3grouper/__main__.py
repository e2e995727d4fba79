"""``python -m s3grouper``."""

import sys

from s3grouper.cli import main

sys.exit(main())
