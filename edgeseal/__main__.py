import sys

from edgeseal.cli import main

sys.exit(main())
