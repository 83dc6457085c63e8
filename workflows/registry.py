"""Workflow definitions by (key, version): built from specs, validated, kept for as long as the process.

A case stores the spec it started with (case.data["spec"]); `definition_for` rebuilds its definition from
that, so a case keeps its version even when the policy file no longer yields it.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from typing import Any

from engine.definition import WorkflowDefinition
from engine.errors import DefinitionInvalid
from engine.tables import Case
from workflows import aidtypes, emergency, standard, temporary
from workflows.policy import Policy
from workflows.spec import AnySpec, EmergencySpec, StandardSpec, TemporarySpec

KEYS = (StandardSpec.key, EmergencySpec.key, TemporarySpec.key)

_built: dict[tuple[str, int], WorkflowDefinition] = {}
_lock = threading.Lock()


def build(spec: AnySpec) -> WorkflowDefinition:
    """The definition of a spec (validated when first built, then shared)."""
    key = (spec.key, spec.version)
    found = _built.get(key)
    if found is None:
        if isinstance(spec, StandardSpec):
            definition = standard.build(spec)
        elif isinstance(spec, TemporarySpec):
            definition = temporary.build(spec)
        else:
            definition = emergency.build(spec)
        with _lock:
            found = _built.setdefault(key, definition)
    return found


def spec_from_json(key: str, raw: Mapping[str, Any]) -> AnySpec:
    if key == StandardSpec.key:
        return StandardSpec.from_json(raw)
    if key == EmergencySpec.key:
        return EmergencySpec.from_json(raw)
    if key == TemporarySpec.key:
        return TemporarySpec.from_json(raw)
    raise DefinitionInvalid(f"unknown workflow {key!r}")


def definition_for(case: Case) -> WorkflowDefinition:
    """The definition a case runs on: the version it started with."""
    found = _built.get((case.workflow, case.workflow_version))
    if found is not None:
        return found
    raw = case.data.get("spec")
    if not isinstance(raw, Mapping):
        raise DefinitionInvalid(f"case {case.id} keeps no workflow spec")
    spec = spec_from_json(case.workflow, raw)
    if spec.version != case.workflow_version:
        raise DefinitionInvalid(f"case {case.id}: its spec is version {spec.version}, not {case.workflow_version}")
    return build(spec)


def definitions_of(policy: Policy) -> dict[tuple[str, int], WorkflowDefinition]:
    """Every definition the policy yields, for any region and date it names (worked out once per policy,
    which is not changed once loaded: every queue page asks)."""
    found = _of_policy.get(policy)
    if found is None:
        found = {}
        for rules in policy.all_rules():
            for spec in {aidtypes.spec_for(aid, rules) for aid in aidtypes.all()}:
                definition = build(spec)
                found[(definition.key, definition.version)] = definition
        with _lock:
            _of_policy[policy] = found
    return dict(found)


_of_policy: weakref.WeakKeyDictionary[Policy, dict[tuple[str, int], WorkflowDefinition]] = weakref.WeakKeyDictionary()


def known() -> dict[tuple[str, int], WorkflowDefinition]:
    """Every definition built in this process so far."""
    return dict(_built)
