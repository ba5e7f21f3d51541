"""Catalogue search: the query, facets, the index and its full-text documents."""
