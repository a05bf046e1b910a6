"""`python -m generator` runs the `catalog` command line."""

from generator.cli import main

main()
