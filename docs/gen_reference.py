"""The generated pages of the documentation: the config reference and the API reference.

Both are built from the code at every `mkdocs build` (`docs/hooks.py` adds them to the site), so they
cannot drift from it:

- `config_reference()`: every field of the schema (`score_sde.config.schema()`) with its default, its
  meaning and the module that declares it (each component's `SETTINGS` table).
- `api_pages()`: one page per group of `score_sde.__all__` (the groups are the `# comments` in that
  list) with a mkdocstrings `::: score_sde.<name>` block for every name, and one page per public
  subpackage for the names of its `__all__` that the top level does not re-export.

Nothing here imports mkdocs, so `tests/test_docs.py` loads this file and checks both against the code.
"""

import ast
import dataclasses
import html
import importlib
import io
import json
import math
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INIT_SOURCE = ROOT / "score_sde" / "__init__.py"
SUBPACKAGES = (
    "score_sde.sde",
    "score_sde.sampling",
    "score_sde.distillation",
    "score_sde.few_step",
    "score_sde.objectives",
    "score_sde.models",
    "score_sde.evaluation",
    "score_sde.datasets",
)
SECTION_TITLES = {
    "": "Run",
    "training": "training: the process, the loss and the training loop",
    "model": "model: the network, its parameterisation and the process's constants",
    "data": "data: the dataset and its preprocessing",
    "sampling": "sampling: the sampler and the steering tasks",
    "eval": "eval: likelihood, sample quality and the evaluation modes",
    "reflow": "reflow: rectified flow's --mode reflow",
    "distill": "distill: --mode distill's students",
    "ict": "ict: improved consistency training (objective consistency_training)",
    "mean_flow": "mean_flow: MeanFlow (objective mean_flow)",
    "scm": "scm: continuous-time consistency models, sCT and sCD (objective scm)",
    "optim": "optim: the optimizer",
}


@dataclasses.dataclass(frozen=True)
class ConfigField:
    name: str  # section.field ("seed" for a top-level field)
    default: str  # the default as it would be written on the command line or in a config
    comment: str  # its Setting's doc
    module: str  # the module whose SETTINGS declare it


def _comments(source: str) -> tuple[dict[int, str], set[int]]:
    """The comment text of each line, and the lines that hold nothing but a comment."""
    comments, alone = {}, set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            line = token.start[0]
            comments[line] = token.string.lstrip("#").strip()
            if not token.line[: token.start[1]].strip():
                alone.add(line)
    return comments, alone


