"""``hwbehave devices list`` and ``hwbehave devices check NAME…``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from suite.devices.config import devices_dir, load_device, resolve_device
from suite.errors import ConfigError


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``hwbehave devices`` and its arguments."""
    p = sub.add_parser("devices", help="list device definitions or check that devices are reachable")
    p.add_argument("--dir", type=Path, default=None, help="devices folder (default $HWBEHAVE_DEVICES or devices/)")
    dsub = p.add_subparsers(dest="devices_command", metavar="ACTION")
    dsub.add_parser("list", help="one line per devices/*.yaml")
    check = dsub.add_parser("check", help="connect, run the agent's hello, read disk/governor/temperature")
    check.add_argument("names", nargs="+", help="device names (devices/<name>.yaml) or YAML paths")
    return p


def run(args: argparse.Namespace) -> int:
    """Carry out ``hwbehave devices``; returns the exit status."""
    folder = args.dir or devices_dir()
    if args.devices_command == "list":
        return list_devices(folder)
    if args.devices_command == "check":
        return check_devices(args.names, folder)
    print("usage: hwbehave devices {list,check NAME...}", file=sys.stderr)
    return 2


def list_devices(folder: Path) -> int:
    """Print name, class, transport, runtime and whether the file is an example; 1 if any is invalid."""
    files = sorted(folder.glob("*.yaml"))
    if not files:
        print(f"no device files in {folder}/")
        return 0
    bad = 0
    print(f"{'name':<20} {'class':<8} {'transport':<9} {'runtime':<16} {'formats':<14} example")
    for f in files:
        try:
            d = load_device(f)
        except ConfigError as exc:
            bad += 1
            print(f"{f.stem:<20} INVALID: {exc}")
            continue
        print(f"{d.name:<20} {d.device_class:<8} {d.transport.kind:<9} {d.runtime.name:<16} "
              f"{','.join(d.formats):<14} {'example' if d.example else '-'}")
    return 1 if bad else 0


def check_devices(names: list[str], folder: Path) -> int:
    """One line per device; exit 1 if any check fails."""
    from suite.devices.check import check_device

    failed = 0
    for name in names:
        path = folder / f"{name}.yaml"
        try:
            device = load_device(path) if path.exists() else resolve_device(name)
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
