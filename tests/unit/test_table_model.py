"""The Table spec: cross-field rules in the model AND as CEL rules in the CRD (both name the field and the
reason, and they agree), derived attribute definitions, and the pure diff's comparison rules."""

from __future__ import annotations

from typing import Any

import celpy
import pytest
from pydantic import ValidationError

from awsop.operator.crdgen import crd
from awsop.reconcilers.engine import ObjectRef, Target
from awsop.reconcilers.kinds import KINDS
from awsop.reconcilers.policies import DeletionPolicy
from awsop.reconcilers.table import TableClient, TableObserved, TableSpec, attribute_definitions

KEYS: dict[str, Any] = {"partitionKey": {"name": "pk", "type": "S"}}
GSI = {"name": "gsi-by-email", "partitionKey": {"name": "email", "type": "S"}}

INVALID: list[tuple[str, dict[str, Any], str]] = [
    (
        "capacity-with-on-demand",
        {**KEYS, "readCapacity": 5, "writeCapacity": 5},
        "only allowed with billingMode PROVISIONED",
    ),
    (
        "provisioned-without-capacity",
        {**KEYS, "billingMode": "PROVISIONED"},
        "requires readCapacity and writeCapacity",
    ),
    (
        "index-capacity-with-on-demand",
        {**KEYS, "globalSecondaryIndexes": [{**GSI, "readCapacity": 1, "writeCapacity": 1}]},
        "capacity is only allowed with billingMode",
    ),
    (
        "provisioned-index-without-capacity",
        {
            **KEYS,
            "billingMode": "PROVISIONED",
            "readCapacity": 1,
            "writeCapacity": 1,
            "globalSecondaryIndexes": [GSI],
        },
        "requires readCapacity and writeCapacity for every index",
    ),
    (
        "projection-attributes-without-include",
        {
            **KEYS,
            "globalSecondaryIndexes": [{**GSI, "projection": {"type": "ALL", "nonKeyAttributes": ["a"]}}],
        },
        "nonKeyAttributes requires",
    ),
    ("duplicate-index-names", {**KEYS, "globalSecondaryIndexes": [GSI, GSI]}, "unique"),
    (
        "key-declared-with-two-types",
        {**KEYS, "globalSecondaryIndexes": [{**GSI, "partitionKey": {"name": "pk", "type": "N"}}]},
        "key attribute 'pk' is declared as S",
    ),
    (
        "lsi-without-table-sort-key",
        {**KEYS, "localSecondaryIndexes": [{"name": "lsi-a", "sortKey": {"name": "d", "type": "S"}}]},
        "require the table to have a sortKey",
    ),
    ("customer-key-missing", {**KEYS, "encryption": {"type": "CUSTOMER_MANAGED"}}, "kmsKeyId"),
    ("stream-without-view-type", {**KEYS, "stream": {}}, "viewType is required"),
    (
        "on-demand-throughput-when-provisioned",
        {
            **KEYS,
            "billingMode": "PROVISIONED",
            "readCapacity": 1,
            "writeCapacity": 1,
            "onDemandThroughput": {"maxReadRequestUnits": 5},
        },
        "onDemandThroughput",
    ),
]
IMPORT = {"bucket": {"name": "orders-export"}, "inputFormat": "DYNAMODB_JSON"}
INVALID += [
    (
        "import-csv-options-without-csv",
        {**KEYS, "importFrom": {**IMPORT, "csv": {"delimiter": ";"}}},
        "importFrom.csv is only allowed with inputFormat CSV",
    ),
    (
        "import-with-local-indexes",
        {
            **KEYS,
            "sortKey": {"name": "sk", "type": "S"},
            "importFrom": IMPORT,
            "localSecondaryIndexes": [{"name": "lsi-a", "sortKey": {"name": "d", "type": "S"}}],
        },
        "importFrom cannot be combined with localSecondaryIndexes",
    ),
]
VALID: list[tuple[str, dict[str, Any]]] = [
    ("minimal", KEYS),
    ("provisioned", {**KEYS, "billingMode": "PROVISIONED", "readCapacity": 1, "writeCapacity": 2}),
    (
        "provisioned-with-index",
        {
            **KEYS,
            "billingMode": "PROVISIONED",
            "readCapacity": 1,
            "writeCapacity": 1,
            "globalSecondaryIndexes": [{**GSI, "readCapacity": 1, "writeCapacity": 1}],
        },
    ),
    (
        "include-projection",
        {
            **KEYS,
            "globalSecondaryIndexes": [{**GSI, "projection": {"type": "INCLUDE", "nonKeyAttributes": ["a"]}}],
        },
    ),
    ("stream-off", {**KEYS, "stream": {"enabled": False}}),
    (
        "import-csv",
        {
            **KEYS,
            "importFrom": {
                **IMPORT,
                "inputFormat": "CSV",
                "csv": {"delimiter": "\t", "headerList": ["pk"]},
                "inputCompressionType": "ZSTD",
            },
        },
    ),
    (
        "shared-key-same-type",
        {**KEYS, "globalSecondaryIndexes": [{**GSI, "partitionKey": {"name": "pk", "type": "S"}}]},
    ),
]


