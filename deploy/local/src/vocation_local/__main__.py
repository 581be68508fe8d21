"""`python -m vocation_local up|down|status|fetch`."""

import sys

from vocation_local.cli import main

sys.exit(main())
