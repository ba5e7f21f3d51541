"""Harvesting: dataset metadata, and the data where it is public, from another CKAN
(Action API) or a DCAT catalogue into an organisation, through an SSRF-guarded client.

:mod:`.fetch` is the outbound HTTP client and its address policy; :mod:`.ckan` and
:mod:`.dcat` read the two kinds of source into :class:`.remote.RemoteDataset`;
:mod:`.run` creates and updates local datasets through the catalogue services, and
:mod:`.records` remembers where each came from. Nothing here imports the web framework.
"""

from cityshare.harvest.fetch import FetchPolicy, SafeFetcher, policy_from_settings
from cityshare.harvest.run import HarvestOptions, HarvestSummary, Outcome, harvest

__all__ = [
    "FetchPolicy",
    "HarvestOptions",
    "HarvestSummary",
    "Outcome",
    "SafeFetcher",
    "harvest",
    "policy_from_settings",
]
