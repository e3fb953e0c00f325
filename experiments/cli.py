"""The ``neurosnn`` command: one entry point for the experiment and analysis modules.

    neurosnn convert --checkpoint runs/fmnist_vgg9 --out runs/fmnist_vgg9/convert.h5
    neurosnn search --help

``neurosnn SUB ARGS`` runs ``python -m MODULE ARGS`` of the subcommand's module, with the same
options and outputs.
"""

from __future__ import annotations

import importlib
import sys

from neurosnn.experiments.commands import COMMANDS


def usage() -> str:
    lines = [
        "usage: neurosnn COMMAND [OPTIONS]   (neurosnn COMMAND --help: its options; "
        "neurosnn --version)",
        "",
    ]
    lines += [f"  {name:<12} {what}" for name, (_, what) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if argv[0] == "--version":
        from neurosnn import __version__

        print(f"neurosnn {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"error: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    try:
        module = importlib.import_module(COMMANDS[name][0])  # bindsnet's import takes seconds
    except KeyboardInterrupt:
        from neurosnn.io.output import INTERRUPTED

        print(INTERRUPTED, file=sys.stderr)
        return 130
    return module.main(rest)


if __name__ == "__main__":
    sys.exit(main())
