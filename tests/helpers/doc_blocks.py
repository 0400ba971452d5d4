"""The code blocks of the documentation (docs/**/*.rst and README.md), and the internal
links of the built site: what tests/packaging/test_docs.py checks and ``make docs`` runs.

Run as a script on a built site, it prints every broken internal link and exits 1 if
there is one: ``python tests/helpers/doc_blocks.py build/docs/html``.
"""

import re
import sys
import textwrap
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
# An RST comment right before a block keeps it out of the test run, and says why.
NOT_TESTED = ".. not-tested:"


@dataclass
class Block:
    """One code block: its page, the line it starts on, its language and its code."""

    page: Path
    line: int
    language: str
    code: str
    not_tested: str | None   # the reason given, when the block is not run


def guide_pages():
    """The pages whose Python blocks run as tests: the site's pages and the README."""
    return sorted(p for p in DOCS.rglob("*.rst")
                  if "_build" not in p.parts and "generated" not in p.parts) + [
        REPO / "README.md"]


def _rst_blocks(page):
    lines = page.read_text().splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)\.\. code-block::\s*(\S+)\s*$", line)
        if not m:
            continue
        indent = len(m.group(1))
        body, j = [], i + 1
        while j < len(lines) and re.match(r"^\s+:\w[\w-]*:", lines[j]):   # options
            j += 1
        while j < len(lines) and (not lines[j].strip() or
                                  len(lines[j]) - len(lines[j].lstrip()) > indent):
            body.append(lines[j])
            j += 1
        yield Block(page, i + 1, m.group(2), textwrap.dedent("\n".join(body)).strip("\n") + "\n",
                    _reason_not_tested(lines, i, indent))


def _reason_not_tested(lines, i, indent):
    """The reason of a ``.. not-tested:`` comment that ends right above line ``i``."""
    k = i - 1
    while k >= 0 and not lines[k].strip():
        k -= 1
    comment = []
    while k >= 0 and lines[k].strip():
        comment.insert(0, lines[k].strip())
        if len(lines[k]) - len(lines[k].lstrip()) <= indent:
            break
        k -= 1
    text = " ".join(comment)
    return text[len(NOT_TESTED):].strip() if text.startswith(NOT_TESTED) else None


def _markdown_blocks(page):
    lines = page.read_text().splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        start, body = i + 1, []
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        i += 1
        before = lines[start - 3] if start >= 3 else ""
        reason = None
        if before.strip().startswith("<!-- not-tested:"):
            reason = before.strip()[len("<!-- not-tested:"):].rstrip("-> ").strip()
        yield Block(page, start, m.group(1) or "text", "\n".join(body) + "\n", reason)


def code_blocks(page, language="python"):
    """The ``language`` blocks of an .rst page or of README.md, in order."""
    blocks = _markdown_blocks(page) if page.suffix == ".md" else _rst_blocks(page)
    return [b for b in blocks if b.language == language]


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        for key in ("href", "src"):
            if attrs.get(key):
                self.links.append(attrs[key])


def broken_links(site):
    """Every internal link of a built HTML site that leads nowhere: ``(page, link)`` pairs.

    A link is internal when it has no scheme and no host; it must name an existing file
    of the site and, with a ``#fragment``, an element of that file with that id.
    """
    site = Path(site)
    parsed = {}

    def parse(path):
        if path not in parsed:
            p = _Links()
            p.feed(path.read_text(errors="replace"))
            parsed[path] = p
        return parsed[path]

    broken = []
    # _static/ holds the theme's own files (templates among them), not pages.
    for page in sorted(p for p in site.rglob("*.html")
                       if "_static" not in p.relative_to(site).parts):
        for link in parse(page).links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("mailto:", "javascript:")):
                continue
            target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file() or not target.resolve().is_relative_to(site.resolve()):
                broken.append((str(page.relative_to(site)), link))
                continue
            if parts.fragment and target.suffix == ".html" and \
                    unquote(parts.fragment) not in parse(target).ids:
                broken.append((str(page.relative_to(site)), link))
    return broken


if __name__ == "__main__":
    found = broken_links(sys.argv[1])
    for page, link in found:
        print(f"{page}: broken link {link}")
    print(f"{len(found)} broken internal links in {sys.argv[1]}")
    sys.exit(1 if found else 0)
