"""Generates the CustomResourceDefinitions from the pydantic models (the single source of truth).

`make crds` writes crds/<plural>.<group>.yaml and the same files into charts/awsop/crds/; a test fails
when the committed files differ from what the models generate. The output is a structural schema: every
property typed, `$ref`s inlined, nullable unions collapsed, no `additionalProperties: false` (the API
server prunes unknown fields instead), descriptions everywhere (`kubectl explain`), and CEL transition
rules for fields marked immutable.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from awsop.reconcilers import outputs as output_catalogue
from awsop.reconcilers.kinds import CONFIG_KINDS, KINDS, VERSION, ConfigKindInfo, KindInfo

DROP_KEYS = frozenset({"title", "default", "$defs", "x-awsop-immutable"})
REPO = Path(__file__).resolve().parent.parent
OUTPUTS = (REPO / "crds", REPO / "charts" / "awsop" / "crds")


def structural(schema: dict[str, Any], defs: dict[str, Any], path: str = "") -> dict[str, Any]:
    """Turn one pydantic JSON-schema node into a Kubernetes structural schema node."""
    node = dict(schema)
    if "$ref" in node:
        target = defs[node.pop("$ref").split("/")[-1]]
        merged = {**target, **node}
        if "description" in node:
            merged["description"] = node["description"]
        node = merged
    if "anyOf" in node:
        options = [o for o in node.pop("anyOf") if o.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"{path}: unions other than X | None cannot be structural")
        node = {**structural(options[0], defs, path), **{k: v for k, v in node.items()}}
    if "const" in node:
        node["enum"] = [node.pop("const")]
    out: dict[str, Any] = {}
    rules = list(node.get("x-kubernetes-validations", []))
    for key, value in node.items():
        if key in DROP_KEYS or key == "x-kubernetes-validations":
            continue
        if key == "properties":
            out["properties"] = {
                name: structural(prop, defs, f"{path}.{name}") for name, prop in value.items()
            }
        elif key == "items":
            out["items"] = structural(value, defs, f"{path}[]")
        elif key == "additionalProperties":
            if isinstance(value, dict):
                out["additionalProperties"] = structural(value, defs, f"{path}{{}}")
            # `false` is implied by pruning; `true` is not structural and is dropped
        else:
            out[key] = value
    if node.get("x-awsop-immutable"):
        field_name = path.rsplit(".", 1)[-1]
        rules.append({"rule": "self == oldSelf", "message": f"{field_name} is immutable"})
    if rules:
        out["x-kubernetes-validations"] = rules
    if "type" not in out:
        if "enum" in out:
            out["type"] = "string"
        elif "properties" in out:
            out["type"] = "object"
        else:
            raise ValueError(f"{path}: property without a type is not structural")
    out.pop("required", None) if not out.get("required") else None
    return out


def model_schema(model: type[Any], path: str) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.get("$defs", {})
    schema = structural(raw, defs, path)
    # presence rules: an immutable optional field may not be added or removed later either
    presence = [
        {
            "rule": f"has(self.{name}) == has(oldSelf.{name})",
            "message": f"{name} is immutable (cannot be added or removed)",
        }
        for name, prop in raw.get("properties", {}).items()
        if prop.get("x-awsop-immutable")
    ]
    if presence:
        schema.setdefault("x-kubernetes-validations", []).extend(presence)
    return schema


CONDITION = '.status.conditions[?(@.type=="{}")].status'
CONFIG_COLUMNS: dict[str, list[dict[str, Any]]] = {
    "AWSAccount": [
        {"name": "Ready", "type": "string", "jsonPath": CONDITION.format("Ready")},
        {"name": "Account", "type": "string", "jsonPath": ".status.accountId"},
        {"name": "Role", "type": "string", "jsonPath": ".spec.roleArn", "priority": 1},
        {"name": "Objects", "type": "integer", "jsonPath": ".status.objects"},
        {
            "name": "Reason",
            "type": "string",
            "jsonPath": '.status.conditions[?(@.type=="Ready")].reason',
            "priority": 1,
        },
    ],
    "TagPolicy": [
        {"name": "Ready", "type": "string", "jsonPath": CONDITION.format("Ready")},
        {"name": "Enforcement", "type": "string", "jsonPath": ".spec.enforcement"},
        {"name": "Matching", "type": "integer", "jsonPath": ".status.matchingObjects"},
        {"name": "Violating", "type": "integer", "jsonPath": ".status.violatingObjects"},
        {
            "name": "Reason",
            "type": "string",
            "jsonPath": '.status.conditions[?(@.type=="Ready")].reason',
            "priority": 1,
        },
    ],
}


def crd(info: KindInfo | ConfigKindInfo) -> dict[str, Any]:
    """The CRD for one kind (an AWS kind, or a configuration kind such as AWSAccount)."""
    spec = model_schema(info.spec_model, "spec")
    spec["description"] = (info.spec_model.__doc__ or "").strip()
    if isinstance(info, KindInfo) and "outputs" in spec.get("properties", {}):
        _outputs_schema(info.kind, spec["properties"]["outputs"])
    status = model_schema(info.status_model, "status")
    status["description"] = "Observed state, written by awsop only."
    condition = CONDITION
    columns = [
        {"name": "Ready", "type": "string", "jsonPath": condition.format("Ready")},
        {"name": "Synced", "type": "string", "jsonPath": condition.format("Synced")},
        {"name": "Drifted", "type": "string", "jsonPath": condition.format("Drifted")},
        {"name": "AWS Name", "type": "string", "jsonPath": ".status.awsName"},
        {"name": "Region", "type": "string", "jsonPath": ".status.region", "priority": 1},
        {
            "name": "Reason",
            "type": "string",
            "jsonPath": '.status.conditions[?(@.type=="Ready")].reason',
            "priority": 1,
        },
        *(info.extra_columns if isinstance(info, KindInfo) else ()),
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    if isinstance(info, ConfigKindInfo):
        columns = [
            *CONFIG_COLUMNS.get(info.kind, []),
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": info.crd_name, "labels": {"app.kubernetes.io/part-of": "awsop"}},
        "spec": {
            "group": info.group,
            "names": {
                "kind": info.kind,
                "listKind": f"{info.kind}List",
                "plural": info.plural,
                "singular": info.singular,
                "shortNames": list(info.short_names),
                "categories": [info.category],
            },
            "scope": info.scope,
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": info.description,
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {
                                    "type": "string",
                                    "description": "API version of this object.",
                                },
                                "kind": {"type": "string", "description": "Kind of this object."},
                                "metadata": {"type": "object"},
                                "spec": spec,
                                "status": status,
                            },
                        }
                    },
                }
            ],
        },
    }


def _outputs_schema(kind: str, outputs: dict[str, Any]) -> None:
    """The kind's own output names in the shared `outputs` schema: an enum for `values` (the API server
    names the field of an unknown output) and the list of outputs in the descriptions (`kubectl explain`)."""
    listed = output_catalogue.describe(kind)
    outputs["description"] += f" Outputs of a {kind}: {listed}."
    values = outputs["items"]["properties"]["values"]
    values["additionalProperties"]["enum"] = output_catalogue.output_names(kind)
    values["description"] += f" Output names: {', '.join(output_catalogue.output_names(kind))}."


def render(info: KindInfo | ConfigKindInfo) -> str:
    header = "# Generated by `make crds` from the pydantic models. Do not edit.\n"
    return header + yaml.safe_dump(crd(info), sort_keys=False, width=100)


def rendered() -> dict[str, str]:
    """File name -> YAML for every kind."""
    infos: list[KindInfo | ConfigKindInfo] = [*KINDS.values(), *CONFIG_KINDS.values()]
    return {f"{info.crd_name}.yaml": render(info) for info in infos}


def all_crds_yaml() -> str:
    return "---\n".join(rendered().values())


def write(outputs: tuple[Path, ...] = OUTPUTS) -> list[Path]:
    written = []
    files = rendered()
    for folder in outputs:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.awsop.io.yaml"):
            if stale.name not in files:
                stale.unlink()
        for name, text in files.items():
            target = folder / name
            target.write_text(text)
            written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="write crds/ and charts/awsop/crds/")
    args = parser.parse_args(argv)
    if args.write:
        for path in write():
            print(f"wrote {path.relative_to(REPO)}")
    else:
        sys.stdout.write(all_crds_yaml())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
