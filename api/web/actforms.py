"""An act's form, built from its data model (workflows.schemas.ACTION_DATA), and the form read back.

Each field of the model becomes one control: text, a number of 元 for a *_fen field (read back as
whole fen), a date, a checkbox, a list (one item a line), a nested model's own fields; the house
visit's investigators are checkboxes of the village's officials. Labels are catalog messages."""

from __future__ import annotations

import re
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from api.web.i18n import N_, pick
from workflows import aidtypes
from workflows.schemas import ACTION_DATA

LABELS: dict[str, str] = {
    "investigators": N_("入户调查人员"),
    "visit_date": N_("入户调查日期"),
    "appraisal": N_("民主评议"),
    "for": N_("赞成票"),
    "against": N_("反对票"),
    "abstain": N_("弃权票"),
    "proposed_monthly_fen": N_("拟保障金额（元/月）"),
    "opinion": N_("乡镇审核意见"),
    "reason": N_("理由"),
    "note": N_("备注"),
    "missing": N_("所缺材料（每行一项）"),
    "due": N_("补正期限"),
    "provided": N_("已补材料（每行一项）"),
    "monthly_amount_fen": N_("保障金额（元/月）"),
    "mode": N_("保障方式"),
    "care_level": N_("护理等级"),
    "support_mode": N_("供养方式"),
    "findings": N_("核查情况"),
    "amount_fen": N_("救助金额（元）"),
    "county_override": N_("县级一事一议批准"),
    "instalments": N_("分期发放月数（一次发放填 1）"),
    "margin": N_("认定为低保边缘家庭"),
    "aid_type": N_("转为救助类型"),
    "cause": N_("事由（转为支出型临时救助时）"),
    "finding": N_("核查结论"),
    "member": N_("家庭成员"),
    "monthly_income_fen": N_("核对月收入（元）"),
    "assets_fen": N_("核对财产（元）"),
    "evidence": N_("异议理由和证据"),
    "ground": N_("终止事由"),
    "offer": N_("介绍的工作岗位"),
    "offered_on": N_("介绍日期"),
    "school": N_("是否在校就读"),
    "comment": N_("附言（可不填）"),
    "basis": N_("审批依据"),
    "delivered_on": N_("送达日期"),
    "method": N_("送达方式"),
}

CHOICES: dict[str, list[tuple[str, str]]] = {
    "mode": [("household", N_("整户保障")), ("single_person", N_("单人保障"))],
    "care_level": [("independent", N_("生活自理")), ("partial", N_("部分失能")), ("dependent", N_("完全失能"))],
    "support_mode": [("home", N_("分散供养")), ("institution", N_("集中供养"))],
    # converting to 支出型临时救助: the cause its yearly cap is counted by (K6)
    "cause": [
        ("illness", N_("因病（医疗支出）")),
        ("education", N_("因学（教育支出）")),
        ("disability", N_("因残（康复护理支出）")),
        ("other", N_("其他")),
    ],
    # T6: the grounds an official may choose (unclaimed payments end support through the payment run).
    "ground": [
        ("death", N_("死亡或被宣告失踪")),
        ("work_capacity", N_("具备或恢复劳动能力（含年满十八周岁）")),
        ("prison", N_("在监狱服刑")),
        ("no_longer_qualifies", N_("收入、财产不再符合条件")),
        ("supporter_able", N_("义务人有了履行义务能力")),
        ("voluntary", N_("本人自愿退出")),
        ("unreachable", N_("失去联系六个月以上")),
        ("non_cooperation", N_("不配合核查")),
        ("fraud", N_("骗取救助")),
        ("refused_work", N_("多次无正当理由拒绝就业")),
    ],
    "school": [("left_school", N_("已不在校")), ("in_school", N_("仍在校就读"))],
}

