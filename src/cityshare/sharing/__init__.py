"""Sharing under enforced agreements: grants, access requests, column classes and the
bounded view of a dataset each reader gets (see docs/sharing.md)."""
