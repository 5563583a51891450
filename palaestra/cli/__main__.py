"""``python -m palaestra.cli``: the ``palaestra`` command."""

import sys

from palaestra.cli import main

sys.exit(main())
