"""TOML configuration files: read once, checked key by key, one ``ConfigError``.

The agent and the verifier both build their typed configuration through ``Section``:
each getter reads one key, checks its type and range, and names the key in any error
(``batch.max_readings = 0 is outside [1, 65535]``), so an operator can fix the file
without reading code. A table with a key nobody reads is an error naming the key:
a misspelt key must not silently fall back to its default. Relative paths are taken
from the directory of the configuration file.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]

T = TypeVar("T")


class ConfigError(ValueError):
    """The configuration file is missing, malformed or holds an unusable value."""


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """The parsed TOML file at ``path``; ``what`` names it in errors ("agent config")."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"cannot read {what}: {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None
    try:
        data: dict[str, Any] = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {path} is not UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{what} {path} is not valid TOML: {exc}") from None
    return data


def load_file(path: Path, what: str, parse: Callable[[Mapping[str, Any], Path], T]) -> T:
    """Read ``path`` and ``parse(data, directory of the file)``; errors start with the path."""
    data = read_toml(path, what)
    try:
        return parse(data, path.resolve().parent)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _names(keys: Collection[str]) -> str:
    return ", ".join(sorted(keys))


def _either(choices: Sequence[str]) -> str:
    quoted = [f'"{c}"' for c in choices]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


class Section:
    """One TOML table (``[mqtt]``, ``[mqtt.tls]``, ``serial[0]``) and the keys it may hold.

    ``known=None`` accepts any key (a table of names, such as ``[gateways]``).
    ``base`` is the directory relative paths start from (None: they stay relative).
    """

    def __init__(
        self, name: str, data: object, known: Collection[str] | None, *, base: Path | None
    ) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"[{name}] must be a table, got {type(data).__name__}")
        if known is not None:
            unknown = set(data) - set(known)
            if unknown:
                raise ConfigError(
                    f"[{name}] has unknown key(s) {_names(unknown)}; known keys: {_names(known)}"
                )
        self.name = name
        self.data: Mapping[str, Any] = data
        self.base = base

    @classmethod
    def top(cls, data: object, known: Collection[str], *, base: Path | None) -> Section:
        """The whole file, whose keys are the section names in ``known``."""
        if not isinstance(data, dict):
            raise ConfigError(f"the configuration must be a table, got {type(data).__name__}")
        unknown = set(data) - set(known)
        if unknown:
            raise ConfigError(f"unknown section(s) {_names(unknown)}; known: {_names(known)}")
        return cls("", data, None, base=base)

    def where(self, key: str) -> str:
        """The key's name in messages: ``mqtt.port``, ``serial[0].path``."""
        return f"{self.name}.{key}" if self.name else key

    def __contains__(self, key: str) -> bool:
        return key in self.data

    # -- nested tables -----------------------------------------------------------

    def table(self, key: str, known: Collection[str] | None, *, required: bool = False) -> Section:
        """The sub-table ``key``; an empty one if it is absent and not ``required``."""
        name = self.where(key)
        if key not in self.data:
            if required:
                raise ConfigError(f"section [{name}] is missing")
            return Section(name, {}, known, base=self.base)
        return Section(name, self.data[key], known, base=self.base)

    def tables(self, key: str, known: Collection[str] | None) -> list[Section]:
        """An array of tables (``[[serial]]``), each one checked; [] if absent."""
        name = self.where(key)
        value = self.data.get(key, [])
        if not isinstance(value, list):
            raise ConfigError(f"{name} must be an array of tables: [[{name}]]")
        return [
            Section(f"{name}[{i}]", item, known, base=self.base) for i, item in enumerate(value)
        ]

    # -- values ------------------------------------------------------------------

    def _value(self, key: str, default: object) -> object:
        return self.data.get(key, default)

    def optional_str(self, key: str) -> str | None:
        if key not in self.data:
            return None
        value = self.data[key]
        if not isinstance(value, str):
            raise ConfigError(f"{self.where(key)} must be a string, got {value!r}")
        return value

    def get_str(self, key: str, default: str) -> str:
        value = self.optional_str(key)
        return default if value is None else value

    def required_str(self, key: str) -> str:
        value = self.optional_str(key)
        if value is None:
            raise ConfigError(f"{self.where(key)} is required")
        return value

    def get_choice(
        self, key: str, default: str, choices: Sequence[str], *, fold_case: bool = False
    ) -> str:
        """One of ``choices`` (compared in lower case when ``fold_case``)."""
        value = self.get_str(key, default)
        found = value.lower() if fold_case else value
        if found not in choices:
            raise ConfigError(f"{self.where(key)} = {value!r}: use {_either(choices)}")
        return found

    def get_int(self, key: str, default: int, low: int, high: int) -> int:
        value = self._value(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{self.where(key)} must be an integer, got {value!r}")
        if not low <= value <= high:
            raise ConfigError(f"{self.where(key)} = {value} is outside [{low}, {high}]")
        return value

    def get_float(
        self, key: str, default: float, low: float, high: float, *, low_open: bool = False
    ) -> float:
        """A number in [low, high], or in (low, high] when ``low_open``."""
        value = self._value(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{self.where(key)} must be a number, got {value!r}")
        if not (low < value if low_open else low <= value) or not value <= high:
            interval = f"{'(' if low_open else '['}{low}, {high}]"
            raise ConfigError(f"{self.where(key)} = {value} is outside {interval}")
        return float(value)

    def _path(self, key: str, text: str) -> Path:
        if not text:
            raise ConfigError(f"{self.where(key)} must not be empty")
        path = Path(text).expanduser()
        return path if path.is_absolute() or self.base is None else self.base / path

    def optional_path(self, key: str) -> Path | None:
        """A path, or None when the key is absent or ``""``."""
        text = self.optional_str(key)
        return None if not text else self._path(key, text)

    def get_path(self, key: str, default: str) -> Path:
        return self._path(key, self.get_str(key, default))

    def required_path(self, key: str) -> Path:
        return self._path(key, self.required_str(key))

    def readable_file(self, key: str, path: Path) -> Path:
        """``path`` (the value of ``key``) if it is a file, else a ConfigError."""
        if not path.is_file():
            raise ConfigError(f"{self.where(key)} = {str(path)!r} is not a readable file")
        return path
