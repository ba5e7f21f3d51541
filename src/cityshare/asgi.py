"""ASGI entry point for uvicorn workers: settings are read when the factory runs."""

from __future__ import annotations

import gc

from fastapi import FastAPI

from cityshare.app import create_app
from cityshare.config import load_settings
from cityshare.runtime import Runtime
from cityshare.site import Site


def app_from_environment() -> FastAPI:
    """Build the app from ``CITYSHARE_*`` settings (called once per worker process)."""
    app = create_app(Runtime(Site.open(load_settings())))
    # Everything built so far lives as long as the process: keep it out of the garbage
    # collector's full passes, which would otherwise scan it again and again under load.
    gc.freeze()
    return app
