"""``hwbehave toolchains check|install``: which vendor toolchains work here, and set one up."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from rich.console import Console
from rich.table import Table

from suite.errors import ConfigError


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``hwbehave toolchains`` and its arguments."""
    p = sub.add_parser("toolchains", help="check the backends' vendor toolchains or install one")
    tsub = p.add_subparsers(dest="toolchains_command", metavar="ACTION")
    check = tsub.add_parser("check", help="report which toolchains are usable on this machine and why not")
    check.add_argument("--device", help="device YAML whose toolchain: block to apply (e.g. nncase target)")
    check.add_argument("--json", action="store_true", help="one JSON object per toolchain")
    install = tsub.add_parser("install", help="create a toolchain's own venv (rknn)")
    install.add_argument("name", choices=["rknn"], help="toolchain to install")
    install.add_argument("--venv", help="where (default ~/.cache/hwbehave/venvs/rknn)")
    install.add_argument("--torch-wheel", help="local torch wheel (default: /opt/wheels/torch-*.whl if present)")
    install.add_argument("--force", action="store_true", help="rebuild even if a complete venv is there")
    return p


def run(args: argparse.Namespace) -> int:
    """Carry out ``hwbehave toolchains``; returns the exit status."""
    if args.toolchains_command == "install":
        from suite.backends.rknn.venv import install_venv

        python = install_venv(args.venv, torch_wheel=args.torch_wheel, force=args.force)
        print(f"rknn toolchain python: {python}")
        if args.venv:
            print(f"add to ~/.config/hwbehave/toolchains.yaml:\n  toolchains:\n    rknn: {{python: {python}}}")
        return 0
    if args.toolchains_command != "check":
        raise ConfigError("toolchains needs an action", field="ACTION", expected="check or install")
    from suite.backends.backend import toolchain_backends
    from suite.backends.toolchain import resolve_settings

    device = None
    if args.device:
        from suite.devices.config import resolve_device

        device = resolve_device(args.device)
    results = []
    for backend in toolchain_backends():
        cls = backend.builder_class()
        assert backend.toolchain is not None
        settings = resolve_settings(backend.toolchain, cls.defaults, device=device)
        results.append(cls.check(settings))
    if args.json:
        for r in results:
            print(json.dumps(asdict(r)))
    else:
        table = Table(title="vendor toolchains on this machine")
        for col in ("toolchain", "usable", "version", "interpreter", "detail / fix"):
            table.add_column(col, overflow="fold")
        for r in results:
            detail = r.detail + (f"\nfix: {r.fix}" if r.fix and not r.usable else "")
            table.add_row(r.name, "yes" if r.usable else "no", r.version or "-", r.interpreter or "-", detail)
        Console(width=160).print(table)
    return 0 if all(r.usable for r in results) else 1
