"""Load YAML while remembering the line of every key, so errors can name file and line.

Every config loader (sweep, device, farm) reads through :func:`load_yaml`, which also
bounds what a file can make the loaders do: the bytes must be UTF-8, the file at most
:data:`MAX_FILE_BYTES`, and anchors/aliases may not expand the document beyond
:data:`MAX_EXPANDED_NODES` nodes (a "billion laughs" file is a located error, not a hang).
"""

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

#: Largest config file read (bytes). Real sweep/device/farm files are a few KB.
MAX_FILE_BYTES = 4 * 1024 * 1024
#: Most nodes a document may hold once every alias is expanded: aliases are copies of
#: their anchor for everything after the parser (validation, line index), so a few lines
#: of nested aliases could otherwise stand for 10^9 nodes.
MAX_EXPANDED_NODES = 200_000


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


def _walk(root: yaml.Node, root_path: Path_, lines: dict[Path_, int]) -> None:
    # iterative: a deeply nested file must not hit Python's recursion limit
    stack: list[tuple[yaml.Node, Path_]] = [(root, root_path)]
    while stack:
        node, path = stack.pop()
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value
                lines[path + (key,)] = key_node.start_mark.line + 1
                stack.append((value_node, path + (key,)))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, path + (i,)) for i, item in enumerate(node.value))


def _decode(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"file is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
                          file=name, line=line, expected="a UTF-8 encoded YAML file") from None


def read_text(source: str | Path) -> str:
    """The text of a config file: at most :data:`MAX_FILE_BYTES`, UTF-8 (located ``ConfigError`` otherwise)."""
    name = str(source)
    try:
        with open(source, "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror or exc}", file=name) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"file is larger than {MAX_FILE_BYTES // 2**20} MiB", file=name,
                          expected="a config file of a few KB")
    return _decode(raw, name)


def load_yaml(source: str | Path, *, text: str | None = None) -> YamlDocument:
    """Parse a YAML file whose top level must be a mapping.

    Duplicate keys are errors (PyYAML silently keeps the last one otherwise); so are
    non-UTF-8 bytes, files over :data:`MAX_FILE_BYTES` and alias expansion beyond
    :data:`MAX_EXPANDED_NODES` nodes.
    """
    name = str(source)
    if text is None:
        text = read_text(source)
    elif len(text) > MAX_FILE_BYTES:
        raise ConfigError(f"text is longer than {MAX_FILE_BYTES // 2**20} MiB", file=name)
    loader = _Loader(text)
    lines: dict[Path_, int] = {}
    try:
        node = loader.get_single_node()
        if node is not None:  # checked and indexed before construction, which rewrites merge keys (<<) in place
            _check_expansion(node, name)
            _check_duplicates(node, name)
            _walk(node, (), lines)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError(f"invalid YAML: {exc.problem or exc.context}", file=name, line=line) from None
    except yaml.YAMLError as exc:  # e.g. ReaderError: a control character in the stream
        raise ConfigError(f"invalid YAML: {str(exc).splitlines()[0]}", file=name,
                          line=_line_at(text, getattr(exc, "position", None))) from None
    except (ValueError, OverflowError, RecursionError) as exc:  # e.g. an integer of 5,000 digits
        raise ConfigError(f"invalid YAML value: {exc}"[:300], file=name) from None
    finally:
        loader.dispose()
    if node is None or not isinstance(data, dict):
        raise ConfigError("expected a mapping at the top level", file=name, line=1,
                          value=type(data).__name__, expected="key: value pairs")
    return YamlDocument(name, data, lines)


def _line_at(text: str, position: int | None) -> int | None:
    return text.count("\n", 0, position) + 1 if position is not None else None


def _check_expansion(root: yaml.Node, name: str) -> None:
    """Refuse documents whose aliases expand beyond :data:`MAX_EXPANDED_NODES` or refer to themselves.

    Sizes are memoised per node, so this is linear in the *unexpanded* document.
    """
    size: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            active.discard(key)
            total = 1 + sum(size[id(c)] for c in _children(node))
            if total > MAX_EXPANDED_NODES:
                raise ConfigError(f"anchors and aliases expand to more than {MAX_EXPANDED_NODES:,} nodes",
                                  file=name, line=node.start_mark.line + 1,
                                  expected="fewer or less deeply nested aliases")
            size[key] = total
            continue
        if key in size:
            continue
        if key in active:
            raise ConfigError("an alias refers to a node that contains it (a recursive structure)", file=name,
                              line=node.start_mark.line + 1, expected="aliases of complete, non-recursive nodes")
        active.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in active:
                raise ConfigError("an alias refers to a node that contains it (a recursive structure)",
                                  file=name, line=child.start_mark.line + 1,
                                  expected="aliases of complete, non-recursive nodes")
            if id(child) not in size:
                stack.append((child, False))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_duplicates(node: yaml.Node, name: str) -> None:
    seen_nodes: set[int] = set()  # an aliased node is checked once, not once per alias
    stack = [node]
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else id(key_node)
                if key in seen:
                    raise ConfigError("duplicate key", file=name, line=key_node.start_mark.line + 1,
                                      field=str(key_node.value), expected="each key once")
                seen.add(key)
                stack.append(value_node)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


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
    message = err["msg"].removeprefix("Value error, ")
    return doc.error(message, loc, field=field_name,
                     value=value if not isinstance(value, (dict, list)) else None, expected=expected)
