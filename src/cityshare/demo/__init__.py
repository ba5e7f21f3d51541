"""Demo data and helpers for ``cityshare demo``."""
