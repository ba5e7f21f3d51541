"""Allow ``python -m cityshare``."""

from cityshare.cli import main

main()
