"""Command lines generated from config dataclasses.

A command is a list of parts, each a frozen config dataclass (``neurosnn.config``); every
field with an ``Option`` in its metadata (``neurosnn.config.fields``) becomes one option, named
after the field in kebab case, in the help group the option names, its default shown (a field
that holds a config of its own offers the fields its ``Option.expose`` names). Parsing gives
one instance of each part, built by the dataclass itself, so its checks run as they do from
Python. ``--config FILE.yaml`` sets any option from a file (the ``config.yaml`` a run writes
beside its results reruns it); ``--print-config`` prints the resolved options.

Nothing here imports torch: ``--help`` and a bad option answer before the job is loaded.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neurosnn.config.fields import GROUPS, Option, option_of
from neurosnn.errors import UserError


@dataclass(frozen=True)
class Part:
    """One config dataclass of a command.

    Attributes:
        key: the part's name in the parsed result and in config files.
        cls: the frozen dataclass.
        defaults: this command's defaults for some fields (else the dataclass's).
        base: where the fields given no value come from instead of the defaults: a function of
            the parts built before this one (the search's preset).
        base_text: how that default reads in the help ("the preset's").
    """

    key: str
    cls: type
    defaults: dict[str, Any] = field(default_factory=dict)
    base: Callable[[dict[str, Any]], Any] | None = None
    base_text: str = ""


@dataclass(frozen=True)
class Command:
    """A ``neurosnn`` subcommand.

    Attributes:
        name: ``neurosnn NAME``.
        description: what it does and writes (plain text, shown by ``--help``).
        parts: its configs, in the order they are built.
        run: ``module:function`` called with the parsed ``Job`` (imported after parsing).
        examples: command lines shown by ``--help``, each starting with ``neurosnn``.
        retired: old flags accepted for a release, and what to say when one is given.
        info: flags that print a text and stop: flag → (help, ``module:function`` giving it).
        check: checks that need several parts: a function of the built parts that raises a
            ``UserError`` (its error then names the option, as a part's own checks do).
    """

    name: str
    description: str
    parts: tuple[Part, ...]
    run: str
    examples: tuple[str, ...] = ()
    retired: dict[str, str] = field(default_factory=dict)
    info: dict[str, tuple[str, str]] = field(default_factory=dict)
    check: Callable[[dict[str, Any]], None] | None = None


@dataclass(frozen=True)
class Entry:
    """One option of a part: the field path it sets (``("search", "population")`` for a field
    of a nested config), its ``Option``, type and default."""

    part: Part
    path: tuple[str, ...]
    opt: Option
    kind: Any
    default: Any

    @property
    def name(self) -> str:
        return self.opt.name or self.path[-1].replace("_", "-")

    @property
    def dest(self) -> str:
        return ".".join((self.part.key, *self.path))


class BadOption(SystemExit):
    """A bad command line: exit status 2 after one line on standard error, which ``str`` of
    the exception also gives."""

    def __init__(self, message: str) -> None:
        super().__init__(2)
        self.message = message

    def __str__(self) -> str:
        return self.message


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30, width=100)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> typing.NoReturn:  # one line, naming the option
        line = f"error: {message} (neurosnn {self.prog.split()[-1]} --help)"
        print(line, file=sys.stderr)
        raise BadOption(line)


def unwrap(kind: Any) -> tuple[Any, bool]:
    """``(type, optional)``: ``X | None`` → ``(X, True)``."""
    args = typing.get_args(kind)
    if typing.get_origin(kind) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1:
            raise TypeError(f"no command-line form for {kind!r}")
        return rest[0], True
    return kind, False


def _default_of(f: dataclasses.Field, defaults: dict[str, Any]) -> Any:
    if f.name in defaults:
        return defaults[f.name]
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def entries(part: Part) -> list[Entry]:
    """The part's options, a nested config's exposed fields included."""
    out = []
    hints = typing.get_type_hints(part.cls)
    for f in dataclasses.fields(part.cls):
        opt = option_of(f)
        if opt is None:
            continue
        default = _default_of(f, part.defaults)
        if not opt.expose:
            out.append(Entry(part, (f.name,), opt, hints[f.name], default))
            continue
        inner = typing.get_type_hints(hints[f.name])
        subs = {s.name: s for s in dataclasses.fields(hints[f.name])}
        for name in opt.expose:
            sub_opt = option_of(subs[name])
            value = getattr(default, name)
            out.append(Entry(part, (f.name, name), sub_opt, inner[name], value))
    return out


def _default_text(entry: Entry) -> str:
    if entry.part.base is not None:
        return entry.part.base_text
    if entry.opt.default_text is not None:
        return entry.opt.default_text
    value = entry.default
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None or value in ((), {}, ""):
        return "none"
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def _scalar(kind: Any) -> Callable[[str], Any]:
    if typing.get_origin(kind) is typing.Literal or kind in (str, Path):
        return str
    if kind is float:
        return _number
    if kind is int:
        return int
    raise TypeError(f"no command-line form for {kind!r}")


def _number(text: str) -> float:
    """A float, or a fraction such as 8/255 (an ε in pixel units)."""
    num, sep, den = text.partition("/")
    return float(num) / float(den) if sep else float(num)


_number.__name__ = "number"  # argparse's message: "invalid number value"


class _Items(argparse.Action):
    """A tuple option: each occurrence adds its comma-separated values (the first occurrence
    replaces the default)."""

    def __init__(self, *args: Any, item: Callable[[str], Any], **kwargs: Any) -> None:
        self.item = item
        super().__init__(*args, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        mark = f"{self.dest}:given"
        items = list(getattr(namespace, self.dest) or ()) if getattr(namespace, mark, 0) else []
        for word in str(values).split(","):
            if word.strip():
                try:
                    items.append(self.item(word.strip()))
                except (TypeError, ValueError) as err:
                    parser.error(
                        f"argument {option_string}: invalid value {word.strip()!r} ({err})"
                    )
        setattr(namespace, self.dest, tuple(items))
        setattr(namespace, mark, 1)


class _Pairs(argparse.Action):
    """``--option KEY=VALUE``, repeatable: a dict (the first occurrence replaces the default)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        key, sep, value = str(values).partition("=")
        if not sep or not key:
            parser.error(f"argument {option_string}: expected KEY=VALUE, got {values!r}")
        mark = f"{self.dest}:given"
        pairs = dict(getattr(namespace, self.dest) or {}) if getattr(namespace, mark, 0) else {}
        pairs[key] = parse_value(value)
        setattr(namespace, self.dest, pairs)
        setattr(namespace, mark, 1)


def parse_value(text: str) -> Any:
    """``true``/``false``, numbers and JSON become Python values; anything else stays text."""
    import json

    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _choice(item: Callable[[str], Any], choices: Sequence[Any] | None) -> Callable[[str], Any]:
    if not choices:
        return item

    def checked(text: str) -> Any:
        if text not in choices:
            raise ValueError(f"choose from {', '.join(map(str, choices))}")
        return text

    return checked


class _Info(argparse.Action):
    """A flag that prints a text (made by ``module:function``) and stops."""

    def __init__(self, *args: Any, source: str, **kwargs: Any) -> None:
        self.source = source
        super().__init__(*args, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        module, _, name = self.source.partition(":")
        print(getattr(importlib.import_module(module), name)())
        raise SystemExit(0)


def build_parser(command: Command) -> argparse.ArgumentParser:
    """The command's parser: every option in its group, with its default."""
    epilog = None
    if command.examples:
        epilog = "examples:\n" + "\n".join(f"  {e}" for e in command.examples)
    parser = _Parser(
        prog=f"neurosnn {command.name}",
        description=command.description,
        epilog=epilog,
        formatter_class=_Formatter,
        allow_abbrev=False,
    )
    groups = {g: parser.add_argument_group(f"{g} options") for g in GROUPS}
    seen: dict[str, str] = {}
    for part in command.parts:
        for entry in entries(part):
            if entry.name in seen:
                raise TypeError(f"--{entry.name} is both {seen[entry.name]}'s and {part.key}'s")
            seen[entry.name] = part.key
            _add(groups[entry.opt.group], entry)
    output = groups["output"]
    output.add_argument(
        "--config",
        metavar="FILE",
        help="read the options from a YAML file (the config.yaml a run writes beside its "
        "results reruns it); options given here override it",
    )
    output.add_argument(
        "--print-config", action="store_true", help="print the resolved options as YAML and stop"
    )
    for flag, (text, source) in command.info.items():
        output.add_argument(flag, action=_Info, source=source, help=text)
    for flag in command.retired:  # accepted for a release, not shown
        output.add_argument(flag, action="store_true", help=argparse.SUPPRESS)
    for group in list(parser._action_groups):
        if not group._group_actions:
            parser._action_groups.remove(group)
    return parser


def _add(group, entry: Entry) -> None:
    opt, name = entry.opt, entry.name
    if opt.positional:
        group.add_argument(
            entry.dest,
            nargs="+" if opt.repeat else None,
            metavar=opt.metavar or name.upper(),
            help=opt.help,
        )
        return
    required = entry.default is dataclasses.MISSING
    help_text = opt.help + ("" if required else f" (default: {_default_text(entry)})")
    common: dict[str, Any] = {"dest": entry.dest, "help": help_text}
    if entry.part.base is not None:
        common["default"] = None  # not given: the base's value
    elif required:
        common["required"] = True
    else:
        common["default"] = entry.default
    inner, _ = unwrap(entry.kind)
    origin = typing.get_origin(inner)
    if inner is bool:
        group.add_argument(f"--{name}", action=argparse.BooleanOptionalAction, **common)
    elif origin in (tuple, list):
        item_kind = unwrap(typing.get_args(inner)[0])[0]
        choices = (
            typing.get_args(item_kind) if typing.get_origin(item_kind) is typing.Literal else None
        )
        group.add_argument(
            f"--{name}",
            action=_Items,
            item=_choice(_scalar(item_kind), choices),
            metavar=opt.metavar or name.upper(),
            **common,
        )
    elif origin is dict:
        group.add_argument(f"--{name}", action=_Pairs, metavar=opt.metavar or "KEY=VALUE", **common)
    else:
        choices = typing.get_args(inner) if origin is typing.Literal else None
        group.add_argument(
            f"--{name}",
            type=_scalar(inner),
            choices=choices,
            metavar=None if choices else (opt.metavar or name.upper()),
            **common,
        )


def _renamed(command: Command, argv: Sequence[str]) -> list[str]:
    """``argv`` with the old spellings of options (``Option.deprecated``) replaced, each with a
    note on standard error."""
    new = {
        old: f"--{entry.name}"
        for part in command.parts
        for entry in entries(part)
        for old in entry.opt.deprecated
    }
    out = []
    for word in argv:
        old, eq, value = word.partition("=")
        if old in new:
            print(
                f"note: {old} is {new[old]} since neurosnn 0.3 ({old} goes in 0.4)", file=sys.stderr
            )
            word = new[old] + eq + value
        out.append(word)
    return out


def parse(command: Command, argv: Sequence[str]) -> dict[str, Any]:
    """``{part key: config}`` of ``argv`` (``--config`` files included); a bad value exits
    with one line naming its option."""
    parser = build_parser(command)
    argv = _renamed(command, argv)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(argv)
    if known.config:
        from neurosnn.experiments.config_files import apply_file

        apply_file(parser, command, Path(known.config))
    _unknown_first(parser, argv)
    ns = parser.parse_args(argv)
    for flag, note in command.retired.items():
        if getattr(ns, flag.lstrip("-").replace("-", "_")):
            print(f"note: {flag} is retired since neurosnn 0.3: {note}", file=sys.stderr)
    built: dict[str, Any] = {}
    try:
        for part in command.parts:
            built[part.key] = _build(part, ns, built)
        if command.check is not None:
            command.check(built)
    except UserError as err:
        parser.error(_named(str(err), command))
    except TypeError as err:  # a required field left out of a config file
        parser.error(str(err))
    if ns.print_config:
        from neurosnn.experiments.config_files import dump

        print(dump(command, built), end="")
        raise SystemExit(0)
    return built


def _unknown_first(parser: argparse.ArgumentParser, argv: Sequence[str]) -> None:
    """An option the command does not have is the error to report, before a missing one."""
    required = [a for a in parser._actions if a.required]
    for action in required:
        action.required = False
    try:
        _, extras = parser.parse_known_args(argv)
    finally:
        for action in required:
            action.required = True
    if extras:
        parser.error(f"unrecognized arguments: {' '.join(extras)}")


def _build(part: Part, ns: argparse.Namespace, built: dict[str, Any]) -> Any:
    given: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for entry in entries(part):
        value = getattr(ns, entry.dest)
        if isinstance(value, list):  # a repeated positional
            value = tuple(value)
        _within(entry, value)
        if part.base is not None and value is None:
            continue
        if len(entry.path) == 1:
            given[entry.path[0]] = value
        else:
            nested.setdefault(entry.path[0], {})[entry.path[1]] = value
    if part.base is not None:
        return dataclasses.replace(part.base(built), **given)
    fields_ = {f.name: f for f in dataclasses.fields(part.cls)}
    for name, values in nested.items():
        given[name] = dataclasses.replace(_default_of(fields_[name], part.defaults), **values)
    return part.cls(**{**part.defaults, **given})


def _within(entry: Entry, value: Any) -> None:
    """Raise ``UserError`` where a whole number given (on the command line or in a config
    file) is larger than its option takes: before any work or file."""
    from neurosnn.config.fields import MAX_COUNT

    most = entry.opt.most or MAX_COUNT
    for v in value if isinstance(value, tuple) else (value,):
        if isinstance(v, int) and not isinstance(v, bool) and v > most:
            raise UserError(f"{entry.path[-1]} must be at most {most:,}, got {v:,}")


def _named(message: str, command: Command) -> str:
    """A config's error names its field; the command line names its option."""
    first, _, rest = message.partition(" ")
    field, colon = first.removesuffix(":"), ":" if first.endswith(":") else ""
    names = {e.path[-1]: e.name for part in command.parts for e in entries(part)}
    return f"--{names[field]}{colon} {rest}" if field in names else message


@dataclass(frozen=True)
class Job:
    """A parsed command: each part's config as an attribute (``job.source``, ``job.output`` …)."""

    command: Command
    parts: dict[str, Any]
    argv: tuple[str, ...] = ()

    @property
    def command_line(self) -> str:
        """The command as it was given."""
        return " ".join(("neurosnn", self.command.name, *self.argv))

    def __getattr__(self, name: str) -> Any:
        try:
            return self.parts[name]
        except KeyError:
            raise AttributeError(name) from None

    def write_config(self, folder: str | Path) -> Path:
        """``folder/config.yaml``: the resolved options, which ``--config`` reruns."""
        from neurosnn.experiments.config_files import dump
        from neurosnn.io.output import atomic

        path = Path(folder) / "config.yaml"
        with atomic(path) as tmp:
            tmp.write_text(dump(self.command, self.parts))
        return path


def main(command: Command, argv: Sequence[str] | None = None) -> int:
    """Parse, then import the command's function and call it with the parsed ``Job``; a
    ``UserError`` it raises ends the command with one line naming the option, as a bad option
    does (``neurosnn.io.output.one_line_errors``)."""
    from neurosnn.io.output import one_line_errors

    argv = sys.argv[1:] if argv is None else list(argv)
    built = parse(command, argv)
    module, _, name = command.run.partition(":")

    @one_line_errors
    def run() -> int:
        function = getattr(importlib.import_module(module), name)
        try:
            return function(Job(command, built, tuple(argv)))
        except UserError as err:
            raise UserError(_named(str(err), command)) from err

    return run()
