"""`python -m vocation_local.demo`."""

import sys

from vocation_local.demo.cli import main

sys.exit(main())
