"""Writes tests/corpus/malformed/: one malformed change request per class of mistake, each saying in its
first line which field the refusal must name (``expect-field:``). Run it again after changing a class:

    .venv/bin/python tests/corpus/make_malformed.py
"""

import copy
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent / "malformed"
BASE = {
    "id": "CHG-0900",
    "type": "normal",
    "description": "Deploy classifier v2 to production.",
    "requester": "alice",
    "model": "classifier",
    "change": {
        "kind": "model_deployment",
        "from_version": 1,
        "to_version": 2,
        "golden_set": "../../../examples/golden/classifier.json",
        "bake_seconds": 10,
    },
    "rollback_plan": "Reload classifier v1; it stays warm through the bake.",
}
UPGRADE = {
    "kind": "triton_upgrade",
    "namespace": "inference",
    "deployment": "triton",
    "image": "nvcr.io/nvidia/tritonserver:24.10-py3",
    "golden_set": "../../../examples/golden/classifier.json",
}
BLUE_GREEN = {
    "kind": "blue_green",
    "namespace": "inference",
    "service": "triton",
    "blue": "triton-blue",
    "green": "triton-green",
    "image": "nvcr.io/nvidia/tritonserver:24.10-py3",
    "golden_set": "../../../examples/golden/classifier.json",
}
CONFIG = {"kind": "config_change", "set": {"dynamic_batching.max_queue_delay_microseconds": 500}}


def with_(path: str, value, base=None):
    data = copy.deepcopy(base or BASE)
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node[part]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return data


