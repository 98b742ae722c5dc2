"""``python -m benchmarks``: run every benchmark and write the report (see run.py)."""

import sys

from benchmarks.run import main

sys.exit(main())
