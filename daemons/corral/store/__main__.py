"""`python -m corral.store`: the same as the `corral-store` command."""

import sys

from corral.store.cli import main

sys.exit(main())
