"""The CKAN Action API (v3): a thin adapter over cityshare's catalogue and query layer.

:mod:`.routes` parses requests and wraps answers in CKAN's envelope (:mod:`.envelope`);
the actions are in :mod:`.reads`, :mod:`.search`, :mod:`.writes` and :mod:`.datastore`.
Every action calls cityshare's core services, which ask the access policy; nothing here
reads a dataset's tables around it. This package file imports nothing, so the error
renderer (:mod:`cityshare.http.responses`) can import :mod:`.envelope` without a cycle.
"""
