"""The audit log: append-only, hash-chained, verifiable, with signed checkpoints."""
