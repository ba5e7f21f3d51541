"""The base of every resource a service answers with (issue 18, part 3).

A resource is frozen and lists the fields that are shown: a field is exposed only if its
model names it, so hiding a private one needs no denylist. Routes declare these models as
``response_model`` (or, on hot paths that write their own bytes, in ``responses=``), so
the OpenAPI document describes every answer.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Resource(BaseModel):
    """An answer: frozen, its fields described in the OpenAPI document."""

    model_config = ConfigDict(frozen=True)
