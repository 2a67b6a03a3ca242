"""``python -m tpesim`` runs the CLI."""

import sys

from tpesim.cli.entry import main

sys.exit(main())
