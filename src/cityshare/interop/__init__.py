"""Catalogue interoperability: DCAT-AP, the CKAN mapping and Data Packages."""
