"""`python -m scorer` runs the `provscore` command."""

from scorer.cli import main

main()
