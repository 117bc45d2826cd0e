"""The chaos suite: a Ledger of its own, a retrying workload, one fault after another, checks."""
