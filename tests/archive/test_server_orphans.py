"""Servers of the sample archive never outlive the process that started them, even one killed hard."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from ml4earth_stac.archive import ArchiveManifest

CHILD = (
    "import sys; from pathlib import Path; from ml4earth_stac.archive import ArchiveServer; "
    "s = ArchiveServer(Path(sys.argv[1])).__enter__(); "
    "print(*(p.pid for p in s._procs.values()), flush=True); import time; time.sleep(120)"
)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_servers_die_when_their_parent_is_killed(small_archive: ArchiveManifest) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(small_archive.root)], stdout=subprocess.PIPE, text=True
    )
    pids = [int(p) for p in parent.stdout.readline().split()]
    assert len(pids) == 2 and all(_alive(p) for p in pids)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids)
