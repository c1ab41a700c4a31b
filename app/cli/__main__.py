"""`python -m app.cli`: the `masq` command, as `masq serve` starts its worker."""

from app.cli import main

main()
