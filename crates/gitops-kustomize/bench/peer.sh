#!/usr/bin/env bash
# Peer benchmark: gitops-kustomize against `kubectl kustomize` on generated repositories.
#
#   crates/gitops-kustomize/bench/peer.sh [N ...]        (default: 50 100 200 400)
#
# For each N it writes a repository of N apps (a base with a Deployment, a Service, an HPA and a
# configMapGenerator; two overlays with namespace, namePrefix, labels, images, replicas, a
# secretGenerator, a component, a strategic-merge patch and a JSON 6902 patch), builds its root
# (which lists every overlay) once with each tool, checks the outputs are byte-identical and
# prints wall time and peak memory (/usr/bin/time -v).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
workspace="$(cd "$here/../../.." && pwd)"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(50 100 200 400)

command -v kubectl >/dev/null || { echo "kubectl is required" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time is required (apt-get install time)" >&2; exit 1; }

if [ -n "${OURS:-}" ]; then
    ours="$OURS" # a prebuilt `kustomize-build` example binary
else
    echo "building the release example..." >&2
    (cd "$workspace" && cargo build --release -q -p gitops-kustomize --example kustomize-build)
    target_dir="${CARGO_TARGET_DIR:-$workspace/target}"
    ours="$target_dir/release/examples/kustomize-build"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

generate() { # generate DIR N
    local root="$1" n="$2" i env
    mkdir -p "$root/components/probes"
    cat >"$root/components/probes/kustomization.yaml" <<'EOF'
apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
patches:
- target:
    kind: Deployment
  patch: |-
    - op: add
      path: /spec/template/spec/containers/0/readinessProbe
      value:
        httpGet:
          path: /healthz
          port: 8080
EOF
    {
        echo "resources:"
        for ((i = 0; i < n; i++)); do
            echo "- apps/app$i/overlays/staging"
            echo "- apps/app$i/overlays/production"
        done
    } >"$root/kustomization.yaml"
    for ((i = 0; i < n; i++)); do
        local app="$root/apps/app$i"
        mkdir -p "$app/base"
        cat >"$app/base/kustomization.yaml" <<EOF
resources:
- deployment.yaml
- service.yaml
- hpa.yaml
configMapGenerator:
- name: app$i-config
  literals:
  - LOG_LEVEL=info
  - FEATURE_$i=enabled
  files:
  - settings.json
EOF
        printf '{"app": "app%d", "replicas": 2, "endpoints": ["a", "b"]}\n' "$i" >"$app/base/settings.json"
        cat >"$app/base/deployment.yaml" <<EOF
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app$i
  labels:
    app: app$i
spec:
  replicas: 1
  selector:
    matchLabels:
      app: app$i
  template:
    metadata:
      labels:
        app: app$i
    spec:
      containers:
      - name: app
        image: registry.example.com/team/app$i:1.0.0
        ports:
        - containerPort: 8080
        envFrom:
        - configMapRef:
            name: app$i-config
        env:
        - name: TOKEN
          valueFrom:
            secretKeyRef:
              name: app$i-secret
              key: token
        resources:
          requests:
            cpu: 100m
            memory: 128Mi
EOF
        cat >"$app/base/service.yaml" <<EOF
apiVersion: v1
kind: Service
metadata:
  name: app$i
spec:
  selector:
    app: app$i
  ports:
  - port: 80
    targetPort: 8080
EOF
        cat >"$app/base/hpa.yaml" <<EOF
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: app$i
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: app$i
  minReplicas: 1
  maxReplicas: 10
  metrics:
  - type: Resource
    resource:
      name: cpu
      target:
        type: Utilization
        averageUtilization: 80
EOF
        for env in staging production; do
            local ov="$app/overlays/$env"
            mkdir -p "$ov"
            cat >"$ov/kustomization.yaml" <<EOF
resources:
- ../../base
namespace: $env
namePrefix: $env-
labels:
- pairs:
    environment: $env
    team: team$((i % 7))
  includeSelectors: true
images:
- name: registry.example.com/team/app$i
  newTag: 1.0.$((i % 13))-$env
replicas:
- name: app$i
  count: $([ "$env" = production ] && echo 3 || echo 1)
secretGenerator:
- name: app$i-secret
  literals:
  - token=$env-token-$i
components:
- ../../../../components/probes
patches:
- path: resources.yaml
- target:
    kind: HorizontalPodAutoscaler
  patch: |-
    - op: replace
      path: /spec/maxReplicas
      value: $([ "$env" = production ] && echo 20 || echo 4)
EOF
            cat >"$ov/resources.yaml" <<EOF
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app$i
spec:
  template:
    spec:
      containers:
      - name: app
        resources:
          limits:
            memory: $([ "$env" = production ] && echo 512Mi || echo 256Mi)
EOF
        done
    done
}

measure() { # measure OUT TIMEFILE cmd...
    local out="$1" tf="$2"
    shift 2
    /usr/bin/time -v -o "$tf" "$@" >"$out"
}

field() { # field TIMEFILE "Label"
    grep "$2" "$1" | awk -F': ' '{print $2}'
}

seconds() { # m:ss.xx or h:mm:ss -> seconds
    awk -F: '{ if (NF == 3) print $1 * 3600 + $2 * 60 + $3; else print $1 * 60 + $2 }' <<<"$1"
}

printf '| N apps | objects | kubectl kustomize | peak RSS | gitops-kustomize | peak RSS | speed-up | identical |\n'
printf '|---:|---:|---:|---:|---:|---:|---:|:---:|\n'
for n in "${sizes[@]}"; do
    repo="$work/repo$n"
    generate "$repo" "$n"
    measure "$work/ref.yaml" "$work/ref.time" kubectl kustomize "$repo"
    measure "$work/ours.yaml" "$work/ours.time" "$ours" "$repo"
    same=yes
    cmp -s "$work/ref.yaml" "$work/ours.yaml" || same=NO
    objects=$(grep -c '^kind: ' "$work/ref.yaml")
    rt=$(seconds "$(field "$work/ref.time" 'Elapsed (wall clock)')")
    ot=$(seconds "$(field "$work/ours.time" 'Elapsed (wall clock)')")
    rm_kb=$(field "$work/ref.time" 'Maximum resident set size')
    om_kb=$(field "$work/ours.time" 'Maximum resident set size')
    speedup=$(awk -v a="$rt" -v b="$ot" 'BEGIN { if (b > 0) printf "%.0fx", a / b; else print "-" }')
    printf '| %d | %d | %.2f s | %d MiB | %.3f s | %d MiB | %s | %s |\n' \
        "$n" "$objects" "$rt" $((rm_kb / 1024)) "$ot" $((om_kb / 1024)) "$speedup" "$same"
    if [ "$same" != yes ]; then
        diff "$work/ref.yaml" "$work/ours.yaml" | head -20 >&2
    fi
done
