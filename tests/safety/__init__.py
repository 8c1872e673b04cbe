"""Safety: journal, target lock, recover, sandbox driver."""
