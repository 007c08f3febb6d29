"""`make demo`: the main job on embedded defaults, narrated.

Everything runs on this machine and is stopped at the end: embedded AWS (moto on 127.0.0.1), a Kubernetes
API server for demos and tests (awsop.sandbox, never for production), the real operator (`awsop run`) as
a process, and the real kubectl. The flow: apply the CRDs and examples/, every object becomes Ready (a queue
listed before its dead-letter queue waits for it, then follows its ARN; one bucket lives in another AWS
account, through an AWSAccount); the TagPolicy's webhook rejects a bucket without the organisation's tags;
the CLI plan agrees with the cluster; two out-of-band changes: one corrected by the operator (driftPolicy
Correct), one only reported (driftPolicy Report) and shown by `awsop plan`, then fixed with `awsop apply`;
a DynamoDB table gets two indexes in one edit, planned whole and applied one step at a time; finally
`kubectl delete` honours each object's deletionPolicy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import yaml
from rich.console import Console
from rich.rule import Rule

from . import cli
from .embedded import EmbeddedAws, free_port

console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)
REPO = Path(__file__).resolve().parent.parent
EXAMPLES, CRDS = Path("examples"), Path("crds")  # relative to REPO, the demo's working directory
BIN = Path(sys.executable).parent


class DemoError(Exception):
    pass


def step(title: str) -> None:
    console.print()
    console.print(Rule(f"[bold]{title}[/bold]", align="left"))


def wait_for(probe: Callable[[], Any], what: str, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if value := probe():
                return value
        except Exception:  # still converging
            pass
        time.sleep(0.5)
    raise DemoError(f"timed out waiting for {what}")


class Demo:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.aws = EmbeddedAws(region="us-east-1")
        self.kube: Any = None
        self.operator: subprocess.Popen[bytes] | None = None
        self.kubeconfig = workdir / "kubeconfig"
        self.s3: Any = None
        self.sqs: Any = None
        self.ddb: Any = None

    def kubectl(self, *args: str, show: bool = True, check: bool = True) -> str:
        if show:
            console.print(f"[dim]$ kubectl {' '.join(args)}[/dim]")
        proc = subprocess.run(
            [str(BIN / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and proc.returncode != 0:
            raise DemoError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
        if show and proc.stdout.strip():
            console.print(proc.stdout.rstrip(), markup=False)
        return proc.stdout

    def awsop(self, *args: str, expect: int) -> None:
        console.print(f"[dim]$ awsop {' '.join(args)}[/dim]")
        code = cli.main(list(args))
        console.print(f"[dim]exit code {code}[/dim]")
        if code != expect:
            raise DemoError(f"awsop {args[0]} exited {code}, expected {expect}")

    def start(self) -> None:
        from awsop.sandbox.kubeapi import KubeAPIServer

        step("Starting embedded AWS, a sandbox Kubernetes API and the awsop operator")
        self.aws.start()
        os.environ["AWSOP_CLUSTER_ID"] = "demo"
        self.s3 = boto3.client("s3", endpoint_url=self.aws.url, region_name="us-east-1")
        self.sqs = boto3.client("sqs", endpoint_url=self.aws.url, region_name="us-east-1")
        self.ddb = boto3.client("dynamodb", endpoint_url=self.aws.url, region_name="us-east-1")
        self.kube = KubeAPIServer(host="127.0.0.1", port=0).start()
        self.kube.write_kubeconfig(self.kubeconfig)
        console.print(f"AWS (moto): {self.aws.url}   Kubernetes API (sandbox, demo only): {self.kube.url}")
        self.kubectl("apply", "-f", str(CRDS))
        self.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=30s", show=False)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWSOP_")}
        env.update(self.aws.env())
        env.update(
            KUBECONFIG=str(self.kubeconfig),
            AWSOP_CLUSTER_ID="demo",
            AWSOP_RESYNC_SECONDS="5",
            AWSOP_MIN_RESYNC_SECONDS="1",
            AWSOP_METRICS_PORT=str(port),
            AWSOP_METRICS_HOST="127.0.0.1",
            AWSOP_TAG_POLICY_STATUS_SECONDS="1",
            # the TagPolicy webhook; in a cluster the Helm chart registers it, here the operator does
            AWSOP_WEBHOOK_PORT=str(free_port()),
            AWSOP_WEBHOOK_ADDR="127.0.0.1",
            AWSOP_WEBHOOK_HOST="127.0.0.1",
            AWSOP_WEBHOOK_MANAGED="true",
        )
        log = (self.workdir / "operator.log").open("wb")
        console.print("[dim]$ awsop run -n default   (logs in the demo's temporary folder)[/dim]")
        self.operator = subprocess.Popen(
            [str(BIN / "awsop"), "run", "-n", "default"], env=env, stdout=log, stderr=subprocess.STDOUT
        )

        def ready() -> bool:
            if self.operator is not None and self.operator.poll() is not None:
                raise DemoError("the operator exited: " + (self.workdir / "operator.log").read_text()[-2000:])
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as rsp:
                return bool(rsp.status == 200)

        wait_for(ready, "the operator's /readyz")
        console.print("operator ready.")

    def stop(self) -> None:
        if self.operator is not None and self.operator.poll() is None:
            self.operator.terminate()
            try:
                self.operator.wait(20)
            except subprocess.TimeoutExpired:
                self.operator.kill()
        if self.kube is not None:
            self.kube.stop()
        self.aws.stop()

    def _denied(self, manifest: Path) -> str:
        proc = subprocess.run(
            [str(BIN / "kubectl"), "--kubeconfig", str(self.kubeconfig), "apply", "-f", str(manifest)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if proc.returncode == 0:
            self.kubectl("delete", "-f", str(manifest), "--wait=false", show=False, check=False)
            return ""
        return proc.stderr.strip()

    def drift(self, name: str) -> list[dict[str, str]]:
        status = json.loads(self.kubectl("get", "bucket", name, "-o", "json", show=False)).get("status", {})
        return list(status.get("drift", []))

    def condition(self, name: str, ctype: str, kind: str = "bucket") -> dict[str, Any]:
        status = json.loads(self.kubectl("get", kind, name, "-o", "json", show=False)).get("status", {})
        return next((c for c in status.get("conditions", []) if c["type"] == ctype), {})

    def queue_status(self, name: str) -> dict[str, Any]:
        return dict(
            json.loads(self.kubectl("get", "queue", name, "-o", "json", show=False)).get("status", {})
        )

    def visibility(self, queue: str) -> str:
        url = self.sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])
        return str(attrs["Attributes"]["VisibilityTimeout"])

    def run(self) -> None:
        self.start()
        examples = str(EXAMPLES)

        step("1. kubectl apply the examples; the operator creates every kind's examples")
        self.kubectl("apply", "-f", examples)
        for kind in ("buckets", "queues", "tables", "launchtemplates", "autoscalinggroups"):
            self.kubectl("wait", "--for=condition=Ready", kind, "--all", "--timeout=90s", show=False)
        self.kubectl("get", "aws")
        orders, dlq = self.queue_status("orders"), self.queue_status("orders-dlq")
        console.print(
            "queue orders names its dead-letter queue by reference (and comes first in "
            "examples/queue-orders.yaml):\n"
            f"  orders-dlq status.arn             = {dlq.get('arn')}\n"
            f"  orders status.deadLetterQueueArn  = {orders.get('deadLetterQueueArn')}",
            markup=False,
        )
        if orders.get("deadLetterQueueArn") != dlq.get("arn"):
            raise DemoError("the source queue does not use its dead-letter queue's ARN")
        outputs = json.loads(self.kubectl("get", "configmap", "worker-aws", "-o", "json", show=False))["data"]
        console.print(
            "Deployment worker reads ConfigMap worker-aws with envFrom; awsop filled it from the "
            "spec.outputs of Queue worker-jobs and Table worker-state (examples/worker-outputs.yaml):\n"
            + "".join(f"  {key}={value}\n" for key, value in sorted(outputs.items())),
            markup=False,
        )
        if outputs.get("JOBS_QUEUE_URL") != self.queue_status("worker-jobs").get("url"):
            raise DemoError("ConfigMap worker-aws does not hold the queue's URL")
        notified = self.s3.get_bucket_notification_configuration(Bucket="awsop-example-uploads")
        replication = self.s3.get_bucket_replication(Bucket="awsop-example-reports")
        rules = replication["ReplicationConfiguration"]["Rules"]
        site = self.s3.get_bucket_website(Bucket="awsop-example-static-site")
        console.print(
            "S3 facets by reference: bucket uploads notifies queue upload-events (its policy allows it) ->\n"
            f"  {[c['QueueArn'] for c in notified.get('QueueConfigurations', [])]}\n"
            f"bucket reports replicates to {[r['Destination']['Bucket'] for r in rules]}; "
            f"static-site serves {site['IndexDocument']['Suffix']} with {len(site.get('RoutingRules', []))} "
            "routing rules",
            markup=False,
        )
        if not notified.get("QueueConfigurations") or not rules:
            raise DemoError("the notification or the replication did not reach AWS")
        self.kubectl("wait", "--for=condition=Ready", "awsaccount/payments-dev", "--timeout=30s", show=False)
        ledger = json.loads(self.kubectl("get", "bucket", "ledger", "-o", "json", show=False))["status"]
        console.print(
            f"ledger names AWSAccount payments-dev: it lives in account {ledger['accountId']} (the role's), "
            "the other buckets in the operator's own account."
        )

        step("1b. The TagPolicy in examples/ guards every object: no cost-center, no bucket")
        wait_for(
            lambda: (
                "0"
                in self.kubectl(
                    "get", "tagpolicy", "org-tags", "-o", "jsonpath={.status.violatingObjects}", show=False
                )
            ),
            "the TagPolicy's status",
        )
        self.kubectl("get", "tagpolicies")
        untagged = self.workdir / "untagged.yaml"
        untagged.write_text(
            "apiVersion: s3.awsop.io/v1alpha1\nkind: Bucket\nmetadata: {name: scratch, namespace: default}\n"
            "spec: {tags: {team: web}}\n"
        )
        console.print(f"[dim]$ kubectl apply -f {untagged.name}   (team: web, no cost-center)[/dim]")
        denied = wait_for(lambda: self._denied(untagged), "the webhook to reject the bucket")
        console.print(denied, markup=False)
        self.awsop("plan", "-f", examples, expect=cli.EXIT_OK)

        step("3. Pause app-data and orders (awsop.io/paused: no AWS calls), then changes behind awsop's back")
        # paused, the operator's drift checks (every 5 s here) cannot put versioning back before the plan
        # below has seen the drift
        self.kubectl("annotate", "bucket/app-data", "queue/orders", "awsop.io/paused=true")
        wait_for(lambda: self.condition("app-data", "Synced").get("reason") == "Paused", "app-data paused")
        wait_for(
            lambda: any(
                c.get("reason") == "Paused" for c in self.queue_status("orders").get("conditions", [])
            ),
            "orders paused",
        )
        console.print(
            "[dim]$ aws s3api put-bucket-versioning --bucket default-app-data "
            "--versioning-configuration Status=Suspended[/dim]"
        )
        self.s3.put_bucket_versioning(
            Bucket="default-app-data", VersioningConfiguration={"Status": "Suspended"}
        )
        console.print(
            "[dim]$ aws s3api put-bucket-cors --bucket awsop-example-web-assets ... (allow PUT from *)[/dim]"
        )
        self.s3.put_bucket_cors(
            Bucket="awsop-example-web-assets",
            CORSConfiguration={"CORSRules": [{"AllowedMethods": ["PUT"], "AllowedOrigins": ["*"]}]},
        )

        console.print(
            "[dim]$ aws sqs set-queue-attributes --queue-url .../default-orders "
            "--attributes VisibilityTimeout=5[/dim]"
        )
        url = self.sqs.get_queue_url(QueueName="default-orders")["QueueUrl"]
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "5"})

        step("4. The plan detects the drifts and names the fields (exit 2)")
        self.awsop("plan", "-f", examples, expect=cli.EXIT_CHANGES)

        step("5. Unpaused, app-data and orders (driftPolicy Correct) are put back by the operator")
        self.kubectl("annotate", "bucket/app-data", "queue/orders", "awsop.io/paused-")
        wait_for(
            lambda: self.s3.get_bucket_versioning(Bucket="default-app-data")["Status"] == "Enabled",
            "the operator to correct versioning",
        )
        wait_for(lambda: self.visibility("default-orders") == "60", "the operator to correct the queue")
        console.print("default-orders VisibilityTimeout is 60 again (the spec's visibilityTimeoutSeconds)")
        self.kubectl(
            "get", "events", "--field-selector", "involvedObject.name=app-data,reason=DriftCorrected"
        )

        step("6. web-assets (driftPolicy Report): the drift is recorded, AWS is left alone")
        self.kubectl(
            "annotate", "bucket", "web-assets", "--overwrite", "awsop.io/reconcile-requested-at=demo-1"
        )
        wait_for(lambda: self.condition("web-assets", "Drifted").get("status") == "True", "Drifted=True")
        self.kubectl("get", "aws")
        paths = ", ".join(entry["path"] for entry in self.drift("web-assets"))
        console.print(f"status.drift paths: [yellow]{paths}[/yellow]", markup=True)
        console.print(
            f"Drifted condition: {self.condition('web-assets', 'Drifted').get('message', '')}", markup=False
        )

        step("7. Correct it deliberately with the CLI, then the plan is clean (exit 0)")
        self.awsop("apply", "-f", str(EXAMPLES / "bucket-website-assets.yaml"), expect=cli.EXIT_OK)
        self.awsop("plan", "-f", examples, expect=cli.EXIT_OK)
        self.kubectl(
            "annotate", "bucket", "web-assets", "--overwrite", "awsop.io/reconcile-requested-at=demo-2"
        )
        wait_for(lambda: self.condition("web-assets", "Drifted").get("status") == "False", "Drifted=False")
        self.kubectl("get", "aws")

        self.table_indexes()
        step("9. Auto Scaling: an autoscaler moves capacity; awsop only puts back what the spec owns")
        self.autoscaling_capacity()

        step("10. kubectl delete: each object's deletionPolicy decides what happens in AWS")
        self.s3.put_object(Bucket="awsop-example-access-logs", Key="old.log", Body=b"log line")
        self.kubectl("delete", "-f", examples, "--timeout=90s")
        left = sorted(b["Name"] for b in self.s3.list_buckets()["Buckets"])
        for bucket, policy in (
            ("default-app-data", "Retain (default)"),
            ("awsop-example-web-assets", "Retain"),
            ("awsop-example-access-logs", "Delete + emptyOnDelete"),
        ):
            state = "still in AWS, ownership tags removed" if bucket in left else "deleted with its objects"
            console.print(f"{bucket:28s} {policy:24s} -> {state}")
        if "awsop-example-access-logs" in left or "default-app-data" not in left:
            raise DemoError("deletion did not honour the policies")
        queues = self.sqs.list_queues().get("QueueUrls", [])
        console.print(
            f"queues (Delete by default): {len(queues)} left in AWS; orders-dlq waited until orders, "
            "its user, was gone"
        )
        if queues:
            raise DemoError(f"queues left behind: {queues}")
        tables = self.ddb.list_tables()["TableNames"]
        console.print(
            f"{'default-orders':28s} {'Retain (default)':24s} -> "
            + ("still in AWS" if "default-orders" in tables else "deleted")
        )

    def table_indexes(self) -> None:
        step("8. DynamoDB: two more indexes in one edit; AWS takes them one at a time")
        doc = yaml.safe_load((EXAMPLES / "table-orders.yaml").read_text())
        doc["spec"]["globalSecondaryIndexes"] += [
            {"name": "gsi-by-status", "partitionKey": {"name": "status", "type": "S"}},
            {"name": "gsi-by-customer", "partitionKey": {"name": "customerId", "type": "S"}},
        ]
        edited = self.workdir / "table-orders-indexes.yaml"
        edited.write_text(yaml.safe_dump(doc, sort_keys=False))
        console.print("the plan shows every step, in order (exit 2):")
        self.awsop("plan", "-f", str(edited), expect=cli.EXIT_CHANGES)
        self.kubectl("apply", "-f", str(edited))

        shown: set[str] = set()

        def indexes_ready() -> bool:
            obj = json.loads(self.kubectl("get", "table", "orders", "-o", "json", show=False))
            status = obj.get("status", {})
            progress = status.get("progress") or {}
            line = f"status.progress: step {progress.get('step')} of {progress.get('steps')}: "
            line += str(progress.get("currentStep"))
            if progress.get("currentStep") and line not in shown:
                shown.add(line)
                console.print(f"[dim]  {line}[/dim]")
            generation = obj["metadata"]["generation"]
            return any(
                c["type"] == "Ready" and c["status"] == "True" and c.get("observedGeneration") == generation
                for c in status.get("conditions", [])
            )

        wait_for(indexes_ready, "the table's new indexes")
        self.kubectl(
            "get",
            "table",
            "orders",
            "-o",
            "custom-columns=NAME:.metadata.name,TABLE:.status.tableStatus,INDEXES:.status.indexes[*].name",
        )
        self.kubectl("get", "events", "--field-selector", "involvedObject.name=orders,reason=StepStarted")

    def autoscaling_capacity(self) -> None:
        """web leaves desiredCapacity to an autoscaler; batch owns its capacity (desiredCapacity: 2)."""
        autoscaling = boto3.client("autoscaling", endpoint_url=self.aws.url, region_name="us-east-1")

        def group(name: str) -> dict[str, Any]:
            found = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])
            return dict(found["AutoScalingGroups"][0])

        console.print(
            "[dim]$ aws autoscaling set-desired-capacity --auto-scaling-group-name default-web "
            '--desired-capacity 4   # "an autoscaler"[/dim]'
        )
        autoscaling.set_desired_capacity(AutoScalingGroupName="default-web", DesiredCapacity=4)
        # batch is paused while its capacity is moved, so the operator's drift check (every 5 s here)
        # cannot put it back before the plan below has seen it
        self.kubectl("annotate", "autoscalinggroup/batch", "awsop.io/paused=true")
        wait_for(
            lambda: self.condition("batch", "Synced", "autoscalinggroup").get("reason") == "Paused",
            "batch paused",
        )
        console.print(
            "[dim]$ aws autoscaling set-desired-capacity --auto-scaling-group-name default-batch "
            "--desired-capacity 1[/dim]"
        )
        autoscaling.set_desired_capacity(AutoScalingGroupName="default-batch", DesiredCapacity=1)
        self.awsop("plan", "-f", str(EXAMPLES / "autoscaling-batch.yaml"), expect=cli.EXIT_CHANGES)
        self.awsop("plan", "-f", str(EXAMPLES / "autoscaling-web.yaml"), expect=cli.EXIT_OK)
        self.kubectl("annotate", "autoscalinggroup/batch", "awsop.io/paused-")
        wait_for(lambda: group("default-batch")["DesiredCapacity"] == 2, "the operator to restore batch")
        time.sleep(6)  # longer than a drift check period: web is checked and left alone
        web = group("default-web")
        console.print(
            f"default-web   desired {web['DesiredCapacity']} (the autoscaler's, left alone)\n"
            f"default-batch desired {group('default-batch')['DesiredCapacity']} (owned by the spec, put back)"
        )
        if web["DesiredCapacity"] != 4:
            raise DemoError("awsop changed capacity that belongs to the autoscaler")
        self.kubectl("get", "autoscalinggroups")
        self.autoscaling_parts(autoscaling, "default-web")

    def autoscaling_parts(self, autoscaling: Any, name: str) -> None:
        """What the web example's one object made of the group in AWS besides the group itself: scaling
        policies, scheduled actions, lifecycle hooks and the warm pool (one read of each, no waiting)."""
        policies = autoscaling.describe_policies(AutoScalingGroupName=name)["ScalingPolicies"]
        actions = autoscaling.describe_scheduled_actions(AutoScalingGroupName=name)[
            "ScheduledUpdateGroupActions"
        ]
        hooks = autoscaling.describe_lifecycle_hooks(AutoScalingGroupName=name)["LifecycleHooks"]
        pool = autoscaling.describe_warm_pool(AutoScalingGroupName=name).get("WarmPoolConfiguration") or {}
        lines = [
            f"{name} in AWS, all from one AutoScalingGroup object (examples/autoscaling-web.yaml):",
            "  scaling policies:  "
            + ", ".join(
                f"{p['PolicyName']} ({p['PolicyType']}"
                + (
                    f", target {p['TargetTrackingConfiguration']['TargetValue']:g})"
                    if p.get("TargetTrackingConfiguration")
                    else ")"
                )
                for p in policies
            ),
            "  scheduled actions: "
            + ", ".join(
                f"{a['ScheduledActionName']} ({a.get('Recurrence', '')} {a.get('TimeZone', '')}, "
                f"minSize {a.get('MinSize')})"
                for a in actions
            ),
            "  lifecycle hooks:   "
            + ", ".join(f"{h['LifecycleHookName']} ({h['LifecycleTransition']})" for h in hooks),
            f"  warm pool:         {pool.get('PoolState', 'none')}, minSize {pool.get('MinSize', 0)}",
        ]
        console.print("\n".join(lines), markup=False)
        if not (policies and actions and hooks and pool):
            raise DemoError(f"{name} lacks a sub-resource its spec declares")
        self.kubectl(
            "get",
            "autoscalinggroup",
            "web",
            "-o",
            "custom-columns=NAME:.metadata.name,POLICIES:.status.scalingPolicies[*].name,"
            "WARM-POOL:.status.warmPool.size",
        )


def main() -> int:
    os.chdir(REPO)  # commands are shown with paths relative to the repository
    with tempfile.TemporaryDirectory(prefix="awsop-demo-") as tmp:
        demo = Demo(Path(tmp))
        try:
            demo.run()
        except DemoError as exc:
            console.print(f"[red bold]demo failed:[/red bold] {exc}")
            log = Path(tmp) / "operator.log"
            if log.exists():
                console.print(log.read_text(errors="replace")[-3000:], markup=False)
            return 1
        finally:
            demo.stop()
    console.print()
    console.print(
        "[green bold]Demo finished:[/green bold] created (a queue and its dead-letter queue by reference), "
        "drift corrected and reported, plan and apply from the CLI, a multi-step table change, "
        "deletion by policy. Everything was stopped."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
