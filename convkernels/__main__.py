"""``python -m convkernels``: see convkernels/cli.py."""

import sys

from convkernels.cli import main

sys.exit(main())
