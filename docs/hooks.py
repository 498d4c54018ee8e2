"""mkdocs hooks (mkdocs.yml `hooks:`): the generated pages and the worked examples join the site.

- The config reference and the API reference pages come from `docs/gen_reference.py` at every build.
- The examples stay in `examples/` at the repository root (scripts in jupytext's percent format that run
  on their own); they are added to the site here, and mkdocs-jupyter executes them into their pages.
- Links from a page to a file of the repository outside docs/ (`../scripts/launch/slurm.sbatch`) are
  checked to exist here and rendered as the path, since the site holds no copy of them; links to an
  example (`../examples/toy2d.py`, right on GitHub) point to its rendered page.
- The nav entry `api/index.md` becomes a section with every generated API page.
"""

import importlib.util
import os
import re
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent

_spec = importlib.util.spec_from_file_location("gen_reference", DOCS / "gen_reference.py")
gen_reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen_reference)

_REPO_LINK = re.compile(r"\[([^\]]+)\]\((\.\./[^)#\s]+)\)")


def on_config(config):
    pages = sorted(gen_reference.api_pages())
    pages.remove("api/index.md")

    def expand(items):
        for index, item in enumerate(items):
            title, value = next(iter(item.items())) if isinstance(item, dict) else (None, item)
            if value == "api/index.md":
                items[index] = {title or "API reference": ["api/index.md", *pages]}
            elif isinstance(value, list):
                expand(value)

    expand(config["nav"])
    return config


@event_priority(100)  # before mkdocs-jupyter's on_files, so that it wraps the examples
def on_files(files, config):
    files.append(File.generated(config, "config_reference.md", content=gen_reference.config_reference()))
    for path, content in gen_reference.api_pages().items():
        files.append(File.generated(config, path, content=content))
    for example in sorted((ROOT / "examples").glob("*.py")):
        files.append(
            File(
                f"examples/{example.name}",
                src_dir=str(ROOT),
                dest_dir=config["site_dir"],
                use_directory_urls=config["use_directory_urls"],
            )
        )
    return files


def on_page_markdown(markdown, page, config, files):
    if not page.file.src_uri.endswith(".md"):
        return markdown  # an example: mkdocs-jupyter renders it

    def repository_link(match):
        text, target = match.groups()
        path = (DOCS / Path(page.file.src_uri).parent / target).resolve()
        if path.is_relative_to(DOCS):
            return match.group(0)  # a page or a figure of the site: mkdocs checks it
        if path.parent == ROOT / "examples" and path.suffix == ".py":
            rendered = os.path.relpath(DOCS / "examples" / path.name, DOCS / Path(page.file.src_uri).parent)
            return f"[{text}]({Path(rendered).as_posix()})"
        if not path.exists():
            raise FileNotFoundError(f"{page.file.src_uri} links to {target}, which is not in the repository")
        relative = path.relative_to(ROOT).as_posix()
        return text if text.strip("`") == relative else f"{text} (`{relative}`)"

    return _REPO_LINK.sub(repository_link, markdown)