def format_default(value) -> str:
    """A default as it is written in a config file: strings quoted, inf as float("inf")."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, float) and math.isinf(value):
        return 'float("inf")' if value > 0 else '-float("inf")'
    return repr(value)


def config_fields() -> list[ConfigField]:
    """Every field of the schema, section by section, with its default, meaning and declaring module."""
    from score_sde.config import COMPONENTS, schema

    declared_by = {name: module for module in COMPONENTS for name in importlib.import_module(module).SETTINGS}
    return [
        ConfigField(name, format_default(setting.default), setting.doc, declared_by[name])
        for name, setting in schema().items()
    ]


def _markdown_text(text: str) -> str:
    """Plain text safe in a Markdown table cell: no HTML, no cell breaks, no emphasis."""
    return html.escape(text, quote=False).replace("|", "&#124;").replace("*", "&#42;").replace("_", "&#95;")


def config_reference() -> str:
    """The config reference page: one table per section of the schema."""
    fields = config_fields()
    lines = [
        "# Config reference",
        "",
        "Every field of the one config schema, `score_sde.config.base_config()`, with its default, its",
        "meaning and the module that declares it: each field is a `score_sde.settings.Setting` in the",
        "`SETTINGS` table of the component that reads it, checked at start-up by the check it declares.",
        "This page is generated from those tables at every build (`docs/gen_reference.py`), so it is the",
        "schema itself. Every shipped config starts from these",
        "defaults and overrides what differs; any field can be set from the command line as",
        "`--config.<section>.<field>=value`. The [runner](runner.md) says how the modes use them.",
        "",
    ]
    sections: dict[str, list[ConfigField]] = {}
    for field in fields:
        sections.setdefault(field.name.rpartition(".")[0], []).append(field)
    for section, members in sections.items():
        lines += [
            f"## {SECTION_TITLES.get(section, section)}",
            "",
            "| field | default | meaning | declared in |",
            "| --- | --- | --- | --- |",
        ]
        for field in members:
            lines.append(f"| `{field.name}` | `{field.default}` | {_markdown_text(field.comment)} | `{field.module}` |")
        lines.append("")
    return "\n".join(lines)


def api_groups(source_path: Path = INIT_SOURCE) -> dict[str, list[str]]:
    """{group: names} of `score_sde.__all__`, grouped by the `# comments` between its entries."""
    source = source_path.read_text()
    comments, _ = _comments(source)
    assignment = next(
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets)
    )
    groups: dict[str, list[str]] = {}
    group = "other"
    previous_line = assignment.lineno
    for element in assignment.value.elts:
        headings = [comments[k] for k in range(previous_line + 1, element.lineno) if k in comments]
        if headings:
            group = headings[-1]
        groups.setdefault(group, []).append(element.value)
        previous_line = element.end_lineno
    return groups


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")


def _object_block(path: str) -> list[str]:
    return [f"::: {path}", ""]


def api_pages() -> dict[str, str]:
    """{path under docs/: Markdown} of the API reference: an index, one page per group of
    `score_sde.__all__`, one per public subpackage (its names the top level does not re-export)."""
    import score_sde

    groups = api_groups()
    listed = [name for names in groups.values() for name in names]
    if sorted(listed) != sorted(score_sde.__all__):
        raise ValueError("score_sde/__init__.py: __all__ could not be read from the source as the module defines it")
    top_level = {id(getattr(score_sde, name)) for name in score_sde.__all__}
    pages = {}
    index = [
        "# API reference",
        "",
        "Every public name of `score_sde` (its `__all__`), with its docstring, grouped as the package",
        "lists them; then the public subpackages' further names. Generated from the code at every build",
        "(`docs/gen_reference.py`): a new public name gets its entry without being listed here.",
        "",
        "## `score_sde`",
        "",
    ]
    for group, names in groups.items():
        page = f"api/{_slug(group)}.md"
        pages[page] = "\n".join(
            [f"# {group.capitalize()}", "", f"`from score_sde import {', '.join(names)}`", ""]
            + [line for name in names for line in _object_block(f"score_sde.{name}")]
        )
        index.append(f"- [{group.capitalize()}]({page.removeprefix('api/')}): " + ", ".join(f"`{n}`" for n in names))
    index += ["", "## Subpackages", ""]
    for package in SUBPACKAGES:
        module = importlib.import_module(package)
        own = [name for name in module.__all__ if id(getattr(module, name)) not in top_level]
        shared = [name for name in module.__all__ if id(getattr(module, name)) in top_level]
        doc = (module.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        page = f"api/{package.replace('.', '_')}.md"
        body = [f"# `{package}`", "", doc, ""]
        if shared:
            body += [
                "Also here, documented with the top-level names: " + ", ".join(f"`{name}`" for name in shared) + ".",
                "",
            ]
        body += [line for name in own for line in _object_block(f"{package}.{name}")]
        pages[page] = "\n".join(body)
        index.append(f"- [`{package}`]({page.removeprefix('api/')}): {doc}")
    pages["api/index.md"] = "\n".join(index) + "\n"
    return pages


def api_names() -> set[str]:
    """The dotted names the API pages document (`score_sde.<name>`, `<subpackage>.<name>`)."""
    return {
        line.removeprefix("::: ").strip()
        for text in api_pages().values()
        for line in text.splitlines()
        if line.startswith("::: ")
    }
