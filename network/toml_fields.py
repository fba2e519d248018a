"""Typed, path-aware reads from parsed TOML tables, for configuration files.

A `Table` remembers the dotted path of where it sits (`peers[2]`, `transport`) and which keys
were read, so every error names the exact field and `finish()` can refuse unknown keys (typos).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from network.addresses import AddressError, parse_host_port


class ConfigError(ValueError):
    """An invalid configuration; `field` is the dotted path of the offending field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}" if field else problem)
        self.field = field


_MISSING: Any = object()


class Table:
    """Typed reads from one TOML table, remembering which keys were used."""

    def __init__(self, data: Mapping[str, Any], prefix: str) -> None:
        self._data = data
        self._prefix = prefix
        self._used: set[str] = set()

    def field(self, key: str) -> str:
        return f"{self._prefix}.{key}" if self._prefix else key

    def optional(self, key: str) -> Any:
        self._used.add(key)
        return self._data.get(key)

    def _get(self, key: str, default: Any) -> Any:
        self._used.add(key)
        if key in self._data:
            return self._data[key]
        if default is _MISSING or default is None:
            raise ConfigError(self.field(key), "required field is missing")
        return default

    def integer(self, key: str, default: int, minimum: int, maximum: int) -> int:
        value = self._get(key, default)
        if type(value) is not int:
            raise ConfigError(self.field(key), f"expected an integer, got {value!r}")
        if not minimum <= value <= maximum:
            raise ConfigError(self.field(key), f"{value} is outside [{minimum}, {maximum}]")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key, default)
        if type(value) is not bool:
            raise ConfigError(self.field(key), f"expected true or false, got {value!r}")
        return value

    def string(self, key: str, default: str | None) -> str:
        value = self._get(key, _MISSING if default is None else default)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(self.field(key), f"expected a non-empty string, got {value!r}")
        return value

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.string(key, default).upper()
        if value not in choices:
            raise ConfigError(self.field(key), f"expected one of {', '.join(choices).lower()}")
        return value

    def path(self, key: str, base_dir: Path) -> Path:
        value = self.string(key, None)
        if "\x00" in value:
            raise ConfigError(self.field(key), "path contains a NUL byte")
        return (base_dir / Path(value).expanduser()).resolve()

    def address(self, key: str, default: str | None, *, port_zero: bool = False) -> tuple[str, int]:
        text = self.string(key, default)
        try:
            return parse_host_port(text, allow_port_zero=port_zero)
        except AddressError as exc:
            raise ConfigError(self.field(key), str(exc)) from None

    def items(self, key: str, max_items: int) -> list[Any]:
        value = self._get(key, [])
        if not isinstance(value, list):
            raise ConfigError(self.field(key), f"expected a list, got {type(value).__name__}")
        if len(value) > max_items:
            raise ConfigError(self.field(key), f"more than {max_items} entries")
        return value

    def table(self, key: str) -> Table:
        value = self._get(key, {})
        if not isinstance(value, Mapping):
            raise ConfigError(self.field(key), f"expected a table, got {type(value).__name__}")
        return Table(value, self.field(key))

    def finish(self) -> None:
        """Refuse keys nobody asked for (typos)."""
        unknown = sorted(set(self._data) - self._used)
        if unknown:
            raise ConfigError(self.field(unknown[0]), "unknown field")
