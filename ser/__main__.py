"""`python -m ser`: the `ser` command (ser/use/cli.py)."""
import sys

from ser.use.cli import main

sys.exit(main())
