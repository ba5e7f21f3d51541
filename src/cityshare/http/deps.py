"""Per-request values handed to route functions."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from cityshare.access import Actor
from cityshare.catalogue.reader import Reader
from cityshare.http.middleware import actor_of
from cityshare.runtime import Runtime
from cityshare.site import Site


# Both are async: FastAPI would hand a plain function to a worker thread on every request.
async def get_site(request: Request) -> Site:
    """The Site this app serves."""
    site: Site = request.app.state.site
    return site


async def get_runtime(request: Request) -> Runtime:
    """The parts this app's process runs beside its Site (cityshare.runtime)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_reader(request: Request) -> Reader:
    """What the read paths share: version tables, cursor signer, audit writer."""
    runtime: Runtime = request.app.state.runtime
    return runtime.reader


async def get_actor(request: Request) -> Actor:
    """Who is asking (set by the authentication middleware)."""
    return actor_of(request.state)


SiteDep = Annotated[Site, Depends(get_site)]
ActorDep = Annotated[Actor, Depends(get_actor)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ReaderDep = Annotated[Reader, Depends(get_reader)]
