"""`python -m latentlab.browser screenshots`: see screenshots.py."""

import sys

from .screenshots import main

sys.exit(main())
