"""`make demo`: the main job on embedded defaults, narrated.

Starts embedded AWS (moto on 127.0.0.1), plans and applies examples/, changes a bucket out of band,
shows the plan detecting the drift, applies again to correct it, and shows the clean plan. Every step
runs the real `awsop` CLI code paths; nothing here is special-cased for the demo.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import boto3
from rich.console import Console
from rich.rule import Rule

from . import cli
from .embedded import EmbeddedAws

console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def step(title: str, command: str) -> None:
    console.print()
    console.print(Rule(f"[bold]{title}[/bold]", align="left"))
    console.print(f"[dim]$ {command}[/dim]")


def run(*args: str) -> int:
    code = cli.main(list(args))
    console.print(f"[dim]exit code {code}[/dim]")
    return code


def main() -> int:
    examples = str(EXAMPLES)
    aws = EmbeddedAws(region="us-east-1").start()
    os.environ.setdefault("AWSOP_CLUSTER_ID", "demo")
    try:
        console.print(f"[bold]awsop demo[/bold]: embedded AWS (moto) at {aws.url}; manifests in {examples}")
        step(
            "1. Plan the examples: everything is to be created (exit 2 = changes)", "awsop plan -f examples/"
        )
        if run("plan", "-f", examples) != cli.EXIT_CHANGES:
            return 1
        step("2. Apply them: buckets are created, tagged and configured", "awsop apply -f examples/")
        if run("apply", "-f", examples) != cli.EXIT_OK:
            return 1
        step("3. Plan again: AWS matches the manifests (exit 0)", "awsop plan -f examples/")
        if run("plan", "-f", examples) != cli.EXIT_OK:
            return 1
        step(
            "4. Someone suspends versioning on default-app-data behind awsop's back",
            "aws s3api put-bucket-versioning --bucket default-app-data "
            "--versioning-configuration Status=Suspended",
        )
        boto3.client("s3", endpoint_url=aws.url).put_bucket_versioning(
            Bucket="default-app-data", VersioningConfiguration={"Status": "Suspended"}
        )
        console.print("done.")
        step("5. The plan detects the drift and names the field (exit 2)", "awsop plan -f examples/")
        if run("plan", "-f", examples) != cli.EXIT_CHANGES:
            return 1
        step("6. Apply corrects it", "awsop apply -f examples/")
        if run("apply", "-f", examples) != cli.EXIT_OK:
            return 1
        step("7. The plan is clean again (exit 0)", "awsop plan -f examples/")
        if run("plan", "-f", examples) != cli.EXIT_OK:
            return 1
        console.print()
        console.print("[green bold]Demo finished:[/green bold] created, detected drift, corrected it.")
        return 0
    finally:
        aws.stop()


if __name__ == "__main__":
    raise SystemExit(main())
