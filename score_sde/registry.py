"""Name -> object registries used to pick SDEs, models, samplers and datasets from configs."""

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """A dictionary from names to objects that refuses duplicates and explains unknown names.

    Args:
      kind: what is registered ("SDE", "model", ...), used in error messages.
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering its argument under `name`."""

        def add(entry: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = entry
            return entry

        return add

    def get(self, name: str, setting: str | None = None) -> T:
        """Returns the entry called `name`; `setting` names the config field in the error."""
        if name not in self._entries:
            where = f"{setting}={name!r}" if setting else f"{name!r}"
            raise ValueError(f"unknown {self.kind} {where}: choose from {self.names()}")
        return self._entries[name]

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._entries))

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
