"""The Ledger bounded context: money, accounts, transfers and their use cases."""
