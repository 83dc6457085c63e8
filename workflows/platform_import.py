"""The checking platform's file (核对平台): one row per person, each recorded as a 核对 report on the open
cases that person is a member of (P4), through the same act as a report typed in, so each is audited.

The file is CSV (UTF-8) or XLSX with a header row `id_number,monthly_income_fen,assets_fen,findings`.
Importing the same file again changes nothing: a row whose person already has this file's report, or a
report that says the same and still counts, is left as it is.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from engine import auditlog
from engine.access import Actor
from engine.errors import InvalidInput
from engine.secrets import mask_id_number, valid_id_number
from engine.tables import Case
from workflows.base import role_of
from workflows.firing import decide, fire_act
from workflows.guards import member_checks
from workflows.models import CaseIdentifier
from workflows.verification import RECORD, open_disputes, position_of, requested_at

if TYPE_CHECKING:
    from workflows.env import Env

COLUMNS = ("id_number", "monthly_income_fen", "assets_fen", "findings")
MAX_ROWS = 100_000
MAX_FINDINGS = 2000


@dataclass(frozen=True)
class PlatformRow:
    line: int
    id_number: str
    monthly_income_fen: int
    assets_fen: int
    findings: str


@dataclass
class Imported:
    """What an import did, row by row (by line number; identity numbers only masked)."""

    sha256: str
    rows: int = 0
    recorded: list[tuple[int, str]] = field(default_factory=list)  # (line, case reference)
    unchanged: list[tuple[int, str]] = field(default_factory=list)
    unmatched: list[tuple[int, str]] = field(default_factory=list)  # (line, masked identity number)
    invalid: list[tuple[int, str]] = field(default_factory=list)  # (line, what is wrong)


def _fen(text: Any) -> int | None:
    """Whole, non-negative fen from a cell: an integer, or a number or text that is one."""
    if isinstance(text, bool):
        return None
    if isinstance(text, int):
        return text if text >= 0 else None
    if isinstance(text, float):
        return int(text) if text.is_integer() and text >= 0 else None
    cleaned = str(text or "").strip()
    return int(cleaned) if cleaned.isdigit() and len(cleaned) <= 15 else None


def _table(content: bytes) -> list[list[Any]]:
    if content[:2] == b"PK":
        from openpyxl import load_workbook

        try:
            book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        except (zipfile.BadZipFile, KeyError, ValueError, OSError):
            raise InvalidInput("核对文件不是有效的 XLSX / the platform file is not a valid XLSX workbook") from None
        rows: list[list[Any]] = []
        for row in book.worksheets[0].iter_rows(values_only=True):
            rows.append(list(row))
            if len(rows) > MAX_ROWS + 1:
                break
        book.close()
        return rows
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(
            "核对文件须为 UTF-8 编码的 CSV 或 XLSX / the platform file must be UTF-8 CSV or XLSX"
        ) from None
    return [list(row) for row in csv.reader(io.StringIO(text))]


def read_platform_file(content: bytes) -> tuple[list[PlatformRow], list[tuple[int, str]]]:
    """The file's rows, and those that cannot be read (line, why); a person listed twice is read once."""
    table = _table(content)
    if not table:
        raise InvalidInput("核对文件为空 / the platform file is empty")
    header = [str(h or "").strip().lower() for h in table[0]]
    missing = [c for c in COLUMNS[:3] if c not in header]
    if missing:
        names = ", ".join(missing)
        raise InvalidInput(f"核对文件缺少列：{names} / the platform file lacks the columns: {names}")
    if len(table) - 1 > MAX_ROWS:
        raise InvalidInput(f"核对文件超过 {MAX_ROWS} 行 / the platform file has over {MAX_ROWS} rows")
    at = {name: header.index(name) for name in COLUMNS if name in header}
    rows: list[PlatformRow] = []
    invalid: list[tuple[int, str]] = []
    seen: set[str] = set()
    for line, cells in enumerate(table[1:], start=2):
        if not any(str(c).strip() for c in cells if c is not None):
            continue

        def cell(name: str, cells: list[Any] = cells) -> Any:
            index = at.get(name)
            return cells[index] if index is not None and index < len(cells) else None

        number = str(cell("id_number") or "").strip().upper()
        income, assets = _fen(cell("monthly_income_fen")), _fen(cell("assets_fen"))
        findings = str(cell("findings") or "").strip()
        if not valid_id_number(number):
            invalid.append((line, "身份证号码无效 / not a valid identity number"))
        elif income is None or assets is None:
            invalid.append((line, "金额须为分为单位的非负整数 / amounts must be whole, non-negative fen"))
        elif len(findings) > MAX_FINDINGS:
            invalid.append((line, f"核对情况超过 {MAX_FINDINGS} 字 / findings over {MAX_FINDINGS} characters"))
        elif number in seen:
            invalid.append((line, "同一人在文件中出现两次 / the same person is listed twice"))
        else:
            seen.add(number)
            rows.append(PlatformRow(line, number, income, assets, findings))
    return rows, invalid


