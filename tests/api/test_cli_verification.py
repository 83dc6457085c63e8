"""`aidflow verification import`: the checking platform's file (CSV or XLSX) recorded as 核对 reports on the
open cases of the people it lists, each row audited, a repeated import changing nothing (P4)."""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlmodel import col, select
from typer.testing import CliRunner

from api.cli import app
from engine.auditlog import verify_log
from engine.calendar import local_date
from engine.database import Database
from engine.secrets import mask_id_number
from engine.tables import AuditEntry, Case, utcnow
from tests.workflows.support import (
    SECRET,
    TOWNSHIP_PASS,
    VILLAGE_PASS,
    Flow,
    household,
    id_number,
    make_env,
    make_world,
)

HEADER = ("id_number", "monthly_income_fen", "assets_fen", "findings")
# household(serial=n): the applicant is person n*10, the second member n*10 + 1 (tests.households)
A1, A2 = id_number("19700101", 10), id_number("19950505", 11)
B1, B2 = id_number("19700101", 20), id_number("19950505", 21)
STRANGER = id_number("19800808", 999)


@pytest.fixture
def flow(db: Database) -> Flow:
    return Flow(db, make_env(), make_world(db))


def run(db_url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"AIDFLOW_DATABASE_URL": db_url, "AIDFLOW_SECRET_KEY": SECRET})
    return result.exit_code, result.output


def platform_file(path: Path, rows: list[tuple[object, ...]]) -> Path:
    if path.suffix == ".csv":
        with path.open("w", newline="", encoding="utf-8") as out:
            csv.writer(out).writerows([HEADER, *rows])
    else:
        book = Workbook()
        sheet = book.active
        assert sheet is not None
        for row in (HEADER, *rows):
            sheet.append(list(row))
        book.save(path)
    return path


def entries(flow: Flow, action: str) -> list[tuple[int | None, str, dict[str, Any]]]:
    """The trail's entries of an action: (case, actor, the entry's data)."""
    with flow.session(write=False) as s:
        found = s.exec(select(AuditEntry).where(AuditEntry.action == action).order_by(col(AuditEntry.seq))).all()
        return [(e.case_id, e.actor, json.loads(e.data)) for e in found]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_P4_the_platform_file_is_recorded_on_the_open_cases_each_row_audited_and_a_repeat_changes_nothing(
    flow: Flow, db_url: str, tmp_path: Path, suffix: str
) -> None:
    w = flow.world
    start = utcnow() - timedelta(days=10)
    waiting = flow.submit(household(serial=1), start)  # in village_review
    reviewed = flow.submit(household(serial=2), start)
    flow.act(reviewed, "village_pass", w.clerk, start, {**VILLAGE_PASS, "visit_date": local_date(start).isoformat()})
    flow.sweep(start + timedelta(days=7))
    assert flow.state(reviewed) == "township_review"
    rows: list[tuple[object, ...]] = [
        (A1, 20_000, 500_000, "存款 5000 元 / deposits"),
        (A2, 0, 0, ""),
        (B1, 120_000, 300_000, "工商登记个体户一家 / a registered business"),
        (B2.lower(), "0", "0", "无 / none"),
        (STRANGER, 0, 0, "外县人员 / from another county"),
        ("341122197001010000", 0, 0, "号码有误"),
        (A1, 1, 1, "重复 / listed twice"),
    ]
    path = platform_file(tmp_path / f"platform{suffix}", rows)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()

    code, said = run(db_url, "verification", "import", str(path))
    assert code == 0, said
    assert f"recorded 4, unchanged 0, unmatched 1, invalid 2 (sha256 {digest})" in said
    assert f"no open case: line 6 ({mask_id_number(STRANGER)})" in said, "the stranger is reported, masked"
    assert STRANGER not in said
    assert "line 7: 身份证号码无效" in said
    assert "line 8: 同一人在文件中出现两次" in said

    checks = flow.case(reviewed).data["verification"]["members"]
    assert sorted((c["name"], c["monthly_income_fen"], c["source"], c["batch"]) for c in checks.values()) == [
        ("王家1", 0, "platform", digest),
        ("王小英", 120_000, "platform", digest),
    ]
    recorded = entries(flow, "record_verification")
    assert [(case_id, actor, data["data"]["member"]) for case_id, actor, data in recorded] == [
        (waiting, "system", 1),
        (waiting, "system", 2),
        (reviewed, "system", 1),
        (reviewed, "system", 2),
    ]
    ((_, _, imported),) = entries(flow, "verification_import")
    reference = flow.case(reviewed).reference
    assert imported["sha256"] == digest
    assert imported["recorded"][2:] == [{"line": 4, "case": reference}, {"line": 5, "case": reference}]
    assert (imported["unmatched"], imported["invalid"]) == ([6], [7, 8])
    assert STRANGER not in str(imported), "the trail names the line, never the identity number"

    # the township's opinion has its report now
    flow.act(reviewed, "township_pass", w.boss, utcnow(), TOWNSHIP_PASS)
    versions = {case_id: flow.case(case_id).version for case_id in (waiting, reviewed)}
    code, again = run(db_url, "verification", "import", str(path))
    assert code == 0, again
    assert "recorded 0, unchanged 4, unmatched 1, invalid 2" in again
    assert {case_id: flow.case(case_id).version for case_id in (waiting, reviewed)} == versions
    assert len(entries(flow, "record_verification")) == 4
    with flow.session(write=False) as s:
        assert verify_log(s).ok


