"""The `awsop` command: plan and apply manifests without Kubernetes, print CRDs, run the operator.

`awsop plan` exits like terraform's -detailed-exitcode: 0 = nothing to change, 2 = changes planned,
1 = error (invalid manifest, AWS error), so a CI pipeline can gate on it. Objects are found again by
name and ownership tags, never by local state, so plan and apply can run as separate processes. The
one local file is the journal of creates in flight (`--journal`), which lets a run recognise its own
create that was interrupted before the ownership tags were confirmed.

`plan` and `apply` run the set as a dependency graph on `--parallelism` workers (operator/parallel.py):
an object starts once the objects it refers to or names by AWS name are done, and the result is printed
in the stable order (targets first, otherwise file order) whatever the number of workers.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from awsop.reconcilers.account import AccountRef, ResolvedAccount, resolve_account
from awsop.reconcilers.changes import Plan
from awsop.reconcilers.context import ReconcileContext
from awsop.reconcilers.engine import (
    Engine,
    Outcome,
    StartedCreate,
    State,
    dependency_not_ready,
    names_are_global,
)
from awsop.reconcilers.errors import AwsopError, ErrorClass
from awsop.reconcilers.kinds import KINDS
from awsop.reconcilers.policies import ManagementPolicy
from awsop.reconcilers.tag_policy import NO_POLICY, Subject, TagPolicyVerdict, evaluate, policy_errors

from .journal import Journal, JournalError, default_path
from .journal import key as journal_key
from .manifests import (
    AccountManifests,
    Manifest,
    ManifestError,
    PolicyInputs,
    load,
    load_accounts,
    load_policy_inputs,
    parse_namespace_labels,
)
from .parallel import DEFAULT_PARALLELISM, run_in_order
from .progress import RunProgress
from .references import (
    Key,
    dependency_order,
    key_of,
    order_manifests,
    reference_problems,
    resolution_from_outcome,
)
from .settings import Settings

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
ATTEMPTS = 3
"""Reconciles per object in one run: a recoverable failure (throttling, another run's create in transit)
is tried again after a short jittered wait before the run gives up with exit 1."""
RETRY_DELAY = 0.5

out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, soft_wrap=True)


@contextmanager
def _aws(args: argparse.Namespace) -> Iterator[None]:
    if not getattr(args, "embedded_aws", False):
        yield
        return
    from .embedded import EmbeddedAws

    aws = EmbeddedAws(region=os.environ.get("AWS_DEFAULT_REGION", "us-east-1")).start()
    err.print(f"[dim]embedded AWS (moto) listening on {aws.url}[/dim]")
    try:
        yield
    finally:
        aws.stop()


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings()
    overrides: dict[str, Any] = {}
    if getattr(args, "region", None):
        overrides["default_region"] = args.region
    if getattr(args, "cluster_id", None):
        overrides["cluster_id"] = args.cluster_id
    return settings.model_copy(update=overrides) if overrides else settings


def _engine(args: argparse.Namespace) -> Engine:
    from .factory import build_engine

    engine, _clients = build_engine(_settings(args))
    return engine


def _journal(args: argparse.Namespace) -> Journal:
    return Journal(Path(args.journal) if getattr(args, "journal", None) else default_path())


def _check_unique(
    engine: Engine,
    manifests: list[Manifest],
    clients: dict[str, Any],
    account_of: Callable[[Manifest], ResolvedAccount] | None = None,
) -> None:
    """Two objects that would both manage one AWS resource (same account, region and name): reject the
    set, naming both."""
    seen: dict[tuple[str, str, str, str], Manifest] = {}
    problems = []
    for manifest in manifests:
        if manifest.spec.management_policy is ManagementPolicy.OBSERVE_ONLY:
            continue  # watchers never write: any number may look at one resource
        client = clients[manifest.info.kind]
        account = account_of(manifest) if account_of is not None else None
        try:
            target = engine.target(
                client, manifest.ref, manifest.spec, context=ReconcileContext(account=account)
            )
        except AwsopError:
            continue  # reported by its reconcile
        # S3 bucket names are global: one name in two regions (or two accounts) is still one bucket
        global_names = names_are_global(client)
        region = "" if global_names else target.region
        where_account = "" if global_names or account is None else account.account_id or account.name
        first = seen.setdefault((manifest.info.kind, region, where_account, target.aws_name), manifest)
        if first is not manifest:
            where = f" in {region}" if region else ""
            problems.append(
                f"{first.source} {first.ref.kind} {first.ref.namespace}/{first.ref.name} and "
                f"{manifest.source} {manifest.ref.kind} {manifest.ref.namespace}/{manifest.ref.name} "
                f"both manage {manifest.info.kind} {target.aws_name}{where}; remove one, or make one "
                "ObserveOnly"
            )
    if problems:
        raise ManifestError("\n".join(problems), problems)


def _reconcile(
    engine: Engine,
    client: Any,
    manifest: Manifest,
    journal: Journal,
    plan_only: bool,
    context: ReconcileContext,
) -> Outcome:
    """One object, with the journal's create mark and a few tries for recoverable failures."""
    paused = manifest.annotations.get("awsop.io/paused", "").lower() == "true"
    entry = _journal_entry(engine, client, manifest)
    what = f"{manifest.ref.kind} {manifest.ref.namespace}/{manifest.ref.name}"

    def before_create() -> None:
        journal.record(entry, what)

    outcome: Outcome | None = None
    for attempt in range(ATTEMPTS):
        pending = journal.pending(entry) if entry else None
        outcome = engine.reconcile(
            client,
            manifest.ref,
            manifest.spec,
            plan_only=plan_only,
            paused=paused,
            create_pending=pending,
            before_create=before_create if entry else None,
            context=context,
            started_create=StartedCreate.from_record(journal.started(entry)) if entry else None,
        )
        if outcome.ok:
            if entry and not plan_only and outcome.state not in (State.PLANNED, State.PAUSED):
                _settle_journal(journal, entry, manifest, outcome)
            return outcome
        # another run of ours may have recorded its create after this attempt looked at the journal
        raced = outcome.reason == "AlreadyExists" and entry and journal.pending(entry) != pending
        if (outcome.error_class is not ErrorClass.RECOVERABLE and not raced) or _dependency_missing(outcome):
            return outcome  # a missing dependency is tried again after the rest of the run, not here
        if attempt + 1 < ATTEMPTS:
            time.sleep(RETRY_DELAY * 2**attempt * random.uniform(0.5, 1.5))
    assert outcome is not None
    return outcome


def _journal_entry(engine: Engine, client: Any, manifest: Manifest) -> str:
    try:
        target = engine.target(client, manifest.ref, manifest.spec)
    except AwsopError:
        return ""  # invalid for the engine too: its reconcile reports why
    return journal_key(manifest.info.kind, target.region, target.aws_name, target.owner)


def _settle_journal(journal: Journal, entry: str, manifest: Manifest, outcome: Outcome) -> None:
    """After a successful apply: keep the record of a create AWS still runs, else the mark has done its
    job (the create is confirmed ours)."""
    if outcome.started_create is not None:
        what = f"{manifest.ref.kind} {manifest.ref.namespace}/{manifest.ref.name}"
        journal.keep(entry, what, outcome.started_create.as_record())
    else:
        journal.clear(entry)


def _policy_inputs(args: argparse.Namespace) -> PolicyInputs:
    """TagPolicies among the manifests and from --tag-policy; namespace labels from Namespace documents
    among the manifests, overridden by --namespace-labels."""
    inputs = load_policy_inputs([*args.filename, *getattr(args, "tag_policy", [])])
    for namespace, labels in parse_namespace_labels(getattr(args, "namespace_labels", [])).items():
        inputs.namespace_labels.setdefault(namespace, {}).update(labels)
    problems = policy_errors(inputs.policies, KINDS)
    if problems:
        raise ManifestError(
            "; ".join(f"TagPolicy {name}: {', '.join(found)}" for name, found in sorted(problems.items()))
        )
    return inputs


def _verdict(manifest: Manifest, inputs: PolicyInputs, settings: Settings) -> TagPolicyVerdict:
    if not inputs.policies:
        return NO_POLICY
    subject = Subject(
        kind=manifest.info.kind,
        namespace=manifest.ref.namespace,
        name=manifest.ref.name,
        tags=manifest.spec.tags or {},
        namespace_labels=inputs.namespace_labels.get(manifest.ref.namespace, {}),
        management_policy=manifest.spec.management_policy,
    )
    return evaluate(inputs.policies, subject, settings.default_tags)


def _check_policy_conflicts(
    manifests: list[Manifest], verdicts: dict[tuple[str, str, str], TagPolicyVerdict]
) -> None:
    """Conflicting TagPolicy defaults on any object refuse the whole run before its first AWS call:
    applying the others (or that object without the tag) would leave AWS half-tagged."""
    problems = [
        f"{manifest.source}: {manifest.info.kind} {manifest.ref.namespace}/{manifest.ref.name}: TagPolicy "
        f"error: {conflict.explain()}"
        for manifest in manifests
        for conflict in verdicts[key_of(manifest)].conflicts
    ]
    if problems:
        raise ManifestError("\n".join([*problems, "nothing was planned or applied"]), problems)


def _policy_notes(results: list[tuple[Manifest, Outcome]]) -> None:
    """Print what TagPolicies said beyond Deny (which is the object's error): warnings and reports
    (conflicting defaults never get here: `_check_policy_conflicts` refused the run)."""
    skipped: dict[str, None] = {}
    for manifest, outcome in results:
        verdict = outcome.tag_policy
        name = f"{manifest.info.kind} {manifest.ref.namespace}/{manifest.ref.name}"
        others = [v for v in verdict.violations if v not in verdict.denied]
        if others:
            err.print(f"[yellow]warning: {escape(name)}: {escape(verdict.message(others))}[/yellow]")
        for note in verdict.skipped:
            skipped[f"namespace {manifest.ref.namespace}: {note} (see --namespace-labels)"] = None
    for note in skipped:  # once per namespace, not once per object
        err.print(f"[dim]{escape(note)}[/dim]")


def _run(args: argparse.Namespace, plan_only: bool) -> tuple[list[tuple[Manifest, Outcome]], int]:
    manifests = load(args.filename)
    if not manifests:
        raise ManifestError(f"no awsop objects found in {', '.join(args.filename)}")
    order_manifests(manifests)  # cycles and dangling references fail before anything else is read
    problems = reference_problems(manifests)  # e.g. a dead-letter queue of the other type
    if problems:
        raise ManifestError("\n".join(problems), problems)
    found = load_accounts(args.filename)
    chosen = getattr(args, "account", None)
    if chosen and chosen not in found.accounts:
        raise ManifestError(f"--account {chosen}: no AWSAccount of that name in the manifests")
    settings = _settings(args)
    require = settings.require_account
    inputs = _policy_inputs(args)
    engine = _engine(args)
    journal = _journal(args)
    clients: dict[str, Any] = {}  # one client per kind
    for manifest in manifests:
        if manifest.info.kind not in clients:
            clients[manifest.info.kind] = manifest.info.make_client(engine.clients)
    # targets first: of references, and of AWS names a spec names that another manifest manages
    manifests, dependencies = dependency_order(manifests, _aws_names(engine, manifests, clients))
    _check_unique(engine, manifests, clients, lambda m: _account(m, found, chosen, require))
    verdicts = {key_of(m): _verdict(m, inputs, settings) for m in manifests}
    _check_policy_conflicts(manifests, verdicts)
    done: dict[tuple[str, str, str], Outcome] = {}
    show = sys.stderr.isatty() and args.output != "json"
    by_key = {key_of(m): m for m in manifests}
    contexts = {
        key_of(m): ReconcileContext(
            account=_account(m, found, chosen, require), tag_policy=verdicts[key_of(m)]
        )
        for m in manifests
    }
    _prefetch(engine, manifests, clients, contexts)

    def run_one(key: Key) -> Outcome:
        manifest = by_key[key]
        refs = {(manifest.ref.namespace, r.kind, r.name) for r in manifest.spec.references()}
        # a target named by AWS name that failed: the object would only fail against AWS after it
        failed = [d for d in dependencies[key] if d not in refs and not done[d].ok]
        if failed:
            client = clients[manifest.info.kind]
            return _dependency_failed(engine, client, manifest, contexts[key], done[failed[0]])
        context = replace(
            contexts[key],
            references={
                (r.kind, r.name): resolution_from_outcome(r, done[(manifest.ref.namespace, r.kind, r.name)])
                for r in manifest.spec.references()
            },
        )
        client = clients[manifest.info.kind]
        outcome = _reconcile(engine, client, manifest, journal, plan_only, context)
        if not plan_only and getattr(args, "wait", False):
            outcome = _until_settled(engine, client, manifest, outcome, args.timeout, show, context)
            if outcome.ok and (entry := _journal_entry(engine, client, manifest)):
                _settle_journal(journal, entry, manifest, outcome)
        return outcome

    keys = [key_of(m) for m in manifests]
    verb = "planning" if plan_only else "applying"
    with RunProgress(err, len(keys), engine.clients.log, verb, enabled=show) as progress:

        def finished(key: Key, outcome: Outcome) -> None:
            done[key] = outcome
            progress.advance()

        outcomes = run_in_order(keys, dependencies, run_one, args.parallelism, finished)
        # AWS said a resource named by AWS name does not exist yet: try again after the rest of the run
        # (another object of the run may have made it), for as long as each round brings one further
        waiting = [k for k in keys if _dependency_missing(outcomes[k]) and not plan_only]
        while waiting:
            again = run_in_order(
                waiting, dependencies, run_one, args.parallelism, lambda k, o: done.__setitem__(k, o)
            )
            outcomes.update(again)
            still = [k for k in waiting if _dependency_missing(outcomes[k])]
            if len(still) == len(waiting):
                break
            waiting = still
    results = [(manifest, outcomes[key_of(manifest)]) for manifest in manifests]
    _policy_notes(results)
    failed = any(not outcome.ok for _, outcome in results)
    timed_out = getattr(args, "wait", False) and any(o.state is State.PROGRESSING for _, o in results)
    if failed or timed_out:
        return results, EXIT_ERROR
    if plan_only:
        return results, EXIT_CHANGES if any(o.plan.has_changes for _, o in results) else EXIT_OK
    return results, EXIT_OK


def _aws_names(
    engine: Engine, manifests: list[Manifest], clients: dict[str, Any]
) -> dict[tuple[str, str, str], str]:
    """Each manifest's AWS name, as its kind makes it (spec name, else the default for its object)."""
    return {
        key_of(m): clients[m.info.kind].aws_name(
            m.ref, m.spec, engine.config.name_prefix.get(m.info.kind, "")
        )
        for m in manifests
    }


def _prefetch(
    engine: Engine, manifests: list[Manifest], clients: dict[str, Any], contexts: dict[Key, ReconcileContext]
) -> None:
    """Kinds that read many objects in one call (groups and launch templates by 100 names, queue URLs by
    pages of ListQueues) read the whole set ahead, per (account, region), instead of one call each."""
    for kind, client in clients.items():
        objects = [
            (m.ref, m.spec, contexts[key_of(m)])
            for m in manifests
            if m.info.kind == kind and m.annotations.get("awsop.io/paused", "").lower() != "true"
        ]
        engine.prefetch(client, objects)


def _dependency_failed(
    engine: Engine, client: Any, manifest: Manifest, context: ReconcileContext, failed: Outcome
) -> Outcome:
    """The object names (by AWS name) a resource whose own object failed in this run: it is not tried,
    and says which object failed and why."""
    plan = failed.plan
    try:
        target = engine.target(client, manifest.ref, manifest.spec, context=context)
        aws_name, region = target.aws_name, target.region
    except AwsopError:
        aws_name, region = "", manifest.spec.region or ""
    message = f"{plan.kind} {plan.namespace}/{plan.name} failed: {failed.reason}: {failed.message}"
    return dependency_not_ready(
        Plan(manifest.ref.kind, manifest.ref.namespace, manifest.ref.name, aws_name, region, "blocked"),
        message,
    )


def _dependency_missing(outcome: Outcome) -> bool:
    """AWS answered that a resource the spec names by AWS name does not exist (yet)."""
    return outcome.state is State.WAITING and outcome.reason == "DependencyNotReady"


def _until_settled(
    engine: Engine,
    client: Any,
    manifest: Manifest,
    outcome: Outcome,
    timeout: float,
    show: bool,
    context: ReconcileContext,
) -> Outcome:
    """Reconcile again while the resource is busy or has steps left (Ready, Stalled, an error or the
    timeout end it), so one apply converges a multi-step change. The AWS calls of every round add up."""
    deadline = time.monotonic() + timeout
    delay, calls = 0.2, list(outcome.calls)
    while outcome.state is State.PROGRESSING and time.monotonic() < deadline:
        if show:
            err.print(f"[dim]  {manifest.info.kind} {manifest.ref.name}: {escape(outcome.message)}[/dim]")
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 10.0)
        outcome = engine.reconcile(
            client,
            manifest.ref,
            manifest.spec,
            progress=outcome.progress,
            context=context,
            started_create=outcome.started_create,
        )
        calls += outcome.calls
    if outcome.state is State.PROGRESSING:
        outcome.message = f"still in progress after {timeout:.0f}s (--timeout): {outcome.message}"
    outcome.calls = calls
    return outcome


