"""Every message of the pages has its English; a fresh clone speaks English before `make install`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog

from api.web import catalog, i18n


def test_every_message_marked_in_the_pages_and_their_code_has_its_english() -> None:
    assert catalog.missing("en") == []


def test_a_message_without_its_english_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    committed = catalog.read("en")
    gapped = Catalog(locale="en", domain=i18n.DOMAIN)
    for message in committed:
        if message.id and message.id != "登录":
            gapped.add(message.id, message.string)
    gapped.add("登录", "")
    monkeypatch.setattr(catalog, "read", lambda _lang: gapped)
    assert catalog.missing("en") == ["登录"]


def test_the_catalog_is_compiled_in_memory_when_no_mo_file_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "en" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    shutil.copy(i18n.LOCALE_DIR / "en" / "LC_MESSAGES" / "messages.po", folder / "messages.po")
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    i18n.catalog.cache_clear()
    try:
        assert i18n.catalog("en").gettext("登录") == "Log in"
        assert not (folder / "messages.mo").exists()
    finally:
        i18n.catalog.cache_clear()


def test_domain_texts_written_in_both_languages_show_the_readers_side() -> None:
    assert i18n.pick("村级审核 / village review", "zh") == "村级审核"
    assert i18n.pick("村级审核 / village review", "en") == "Village review", "a label starts a line"
    assert i18n.pick("大庄村", "en") == "大庄村"
