import sys

from s3bundler.cli import main

sys.exit(main())
