"""A harvest run: every public dataset of a source created or updated in an organisation.

For each remote dataset the run

1. finds its harvest record (same source, same remote id): the local dataset it became;
2. without one, creates a dataset named as the source names it (after ``name_prefix``),
   unless a local dataset already has that name: then it is skipped, never overwritten;
3. with one, changes the local metadata where it differs from the source's;
4. downloads the dataset's one CSV file and publishes it as a new version, unless its
   SHA-256 is the current version's.

Every change goes through the catalogue services as ``actor``, with their access checks
and audit entries; the run itself adds one ``harvest.run`` audit entry. A dataset that
fails is reported and the run goes on. A dataset the source no longer offers as public is
reported as missing (and deleted only with ``delete_missing``), but only after a run that
listed the whole source.

Example::

    summary = harvest(site, actor, HarvestOptions("https://ckan.example.org", "city"),
                      policy_from_settings(site.settings))
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cityshare.access import Actor, DatasetResource, OrganisationResource, ensure_allowed
from cityshare.accounts.organisations import organisation_id
from cityshare.audit.log import audit
from cityshare.catalogue.datasets import create_dataset, delete_dataset, get_dataset, update_dataset
from cityshare.catalogue.metadata import check_visibility
from cityshare.catalogue.models import VersionDetail
from cityshare.catalogue.versions import get_version, publish_version
from cityshare.errors import BadRequest, CityshareError, Conflict, NotFound
from cityshare.harvest.ckan import CkanSource
from cityshare.harvest.dcat import DcatSource
from cityshare.harvest.fetch import (
    FetchPolicy,
    SafeFetcher,
    SourceError,
    SourceTimeout,
    UnsafeURL,
    vet,
)
from cityshare.harvest.records import (
    Record,
    add_record,
    find_record,
    records_of,
    touch_record,
)
from cityshare.harvest.remote import RemoteDataset, RemoteProblem, metadata_changes
from cityshare.harvest.text import plain
from cityshare.names import check_slug
from cityshare.site import Site

log = logging.getLogger(__name__)

SOURCE_TYPES = ("ckan", "dcat")
STATUSES = ("created", "updated", "unchanged", "skipped", "failed", "missing", "deleted")
CSV_TYPES = frozenset(
    {
        "",
        "text/csv",
        "application/csv",
        "text/comma-separated-values",
        "text/plain",
        "application/octet-stream",
        "application/vnd.ms-excel",
    }
)
ACCEPT_CSV = "text/csv, text/plain;q=0.5, */*;q=0.1"


@dataclass(frozen=True)
class HarvestOptions:
    """What to harvest from where, into which organisation, and how."""

    source_url: str
    organisation: str
    source_type: str | None = None  # "ckan", "dcat", or None: find out
    visibility: str = "open"  # of the datasets the run creates
    with_data: bool = True
    limit: int | None = None  # at most this many public datasets
    token: str | None = None  # sent to the source's own origin only, never with data
    name_prefix: str = ""
    delete_missing: bool = False


@dataclass(frozen=True)
class Outcome:
    """What became of one remote dataset."""

    name: str  # the local dataset's name (or the source's, when none was made)
    status: str  # one of STATUSES
    detail: str = ""


@dataclass
class HarvestSummary:
    """What a run did, dataset by dataset."""

    source: str
    source_type: str
    organisation: str
    outcomes: list[Outcome] = field(default_factory=list)
    not_public: int = 0  # datasets the source lists but not as public: never harvested
    complete: bool = True  # the whole source was listed
    stopped: str | None = None  # why the listing stopped early

    def counts(self) -> dict[str, int]:
        """How many datasets ended in each status, and how many were not public."""
        counted = {status: 0 for status in STATUSES}
        for outcome in self.outcomes:
            counted[outcome.status] += 1
        counted["not_public"] = self.not_public
        return counted

    def as_dict(self) -> dict[str, Any]:
        """The summary as plain JSON values."""
        return {
            "source": self.source,
            "type": self.source_type,
            "organisation": self.organisation,
            "complete": self.complete,
            "stopped": self.stopped,
            "counts": self.counts(),
            "datasets": [outcome.__dict__ for outcome in self.outcomes],
        }


class Source(Protocol):
    """A catalogue read through one protocol (:mod:`.ckan`, :mod:`.dcat`)."""

    kind: str
    key: str
    total: int | None

    def datasets(self) -> Iterator[RemoteDataset | RemoteProblem]:
        """Every dataset the source lists."""
        ...


class HarvestProgress(Protocol):
    """What a run reports while it works (the CLI shows it as a progress bar)."""

    def listed(self, total: int | None) -> None:
        """The source says it has ``total`` datasets (when it says)."""

    def started(self, name: str) -> None:
        """Work on one dataset begins."""

    def finished(self, outcome: Outcome) -> None:
        """Work on one dataset ended."""


class _Quiet:
    def listed(self, total: int | None) -> None:
        pass

    def started(self, name: str) -> None:
        pass

    def finished(self, outcome: Outcome) -> None:
        pass


def harvest(
    site: Site,
    actor: Actor,
    options: HarvestOptions,
    policy: FetchPolicy,
    progress: HarvestProgress | None = None,
) -> HarvestSummary:
    """Harvest ``options.source_url`` into ``options.organisation``; see the module doc.

    Raises before writing anything when the actor may not create (and open up) datasets
    in the organisation, when the source URL is refused, or when the source cannot be
    read at all.
    """
    _check_options(options)
    _check_may_harvest(site, actor, options)
    vet(options.source_url, policy)  # refuse the URL as given, before any request
    with SafeFetcher(policy) as fetcher:
        source = open_source(fetcher, options)
        summary = HarvestSummary(source.key, source.kind, options.organisation)
        _Run(site, actor, options, fetcher, source, summary, progress or _Quiet()).run()
    with site.writer.begin() as connection:
        audit(
            connection,
            actor,
            "harvest.run",
            organisation=options.organisation,
            source=summary.source,
            detail={
                "type": summary.source_type,
                "complete": summary.complete,
                "data": options.with_data,
                "visibility": options.visibility,
                "counts": summary.counts(),
            },
        )
    return summary


def open_source(fetcher: SafeFetcher, options: HarvestOptions) -> Source:
    """The source at ``options.source_url``: CKAN when told so or when its
    ``/api/3/action/status_show`` answers, DCAT otherwise."""
    url, token = options.source_url, options.token
    if options.source_type == "dcat":
        return DcatSource(fetcher, url, token)
    ckan = CkanSource(fetcher, url, token)
    if options.source_type == "ckan":
        ckan.check()
        return ckan
    try:
        ckan.check()
    except (UnsafeURL, SourceTimeout):
        raise
    except SourceError:
        return DcatSource(fetcher, url, token)
    return ckan


def _check_options(options: HarvestOptions) -> None:
    check_visibility(options.visibility)
    if options.source_type not in (None, *SOURCE_TYPES):
        raise BadRequest(
            f"Unknown source type {plain(options.source_type, 20)!r}: use ckan or dcat.",
            parameter="type",
        )
    if options.limit is not None and options.limit < 1:
        raise BadRequest("The limit must be at least 1.", parameter="limit")
    if options.name_prefix and not options.name_prefix.endswith("-"):
        raise BadRequest(
            "A name prefix ends with a hyphen, e.g. 'northbridge-'.", parameter="name_prefix"
        )
    if options.name_prefix:
        check_slug(options.name_prefix + "x", "name prefix")


def _check_may_harvest(site: Site, actor: Actor, options: HarvestOptions) -> None:
    """The checks ``create_dataset`` makes, once, before anything is fetched."""
    with site.engine.connect() as connection:
        owner = organisation_id(connection, options.organisation)
    ensure_allowed(actor, "dataset.create", OrganisationResource(owner, options.organisation))
    if options.visibility != "private":
        draft = DatasetResource(
            id=0,
            organisation_id=owner,
            visibility="private",
            organisation_name=options.organisation,
        )
        ensure_allowed(actor, "dataset.visibility", draft)


class _Run:
    """One run's state: the source, the summary so far, what was seen."""

    def __init__(
        self,
        site: Site,
        actor: Actor,
        options: HarvestOptions,
        fetcher: SafeFetcher,
        source: Source,
        summary: HarvestSummary,
        progress: HarvestProgress,
    ) -> None:
        self.site = site
        self.actor = actor
        self.options = options
        self.fetcher = fetcher
        self.source = source
        self.summary = summary
        self.progress = progress
        self.listed: set[str] = set()  # every remote id the source listed
        self.seen: set[str] = set()  # the public ones among them

    def run(self) -> None:
        """Harvest every listed dataset, then look for those that went missing."""
        listed = 0
        try:
            for item in self.source.datasets():
                listed += 1
                self.progress.listed(self.source.total)
                if self._at_limit():
                    self.summary.complete = False
                    break
                self._one(item)
        except CityshareError as error:
            if listed == 0:
                raise  # nothing could be read: the run fails, nothing was written
            self.summary.complete = False
            self.summary.stopped = error.detail
        if self.summary.complete:
            self._missing()

    def _at_limit(self) -> bool:
        limit = self.options.limit
        return limit is not None and len(self.summary.outcomes) >= limit

    def _one(self, item: RemoteDataset | RemoteProblem) -> None:
        if isinstance(item, RemoteProblem):
            self._report(Outcome(item.label, "failed", item.reason))
            return
        if item.remote_id in self.listed:
            return  # listed twice (pages of a changing catalogue overlap): done already
        self.listed.add(item.remote_id)
        if not item.public:
            self.summary.not_public += 1  # not named anywhere: it is not ours to show
            return
        self.seen.add(item.remote_id)
        self.progress.started(item.name or item.remote_id)
        try:
            outcome = self._harvest(item)
        except CityshareError as error:
            outcome = Outcome(item.name or plain(item.remote_id, 100), "failed", error.detail)
        except Exception as error:  # one dataset never stops the run
            log.exception("harvesting %s failed", item.remote_id)
            outcome = Outcome(item.name, "failed", f"unexpected error ({type(error).__name__})")
        self._report(outcome)

    def _report(self, outcome: Outcome) -> None:
        self.summary.outcomes.append(outcome)
        self.progress.finished(outcome)

    def _harvest(self, item: RemoteDataset) -> Outcome:
        record = find_record(self.site, self.source.key, item.remote_id)
        if record is None:
            name = self.options.name_prefix + item.name
            if not item.name or len(name) > 100:
                return Outcome(item.name or "(unnamed)", "skipped", "no usable dataset name")
            record = self._create(name, item)
            if record is None:
                return Outcome(
                    name,
                    "skipped",
                    f"a local dataset named {name!r} exists that was not harvested from "
                    "this source; it is left as it is",
                )
            status, notes = "created", [f"visibility {self.options.visibility}"]
        else:
            changed = self._update(record.dataset_name, item)
            status = "updated" if changed else "unchanged"
            notes = [f"metadata: {', '.join(changed)}"] if changed else []
        notes.extend(f"{key} left out (not valid here)" for key in item.dropped)
        try:
            data_note, data_sha256, published = self._data(record, item)
        except CityshareError as error:
            self._touch(record, item, None)
            notes.insert(0, f"metadata {status}")
            notes.append(f"data: {error.detail}")
            return Outcome(record.dataset_name, "failed", "; ".join(notes))
        self._touch(record, item, data_sha256)
        if published and status == "unchanged":
            status = "updated"
        notes.append(data_note)
        return Outcome(record.dataset_name, status, "; ".join(note for note in notes if note))

    def _create(self, name: str, item: RemoteDataset) -> Record | None:
        try:
            create_dataset(
                self.site,
                self.actor,
                organisation=self.options.organisation,
                name=name,
                visibility=self.options.visibility,
                **item.metadata,
            )
        except Conflict:
            return None
        return add_record(self.site, self.source.key, item.remote_id, name)

    def _update(self, name: str, item: RemoteDataset) -> list[str]:
        local = get_dataset(self.site, self.actor, name)
        changes = metadata_changes(item.metadata, local)
        if changes:
            update_dataset(self.site, self.actor, name, changes)
        return sorted(changes)

    def _data(self, record: Record, item: RemoteDataset) -> tuple[str, str | None, bool]:
        """Publish the remote CSV when it differs from the current version: a note, the
        download's SHA-256, and whether a version was added."""
        if not self.options.with_data:
            return "", None, False
        if item.data_url is None:
            return f"no data ({item.data_note})", None, False
        spool = _spool_path(self.site)
        try:
            download = self.fetcher.download(item.data_url, spool, accept=ACCEPT_CSV)
            if download.content_type not in CSV_TYPES:
                raise SourceError(
                    f"the data URL answered {plain(download.content_type, 60)}, not CSV"
                )
            current = _current_version(self.site, self.actor, record.dataset_name)
            if current is not None and current.sha256 == download.sha256:
                return "data unchanged", download.sha256, False
            version = publish_version(
                self.site,
                self.actor,
                record.dataset_name,
                source=spool,
                media_type="text/csv",
                source_name=f"{item.name or record.dataset_name}.csv",
                based_on=None if current is None else current.number,
            )
        finally:
            spool.unlink(missing_ok=True)
        rows = version.row_count or 0
        return f"data: version {version.number}, {rows:,} rows", download.sha256, True

    def _touch(self, record: Record, item: RemoteDataset, data_sha256: str | None) -> None:
        touch_record(
            self.site,
            record,
            remote_name=item.name,
            remote_modified=item.modified,
            data_sha256=data_sha256,
        )

    def _missing(self) -> None:
        """Report (or delete) the datasets of earlier runs the source no longer offers."""
        for record in records_of(self.site, self.source.key):
            if record.remote_id in self.seen:
                continue
            reason = "no longer offered as public by the source"
            if not self.options.delete_missing:
                self._report(Outcome(record.dataset_name, "missing", f"{reason}; kept"))
                continue
            try:
                delete_dataset(self.site, self.actor, record.dataset_name)
            except CityshareError as error:
                self._report(Outcome(record.dataset_name, "failed", error.detail))
                continue
            self._report(Outcome(record.dataset_name, "deleted", reason))


def _current_version(site: Site, actor: Actor, name: str) -> VersionDetail | None:
    try:
        return get_version(site, actor, name, None)
    except NotFound:
        return None


def _spool_path(site: Site) -> Path:
    folder = site.settings.data_dir / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"harvest-{secrets.token_hex(16)}.csv"
