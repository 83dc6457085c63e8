"""The bank file of a township's month (CSV or XLSX) and the bank's result file, byte for byte the same each time."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from engine.errors import InvalidInput

FORMATS = ("csv", "xlsx")
HEADER = ("reference", "account", "name", "amount")
RESULT_COLUMNS = ("reference", "status", "reason")
MAX_RESULT_ROWS = 100_000
# A fixed time inside the zip: the same lines give the same bytes, whenever they are written.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class BankRow:
    reference: str
    account: str
    name: str
    amount_fen: int


@dataclass(frozen=True)
class ResultRow:
    line: int
    reference: str
    status: str
    reason: str


def yuan(fen: int) -> str:
    """Fen as 元 with two decimals, by integer arithmetic (never through a float)."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def write_csv(rows: Sequence[BankRow]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for r in rows:
        writer.writerow((r.reference, r.account, r.name, yuan(r.amount_fen)))
    return out.getvalue().encode("utf-8")


def write_xlsx(rows: Sequence[BankRow], *, township: str, month: str, made_at: datetime) -> bytes:
    """The lines on the first sheet; the count and total on a second, for the bank's checking."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "lines"
    sheet.append(list(HEADER))
    for r in rows:
        # Text cells: an account number as a number would lose its leading zeros and its last digits.
        sheet.append([r.reference, r.account, r.name, yuan(r.amount_fen)])
    summary = book.create_sheet("summary")
    summary.append(["township", township])
    summary.append(["month", month])
    summary.append(["count", len(rows)])
    summary.append(["total", yuan(sum(r.amount_fen for r in rows))])
    stamp = made_at.replace(tzinfo=None, microsecond=0)
    book.properties.created = stamp
    raw = io.BytesIO()
    book.save(raw)
    return _settled(raw.getvalue(), stamp)


def _settled(content: bytes, stamp: datetime) -> bytes:
    """The workbook with the save time replaced by the batch's own, and fixed zip entry times."""
    when = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)", rb"\g<1>" + when.encode() + rb"\g<2>", data
                )
            entry = zipfile.ZipInfo(info.filename, date_time=_ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            dst.writestr(entry, data)
    return out.getvalue()


def read_result(content: bytes) -> list[ResultRow]:
    """The bank's result file: CSV (UTF-8) or XLSX, a header row naming reference, status and reason."""
    table = _xlsx_rows(content) if content[:2] == b"PK" else _csv_rows(content)
    if not table:
        raise InvalidInput("结果文件为空 / the result file is empty")
    header = [str(h or "").strip().lower() for h in table[0]]
    missing = [c for c in RESULT_COLUMNS[:2] if c not in header]
    if missing:
        raise InvalidInput(
            f"结果文件缺少列：{', '.join(missing)} / the result file lacks the columns: {', '.join(missing)}"
        )
    if len(table) - 1 > MAX_RESULT_ROWS:
        raise InvalidInput(f"结果文件超过 {MAX_RESULT_ROWS} 行 / the result file has over {MAX_RESULT_ROWS} rows")
    at = {name: header.index(name) for name in RESULT_COLUMNS if name in header}
    rows = []
    for number, cells in enumerate(table[1:], start=2):
        values = [str(c).strip() if c is not None else "" for c in cells]
        if not any(values):
            continue

        def cell(name: str, values: list[str] = values) -> str:
            index = at.get(name)
            return values[index] if index is not None and index < len(values) else ""

        rows.append(
            ResultRow(line=number, reference=cell("reference"), status=cell("status").lower(), reason=cell("reason"))
        )
    return rows


def _csv_rows(content: bytes) -> list[list[object]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(
            "结果文件须为 UTF-8 编码的 CSV 或 XLSX / the result file must be UTF-8 CSV or XLSX"
        ) from None
    return [list(row) for row in csv.reader(io.StringIO(text))]


def _xlsx_rows(content: bytes) -> list[list[object]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError):
        raise InvalidInput("结果文件不是有效的 XLSX / the result file is not a valid XLSX workbook") from None
    sheet = book.worksheets[0]
    rows: list[list[object]] = []
    for row in sheet.iter_rows(values_only=True):
        rows.append(list(row))
        if len(rows) > MAX_RESULT_ROWS + 1:
            break
    book.close()
    return rows
