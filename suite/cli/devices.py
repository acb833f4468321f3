"""``hwbehave devices list`` and ``hwbehave devices check NAME…``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from suite.devices.config import load_device, resolve_device
from suite.errors import ConfigError
from suite.locations import Located, available, search_dirs


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``hwbehave devices`` and its arguments."""
    p = sub.add_parser("devices", help="list device definitions or check that devices are reachable")
    p.add_argument("--dir", type=Path, default=None,
                   help="only this devices folder (default: ./devices or $HWBEHAVE_DEVICES, the user folder "
                        "$HWBEHAVE_HOME/devices or ~/.config/hwbehave/devices, and the bundled devices)")
    dsub = p.add_subparsers(dest="devices_command", metavar="ACTION")
    dsub.add_parser("list", help="one line per device file, from all three places, with its source")
    check = dsub.add_parser("check", help="connect, run the agent's hello, read disk/governor/temperature")
    check.add_argument("names", nargs="+", help="device names (devices/<name>.yaml) or YAML paths")
    return p


def run(args: argparse.Namespace) -> int:
    """Carry out ``hwbehave devices``; returns the exit status."""
    if args.devices_command == "list":
        return list_devices(args.dir)
    if args.devices_command == "check":
        return check_devices(args.names, args.dir)
    print("usage: hwbehave devices {list,check NAME...}", file=sys.stderr)
    return 2


def list_devices(folder: Path | None = None) -> int:
    """One line per device file with its source; 1 if any is invalid.

    Without ``folder``: every file of the three places names are looked up in (working
    directory, user, bundled), the first of a name marked as the one ``--device NAME`` uses.
    """
    if folder is not None:
        entries: list[tuple[Located, Located | None]] = [
            (Located(name=f.stem, path=f, source="path"), None) for f in sorted(folder.glob("*.yaml"))]
        places = str(folder)
    else:
        entries = available("devices")
        places = "; ".join(f"{source}: {path}" for source, path in search_dirs("devices"))
    print(f"looked up in {places}")
    if not entries:
        print("no device files")
        return 0
    bad = 0
    print(f"{'name':<20} {'class':<8} {'transport':<9} {'runtime':<16} {'formats':<14} {'example':<8} source")
    for here, shadow in entries:
        where = here.source if here.source != "path" else "--dir"
        where += f" {here.path}" + (f" (shadowed by the {shadow.source} file)" if shadow else "")
        try:
            d = load_device(here.path)
        except ConfigError as exc:
            bad += 1
            print(f"{here.name:<20} INVALID: {exc}  [{where}]")
            continue
        print(f"{d.name:<20} {d.device_class:<8} {d.transport.kind:<9} {d.runtime.name:<16} "
              f"{','.join(d.formats):<14} {'example' if d.example else '-':<8} {where}")
    return 1 if bad else 0


def check_devices(names: list[str], folder: Path | None = None) -> int:
    """One line per device; exit 1 if any check fails."""
    from suite.devices.check import check_device

    failed = 0
    for name in names:
        path = folder / f"{name}.yaml" if folder is not None else None
        try:
            device = load_device(path) if path is not None and path.exists() else resolve_device(name)
        except ConfigError as exc:
            failed += 1
            print(f"{name:<20} FAIL  config: {exc}")
            continue
        if device.example:
            print(f"{device.name:<20} note: example definition (this device does not exist here)")
        result = check_device(device)
        failed += not result.ok
        print(result.line(), flush=True)
    return 1 if failed else 0
