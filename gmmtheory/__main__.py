"""``python -m gmmtheory`` runs the command-line interface."""

import sys

from gmmtheory.cli import main

sys.exit(main())
