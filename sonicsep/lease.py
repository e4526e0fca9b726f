"""One writer per feature store: a lease inside the store, held by the run that writes it.

The lease is an object in the store (:data:`sonicsep.store.LEASE_KEY`, a Zarr group whose
attributes are the record), so it works on every URL a store can have. Its record names the
holder (host, pid, since) and carries a heartbeat time that a thread refreshes every
``heartbeat_s`` seconds. A run takes a free lease; it takes over a lease whose heartbeat is older
than ``stale_s`` (its holder hung or died elsewhere) or whose holder is a dead process on this
host (killed, SIGKILL included); any other lease makes it fail with :class:`StoreBusyError`.
Releasing removes the lease, on success, error and Ctrl-C alike.

Guarantees. On the local filesystem taking a free lease is atomic (a hard link: of two runs
started at once exactly one gets it), and taking over a stale one removes it only if it still
holds the record judged stale (a rename, then a compare). On other fsspec filesystems creation
is as exclusive as their ``"xb"`` mode (a conditional write on S3; a check then a write where
there is none), and a run confirms it won by reading its record back after ``settle_s`` seconds;
two runs can then both believe they won only if their writes land further apart than that and
both checks pass in between, which the settle makes unlikely but not impossible. Staleness
compares the holder's clock with ours, so hosts sharing a store need clocks within ``stale_s``.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import socket
import threading
import time
import uuid

from sonicsep.errors import StoreBusyError
from sonicsep.objects import (
    create_object,
    objects_are_atomic,
    read_object,
    remove_object,
    replace_object,
)
from sonicsep.store import LEASE_KEY

HEARTBEAT_S = 10.0
# Six missed heartbeats: a holder is only judged gone long after a slow write or a GC pause.
STALE_S = 60.0
SETTLE_S = 2.0
# Takeover rounds before giving up: each round loses only to another run taking the lease.
ATTEMPTS = 3


@dataclasses.dataclass(frozen=True)
class LeaseRecord:
    """Who holds a lease: a token unique to the holding run, its host and pid, when it took the
    lease and when it last proved alive (seconds since the epoch)."""

    owner: str
    host: str
    pid: int
    since: float
    heartbeat: float

    def to_bytes(self) -> bytes:
        # A Zarr v3 group's metadata, so Zarr and xarray list the lease as a group.
        meta = {"zarr_format": 3, "node_type": "group", "attributes": dataclasses.asdict(self)}
        return json.dumps(meta, indent=2).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> LeaseRecord | None:
        """The record in ``raw``, or None where it is not one (a foreign or torn object)."""
        try:
            attrs = json.loads(raw)["attributes"]
            return cls(str(attrs["owner"]), str(attrs["host"]), int(attrs["pid"]),
                       float(attrs["since"]), float(attrs["heartbeat"]))
        except (ValueError, KeyError, TypeError):
            return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def is_live(record: LeaseRecord | None, now: float, stale_s: float = STALE_S) -> bool:
    """Whether ``record``'s holder may still be writing: a fresh heartbeat and, on this host,
    a running process. An unreadable record is not live."""
    if record is None or now - record.heartbeat > stale_s:
        return False
    return record.host != socket.gethostname() or _pid_alive(record.pid)


def busy_message(url: str, record: LeaseRecord, now: float, stale_s: float = STALE_S) -> str:
    """Why ``url`` cannot be written and what to do, naming the lease's holder."""
    since = datetime.datetime.fromtimestamp(record.since, datetime.UTC)
    return (
        f"{url} is being written by another run: pid {record.pid} on host {record.host!r}, "
        f"since {since:%Y-%m-%d %H:%M:%S} UTC (last heartbeat {now - record.heartbeat:.0f} s "
        f"ago); wait for it to finish or stop it, or choose another --out. A run that died "
        f"leaves a lease that is taken over once its heartbeat is {stale_s:.0f} s old "
        "(at once on the same host)"
    )


class StoreLease:
    """The lease of the store at ``url``; use as ``with StoreLease(url): ...``.

    Parameters
    ----------
    url : str
        The store's path or fsspec URL (need not exist yet: the lease comes before creation).
    heartbeat_s, stale_s : float
        How often the holder refreshes its heartbeat, and how old a heartbeat makes the lease
        free to take over.
    settle_s : float, optional
        Seconds to wait before reading back a new lease on filesystems without atomic
        creation (default :data:`SETTLE_S`; unused on the local filesystem).
    """

    def __init__(self, url: str, *, heartbeat_s: float = HEARTBEAT_S, stale_s: float = STALE_S,
                 settle_s: float = SETTLE_S):
        self.url = str(url)
        self.heartbeat_s, self.stale_s, self.settle_s = heartbeat_s, stale_s, settle_s
        self._written: bytes | None = None  # the record as this run last wrote it
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def held(self) -> bool:
        return self._written is not None and not self._lost.is_set()

    @property
    def lost(self) -> bool:
        """True once a heartbeat found another run's record (this run stalled past stale_s)."""
        return self._lost.is_set()

    def acquire(self) -> StoreLease:
        """Take the lease, or raise :class:`StoreBusyError` naming its live holder."""
        now = time.time()
        mine = LeaseRecord(uuid.uuid4().hex, socket.gethostname(), os.getpid(), now, now)
        for _ in range(ATTEMPTS):
            if create_object(self.url, LEASE_KEY, mine.to_bytes()):
                self._confirm(mine.to_bytes())
                self._written = mine.to_bytes()
                self._thread = threading.Thread(
                    target=self._beat, name=f"lease {self.url}", daemon=True
                )
                self._thread.start()
                return self
            raw = read_object(self.url, LEASE_KEY)
            if raw is None:
                continue  # released between our create and read: try again
            current = LeaseRecord.from_bytes(raw)
            if is_live(current, time.time(), self.stale_s):
                raise StoreBusyError(busy_message(self.url, current, time.time(), self.stale_s))
            remove_object(self.url, LEASE_KEY, expected=raw)  # only the lease judged dead
        raise StoreBusyError(
            f"{self.url}: another run took the store's lease each of {ATTEMPTS} times this run "
            "tried; wait for it to finish, or choose another --out"
        )

    def _confirm(self, written: bytes) -> None:
        """Where creation may not be exclusive, wait for racing writes to land and check ours
        is the one that stayed."""
        if objects_are_atomic(self.url):
            return
        time.sleep(self.settle_s)
        raw = read_object(self.url, LEASE_KEY)
        if raw != written:
            current = LeaseRecord.from_bytes(raw or b"")
            if current is None:
                raise StoreBusyError(f"{self.url}: another run is taking the store's lease")
            raise StoreBusyError(busy_message(self.url, current, time.time(), self.stale_s))

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                if read_object(self.url, LEASE_KEY) != self._written:
                    self._lost.set()
                    return
                record = LeaseRecord.from_bytes(self._written)
                fresh = dataclasses.replace(record, heartbeat=time.time()).to_bytes()
                replace_object(self.url, LEASE_KEY, fresh)
                self._written = fresh
            except OSError:
                continue  # a transient storage error: the next beat tries again

    def release(self) -> None:
        """Stop the heartbeat and remove the lease if it is still this run's."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._written is not None and not self._lost.is_set():
            remove_object(self.url, LEASE_KEY, expected=self._written)
        self._written = None

    def __enter__(self) -> StoreLease:
        # A lease acquired beforehand (to report a busy store apart from later errors) is
        # entered as it is, so ``with`` still releases it.
        return self if self._written is not None else self.acquire()

    def __exit__(self, *exc_info) -> None:
        self.release()