@pytest.mark.parametrize(("spec", "reason"), [(s, r) for _, s, r in INVALID], ids=[i for i, _, _ in INVALID])
def test_invalid_table_specs_are_rejected_by_the_model_with_the_field_and_reason(
    spec: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ValidationError, match=reason):
        TableSpec.model_validate(spec)


def _cel_rules() -> list[str]:
    schema = crd(KINDS["Table"])["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return [r["rule"] for r in schema["x-kubernetes-validations"] if "oldSelf" not in r["rule"]]


def crd_accepts(spec: dict[str, Any]) -> bool:
    env = celpy.Environment()
    activation = {"self": celpy.json_to_cel(spec)}
    return all(bool(env.program(env.compile(rule)).evaluate(activation)) for rule in _cel_rules())


# checked elsewhere: CEL cannot compare key types across indexes (the model does, and AWS refuses it too);
# the projection rule sits on the projection node (test_projection_rule_in_crd)
MODEL_ONLY = {"key-declared-with-two-types", "projection-attributes-without-include"}
CEL_CASES = [(i, s, False) for i, s, _ in INVALID if i not in MODEL_ONLY] + [(i, s, True) for i, s in VALID]


@pytest.mark.parametrize(
    ("spec", "valid"), [(s, v) for _, s, v in CEL_CASES], ids=[i for i, _, _ in CEL_CASES]
)
def test_crd_cel_rules_agree_with_the_model(spec: dict[str, Any], valid: bool) -> None:
    assert crd_accepts(spec) is valid


def test_projection_rule_in_crd() -> None:
    schema = crd(KINDS["Table"])["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    node = schema["properties"]["globalSecondaryIndexes"]["items"]["properties"]["projection"]
    env = celpy.Environment()
    rule = node["x-kubernetes-validations"][0]
    program = env.program(env.compile(rule["rule"]))
    assert not program.evaluate({"self": celpy.json_to_cel({"type": "ALL", "nonKeyAttributes": ["a"]})})
    assert program.evaluate({"self": celpy.json_to_cel({"type": "INCLUDE", "nonKeyAttributes": ["a"]})})
    assert "projection.nonKeyAttributes" in rule["message"]


@pytest.mark.parametrize(("spec",), [(s,) for _, s in VALID], ids=[i for i, _ in VALID])
def test_valid_table_specs_pass(spec: dict[str, Any]) -> None:
    TableSpec.model_validate(spec)


@pytest.mark.parametrize("field", ["partitionKey", "sortKey", "localSecondaryIndexes", "name", "region"])
def test_keys_and_local_indexes_are_immutable_in_the_crd(field: str) -> None:
    schema = crd(KINDS["Table"])["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert {"rule": "self == oldSelf", "message": f"{field} is immutable"} in schema["properties"][field][
        "x-kubernetes-validations"
    ]


def test_attribute_definitions_are_derived_from_every_key() -> None:
    spec = TableSpec.model_validate(
        {
            **KEYS,
            "sortKey": {"name": "sk", "type": "N"},
            "globalSecondaryIndexes": [{**GSI, "sortKey": {"name": "sk", "type": "N"}}],
            "localSecondaryIndexes": [{"name": "lsi-by-date", "sortKey": {"name": "date", "type": "S"}}],
        }
    )
    assert attribute_definitions(spec) == [
        {"AttributeName": "date", "AttributeType": "S"},
        {"AttributeName": "email", "AttributeType": "S"},
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "N"},
    ]
    assert "attributeDefinitions" not in TableSpec.model_json_schema(by_alias=True)["properties"]


def _target(spec: TableSpec) -> Target[TableSpec]:
    ref = ObjectRef("Table", "ns", "t", 1)
    return Target(
        ref, spec, "ns-t", "us-east-1", "c/ns/t", {"awsop.io/owner": "c/ns/t"}, DeletionPolicy.RETAIN
    )


def _observed(**table: Any) -> TableObserved:
    description = {
        "TableName": "ns-t",
        "TableStatus": "ACTIVE",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "email", "AttributeType": "S"},
        ],
        **table,
    }
    return TableObserved("ns-t", "arn", description, {"awsop.io/owner": "c/ns/t"})


ON_DEMAND_INDEX = {
    "IndexName": "gsi-by-email",
    "IndexStatus": "ACTIVE",
    "KeySchema": [{"AttributeName": "email", "KeyType": "HASH"}],
    "Projection": {"ProjectionType": "ALL"},
    "ProvisionedThroughput": {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0},
}


