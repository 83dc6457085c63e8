"""Plain words for the public tracking page: where a case is and what happens next (中文 / English)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# state → (where it is, what happens next), each (Chinese, English).
PLAIN: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "draft": (
        ("申请已保存为草稿，尚未提交", "The application is saved as a draft and not yet submitted"),
        ("提交申请", "Submit the application"),
    ),
    "village_review": (
        ("村委会正在入户调查和评议", "The village committee is visiting the household and reviewing it"),
        ("村级评议后进入公示或乡镇审核", "After the village review it is posted or goes to the township"),
    ),
    "awaiting_info": (
        ("需要补充材料", "Some documents are missing"),
        ("请在期限前补齐所列材料", "Provide the listed documents by the date given"),
    ),
    "township_review": (
        ("乡镇正在审核", "The township is checking the application"),
        ("乡镇出具审核意见", "The township gives its opinion"),
    ),
    "township_approval": (
        ("等待审批决定", "Waiting for the decision"),
        ("作出批准或不予批准的决定", "A decision to approve or refuse"),
    ),
    "objection_review": (
        ("公示期间收到异议，正在核查", "An objection was received during the notice and is being checked"),
        ("核查后重新公示或重新审核", "After the check it is posted again or reviewed again"),
    ),
    "active": (("已批准，按月发放", "Approved: paid monthly"), ("定期核查", "A periodic review")),
    "under_review": (
        ("正在定期核查", "A periodic review is under way"),
        ("核查后继续、调整或停止保障", "Support continues, changes or ends after the review"),
    ),
    "grace_period": (
        ("渐退期，保障金继续发放", "Grace period: payments continue for now"),
        ("渐退期满后退出", "Support ends when the grace period is over"),
    ),
    "termination_approval": (
        (
            "乡镇拟终止保障，报县级审批；审批前保障金照发",
            "The township proposes to end support; the county decides, and payments continue meanwhile",
        ),
        ("县级批准终止或继续保障", "The county approves the termination or support continues"),
    ),
    "notice_termination": (
        ("拟终止保障，正在公示", "Support is to end: the decision is posted on the notice board"),
        (
            "公示期满无异议后停止发放，如有异议可在公示期内提出",
            "Payments stop when the notice ends without an upheld objection; objections may be raised until then",
        ),
    ),
    "suspended": (
        ("因未配合定期核查，保障金中止发放", "Payments are suspended: the household has not taken part in its review"),
        ("请联系乡镇配合核查，核查恢复后继续", "Contact the township to take part in the review; it then resumes"),
    ),
    "exited": (("已退出保障", "Support has ended"), ("无", "Nothing further")),
    "rejected": (
        ("申请未获批准", "The application was refused"),
        ("如有异议，可依法申请行政复议或提起行政诉讼", "You may seek administrative review or go to court"),
    ),
    "withdrawn": (("申请已撤回", "The application was withdrawn"), ("无", "Nothing further")),
    "emergency_reported": (
        ("乡镇正在处理急难救助", "The township is handling the emergency request"),
        ("先行救助或报县级审批", "Aid is paid at once, or referred to the county"),
    ),
    "county_emergency_approval": (
        ("已报县级审批", "Referred to the county for decision"),
        ("县级作出决定", "The county decides"),
    ),
    "emergency_paid": (
        ("救助金已发放，正在补办手续", "Aid has been paid; the paperwork is being completed"),
        ("补齐手续后事后公示", "After the paperwork the aid is posted publicly"),
    ),
    "closed": (("已办结", "Closed"), ("无", "Nothing further")),
    "temporary_review": (
        ("乡镇已受理，正在入户调查", "The township has accepted the application and is investigating"),
        ("乡镇出具意见后公示", "The township gives its opinion, then the case is posted"),
    ),
    "county_approval": (
        ("超出乡镇审批额度，已报县级审批", "Over the township's limit: referred to the county for decision"),
        ("县级作出决定", "The county decides"),
    ),
    "granted": (
        ("临时救助已批准", "Temporary aid has been granted"),
        ("按批准的月份发放", "Paid in the months set by the decision"),
    ),
    "converted": (
        ("已转为低保或特困申请", "Converted into a minimum-allowance or support application"),
        ("按新申请办理", "The new application is handled"),
    ),
    "recovery": (
        ("公示异议成立，救助金待追回", "An objection was upheld; the aid is to be recovered"),
        ("乡镇将联系您", "The township will contact you"),
    ),
}

NOTICE_PLAIN = (
    ("正在公示", "Posted on the public notice board"),
    ("公示期满无异议后进入下一步", "If no objection is upheld, it moves on when the notice ends"),
)


def plain(state: str, lang: str) -> tuple[str, str]:
    where, nxt = PLAIN.get(state, NOTICE_PLAIN if state.startswith("notice_") else ((state, state), ("", "")))
    i = 1 if lang == "en" else 0
    return where[i], nxt[i]


# The record in a case's data that holds the written reason for the state it is in; a reason kept
# from an earlier state (a termination refused by the county, say) is stale and not shown.
REASON_OF = {
    "rejected": "refusal",
    "withdrawn": "withdrawal",
    "exited": "exited",
    "termination_approval": "termination",
    "notice_termination": "termination",
    "suspended": "suspension",
    "grace_period": "grace",
}


def reason_for(state: str, data: Mapping[str, Any]) -> str | None:
    """The written reason the household is owed in `state` (P11), if one was given."""
    record = data.get(REASON_OF.get(state, ""))
    return (str(record.get("reason") or "") or None) if isinstance(record, Mapping) else None