DELETE = object()
MUTATIONS = {  # class: (field the refusal names, the request)
    "unknown-top-level-field": ("requestor", {**BASE, "requestor": "alice"}),
    "missing-id": ("id", with_("id", DELETE)),
    "id-wrong-form": ("id", with_("id", "CHANGE-1")),
    "id-a-number": ("id", with_("id", 900)),
    "id-with-newline": ("id", with_("id", "CHG-0900\nCHG-0901")),
    "type-unknown": ("type", with_("type", "urgent")),
    "type-a-list": ("type", with_("type", ["normal"])),
    "description-too-short": ("description", with_("description", "v2")),
    "description-too-long": ("description", with_("description", "x" * 5000)),
    "description-nul": ("description", with_("description", "Deploy classifier v2\x00 to production.")),
    "description-bidi-override": (
        "description",
        with_("description", "Deploy classifier v2 \u202eedoc live\u202c now."),
    ),
    "description-escape-sequence": (
        "description",
        with_("description", "Deploy classifier \x1b[31mv2\x1b[0m to production."),
    ),
    "description-a-number": ("description", with_("description", 12345678901)),
    "requester-uppercase": ("requester", with_("requester", "Alice")),
    "requester-rich-markup": ("requester", with_("requester", "[/]")),
    "requester-empty": ("requester", with_("requester", "")),
    "requester-huge": ("requester", with_("requester", "a" * 100_000)),
    "requester-zero-width": ("requester", with_("requester", "ali\u200bce")),
    "model-with-slash": ("model", with_("model", "../classifier")),
    "model-empty": ("model", with_("model", "")),
    "model-a-mapping": ("model", with_("model", {"name": "classifier"})),
    "missing-change": ("change", with_("change", DELETE)),
    "change-a-string": ("change", with_("change", "model_deployment")),
    "change-kind-missing": ("change.kind", with_("change.kind", DELETE)),
    "change-kind-unknown": ("change.kind", with_("change.kind", "canary")),
    "to-version-zero": ("change.to_version", with_("change.to_version", 0)),
    "to-version-negative": ("change.to_version", with_("change.to_version", -2)),
    "to-version-true": ("change.to_version", with_("change.to_version", True)),
    "to-version-a-string": ("change.to_version", with_("change.to_version", "2")),
    "to-version-a-fraction": ("change.to_version", with_("change.to_version", 2.5)),
    "to-version-beyond-int64": ("change.to_version", with_("change.to_version", 10**30)),
    "to-version-null": ("change.to_version", with_("change.to_version", None)),
    "from-equals-to": ("change", with_("change.from_version", 2)),
    "bake-seconds-zero": ("change.bake_seconds", with_("change.bake_seconds", 0)),
    "bake-seconds-a-year": ("change.bake_seconds", with_("change.bake_seconds", 31_536_000)),
    "bake-seconds-false": ("change.bake_seconds", with_("change.bake_seconds", False)),
    "golden-set-empty": ("change.golden_set", with_("change.golden_set", "")),
    "golden-set-nul": ("change.golden_set", with_("change.golden_set", "golden\x00.json")),
    "golden-set-a-list": ("change.golden_set", with_("change.golden_set", ["a.json"])),
    "unknown-field-in-change": ("change.golden", with_("change.golden", "x.json")),
    "config-set-empty": ("change.set", {**BASE, "change": {"kind": "config_change", "set": {}}}),
    "config-path-uppercase": (
        "change.set",
        {**BASE, "change": {"kind": "config_change", "set": {"Dynamic_Batching.x": 1}}},
    ),
    "config-value-beyond-int64": (
        "change.set",
        {**BASE, "change": {"kind": "config_change", "set": {"max_batch_size": 99999999999999999999999999}}},
    ),
    "config-value-a-list": (
        "change.set",
        {**BASE, "change": {"kind": "config_change", "set": {"max_batch_size": [8]}}},
    ),
    "config-value-control-char": (
        "change.set",
        {**BASE, "change": {"kind": "config_change", "set": {"parameters.scale": "2.0\x07"}}},
    ),
    "config-value-nan": (
        "change.set",
        {**BASE, "change": {"kind": "config_change", "set": {"parameters.scale": float("nan")}}},
    ),
    "config-too-many-fields": (
        "change.set",
        {**BASE, "change": {"kind": "config_change", "set": {f"parameters.p{i}": "1" for i in range(60)}}},
    ),
    "upgrade-namespace-uppercase": ("change.namespace", {**BASE, "change": {**UPGRADE, "namespace": "Inference"}}),
    "upgrade-image-with-space": ("change.image", {**BASE, "change": {**UPGRADE, "image": "tritonserver latest"}}),
    "upgrade-deadline-zero": (
        "change.progress_deadline_seconds",
        {**BASE, "change": {**UPGRADE, "progress_deadline_seconds": 0}},
    ),
    "upgrade-args-not-a-list": ("change.args", {**BASE, "change": {**UPGRADE, "args": "--log-verbose=1"}}),
    "upgrade-arg-with-nul": ("change.args", {**BASE, "change": {**UPGRADE, "args": ["--model-repository=/m\x00"]}}),
    "blue-green-same-deployment": ("change", {**BASE, "change": {**BLUE_GREEN, "green": "triton-blue"}}),
    "blue-green-missing-service": (
        "change.service",
        {**BASE, "change": {k: v for k, v in BLUE_GREEN.items() if k != "service"}},
    ),
    "rollback-plan-missing": ("rollback_plan", with_("rollback_plan", DELETE)),
    "rollback-plan-too-short": ("rollback_plan", with_("rollback_plan", "undo")),
    "rollback-plan-bidi-isolate": (
        "rollback_plan",
        with_("rollback_plan", "Reload v1 \u2066quietly\u2069 and tell nobody."),
    ),
    "window-naive-time": ("window.not_before", {**BASE, "window": {"not_before": "2026-11-25T22:00:00"}}),
    "window-deadline-first": (
        "window",
        {**BASE, "window": {"not_before": "2026-11-26T22:00:00+01:00", "deadline": "2026-11-25T22:00:00+01:00"}},
    ),
    "window-a-string": ("window", {**BASE, "window": "tonight"}),
    "window-unknown-field": ("window.start", {**BASE, "window": {"start": "2026-11-25T22:00:00+01:00"}}),
    "on-call-ack-bad-identity": ("communication.on_call_ack", {**BASE, "communication": {"on_call_ack": "On Call"}}),
    "announced-in-too-short": ("communication.announced_in", {**BASE, "communication": {"announced_in": "#"}}),
    "standard-with-unknown-type-field": (
        "change.sett",
        {**BASE, "type": "standard", "change": {"kind": "config_change", "sett": {"x": 1}}},
    ),
    "description-arabic-letter-mark": (
        "description",
        with_("description", "Deploy classifier v2\u061c to production."),
    ),
    "rollback-plan-line-separator": ("rollback_plan", with_("rollback_plan", "Reload v1;\u2028then tell the CAB.")),
    "description-tag-characters": (
        "description",
        with_("description", "Deploy classifier v2 \U000e0041\U000e0042 now."),
    ),
}
RAW = {  # class: (field, the file's text): what YAML itself makes possible
    "document-a-list": ("(document)", "- id: CHG-0900\n- type: normal\n"),
    "document-a-scalar": ("(document)", "just some text\n"),
    "document-empty": ("(document)", "# nothing here\n"),
    "yaml-syntax-error": ("line", "id: CHG-0900\ntype: [normal\n"),
    "duplicate-to-version": (
        "line",
        yaml.safe_dump(BASE, sort_keys=False).replace("  to_version: 2\n", "  to_version: 2\n  to_version: 3\n"),
    ),
    "duplicate-top-level-id": ("line", "id: CHG-0900\n" + yaml.safe_dump(BASE, sort_keys=False)),
    "nested-too-deep": ("line", "id: " + "[" * 200 + "]" * 200 + "\n"),
    "alias-expansion": (
        "line",
        "a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nid: *c\n",
    ),
    "python-object-tag": ("line", "id: !!python/object/apply:os.system ['true']\n"),
    "tab-indentation": ("line", "id: CHG-0900\nchange:\n\tkind: model_deployment\n"),
    "impossible-date": ("(document)", "id: CHG-0900\nwindow: {not_before: 2026-02-30T10:00:00+01:00}\n"),
    "binary-tag": ("line", "id: !!binary aGVsbG8=\n"),
    "set-tag": ("line", "id: !!set {a, b}\n"),
    "huge-integer-literal": (
        "(document)",
        yaml.safe_dump(BASE, sort_keys=False).replace("to_version: 2", "to_version: " + "9" * 5000),
    ),
}

if __name__ == "__main__":
    HERE.mkdir(exist_ok=True)
    for old in HERE.glob("*.yaml"):
        old.unlink()
    for number, (name, (field, data)) in enumerate(MUTATIONS.items(), 1):
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=False, width=1000)
        (HERE / f"{number:02d}-{name}.yaml").write_text(
            f"# class: {name}. expect-field: {field}\n{text}", encoding="utf-8"
        )
    for number, (name, (field, text)) in enumerate(RAW.items(), len(MUTATIONS) + 1):
        (HERE / f"{number:02d}-{name}.yaml").write_text(
            f"# class: {name}. expect-field: {field}\n{text}", encoding="utf-8"
        )
    print(f"{len(MUTATIONS) + len(RAW)} malformed requests in {HERE}")
