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


#: Messages for pydantic error types: what the user should have written.
_EXPECTED = {
    "int_parsing": "an integer", "int_type": "an integer", "int_from_float": "an integer",
    "float_parsing": "a number", "float_type": "a number", "string_type": "a string",
    "bool_parsing": "true or false", "bool_type": "true or false", "list_type": "a list",
    "dict_type": "a mapping", "too_short": "a non-empty list",
    "string_pattern_mismatch": "letters, digits, '.', '_' or '-'",
}


def _is_tag(element: Any) -> bool:
    """True for the entries pydantic adds to an error location for union members and
    validators (``list[...]``, ``function-after[...]``, ``int``, a model's class name)."""
    if not isinstance(element, str):
        return False
    return "[" in element or element in ("int", "str", "float", "bool") or element[:1].isupper()


def _unwrap_model(annotation: Any) -> Any:
    from typing import get_args

    from pydantic import BaseModel

    for arg in (annotation, *get_args(annotation)):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
        for inner in get_args(arg):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
    return annotation


def model_at(model: Any, loc: Path_) -> Any:
    """The pydantic model class owning the last key of ``loc`` (to list its valid keys)."""
    from pydantic import BaseModel

    current: Any = model
    for key in loc[:-1]:
        if isinstance(key, int) or not (isinstance(current, type) and issubclass(current, BaseModel)):
            continue
        if key not in current.model_fields:
            return None
        current = _unwrap_model(current.model_fields[key].annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def validation_error(doc: YamlDocument, exc: Any, root: Any, *, owner_of: Any = None,
                     prefer: Any = None, drop: tuple[str, ...] = ()) -> ConfigError:
    """Turn a pydantic ``ValidationError`` on ``doc`` into one located ``ConfigError``.

    ``root`` is the model that validated ``doc.data``; ``owner_of(loc)`` may return the
    model owning an unknown key when ``model_at`` cannot tell (discriminated unions);
    ``prefer(error)`` picks which of several errors to report (default: the first);
    ``drop`` names further location entries that are tags, not keys (discriminator values).
    """
    errors = exc.errors()
    err = next((e for e in errors if prefer and prefer(e)), errors[0])
    loc = tuple(x for x in err["loc"] if not _is_tag(x) and x not in drop)
    field_name = ".".join(str(p) for p in loc) or "<top>"
    kind = err["type"]
    if kind == "extra_forbidden":
        owner = (owner_of(loc) if owner_of else None) or model_at(root, loc)
        allowed = sorted(f.alias or n for n, f in owner.model_fields.items()) if owner else None
        return doc.error("unknown key", loc, field=field_name, value=loc[-1] if loc else None,
                         expected="one of " + ", ".join(allowed) if allowed else None)
    if kind == "missing":
        return doc.error("missing required key", loc[:-1], field=field_name, expected=f"a value for {loc[-1]}")
    ctx = err.get("ctx") or {}
    expected = _EXPECTED.get(kind)
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bound = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}[kind]
        expected = f"{bound} {next(iter(ctx.values()), '')}"
    elif kind in ("literal_error", "union_tag_invalid", "enum"):
        expected = str(ctx.get("expected") or ctx.get("expected_tags") or "")
    value = err.get("input")
    if isinstance(value, dict) and kind == "union_tag_invalid":
        value = value.get(ctx.get("discriminator", "").strip("'"), None)
    return doc.error(err["msg"], loc, field=field_name,
                     value=value if not isinstance(value, (dict, list)) else None, expected=expected)
