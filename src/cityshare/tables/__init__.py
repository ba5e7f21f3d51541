"""Typed table storage: readers, whole-file schema inference, bulk loading.

The entry point is :func:`load_into_table` (and :func:`infer_schema`, to review a file's
schema before loading it); :func:`media_type_for_filename` and
:data:`SUPPORTED_MEDIA_TYPES` tell which uploads it reads. The storage contract
(column names, types, indexes) is in :mod:`cityshare.tables.model`.
"""

from cityshare.tables.formats import SUPPORTED_MEDIA_TYPES, media_type_for_filename
from cityshare.tables.load import (
    LoadedTable,
    check_against_schema,
    infer_schema,
    load_into_table,
)

__all__ = [
    "SUPPORTED_MEDIA_TYPES",
    "LoadedTable",
    "check_against_schema",
    "infer_schema",
    "load_into_table",
    "media_type_for_filename",
]
