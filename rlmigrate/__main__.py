"""``python -m rlmigrate``: the ``rlmigrate`` console script."""

import sys

from rlmigrate.cli import main

sys.exit(main())
