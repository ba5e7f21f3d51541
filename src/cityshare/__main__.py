"""Allow ``python -m cityshare``."""

from cityshare.cli.app import main

main()
