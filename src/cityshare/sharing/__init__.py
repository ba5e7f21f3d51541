"""Sharing under enforced agreements: grants and access requests (see docs/sharing.md).
What a grant lets its holder see is applied by :mod:`cityshare.bounds`."""
