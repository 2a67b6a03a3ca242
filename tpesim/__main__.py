"""``python -m tpesim`` runs the CLI."""

import sys

from tpesim.entry import main

sys.exit(main())
