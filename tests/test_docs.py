"""The documentation's generated pages against the code: the config reference lists every field of
the schema with its default and comment, and the API reference documents every public name.

The generators live in docs/gen_reference.py (the mkdocs build runs them; see docs/hooks.py); they are
loaded here from that path, so these checks need no mkdocs.
"""

import importlib.util
import math
import re
from pathlib import Path

import pytest

import score_sde
from score_sde.config import base_config
from score_sde.settings import Setting

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.fixture(scope="module")
def gen_reference():
    spec = importlib.util.spec_from_file_location("gen_reference", DOCS / "gen_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _flat_schema(config, prefix=""):
    flat = {}
    for key in config.keys():
        value = config[key]
        if hasattr(value, "keys"):
            flat.update(_flat_schema(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _table_rows(markdown: str) -> dict[str, tuple[str, str, str]]:
    """{field: (default, meaning, declaring module)} of the generated page's table rows."""
    rows = {}
    for line in markdown.splitlines():
        match = re.fullmatch(r"\| `([^`]+)` \| `(.*)` \| (.*) \| `([\w.]+)` \|", line)
        if match:
            rows[match.group(1)] = (match.group(2), match.group(3), match.group(4))
    return rows


def test_config_reference_lists_every_schema_field_with_its_default_and_comment(gen_reference):
    schema = _flat_schema(base_config())
    rows = _table_rows(gen_reference.config_reference())
    lines = [line for line in gen_reference.config_reference().splitlines() if line.startswith("| `")]
    assert len(lines) == len(rows) and sorted(rows) == sorted(schema)  # every field, once
    for name, value in schema.items():
        default, meaning, _ = rows[name]
        if isinstance(value, str):
            assert default == f'"{value}"', name
        elif isinstance(value, float) and math.isinf(value):
            assert default == 'float("inf")', name
        else:
            assert eval(default) == value and type(eval(default)) is type(value), name  # a Python literal
        assert meaning.strip(), f"{name} has no comment"


def test_config_reference_names_the_module_that_declares_each_field(gen_reference):
    from score_sde.config import COMPONENTS

    rows = _table_rows(gen_reference.config_reference())
    for module in COMPONENTS:
        for name in importlib.import_module(module).SETTINGS:
            assert rows[name][2] == module, name


def test_a_setting_without_a_meaning_is_refused():
    with pytest.raises(ValueError, match="no doc"):
        Setting(3, " ")


def test_api_reference_documents_every_public_name(gen_reference):
    documented = gen_reference.api_names()
    missing = [name for name in score_sde.__all__ if f"score_sde.{name}" not in documented]
    assert not missing
    groups = gen_reference.api_groups()
    assert sorted(name for names in groups.values() for name in names) == sorted(score_sde.__all__)
    pages = gen_reference.api_pages()
    assert "api/index.md" in pages
    for package in gen_reference.SUBPACKAGES:  # each subpackage's own names are documented too
        module = importlib.import_module(package)
        for name in module.__all__:
            obj = getattr(module, name)
            assert f"{package}.{name}" in documented or any(
                getattr(score_sde, top) is obj for top in score_sde.__all__
            ), f"{package}.{name}"
