"""Exclusive use of a device across controllers through a labgrid place (extra ``[labgrid]``).

A device whose ssh transport names ``labgrid_place`` is measured only while this
controller holds that place at the labgrid coordinator. The steps:

1. acquire the place (``labgrid-client acquire``); if someone else holds it, wait (polling)
   or refuse, per :class:`~suite.farm.config.LabgridSpec`;
2. read the place's ``NetworkService`` resource (``labgrid-client env``): address,
   username, port;
3. hand back the device with its ssh transport pointed there;
4. release the place in ``finally``.

We drive ``labgrid-client`` as a subprocess: its command line is labgrid's stable
interface, and the asyncio client allows one session per process (NOTES.md), which a
threaded farm would trip over. labgrid has no authentication: identity is
``LG_USERNAME``/``LG_HOSTNAME``, so a place is a schedule, not a security boundary.
A place that our own identity still holds (a previous run of ours crashed) is adopted:
the device file lock, taken first, already proves no other local run uses it.
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from suite.devices.config import Device
from suite.errors import ConfigError, DeviceError

#: Seconds one ``labgrid-client`` call may take.
CLIENT_TIMEOUT_S = 30.0

_HELD_BY = re.compile(r"already acquired by (\S+?)\.?(\s|$)")


class PlaceBusy(DeviceError):
    """The place is acquired by another user (``holder`` is ``host/user``)."""

    def __init__(self, place: str, holder: str, waited_s: float = 0.0) -> None:
        self.place = place
        self.holder = holder
        extra = f" after waiting {waited_s:.0f} s" if waited_s else ""
        super().__init__(f"labgrid place {place} is held by {holder}{extra}")


@dataclass(frozen=True)
class NetworkService:
    """The SSH address a labgrid place exports."""

    address: str
    username: str | None
    port: int | None


def client_path() -> str:
    """``labgrid-client`` beside this interpreter, else on ``PATH``."""
    beside = Path(sys.executable).parent / "labgrid-client"
    if beside.exists():
        return str(beside)
    found = shutil.which("labgrid-client")
    if not found:
        raise ConfigError("labgrid-client not found: install the extra (pip install 'hwbehave[labgrid]')",
                          field="transport.labgrid_place", expected="labgrid installed")
    return found


def identity(env: dict[str, str] | None = None) -> tuple[str, str]:
    """``(host, user)`` as the coordinator sees a client (``LG_HOSTNAME``/``LG_USERNAME``)."""
    env = os.environ if env is None else env
    return (env.get("LG_HOSTNAME") or socket.gethostname(), env.get("LG_USERNAME") or getpass.getuser())


class LabgridClient:
    """Thin wrapper over ``labgrid-client -x COORDINATOR`` (one call per method)."""

    def __init__(self, coordinator: str, env: dict[str, str] | None = None) -> None:
        self.coordinator = coordinator
        self.env = {**os.environ, **(env or {})}

    def call(self, place: str | None, *args: str, timeout_s: float = CLIENT_TIMEOUT_S) -> tuple[int, str]:
        argv = [client_path(), "-x", self.coordinator]
        if place:
            argv += ["-p", place]
        argv += list(args)
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, env=self.env)
        except subprocess.TimeoutExpired:
            return 124, f"labgrid-client {' '.join(args)} timed out after {timeout_s:.0f} s"
        return p.returncode, (p.stdout + p.stderr).strip()

    def holder_of(self, output: str) -> str | None:
        m = _HELD_BY.search(output)
        return m.group(1) if m else None

    def acquire(self, place: str, wait: bool = True, timeout_s: float = 600.0, poll_s: float = 5.0) -> bool:
        """Acquire ``place``; return ``True`` if we took it, ``False`` if we adopted our own stale hold.

        Raises :class:`PlaceBusy` if another user holds it (at once, or after ``timeout_s``),
        :class:`DeviceError` if the coordinator cannot be reached or the place does not exist.
        """
        start = time.monotonic()
        me = "/".join(identity(self.env))
        while True:
            rc, out = self.call(place, "acquire")
            if rc == 0:
                return True
            if "You have already acquired" in out:
                return False
            holder = self.holder_of(out)
            if holder is None:
                raise DeviceError(f"labgrid: cannot acquire place {place} at {self.coordinator}: {out[-500:]}")
            if holder == me:
                return False
            waited = time.monotonic() - start
            if not wait or waited >= timeout_s:
                raise PlaceBusy(place, holder, waited if wait else 0.0)
            time.sleep(min(poll_s, max(0.05, timeout_s - waited)))

    def release(self, place: str) -> None:
        rc, out = self.call(place, "release")
        if rc != 0 and "not acquired" not in out:
            raise DeviceError(f"labgrid: cannot release place {place}: {out[-500:]}")

    def network_service(self, place: str) -> NetworkService:
        """The ``NetworkService`` of an acquired place (from ``labgrid-client env``)."""
        rc, out = self.call(place, "env")
        if rc != 0:
            raise DeviceError(f"labgrid: cannot read place {place}: {out[-500:]}")
        return parse_network_service(place, out)


def parse_network_service(place: str, env_yaml: str) -> NetworkService:
    """Pick the ``NetworkService`` out of a ``labgrid-client env`` document."""
    try:
        doc = yaml.safe_load(env_yaml) or {}
    except yaml.YAMLError as exc:
        raise DeviceError(f"labgrid: place {place}: unreadable env output ({exc})") from None
    for target in (doc.get("targets") or {}).values():
        for res in (target or {}).get("resources") or []:
            params: Any = (res or {}).get("NetworkService")
            if isinstance(params, dict) and params.get("address"):
                port = params.get("port")
                return NetworkService(address=str(params["address"]), username=params.get("username"),
                                      port=int(port) if port else None)
    raise DeviceError(f"labgrid: place {place} has no NetworkService resource (add a match for one)")


def device_at(device: Device, service: NetworkService) -> Device:
    """``device`` with its ssh transport pointed at the place's address."""
    update: dict[str, Any] = {"host": service.address}
    if service.port:
        update["port"] = service.port
    if service.username:
        update["user"] = service.username
    return device.model_copy(update={"transport": device.transport.model_copy(update=update)})


@contextmanager
def acquired_place(device: Device, coordinator: str, *, wait: bool = True, timeout_s: float = 600.0,
                   poll_s: float = 5.0, on_event: Any = None) -> Iterator[Device]:
    """Hold the device's labgrid place for the block; yields the device pointed at the place.

    A device without ``labgrid_place`` is yielded unchanged and nothing is contacted.
    """
    place = getattr(device.transport, "labgrid_place", None)
    if not place:
        yield device
        return
    client = LabgridClient(coordinator)
    fresh = client.acquire(place, wait=wait, timeout_s=timeout_s, poll_s=poll_s)   # 1
    if on_event:
        on_event("labgrid_acquired", place=place, adopted=not fresh)
    try:
        service = client.network_service(place)                                       # 2
        yield device_at(device, service)                                              # 3
    finally:
        try:                                                                          # 4
            client.release(place)
        except DeviceError as exc:
            if on_event:
                on_event("labgrid_release_failed", place=place, error=str(exc))
        if on_event:
            on_event("labgrid_released", place=place)