# Words a guard's reason uses for a field (its Chinese side): the reason is shown beside that field.
KEYWORDS: dict[str, tuple[str, ...]] = {
    "investigators": ("调查人员",),
    "visit_date": ("入户调查日期",),
    "appraisal": ("民主评议",),
    "proposed_monthly_fen": ("拟保障", "保障金额"),
    "opinion": ("审核意见",),
    "reason": ("理由",),
    "missing": ("所缺",),
    "due": ("补正期限",),
    "monthly_amount_fen": ("保障金额", "人均收入", "低保标准"),
    "mode": ("保障方式", "整户", "单人"),
    "findings": ("核查情况", "核查日期"),
    "member": ("家庭成员",),
    "monthly_income_fen": ("月收入",),
    "assets_fen": ("财产",),
    "evidence": ("异议",),
    "finding": ("核查结论",),
    "amount_fen": ("金额", "备用金"),
    "county_override": ("一事一议", "再次救助"),
    "instalments": ("分期",),
    "margin": ("低保边缘",),
    "care_level": ("护理", "care_level"),
    "support_mode": ("供养方式",),
    "basis": ("审批依据",),
    "delivered_on": ("送达日期",),
    "method": ("送达方式",),
    "ground": ("终止保障的事由", "payment run"),
    "school": ("在校",),
}


_FEN_NOTE = re.compile(r"（[^（）]*分[^（）]*）|\s*\((?:in fen|[^()]*whole number of fen)\)")


@dataclass
class Control:
    """One field of an act's form: `name` is the form's field name and the data key path."""

    name: str
    key: str
    kind: str  # text | textarea | fen | date | bool | count | lines | investigators | choice | member | group
    label: str
    value: Any = ""
    children: list[Control] = field(default_factory=list)
    options: list[tuple[str, str]] = field(default_factory=list)


def _unwrap(annotation: Any) -> tuple[Any, int | None]:
    """The type under Optional and Annotated, and its max_length if it has one."""
    limit: int | None = None
    while True:
        origin = get_origin(annotation)
        if origin in (Union, types.UnionType):
            annotation = next(a for a in get_args(annotation) if a is not type(None))
        elif origin is Annotated:
            annotation, *meta = get_args(annotation)
            for m in meta:
                limit = getattr(m, "max_length", None) or limit
                for inner in getattr(m, "metadata", ()):
                    limit = getattr(inner, "max_length", None) or limit
        else:
            return annotation, limit


def controls(
    model: type[BaseModel],
    *,
    prefix: str = "",
    investigators: Sequence[tuple[str, str]] = (),
    members: Sequence[tuple[str, str]] = (),
) -> list[Control]:
    """The form's controls for a data model, in the model's order."""
    found: list[Control] = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        form_name = f"{prefix}{key}"
        base, limit = _unwrap(info.annotation)
        for meta in info.metadata:
            limit = getattr(meta, "max_length", None) or limit
        label = LABELS.get(key, key)
        if isinstance(base, type) and issubclass(base, BaseModel):
            found.append(Control(form_name, key, "group", label, children=controls(base, prefix=f"{form_name}.")))
        elif key == "investigators":
            found.append(Control(form_name, key, "investigators", label, [], options=list(investigators)))
        elif key == "member":
            found.append(Control(form_name, key, "member", label, options=list(members)))
        elif get_origin(base) is list:
            found.append(Control(form_name, key, "lines", label))
        elif base is bool:
            found.append(Control(form_name, key, "bool", label, False))
        elif key.endswith("_fen"):
            found.append(Control(form_name, key, "fen", label))
        elif base is int:
            found.append(Control(form_name, key, "count", label))
        elif key.endswith("_date") or key in ("due", "delivered_on"):
            found.append(Control(form_name, key, "date", label))
        elif key in CHOICES:
            found.append(Control(form_name, key, "choice", label, options=CHOICES[key]))
        elif key == "aid_type":
            options = [(a.key, a.label) for a in aidtypes.all() if a.workflow in ("standard", "temporary")]
            found.append(Control(form_name, key, "choice", label, options=options))
        else:
            found.append(Control(form_name, key, "textarea" if (limit or 0) > 200 else "text", label))
    return found


