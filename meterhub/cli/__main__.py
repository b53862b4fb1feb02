"""``python -m meterhub.cli``."""

import sys

from meterhub.cli import main

sys.exit(main())