def _says_the_same(env: Env, case: Case, hashed: str, row: PlatformRow, digest: str, now: datetime) -> bool:
    """Whether the case already holds this row's report: from this very file, or saying the same and
    still counting (made since it was asked for, not disputed since, not past the policy's age)."""
    check = member_checks(case.data).get(hashed)
    if check is None:
        return False
    if check.get("batch") == digest:
        return True
    same = (check.get("monthly_income_fen"), check.get("assets_fen"), str(check.get("findings") or "")) == (
        row.monthly_income_fen,
        row.assets_fen,
        row.findings,
    )
    checked = datetime.fromisoformat(str(check.get("at")))
    asked = requested_at(case.data)
    oldest = now - timedelta(days=env.rules(case.region_code, now).verification.max_age_days)
    fresh = checked >= oldest and (asked is None or checked >= asked)
    return same and fresh and hashed not in open_disputes(case.data)


def import_platform_file(session: Session, *, env: Env, actor: Actor, content: bytes, now: datetime) -> Imported:
    """Record each row on the open cases its person is a member of; report rows that match none."""
    digest = hashlib.sha256(content).hexdigest()
    rows, invalid = read_platform_file(content)
    done = Imported(sha256=digest, rows=len(rows) + len(invalid), invalid=invalid)
    for row in rows:
        hashed = env.cipher.lookup_hash(row.id_number)
        case_ids = session.exec(
            select(CaseIdentifier.case_id)
            .where(CaseIdentifier.lookup_hash == hashed, CaseIdentifier.kind == "member")
            .order_by(col(CaseIdentifier.case_id))
        ).all()
        matched = False
        for case_id in dict.fromkeys(case_ids):
            case = session.get(Case, case_id)
            if case is None or env.definition_for(case).transition_from(case.state, RECORD) is None:
                continue  # closed, active between reviews, or not a standard case: nothing was asked
            position = position_of(case.data, hashed)
            if position is None:
                continue
            matched = True
            if _says_the_same(env, case, hashed, row, digest, now):
                done.unchanged.append((row.line, case.reference))
                continue
            data = {
                "member": position,
                "monthly_income_fen": row.monthly_income_fen,
                "assets_fen": row.assets_fen,
                "findings": row.findings,
            }
            decision = decide(env, case, actor, RECORD, version=case.version)
            fire_act(
                session,
                env=env,
                case=case,
                decision=decision,
                data=data,
                version=case.version,
                now=now,
                comment=f"核对平台文件 / platform file sha256 {digest[:16]}",
                facts={"verification_batch": digest},
            )
            done.recorded.append((row.line, case.reference))
        if not matched:
            done.unmatched.append((row.line, mask_id_number(row.id_number)))
    # The import itself, every row's outcome by line (the identity numbers are not written here).
    auditlog.append(
        session,
        at=now,
        actor=actor.username,
        role=role_of(actor),
        action="verification_import",
        data={
            "sha256": digest,
            "rows": done.rows,
            "recorded": [{"line": line, "case": ref} for line, ref in done.recorded],
            "unchanged": [{"line": line, "case": ref} for line, ref in done.unchanged],
            "unmatched": [line for line, _ in done.unmatched],
            "invalid": [line for line, _ in done.invalid],
        },
    )
    return done
