"""Read-your-writes: waiting, bounded, until a view has caught up with a client's token."""