@pytest.mark.parametrize(
    ("spec", "table"),
    [
        (
            {**KEYS, "globalSecondaryIndexes": [GSI]},
            {
                "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
                "GlobalSecondaryIndexes": [ON_DEMAND_INDEX],
            },
        ),
        (
            KEYS,
            {
                "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
                "TableClassSummary": {"TableClass": "STANDARD_INFREQUENT_ACCESS"},
                "SSEDescription": {
                    "Status": "ENABLED",
                    "SSEType": "KMS",
                    "KMSMasterKeyArn": "arn:aws:kms:us-east-1:1:key/k",
                },
                "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
                "WarmThroughput": {
                    "ReadUnitsPerSecond": 12000,
                    "WriteUnitsPerSecond": 4000,
                    "Status": "ACTIVE",
                },
                "DeletionProtectionEnabled": True,
                "Replicas": [{"RegionName": "eu-west-1"}],
            },
        ),
        (
            {
                **KEYS,
                "billingMode": "PROVISIONED",
                "readCapacity": 5,
                "writeCapacity": 5,
                "capacityManagedBy": "external",
            },
            {
                "BillingModeSummary": {"BillingMode": "PROVISIONED"},
                "ProvisionedThroughput": {"ReadCapacityUnits": 90, "WriteCapacityUnits": 40},
            },
        ),
        (
            {**KEYS, "encryption": {"type": "AWS_OWNED"}, "tableClass": "STANDARD"},
            {"BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"}},
        ),
    ],
    ids=[
        "index-capacity-not-compared-on-demand",
        "undeclared-facets-and-replicas-not-drift",
        "external-capacity-not-compared",
        "aws-defaults-not-drift",
    ],
)
def test_what_is_not_drift(spec: dict[str, Any], table: dict[str, Any]) -> None:
    client = TableClient.__new__(TableClient)
    assert client.diff(_target(TableSpec.model_validate(spec)), _observed(**table)) == []


def test_stream_view_type_change_is_two_steps() -> None:
    client = TableClient.__new__(TableClient)
    observed = _observed(
        BillingModeSummary={"BillingMode": "PAY_PER_REQUEST"},
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
    )
    spec = TableSpec.model_validate({**KEYS, "stream": {"viewType": "NEW_IMAGE"}})
    assert [c.step for c in client.diff(_target(spec), observed)] == [
        "disabling stream",
        "enabling stream NEW_IMAGE",
    ]


def test_index_projection_change_is_delete_then_create() -> None:
    client = TableClient.__new__(TableClient)
    observed = _observed(
        BillingModeSummary={"BillingMode": "PAY_PER_REQUEST"}, GlobalSecondaryIndexes=[ON_DEMAND_INDEX]
    )
    spec = TableSpec.model_validate(
        {**KEYS, "globalSecondaryIndexes": [{**GSI, "projection": {"type": "KEYS_ONLY"}}]}
    )
    assert [c.step for c in client.diff(_target(spec), observed)] == [
        "deleting index gsi-by-email (to recreate it)",
        "creating index gsi-by-email",
    ]


@pytest.mark.parametrize(
    ("bucket", "problem"),
    [
        ({}, "set exactly one of ref or name"),
        ({"name": "a-b-c", "ref": {"name": "src"}}, "set exactly one of ref or name"),
        ({"name": "Not_A_Bucket"}, "should match pattern"),
    ],
    ids=["neither", "both", "bad-name"],
)
def test_import_source_bucket_is_named_exactly_once(bucket: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        TableSpec.model_validate({**KEYS, "importFrom": {**IMPORT, "bucket": bucket}})


def test_import_from_is_immutable_in_the_crd_and_only_reads_the_bucket_it_names() -> None:
    schema = crd(KINDS["Table"])["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    rules = schema["properties"]["importFrom"]["x-kubernetes-validations"]
    assert [r["rule"] for r in rules] == ["self == oldSelf"]
    assert any(
        r["rule"] == "!has(self.importFrom) || has(oldSelf.importFrom)"
        for r in schema["x-kubernetes-validations"]
    )
    by_ref = TableSpec.model_validate({**KEYS, "importFrom": {**IMPORT, "bucket": {"ref": {"name": "src"}}}})
    assert [(r.kind, r.name, r.path) for r in by_ref.references()] == [("Bucket", "src", "importFrom.bucket")]
    assert by_ref.named_dependencies() == []
    by_name = TableSpec.model_validate({**KEYS, "importFrom": IMPORT})
    assert by_name.references() == []
    assert [(d.kind, d.aws_name) for d in by_name.named_dependencies()] == [("Bucket", "orders-export")]
