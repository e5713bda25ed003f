"""Allow ``python -m alpool``."""

from alpool.cli import main

main()
