"""``python -m tpesim`` runs the CLI."""

import sys

from tpesim.cli import main

sys.exit(main())
