"""One writer per store: the lease's record, busy errors, heartbeat, takeover, and a real race."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_store import _create

from sonicsep.errors import StoreError
from sonicsep.lease import LeaseRecord, StoreBusyError, StoreLease
from sonicsep.objects import create_object, read_object, replace_object
from sonicsep.store import LEASE_KEY, FeatureStore


def _record(url) -> LeaseRecord | None:
    raw = read_object(url, LEASE_KEY)
    return None if raw is None else LeaseRecord.from_bytes(raw)


def _plant(url, *, host, pid, age_s):
    """A lease left by someone else whose last heartbeat was ``age_s`` seconds ago."""
    beat = time.time() - age_s
    record = LeaseRecord("planted", host, pid, beat - 3600.0, beat)
    if not create_object(url, LEASE_KEY, record.to_bytes()):
        replace_object(url, LEASE_KEY, record.to_bytes())
    return record


def test_second_run_is_refused_with_the_holder_named_until_release(tmp_path):
    url = str(tmp_path / "new.zarr")
    with StoreLease(url) as lease:
        record = _record(url)
        assert (record.host, record.pid) == (socket.gethostname(), os.getpid())
        with pytest.raises(StoreBusyError) as busy:
            StoreLease(url).acquire()
        assert isinstance(busy.value, StoreError)
        message = str(busy.value)
        assert f"pid {os.getpid()} on host {socket.gethostname()!r}, since 20" in message
        assert "choose another --out" in message
        assert lease.held
    assert read_object(url, LEASE_KEY) is None
    assert not (tmp_path / "new.zarr" / "sonicsep_lease").exists()  # no member zarr can't read
    lease = StoreLease(url).acquire()  # free again; acquired first, then entered as it is
    with lease:
        assert lease.held and _record(url).pid == os.getpid()
    assert read_object(url, LEASE_KEY) is None


def test_lease_is_released_on_an_exception_and_on_ctrl_c(tmp_path):
    url = str(tmp_path / "s.zarr")
    for error in (RuntimeError, KeyboardInterrupt):
        with pytest.raises(error), StoreLease(url):
            raise error()
        assert read_object(url, LEASE_KEY) is None


def test_heartbeat_refreshes_the_record_and_notices_a_lost_lease(tmp_path):
    url = str(tmp_path / "s.zarr")
    lease = StoreLease(url, heartbeat_s=0.02).acquire()
    first = _record(url)
    deadline = time.time() + 20
    while _record(url).heartbeat == first.heartbeat and time.time() < deadline:
        time.sleep(0.02)
    later = _record(url)
    assert later.heartbeat > first.heartbeat
    assert (later.owner, later.since) == (first.owner, first.since)
    # Another run took over (this one stalled): the heartbeat stops and release leaves its lease.
    thief = _plant(url, host="elsewhere", pid=1, age_s=0)
    while not lease.lost and time.time() < deadline:
        time.sleep(0.02)
    assert lease.lost and not lease.held
    lease.release()
    assert _record(url) == thief


def test_a_live_lease_on_another_host_is_respected(tmp_path):
    url = str(tmp_path / "s.zarr")
    _plant(url, host="node-7", pid=4242, age_s=5)
    with pytest.raises(StoreBusyError, match=r"pid 4242 on host 'node-7'.*heartbeat 5 s ago"):
        StoreLease(url).acquire()
    assert _record(url).owner == "planted"


def test_a_stale_lease_is_taken_over(tmp_path):
    url = str(tmp_path / "s.zarr")
    _create(url)
    _plant(url, host="node-7", pid=4242, age_s=61)
    with StoreLease(url, stale_s=60):
        assert _record(url).pid == os.getpid()
    assert read_object(url, LEASE_KEY) is None
    assert FeatureStore.open(url).n_tracks == 10


def test_a_dead_process_on_this_host_loses_its_lease_at_once(tmp_path):
    url = str(tmp_path / "s.zarr")
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    _plant(url, host=socket.gethostname(), pid=int(finished.stdout), age_s=0)
    with StoreLease(url):
        assert _record(url).pid == os.getpid()


def test_filesystems_without_atomic_create_confirm_by_reading_back():
    url = f"memory://lease-{os.getpid()}/s.zarr"
    with StoreLease(url, settle_s=0.0):
        with pytest.raises(StoreBusyError, match=f"pid {os.getpid()}"):
            StoreLease(url, settle_s=0.0).acquire()
    assert read_object(url, LEASE_KEY) is None


# Each round: both processes meet at a barrier of files, try the lease at once, and the holder
# keeps it until the other has tried.
RACE = """
import json, sys, time
from pathlib import Path
from sonicsep.lease import StoreBusyError, StoreLease
sync, name, urls = Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])

def meet(stage, i):
    (sync / f"{stage}-{i}-{name}").touch()
    deadline = time.time() + 120
    while len(list(sync.glob(f"{stage}-{i}-*"))) < 2:
        if time.time() > deadline:
            sys.exit(f"the other process never reached {stage} {i}")
        time.sleep(0.001)

for i, url in enumerate(urls):
    meet("ready", i)
    lease = StoreLease(url)
    try:
        lease.acquire()
        outcome = "held"
    except StoreBusyError:
        outcome = "busy"
    (sync / f"outcome-{i}-{name}").write_text(outcome)
    meet("tried", i)
    lease.release()
"""


def test_two_runs_started_at_once_one_gets_the_lease_on_new_and_existing_stores(tmp_path):
    existing = str(tmp_path / "existing.zarr")
    _create(existing)
    urls = [str(tmp_path / f"new{i}.zarr") for i in range(5)] + [existing] * 5
    sync = tmp_path / "sync"
    sync.mkdir()
    runs = [
        subprocess.Popen([sys.executable, "-c", RACE, str(sync), name, json.dumps(urls)])
        for name in ("a", "b")
    ]
    assert [run.wait(timeout=300) for run in runs] == [0, 0]
    for i in range(len(urls)):
        outcomes = sorted((sync / f"outcome-{i}-{name}").read_text() for name in ("a", "b"))
        assert outcomes == ["busy", "held"], f"round {i} ({urls[i]})"
    assert all(read_object(url, LEASE_KEY) is None for url in urls)
    assert FeatureStore.open(existing).n_tracks == 10
    assert not Path(existing, "sonicsep_lease").exists()