def form_for(
    action: str, investigators: Sequence[tuple[str, str]] = (), members: Sequence[tuple[str, str]] = ()
) -> list[Control]:
    """The controls of an act's form, and a comment for every act; `members` are the household's, as
    (position on the file, name), for an act on one of them."""
    model = ACTION_DATA.get(action)
    found = controls(model, investigators=investigators, members=members) if model is not None else []
    found.append(Control("comment", "comment", "textarea", LABELS["comment"]))
    return found


def yuan_to_fen(text: str) -> int | None:
    """Whole fen from 元 as typed ("1,800", "480.5", "¥480.50"); None when it is not an amount."""
    cleaned = text.strip().replace(",", "").replace("，", "").lstrip("¥￥").removesuffix("元").strip()
    if not re.fullmatch(r"\d{1,10}(\.\d{1,2})?", cleaned):
        return None
    try:
        return int(Decimal(cleaned) * 100)
    except InvalidOperation:
        return None


def fen_to_yuan(fen: Any) -> str:
    if not isinstance(fen, int):
        return ""
    yuan, cents = divmod(fen, 100)
    return f"{yuan}.{cents:02d}" if cents else str(yuan)


@dataclass
class Filled:
    """A form read back: the act's data, the comment, the problems found before the act was tried."""

    data: dict[str, Any]
    comment: str | None
    errors: list[tuple[str, str]]


def read_form(form: Mapping[str, Any], items: Sequence[Control], getlist: Any) -> Filled:
    """The act's data from the posted form; values are also kept on the controls to show them again."""
    data: dict[str, Any] = {}
    errors: list[tuple[str, str]] = []
    comment: str | None = None
    for control in items:
        raw = form.get(control.name)
        text = raw.strip() if isinstance(raw, str) else ""
        if control.kind == "group":
            inner = read_form(form, control.children, getlist)
            errors.extend(inner.errors)
            if inner.data:
                data[control.key] = inner.data
            continue
        if control.name == "comment":
            control.value = text
            comment = text or None
            continue
        if control.kind == "investigators":
            chosen = [str(v) for v in getlist(control.name) if str(v)]
            control.value = chosen
            if chosen:
                data[control.key] = chosen
        elif control.kind == "bool":
            control.value = raw is not None
            if raw is not None:
                data[control.key] = True
        elif control.kind == "lines":
            control.value = text
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            if lines:
                data[control.key] = lines
        elif control.kind == "fen":
            control.value = text
            if text:
                fen = yuan_to_fen(text)
                if fen is None:
                    errors.append((control.name, N_("请填写金额，以元为单位，如 480 或 480.50")))
                else:
                    data[control.key] = fen
        elif control.kind == "member":
            control.value = text
            if text.isdigit() and len(text) < 4:
                data[control.key] = int(text)
            elif text:
                errors.append((control.name, N_("请从列表中选择家庭成员")))
        elif control.kind == "count":
            control.value = text
            if text:
                if text.isdigit() and len(text) < 7:
                    data[control.key] = int(text)
                else:
                    errors.append((control.name, N_("请填写人数（整数）")))
        else:
            control.value = text
            if text:
                data[control.key] = text
    return Filled(data, comment, errors)


def place_reasons(reasons: Sequence[str], items: Sequence[Control]) -> list[tuple[str, str]]:
    """Each guard reason beside the field it names; a reason naming none is put on the first field."""
    flat: list[Control] = []
    for control in items:
        flat.append(control)
        flat.extend(control.children)
    keys = {c.key: c.name for c in flat}
    fen_fields = {c.name for c in flat if c.kind == "fen"}
    placed: list[tuple[str, str]] = []
    for reason in reasons:
        chinese = pick(reason, "zh")
        target = next(
            (keys[k] for k, words in KEYWORDS.items() if k in keys and any(w in chinese for w in words)),
            items[0].name if items else "comment",
        )
        if target in fen_fields:
            # The form takes 元: a reason written for the API's fen is told without its unit.
            reason = _FEN_NOTE.sub("", reason)
        placed.append((target, reason))
    return placed
