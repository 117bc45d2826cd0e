"""The local stack: installs and runs PostgreSQL, Kafka, a MongoDB-wire server and Redis.

Entry points live in `infra.stack.lifecycle` (`stack_up`, `stack_down`, `stack_status`) and
`infra.cli.stack` (`ledger stack up|down|status`); nothing is imported here so that the small
`infra.stack.processes` helpers stay cheap to import for the application's own processes.
"""
