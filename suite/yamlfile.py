"""Load YAML while remembering the line of every key, so errors can name file and line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from suite.errors import ConfigError

try:  # the C loader is ~10x faster; fall back when libyaml is absent
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _Loader = yaml.SafeLoader

Path_ = tuple[Any, ...]


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML mapping plus the 1-based line of each key path."""

    file: str
    data: dict[str, Any]
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int | None:
        """Line of ``path`` or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)

    def error(self, message: str, path: Path_, **kwargs: Any) -> ConfigError:
        """A ``ConfigError`` located at ``path`` in this file."""
        return ConfigError(message, file=self.file, line=self.line_of(path), **kwargs)


def _walk(node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            lines[path + (key,)] = key_node.start_mark.line + 1
            _walk(value_node, path + (key,), lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, path + (i,), lines)


def load_yaml(source: str | Path, *, text: str | None = None) -> YamlDocument:
    """Parse a YAML file whose top level must be a mapping.

    Duplicate keys are errors (PyYAML silently keeps the last one otherwise).
    """
    name = str(source)
    if text is None:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read file: {exc.strerror}", file=name) from None
    try:
        node = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ConfigError(f"invalid YAML: {exc.problem}", file=name, line=line) from None
    if node is None or not isinstance(data, dict):
        raise ConfigError("expected a mapping at the top level", file=name, line=1,
                          value=type(data).__name__, expected="key: value pairs")
    lines: dict[Path_, int] = {}
    _check_duplicates(node, name)
    _walk(node, (), lines)
    return YamlDocument(name, data, lines)


def _check_duplicates(node: yaml.Node, name: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            if key_node.value in seen:
                raise ConfigError("duplicate key", file=name, line=key_node.start_mark.line + 1,
                                  field=str(key_node.value), expected="each key once")
            seen.add(key_node.value)
            _check_duplicates(value_node, name)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_duplicates(item, name)


def pydantic_error(doc: YamlDocument, exc: Any, prefix: Path_ = ()) -> ConfigError:
    """Turn the first error of a pydantic ``ValidationError`` into a located ``ConfigError``."""
    err = exc.errors()[0]
    loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and x.startswith(("function-", "tagged-union"))))
    path = tuple(prefix) + loc
    field_name = ".".join(str(p) for p in path) or "<top>"
    kind = err["type"]
    value = err.get("input")
    if kind == "extra_forbidden":
        return doc.error("unknown key", path, field=field_name, value=loc[-1] if loc else None,
                         expected=_allowed_keys(exc, err))
    if kind == "missing":
        return doc.error("missing required key", path[:-1], field=field_name, expected="this key to be set")
    return doc.error(err["msg"], path, field=field_name, value=value if not isinstance(value, dict) else None,
                     expected=_expected_from(err))


def _allowed_keys(exc: Any, err: dict[str, Any]) -> str | None:
    model = getattr(exc, "_hw_model", None)
    if model is None:
        return None
    return "one of " + ", ".join(sorted(model.model_fields))


def _expected_from(err: dict[str, Any]) -> str | None:
    ctx = err.get("ctx") or {}
    if "expected" in ctx:
        return str(ctx["expected"])
    kind = err["type"]
    mapping = {"int_parsing": "an integer", "int_type": "an integer", "float_parsing": "a number",
               "float_type": "a number", "string_type": "a string", "bool_parsing": "true or false",
               "list_type": "a list", "dict_type": "a mapping", "greater_than": f"> {ctx.get('gt')}",
               "greater_than_equal": f">= {ctx.get('ge')}"}
    return mapping.get(kind)