def parse_timeout(text: str) -> float:
    """`90s`, `5m`, `1h` or plain seconds."""
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    raw = text.strip().lower()
    try:
        value = float(raw[:-1]) * units[raw[-1]] if raw and raw[-1] in units else float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use 90s, 5m, 1h)") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("--timeout must be positive")
    return value


def parse_parallelism(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("--parallelism must be at least 1")
    return value


def parse_bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, not {text!r}")


def _account(
    manifest: Manifest, found: AccountManifests, chosen: str | None, require: bool
) -> ResolvedAccount:
    """The object's account as the operator would choose it, from the manifests: spec.accountRef, else
    --account, else its Namespace's annotation; the AWSAccount's grants apply as in the cluster."""
    labels, annotations = found.namespaces.get(manifest.ref.namespace, ({}, {}))
    ref: AccountRef | None = getattr(manifest.spec, "account_ref", None)
    if ref is None and chosen:
        ref = AccountRef(name=chosen)
    account = resolve_account(manifest.ref.namespace, ref, annotations, labels, found.accounts, require)
    if account.denial is not None and account.denial.reason == "AccountNotFound":
        account.denial.message += " among the manifests given (AWSAccount documents are read from -f)"
    return account


@contextmanager
def _null() -> Iterator[None]:
    yield


def cmd_plan(args: argparse.Namespace) -> int:
    if args.output == "env":
        raise ManifestError("plan -o env: use `awsop outputs -f ...` (values of existing resources)")
    results, code = _run(args, plan_only=True)
    if args.output == "json":
        doc = {
            "changes": code == EXIT_CHANGES,
            "objects": [
                {
                    **o.plan.as_dict(),
                    "tagPolicyViolations": [
                        {
                            "policy": v.policy,
                            "enforcement": str(v.enforcement),
                            "key": v.key,
                            "problem": v.problem,
                        }
                        for v in o.tag_policy.violations
                    ],
                    "error": None
                    if o.ok
                    else {"reason": o.reason, "message": o.message, "class": str(o.error_class)},
                }
                for _, o in results
            ],
        }
        print(json.dumps(doc, indent=2, default=str))
        return code
    for _, outcome in results:
        if not outcome.ok:
            out.print(
                f"[red]{outcome.plan.kind} {outcome.plan.namespace}/{outcome.plan.name}: error "
                f"{escape(outcome.reason)}: {escape(outcome.message)}[/red]"
            )
            continue
        for line in outcome.plan.render():
            style = {"+": "green", "~": "yellow", "-": "red"}.get(line.strip()[:1], "bold")
            out.print(f"[{style}]{escape(line)}[/{style}]", markup=True)
    changed = sum(1 for _, o in results if o.plan.has_changes)
    # only writes apply would make: a drifted ObserveOnly object lists changes it never writes
    calls = sum(len(o.plan.calls()) for _, o in results if o.ok and o.plan.has_changes)
    out.print(f"\nPlan: {changed} of {len(results)} objects to change, {calls} AWS write calls.")
    return code


_STATE_STYLE = {
    State.READY: "green",
    State.DRIFTED: "yellow",
    State.STALLED: "red",
    State.ERROR: "red",
    State.PAUSED: "cyan",
    State.NOT_FOUND: "yellow",
    State.PROGRESSING: "yellow",
}


def _table(results: list[tuple[Manifest, Outcome]]) -> Table:
    table = Table(show_edge=False, header_style="bold")
    for column in ("KIND", "NAMESPACE/NAME", "AWS NAME", "REGION", "STATE", "REASON", "AWS CALLS", "DETAIL"):
        table.add_column(column, overflow="fold")
    for manifest, outcome in results:
        style = _STATE_STYLE.get(outcome.state, "")
        table.add_row(
            manifest.info.kind,
            f"{manifest.ref.namespace}/{manifest.ref.name}",
            outcome.plan.aws_name,
            outcome.plan.region,
            f"[{style}]{outcome.state}[/{style}]" if style else str(outcome.state),
            escape(outcome.reason),
            str(len(outcome.calls)),
            escape(outcome.message[:160]),
        )
    return table


def _print_env(results: list[tuple[Manifest, Outcome]], code: int) -> int:
    """spec.outputs as KEY=value lines, the values the operator writes into ConfigMaps and Secrets."""
    from awsop.reconcilers.outputs import ObjectOutputs, env_lines

    declared = [
        ObjectOutputs(
            f"{m.source} {m.info.kind} {m.ref.namespace}/{m.ref.name}",
            m.info.kind,
            tuple(o.values for o in m.spec.outputs or ()),
            o.status,
        )
        for m, o in results
        if m.spec.outputs
    ]
    if not declared:
        err.print("[red]error:[/red] no object in the manifests declares spec.outputs")
        return EXIT_ERROR
    lines, problems = env_lines(declared)
    sys.stdout.write("".join(f"{line}\n" for line in lines))
    for problem in problems:
        err.print(f"[red]error:[/red] {escape(problem)}")
    for m, o in results:
        if not o.ok:
            what = f"{m.info.kind} {m.ref.namespace}/{m.ref.name}"
            err.print(f"[red]{what}: {escape(o.reason)}: {escape(o.message)}[/red]")
    return EXIT_ERROR if problems or code == EXIT_ERROR else EXIT_OK


def cmd_outputs(args: argparse.Namespace) -> int:
    """Reads only: the outputs of resources that exist, from AWS (exit 1 when one has no value)."""
    results, code = _run(args, plan_only=True)
    return _print_env(results, code)


def cmd_apply(args: argparse.Namespace) -> int:
    results, code = _run(args, plan_only=False)
    if args.output == "env":
        return _print_env(results, code)
    if args.output == "json":
        print(
            json.dumps(
                [
                    {
                        **o.plan.as_dict(),
                        "state": str(o.state),
                        "reason": o.reason,
                        "message": o.message,
                        "status": o.status,
                        "progress": o.progress.as_status() if o.progress else None,
                        "awsCalls": o.calls,
                    }
                    for _, o in results
                ],
                indent=2,
                default=str,
            )
        )
        return code
    out.print(_table(results))
    return code


def cmd_crds(args: argparse.Namespace) -> int:
    from .crdgen import all_crds_yaml

    sys.stdout.write(all_crds_yaml())
    return EXIT_OK


def cmd_iam_policy(args: argparse.Namespace) -> int:
    from awsop.reconcilers.kinds import KINDS, iam_policy

    unknown = [k for k in args.kind if k not in KINDS]
    if unknown:
        err.print(f"[red]error:[/red] unknown kind(s): {', '.join(unknown)}; known: {', '.join(KINDS)}")
        return EXIT_ERROR
    policy = iam_policy(args.kind or None)
    if args.assume_role:  # the operator's own role, when AWSAccounts name roles in other accounts
        policy["Statement"].append(
            {
                "Sid": "AwsopAssumeAccountRoles",
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Resource": sorted(set(args.assume_role)),
            }
        )
    if args.event_drift:  # the event queue and rule per (account, region): docs/event-drift.md
        from awsop.reconcilers.events import iam_actions

        policy["Statement"].append(
            {"Sid": "AwsopEventDrift", "Effect": "Allow", "Action": iam_actions(), "Resource": "*"}
        )
    print(json.dumps(policy, indent=2))
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from .operator_main import run_operator

    with _aws(args):
        return run_operator(_settings(args), namespaces=args.namespace, all_namespaces=args.all_namespaces)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="awsop", description="Manage AWS resources declaratively.")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, files: bool = True) -> None:
        if files:
            p.add_argument(
                "-f",
                "--filename",
                action="append",
                required=True,
                metavar="PATH",
                help="manifest file or folder (repeatable; multi-document YAML)",
            )
            p.add_argument(
                "-o",
                "--output",
                choices=("table", "json", "env"),
                default="table",
                help="env: the objects' spec.outputs as KEY=value lines (apply and outputs)",
            )
            p.add_argument(
                "--tag-policy",
                action="append",
                default=[],
                metavar="PATH",
                help="TagPolicy file or folder to enforce (repeatable), besides those among the manifests",
            )
            p.add_argument(
                "--namespace-labels",
                action="append",
                default=[],
                metavar="NS=KEY=VALUE",
                help="a label of namespace NS, for TagPolicy namespace selectors and {namespaceLabel:KEY} "
                "defaults (repeatable)",
            )
        p.add_argument(
            "--embedded-aws", action="store_true", help="start moto's server on 127.0.0.1 in-process"
        )
        p.add_argument("--region", help="default region (overrides AWSOP_DEFAULT_REGION)")
        p.add_argument("--cluster-id", help="ownership identity (overrides AWSOP_CLUSTER_ID)")
        if files:
            p.add_argument(
                "--journal",
                metavar="PATH",
                help="local journal of creates in flight (default: $AWSOP_JOURNAL, else "
                "$XDG_STATE_HOME/awsop/creates.json)",
            )
            p.add_argument(
                "--parallelism",
                type=parse_parallelism,
                default=DEFAULT_PARALLELISM,
                metavar="N",
                help=f"objects worked on at once, in dependency order (default {DEFAULT_PARALLELISM}); "
                "they share one AWS rate limiter per account, region and service",
            )
            p.add_argument(
                "--account",
                metavar="NAME",
                help="AWSAccount (from the manifests) for objects whose spec names none; its role is "
                "assumed with your credentials and its namespace grants apply",
            )

    plan = sub.add_parser(
        "plan", help="show the AWS changes manifests would make (exit 0 none, 2 changes, 1 error)"
    )
    common(plan)
    plan.set_defaults(func=cmd_plan)
    apply = sub.add_parser("apply", help="converge AWS to manifests without Kubernetes")
    common(apply)
    apply.add_argument(
        "--wait",
        type=parse_bool,
        nargs="?",
        const=True,
        default=True,
        metavar="true|false",
        help="keep reconciling each object until it is Ready, Stalled or --timeout passes (default true); "
        "--wait=false returns after the first step of a multi-step change",
    )
    apply.add_argument(
        "--timeout",
        type=parse_timeout,
        default=600.0,
        metavar="DURATION",
        help="how long --wait waits per object (90s, 5m; default 10m)",
    )
    apply.set_defaults(func=cmd_apply)
    outputs = sub.add_parser(
        "outputs", help="print the objects' spec.outputs from AWS as KEY=value lines (reads only)"
    )
    common(outputs)
    outputs.set_defaults(func=cmd_outputs, output="env")
    crds = sub.add_parser("crds", help="print the CustomResourceDefinitions")
    crds.set_defaults(func=cmd_crds)
    iam = sub.add_parser("iam-policy", help="print the least-privilege IAM policy for the kinds")
    iam.add_argument("--kind", action="append", default=[], help="only this kind (repeatable); default all")
    iam.add_argument(
        "--assume-role",
        action="append",
        default=[],
        metavar="ARN",
        help="also allow sts:AssumeRole on this AWSAccount role (repeatable): the operator's own policy",
    )
    iam.add_argument(
        "--event-drift",
        action="store_true",
        help="add the actions of event-driven drift (the event queue and EventBridge rule it owns)",
    )
    iam.set_defaults(func=cmd_iam_policy)
    run = sub.add_parser("run", help="run the operator (kopf)")
    common(run, files=False)
    run.add_argument(
        "-n", "--namespace", action="append", default=[], help="watch this namespace (repeatable)"
    )
    run.add_argument("-A", "--all-namespaces", action="store_true", help="watch the whole cluster (default)")
    run.set_defaults(func=cmd_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with _aws(args) if args.command in ("plan", "apply", "outputs") else _null():
            return int(args.func(args))
    except (ManifestError, JournalError) as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
