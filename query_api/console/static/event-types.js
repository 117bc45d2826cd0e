// The Ledger's public event types, as domain/envelope.py's EVENT_TOPICS names them
// (tests/e2e/test_console.py holds the two lists equal).

export const ACCOUNT_EVENT_TYPES = [
  "AccountOpened",
  "FundsDeposited",
  "FundsWithdrawn",
  "AccountFrozen",
  "AccountUnfrozen",
  "AccountClosed",
  "TransferDebited",
  "TransferCredited",
  "TransferDebitReversed",
];

export const TRANSFER_EVENT_TYPES = ["TransferRequested", "TransferCompleted", "TransferFailed"];

export const EVENT_TYPES = [...ACCOUNT_EVENT_TYPES, ...TRANSFER_EVENT_TYPES];
