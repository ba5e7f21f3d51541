"""The HTTP API: the native routes (``routes/``, under ``/api/v1``, and DCAT at the root)
and the CKAN Action API (``ckan/``). The app that serves them with the web pages is built
by :func:`cityshare.app.create_app`; what both share is in :mod:`cityshare.http`."""
