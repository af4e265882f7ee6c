"""`python -m ser`: the `ser` command (ser/cli.py)."""
import sys

from ser.cli import main

sys.exit(main())