def test_P4_a_new_file_saying_something_new_is_recorded_again(flow: Flow, db_url: str, tmp_path: Path) -> None:
    start = utcnow() - timedelta(days=2)
    case_id = flow.submit(household(serial=1), start)
    first = platform_file(tmp_path / "first.csv", [(A1, 20_000, 500_000, "一致"), (A2, 0, 0, "一致")])
    assert "recorded 2" in run(db_url, "verification", "import", str(first))[1]
    same = platform_file(tmp_path / "same.csv", [(A1, 20_000, 500_000, "一致"), (A2, 0, 0, "一致"), (A2, 0, 0, "x")])
    assert "recorded 0, unchanged 2" in run(db_url, "verification", "import", str(same))[1]
    changed = platform_file(tmp_path / "changed.csv", [(A1, 90_000, 500_000, "新增工资收入 / new wages")])
    assert "recorded 1, unchanged 0" in run(db_url, "verification", "import", str(changed))[1]
    checks = list(flow.case(case_id).data["verification"]["members"].values())
    assert [c["monthly_income_fen"] for c in checks] == [90_000, 0]


def test_P4_people_on_no_open_case_are_reported_and_skipped(
    flow: Flow, db_url: str, tmp_path: Path, now: datetime
) -> None:
    start = now
    withdrawn = flow.submit(household(serial=1), start)
    flow.act(withdrawn, "withdraw", flow.world.clerk, start, {"reason": "家庭情况好转"})
    active = flow.to_active(household(serial=2), start)  # active between reviews: no report is asked for
    path = platform_file(tmp_path / "p.csv", [(A1, 0, 0, ""), (B1, 0, 0, "")])
    code, said = run(db_url, "verification", "import", str(path))
    assert code == 0, said
    assert "recorded 0, unchanged 0, unmatched 2, invalid 0" in said
    assert flow.case(withdrawn).data["verification"]["members"] == {}
    assert len(flow.case(active).data["verification"]["members"]) == 2, "only the application's own reports"


def test_P4_a_file_without_the_columns_is_refused_whole(flow: Flow, db_url: str, tmp_path: Path) -> None:
    flow.submit(household(serial=1), utcnow())
    path = tmp_path / "bad.csv"
    path.write_text("身份证,收入\n" + A1 + ",0\n", encoding="utf-8")
    code, said = run(db_url, "verification", "import", str(path))
    assert code != 0
    assert "lacks the columns: id_number, monthly_income_fen, assets_fen" in said
    assert entries(flow, "verification_import") == []
    with Database(db_url).session(write=False) as s:
        assert all(not (c.data.get("verification") or {}).get("members") for c in s.exec(select(Case)).all())
