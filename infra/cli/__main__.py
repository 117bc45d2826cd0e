"""`python -m infra.cli`: the `ledger` command."""

from infra.cli.app import main

main()
