"""HTTP adapters: one Starlette/FastAPI app that turns requests into service calls."""

from cityshare.api.app import create_app

__all__ = ["create_app"]
