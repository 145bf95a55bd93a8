"""`python -m latentlab.classroom …`: see arguments.py."""

import sys

from .arguments import main

sys.exit(main())
