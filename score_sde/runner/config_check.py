"""Start-up checks of a whole config against the schema (`score_sde.config.schema`).

Every field must be one the schema declares, of its type, with a value its `Setting` allows,
whether or not the chosen method reads it; the first problem is reported in one line that names
the field and what is allowed. Checks that need several fields or the built objects (an eps
against the process's T, attention resolutions against the image size) happen when
`runner.setup.build` builds them.
"""

import difflib

from score_sde.config import base_config, schema

_BASE = base_config()


def _type_error(value, expected) -> str | None:
    if isinstance(expected, bool):
        return None if isinstance(value, bool) else "must be True or False"
    if isinstance(expected, int):
        return None if isinstance(value, int) and not isinstance(value, bool) else "must be an integer"
    if isinstance(expected, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if ok else "must be a number"
    if isinstance(expected, str):
        return None if isinstance(value, str) else "must be a string"
    if isinstance(expected, (tuple, list)):
        return None if isinstance(value, (tuple, list)) else "must be a tuple"
    return None


def _fail(path: str, value, problem: str):
    if problem.startswith("choose"):
        raise ValueError(f"config.{path}={value!r}: {problem}")
    raise ValueError(f"config.{path} {problem}; got {value!r}")


def _walk(config, schema, prefix: str = ""):
    """Yields (path, value, schema value) for every field, refusing unknown and missing ones."""
    for key in config.keys():
        path = f"{prefix}{key}"
        if key not in schema:
            close = difflib.get_close_matches(key, list(schema.keys()), n=1)
            hint = f"did you mean {prefix}{close[0]}? " if close else ""
            where = f"config.{prefix[:-1]}" if prefix else "config"
            raise ValueError(f"config.{path} is not a setting: {hint}{where} has {tuple(sorted(schema.keys()))}")
    for key in schema.keys():
        path = f"{prefix}{key}"
        if key not in config:
            raise ValueError(
                f"config.{path} is missing: start configs from score_sde.config.base_config(), "
                "which declares every field"
            )
        value, expected = config[key], schema[key]
        if hasattr(expected, "keys"):
            if not hasattr(value, "keys"):
                _fail(path, value, "must be a section of settings")
            yield from _walk(value, expected, path + ".")
        else:
            yield path, value, expected


def check_config(config) -> None:
    """Raises ValueError with one line on the first unknown, missing, mistyped or invalid field."""
    settings = schema()
    values = {}
    for path, value, expected in _walk(config, _BASE):
        problem = _type_error(value, expected)
        check = settings[path].check
        if problem is None and check is not None:
            problem = check(value)
        if problem:
            _fail(path, value, problem)
        values[path] = value
    for smaller, setting in settings.items():
        larger = setting.below
        if larger and not values[smaller] < values[larger]:
            raise ValueError(
                f"config.{smaller}={values[smaller]!r} must be smaller than config.{larger}={values[larger]!r}"
            )
