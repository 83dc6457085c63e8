"""The pages' message catalog: extract the Chinese messages, merge them into the English .po, compile.

python -m api.web.catalog update    # after changing a page's words: new msgids appear empty in the .po
python -m api.web.catalog compile   # the .mo files (make install runs it)
python -m api.web.catalog check     # exit 1 if any message lacks its English
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from api.web.i18n import DOMAIN, LOCALE_DIR

API_DIR = Path(__file__).parent.parent
METHODS = [("web/templates/**.html", "jinja2.ext:babel_extract"), ("web/**.py", "python")]
OPTIONS = {"web/templates/**.html": {"extensions": "jinja2.ext.i18n", "trim_blocks": "1", "lstrip_blocks": "1"}}
TRANSLATED = ("en",)


def extracted() -> Catalog:
    """Every message the pages and their code mark for translation, as they stand now."""
    found = Catalog(locale="zh_Hans_CN", domain=DOMAIN, project="aidflow", charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
        API_DIR, METHODS, OPTIONS, strip_comment_tags=True
    ):
        found.add(message, None, [(f"api/{filename}", lineno)], auto_comments=comments, context=context)
    return found


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def read(lang: str) -> Catalog:
    with po_path(lang).open("rb") as fp:
        return read_po(fp, locale=lang, domain=DOMAIN)


def missing(lang: str) -> list[str]:
    """Messages of the pages with no translation in `lang`'s committed catalog."""
    have = read(lang)
    gaps = []
    for message in extracted():
        if not message.id:
            continue
        held = have.get(message.id, context=message.context)
        strings = held.string if held is not None else None
        parts = strings if isinstance(strings, (list, tuple)) else (strings,)
        if held is None or held.fuzzy or not all(p and str(p).strip() for p in parts):
            gaps.append(message.id if isinstance(message.id, str) else message.id[0])
    return gaps


def update() -> None:
    template = extracted()
    for lang in TRANSLATED:
        path = po_path(lang)
        if path.exists():
            current = read(lang)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            current = Catalog(locale=lang, domain=DOMAIN, project="aidflow", charset="utf-8")
        current.update(template, no_fuzzy_matching=True)
        with path.open("wb") as fp:
            write_po(fp, current, width=120, sort_output=False, ignore_obsolete=True, include_lineno=False)


def compile_all() -> None:
    for lang in TRANSLATED:
        mo = po_path(lang).with_suffix(".mo")
        with mo.open("wb") as fp:
            write_mo(fp, read(lang))


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "check"
    if command == "update":
        update()
    elif command == "compile":
        compile_all()
    elif command == "check":
        gaps = {lang: missing(lang) for lang in TRANSLATED}
        for lang, ids in gaps.items():
            for msgid in ids:
                print(f"{lang}: no translation for {msgid!r}")  # noqa: T201
        return 1 if any(gaps.values()) else 0
    else:
        print(__doc__)  # noqa: T201
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
