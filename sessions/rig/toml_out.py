"""Write a rig as TOML (the standard library reads TOML but does not write it; a rig needs only this much).

Values: strings, booleans, integers, floats (inf/nan included), lists and tables. A table at the top of a
section becomes a `[section.key]` table, a list of tables an array of tables (`[[emg.boards]]`), anything deeper
an inline table. `None` and defaults are left out: in a rig file an absent key is the default (every optional
field of the rig's models defaults to None). `parse_rig(model_toml(cfg)) == cfg` is tested.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k: str) -> str:
    return k if _BARE.match(k) else _string(k)


def _string(s: str) -> str:
    # json's escapes (\" \\ \n \t \uXXXX) are TOML's; DEL is allowed by JSON, not by a TOML basic string
    return json.dumps(s, ensure_ascii=False).replace("\x7f", "\\u007F")


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)  # 1.5, 1e-05, inf, -inf, nan: all TOML floats
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_value(x) for x in v if x is not None) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{_key(str(k))} = {_value(x)}" for k, x in v.items() if x is not None) + " }" \
            if v else "{}"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def _is_table_list(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, Mapping) for x in v)


def _table(path: str, data: Mapping[str, Any], lines: list[str], *, deep: bool) -> None:
    """The scalars of `data` here, then (unless `deep`: inline) its tables and arrays of tables under `path`."""
    nested = [] if deep else [(k, v) for k, v in data.items() if (isinstance(v, Mapping) and v) or _is_table_list(v)]
    nested_keys = {k for k, _ in nested}
    lines += [f"{_key(k)} = {_value(v)}" for k, v in data.items() if v is not None and k not in nested_keys]
    for k, v in nested:
        sub = f"{path}.{_key(k)}" if path else _key(k)
        if isinstance(v, Mapping):
            lines += ["", f"[{sub}]"]
            _table(sub, v, lines, deep=bool(path))
        else:
            for item in v:
                lines += ["", f"[[{sub}]]"]
                _table(sub, item, lines, deep=True)


def to_toml(data: Mapping[str, Any], *, header: str = "") -> str:
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    _table("", data, lines, deep=False)
    return "\n".join(lines).lstrip("\n") + "\n"


#: keys written first in their table, in this order (then the others, as the model declares them)
_FIRST = ("version", "name", "simulated", "driver", "stream")


def _ordered(data: Any) -> Any:
    if isinstance(data, Mapping):
        keys = [k for k in _FIRST if k in data] + [k for k in data if k not in _FIRST]
        return {k: _ordered(data[k]) for k in keys}
    if isinstance(data, list):
        return [_ordered(x) for x in data]
    return data


def model_toml(model: BaseModel, *, header: str = "", keep: tuple[str, ...] = ()) -> str:
    """`model` as TOML (JSON mode: paths as strings, tuples as lists). Defaults and None are left out, but for
    the top-level keys in `keep` (a file says its `version` even when it is the default)."""
    data = model.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    full = model.model_dump(mode="json")
    data = {**{k: full[k] for k in keep if full.get(k) is not None}, **data}
    return to_toml(_ordered(data), header=header)
