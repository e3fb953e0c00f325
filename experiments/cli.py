"""The ``neurosnn`` command: one entry point for every subcommand.

    neurosnn convert --checkpoint runs/fmnist_vgg9 --out runs/vgg9_snn
    neurosnn plot latency runs/lat/fmnist_vgg9
    neurosnn search --help

``neurosnn SUB ARGS`` is ``python -m neurosnn.experiments.MODULE ARGS`` of the subcommand's
module (from the checkout, ``python -m experiments.MODULE``), with the same options and
outputs. Nothing heavy is imported before the arguments are parsed.
"""

from __future__ import annotations

import importlib
import sys

from neurosnn.experiments.commands import COMMANDS, RENAMED


def usage() -> str:
    lines = [
        "usage: neurosnn COMMAND [OPTIONS]   (neurosnn COMMAND --help: its options; "
        "neurosnn --version)",
        "",
    ]
    lines += [f"  {name:<12} {what}" for name, (_, what) in COMMANDS.items()]
    return "\n".join(lines)


def plot_usage(plots: dict) -> str:
    lines = ["usage: neurosnn plot KIND [OPTIONS]   (neurosnn plot KIND --help: its options)", ""]
    from neurosnn.experiments.plots import summary

    lines += [f"  {kind:<10} {summary(command)}" for kind, command in plots.items()]
    return "\n".join(lines)


def spec(name: str):
    module, _, attr = COMMANDS[name][0].partition(":")
    return getattr(importlib.import_module(module), attr)


def main(argv: list[str] | None = None) -> int:
    from neurosnn.experiments.parser import main as run_command

    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if argv[0] == "--version":
        from neurosnn import __version__

        print(f"neurosnn {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name in RENAMED:
        new = " ".join(RENAMED[name])
        print(f"note: neurosnn {name} is neurosnn {new} since 0.3 ({name} goes in 0.4)",
              file=sys.stderr)  # fmt: skip
        name, rest = RENAMED[name][0], [*RENAMED[name][1:], *rest]
    if name not in COMMANDS:
        print(f"error: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    command = spec(name)
    if name == "plot":
        plots = command
        if not rest or rest[0] in ("-h", "--help"):
            print(plot_usage(plots))
            return 0
        if rest[0] not in plots:
            if not rest[0].endswith(".h5"):
                print(f"error: unknown plot {rest[0]!r}\n\n{plot_usage(plots)}", file=sys.stderr)
                return 2
            print("note: neurosnn plot RUN.h5 is neurosnn plot run RUN.h5 since 0.3",
                  file=sys.stderr)  # fmt: skip
            rest = ["run", *rest]
        command, rest = plots[rest[0]], rest[1:]
    try:
        return run_command(command, rest)
    except KeyboardInterrupt:
        from neurosnn.io.output import INTERRUPTED

        print(INTERRUPTED, file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
