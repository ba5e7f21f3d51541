"""The catalogue's search index: full-text documents, facets and the views of a dataset
each kind of reader may find it by, kept up to date by the services that change what it
indexes. Searching it is :mod:`cityshare.catalogue.search`."""
