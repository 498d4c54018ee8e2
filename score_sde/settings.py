"""Config fields declared by the components that read them.

A `Setting` is one field of the config schema: its default, its meaning (the config reference's
line) and its check. Each component declares the fields it reads next to the code that reads
them, in a module-level `SETTINGS = {"section.field": Setting(...)}` (a process's constants in its
module, a sampler's options in its sampler's module, a network's knobs in the network's module),
so adding a field to a component is one edit there. `score_sde.config` gathers every component's
table into the one schema; `score_sde.runner.config_check` runs the checks at start-up with the
one-line errors ("did you mean") that name the field.

    SETTINGS = {"sampling.snr": Setting(0.16, "pc: the corrector's signal-to-noise ratio", POSITIVE)}
"""

import dataclasses
import math
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], str | None]  # a value -> None if allowed, else what is allowed ("choose from ...")


@dataclasses.dataclass(frozen=True)
class Setting:
    """One config field: its default, its meaning, its check of a value (after the type check against
    the default's type) and, if it must stay below another field of its section, that field's name."""

    default: Any
    doc: str
    check: Check | None = None
    below: str = ""

    def __post_init__(self):
        if not self.doc.strip():
            raise ValueError(f"a Setting with default {self.default!r} has no doc: every field says what it means")


def choice(*allowed) -> Check:
    """One of `allowed`."""
    return lambda value: None if value in allowed else f"choose from {allowed}"


def choice_of(registry, *extra: str) -> Check:
    """One of `extra` or a name registered in `registry` (looked up when checking, after registration)."""
    return lambda value: choice(*extra, *registry.names())(value)


def number(lo: float = -math.inf, hi: float = math.inf, lo_open: bool = False, hi_open: bool = False) -> Check:
    """A number in [lo, hi] (or open at either end)."""

    def check(value):
        below = value < lo or (lo_open and value == lo)
        above = value > hi or (hi_open and value == hi)
        if below or above:
            return f"must lie in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
        return None

    return check


POSITIVE = number(0.0, lo_open=True)
NON_NEGATIVE = number(0.0)
UNIT = number(0.0, 1.0)
BELOW_ONE = number(0.0, 1.0, hi_open=True)  # [0, 1): decays and probabilities that must leave something


def AT_LEAST_ONE(value) -> str | None:
    return None if value >= 1 else "must be a positive integer"


def POSITIVE_INTS(values) -> str | None:
    return None if all(isinstance(n, int) and n >= 1 for n in values) else "must hold positive integers"


def INTEGERS(values) -> str | None:
    return None if all(isinstance(n, int) for n in values) else "must hold integers"
