"""The checks `make docs` runs on the README and the pages beside mkdocs' own (broken links and
missing images fail its strict build): no note of how the work was organised in a page a user
reads, no table cell too long to read, the results pages short, every figure shown, no raw
Sphinx role in the built site.

    python scripts/check_docs.py [SITE]   # SITE: the built site (default build/site)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# phrases that belong in the CHANGELOG or a closing note, not in a page a user reads
PROCESS = {
    r"\b20\d\d-\d\d-\d\d\b": "a date",
    r"\bthis CPU\b": "this CPU",
    r"\blease\b": "a lease",
    r"\bdevice time\b": "device time",
    r"\bbeside (another job|other jobs)\b": "beside other jobs",
    r"\bno GPU was available\b": "no GPU was available",
    r"\bfrozen at\b": "frozen at a commit",
    r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}\b": "a commit hash",
    r"\b[Ii]ssue \d+\b|\bthe issue'?s?\b": "an issue",
    r"\b(this|last|next|a) session\b": "a session",
    r"\bfresh clone\b": "a fresh clone",
    r"\bnot measured yet\b": "not measured yet",
}
RESULTS = ("results.md", "leaderboard.md")
MAX_CELL = 400
MAX_RESULTS_WORDS = 6000
FENCE = re.compile(r"```.*?```", re.S)


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def prose(text: str) -> str:
    """The text without its code blocks and inline code."""
    return re.sub(r"`[^`\n]*`", "", FENCE.sub("", text))


def prose_words(text: str) -> int:
    """Words of running text: the prose outside tables."""
    lines = prose(text).splitlines()
    return sum(len(line.split()) for line in lines if not line.lstrip().startswith("|"))


def cells(text: str) -> list[str]:
    return [
        cell.strip()
        for line in FENCE.sub("", text).splitlines()
        if line.startswith("|")
        for cell in line.strip().strip("|").split("|")
    ]


def problems(site: Path | None = None) -> list[str]:
    found = []
    for page in pages():
        text = page.read_text(encoding="utf-8")
        name = page.relative_to(ROOT)
        for pattern, what in PROCESS.items():
            for m in re.finditer(pattern, prose(text)):
                found.append(f"{name}: {what} ({m.group(0)!r}): history goes in the CHANGELOG")
        for cell in cells(text):
            if len(cell) > MAX_CELL:
                found.append(f"{name}: a table cell of {len(cell)} characters: {cell[:60]}…")
    words = sum(prose_words((DOCS / p).read_text()) for p in RESULTS if (DOCS / p).exists())
    if words > MAX_RESULTS_WORDS:
        found.append(f"the results pages hold {words} words of prose; at most {MAX_RESULTS_WORDS}")
    shown = "\n".join(p.read_text(encoding="utf-8") for p in pages())
    for figure in sorted((DOCS / "figures").rglob("*.png")):
        if str(figure.relative_to(DOCS)) not in shown:
            found.append(f"{figure.relative_to(ROOT)} is shown on no page: show it or delete it")
    if site is not None and site.is_dir():
        for html in site.rglob("*.html"):
            if re.search(r":(func|class|mod|meth|data|attr|obj|exc):`", html.read_text()):
                found.append(f"{html.relative_to(site)}: a raw Sphinx role")
    return found


def main(argv: list[str]) -> int:
    site = Path(argv[0]) if argv else ROOT / "build" / "site"
    found = problems(site)
    for line in found:
        print(f"error: {line}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
