"""The live cases proven against the trail: state, version and file as their audit entries say."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, RowMapping, select
from sqlmodel import Session

from engine.audit import canonical_data
from engine.tables import AuditEntry, Case

FILE_DIGEST = "file_digest"  # the create entry's digest of each key of the file a case opened with

_cases = Case.__table__  # type: ignore[attr-defined]
_entries = AuditEntry.__table__  # type: ignore[attr-defined]


def value_digest(value: Any) -> str:
    """A short keyed-free digest of one value of a case file, in its canonical JSON form."""
    return hashlib.sha256(canonical_data({"v": value}).encode()).hexdigest()[:24]


def file_digest(data: Mapping[str, Any]) -> dict[str, str]:
    """The digest of every key of a case file, so that a key no act ever set can still be checked."""
    return {str(key): value_digest(value) for key, value in data.items()}


@dataclass
class CaseFault:
    """A case whose row does not say what its trail says, and why."""

    case_id: int
    why: list[str] = field(default_factory=list)


def _normal(value: Any) -> Any:
    return json.loads(canonical_data({"v": value}))["v"]


def check_case(
    case_id: int,
    row: Mapping[Any, Any] | None,
    trail: list[tuple[str, str | None, str | None, str, str]],
) -> list[str]:
    """What differs between a case row and its trail (action, from, to, region, data per entry)."""
    if row is None:
        return ["其审计记录所述案件已不存在 / the case its entries describe is missing"]
    if not trail or trail[0][0] != "create":
        return ["案件无立案审计记录 / the case has no create entry"]
    state, version, region = trail[0][2], 1, trail[0][3]
    created = json.loads(trail[0][4])
    digests: Mapping[str, str] | None = created.get(FILE_DIGEST)
    patched: dict[str, Any] = {}
    for _action, before, after, where, raw in trail[1:]:
        act = json.loads(raw)
        if before is None or not isinstance(act.get("data"), dict):
            continue  # only `fire` writes the act's data under "data": other entries record, they do not move
        state, version, region = after, version + 1, where
        patched.update(act.get("set") or {})
    why = []
    if row["state"] != state:
        why.append(f"状态为 {row['state']}，审计记录为 {state} / state {row['state']}, the trail says {state}")
    if row["version"] != version:
        why.append(
            f"版本为 {row['version']}，审计记录为 {version} / version {row['version']}, the trail says {version}"
        )
    if row["region_code"] != region:
        why.append(
            f"所属村为 {row['region_code']}，审计记录为 {region} / region {row['region_code']}, the trail says {region}"
        )
    data: Mapping[str, Any] = row["data"] or {}
    for key, value in patched.items():
        if key not in data or _normal(data[key]) != value:
            why.append(f"{key} 与最后一次记录的值不符 / {key} differs from the value last recorded")
    if digests is not None:
        for key in sorted((set(digests) | set(data)) - set(patched)):
            if key not in data or key not in digests or value_digest(data[key]) != digests[key]:
                why.append(f"{key} 与立案时记录的不符 / {key} differs from the file recorded when the case opened")
    return why


def _case_rows(conn: Connection | Session, batch: int) -> Iterator[RowMapping]:
    c, last = _cases.c, 0
    while True:
        query = select(c.id, c.workflow, c.state, c.version, c.region_code, c.data).where(c.id > last)
        rows = conn.execute(query.order_by(c.id).limit(batch)).mappings().all()
        yield from rows
        if len(rows) < batch:
            return
        last = rows[-1]["id"]


def _trails(
    conn: Connection | Session, batch: int
) -> Iterator[tuple[int, list[tuple[str, str | None, str | None, str, str]]]]:
    """Each case's entries in order, case by case in id order."""
    c = _entries.c
    current: int | None = None
    trail: list[tuple[str, str | None, str | None, str, str]] = []
    last: tuple[int, int] = (-1, 0)
    while True:
        query = select(c.case_id, c.seq, c.action, c.from_state, c.to_state, c.region_code, c.data).where(
            c.case_id.is_not(None), (c.case_id > last[0]) | ((c.case_id == last[0]) & (c.seq > last[1]))
        )
        rows = conn.execute(query.order_by(c.case_id, c.seq).limit(batch)).all()
        for case_id, seq, action, before, after, region, data in rows:
            if case_id != current:
                if current is not None:
                    yield current, trail
                current, trail = case_id, []
            trail.append((action, before, after, region, data))
            last = (case_id, seq)
        if len(rows) < batch:
            break
    if current is not None:
        yield current, trail


def verify_cases(conn: Connection | Session, *, batch: int = 2000) -> list[CaseFault]:
    """Every case against its trail, merged in id order. Reads only."""
    faults: list[CaseFault] = []
    cases, trails = _case_rows(conn, batch), _trails(conn, batch)
    row, entry = next(cases, None), next(trails, None)
    while row is not None or entry is not None:
        row_id = int(row["id"]) if row is not None else None
        trail_id = entry[0] if entry is not None else None
        case_id = min(i for i in (row_id, trail_id) if i is not None)
        here = row if row_id == case_id else None
        trail = entry[1] if entry is not None and trail_id == case_id else []
        why = check_case(case_id, here, trail)
        if here is not None:
            row = next(cases, None)
        if trail_id == case_id:
            entry = next(trails, None)
        if why:
            faults.append(CaseFault(case_id, why))
    return faults
