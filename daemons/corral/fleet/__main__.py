"""`python -m corral.fleet` runs corral-fleet."""

import sys

from corral.fleet.cli import main

sys.exit(main())
