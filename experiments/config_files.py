"""Options in YAML files: ``--config FILE`` reads them into a command's parser, and ``dump``
writes the resolved options of a run (its ``config.yaml``, which ``--config`` reruns)."""

from __future__ import annotations

import argparse
import typing
from pathlib import Path
from typing import Any

from neurosnn.experiments.parser import Command, Entry, entries, unwrap


def apply_file(parser: argparse.ArgumentParser, command: Command, path: Path) -> None:
    """Set the parser's defaults from a YAML file of ``{part key: {field: value}}`` (a nested
    config's fields one level deeper); an unknown key or a value of the wrong type is one line
    naming it."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        parser.error(f"argument --config: cannot read {path}: {err}")
    if not isinstance(data, dict):
        parser.error(f"argument --config: {path} holds no mapping of options")
    if data.pop("command", command.name) != command.name:
        parser.error(f"argument --config: {path} is a config of another command")
    known = {e.dest: e for part in command.parts for e in entries(part)}
    defaults = {}
    for dest, value in _flatten(data, known):
        if dest not in known:
            parser.error(f"argument --config: {path}: unknown option {dest}")
        defaults[dest] = _from_file(parser, path, dest, value, known[dest].kind)
    parser.set_defaults(**defaults)
    for action in parser._actions:  # an option the file gives is no longer required
        if action.dest in defaults:
            action.required = False


def _flatten(data: dict[str, Any], known: dict[str, Entry], prefix: str = "") -> list:
    """``[(dest, value)]`` of a config file's nested mapping (a dict-valued option is a value)."""
    out = []
    for key, value in data.items():
        dest = f"{prefix}{key}"
        if isinstance(value, dict) and dest not in known:
            out += _flatten(value, known, dest + ".")
        else:
            out.append((dest, value))
    return out


def _from_file(parser, path: Path, where: str, value: Any, kind: Any) -> Any:
    inner, optional = unwrap(kind)
    if value is None:
        if optional:
            return None
        parser.error(f"argument --config: {path}: {where} may not be empty")
    origin = typing.get_origin(inner)
    if origin is typing.Literal:
        ok = value in typing.get_args(inner)
    elif origin in (tuple, list):
        ok = isinstance(value, list)
        value = tuple(value) if ok else value
    elif origin is dict:
        ok = isinstance(value, dict)
    elif inner is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif inner is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif inner is bool:
        ok = isinstance(value, bool)
    else:
        ok = isinstance(value, str)
    if not ok:
        parser.error(f"argument --config: {path}: {where} = {value!r} is not {_describe(inner)}")
    return value


def _describe(kind: Any) -> str:
    if typing.get_origin(kind) is typing.Literal:
        return "one of " + ", ".join(map(str, typing.get_args(kind)))
    if typing.get_origin(kind) in (tuple, list):
        return "a list"
    return "a " + getattr(kind, "__name__", str(kind))


def dump(command: Command, built: dict[str, Any]) -> str:
    """The resolved options as YAML: ``--config`` of this text runs the same job."""
    import yaml

    data: dict[str, Any] = {"command": command.name}
    for part in command.parts:
        section: dict[str, Any] = {}
        for entry in entries(part):
            value: Any = built[part.key]
            for name in entry.path:
                value = getattr(value, name)
            target = section
            for name in entry.path[:-1]:
                target = target.setdefault(name, {})
            target[entry.path[-1]] = _plain(value)
        data[part.key] = section
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value
