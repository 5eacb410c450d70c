#!/usr/bin/env python3
"""Writes a synthetic CRD bundle for benches/kustomize-peer.sh: a kustomization over files of
CustomResourceDefinitions whose openAPIV3Schema is deep (nested objects and arrays of
objects, as controller-gen writes them), with long descriptions (block scalars and long plain
lines), enums, patterns, defaults and validations, until the bundle reaches the size asked.

    python3 benches/kustomize-crds.py OUT_DIR SIZE_MB [SEED]
"""
import random
import sys

WORDS = ("the of a to and is in for that field specifies resource name when this must be "
         "value default which object controller kubernetes pod container set if not will "
         "by an used are spec status reference selector label annotation namespace "
         "replicas template volume secret config map port protocol tls certificate").split()


def sentence(rng, n):
    words = [rng.choice(WORDS) for _ in range(n)]
    words[0] = words[0].capitalize()
    return " ".join(words) + "."


def description(rng, indent):
    """A description as controller-gen writes it: a block scalar, or one long plain line."""
    pad = " " * indent
    kind = rng.random()
    if kind < 0.45:
        lines = [sentence(rng, rng.randint(6, 16)) for _ in range(rng.randint(2, 6))]
        if rng.random() < 0.3:
            lines.insert(1, "Example: `key: value` # not a comment, \"quoted\" and 'single'.")
        body = "\n".join(pad + "  " + l for l in lines)
        return f"{pad}description: |-\n{body}\n"
    text = " ".join(sentence(rng, rng.randint(5, 14)) for _ in range(rng.randint(1, 4)))
    if kind < 0.6:
        # Quoted, with characters that need it.
        text = text.replace(".", ": see #docs.", 1)
        return f'{pad}description: "{text}"\n'
    return f"{pad}description: {text}\n"


def name(rng):
    a, b = rng.choice(WORDS), rng.choice(WORDS)
    return a + b.capitalize() + str(rng.randint(0, 99))


BUDGET = [0]


def schema(rng, indent, depth, out):
    pad = " " * indent
    out.append(description(rng, indent))
    BUDGET[0] -= 1
    if depth <= 0 or BUDGET[0] <= 0 or rng.random() < 0.3:
        leaf = rng.random()
        if leaf < 0.3:
            out.append(f"{pad}type: string\n")
            if rng.random() < 0.3:
                out.append(f"{pad}pattern: ^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]+)*$\n")
            if rng.random() < 0.3:
                out.append(f"{pad}enum:\n" + "".join(f"{pad}- {w.capitalize()}\n" for w in rng.sample(WORDS, 3)))
        elif leaf < 0.5:
            out.append(f"{pad}format: int32\n{pad}type: integer\n")
            if rng.random() < 0.5:
                out.append(f"{pad}default: {rng.randint(0, 600)}\n{pad}minimum: 0\n")
        elif leaf < 0.65:
            out.append(f"{pad}type: boolean\n")
        elif leaf < 0.8:
            out.append(f"{pad}anyOf:\n{pad}- type: integer\n{pad}- type: string\n{pad}x-kubernetes-int-or-string: true\n")
        else:
            out.append(f"{pad}type: object\n{pad}x-kubernetes-preserve-unknown-fields: true\n")
        return
    if rng.random() < 0.3:
        out.append(f"{pad}items:\n")
        schema_object(rng, indent + 2, depth - 1, out)
        out.append(f"{pad}type: array\n")
        if rng.random() < 0.5:
            out.append(f"{pad}x-kubernetes-list-map-keys:\n{pad}- name\n{pad}x-kubernetes-list-type: map\n")
    else:
        schema_object(rng, indent, depth, out, described=True)


def schema_object(rng, indent, depth, out, described=False):
    pad = " " * indent
    if not described:
        out.append(description(rng, indent))
    out.append(f"{pad}properties:\n")
    names = sorted({name(rng) for _ in range(rng.randint(2, 7))} | {"name"})
    for n in names:
        out.append(f"{pad}  {n}:\n")
        schema(rng, indent + 4, depth - 1, out)
    required = rng.sample(names, min(len(names), rng.randint(0, 2)))
    if required:
        out.append(f"{pad}required:\n" + "".join(f"{pad}- {r}\n" for r in sorted(required)))
    out.append(f"{pad}type: object\n")


def crd(rng, i):
    kind = name(rng).capitalize() + f"X{i}"
    plural = kind.lower() + "s"
    group = f"{rng.choice(WORDS)}{i % 7}.bench.example.com"
    out = [
        "apiVersion: apiextensions.k8s.io/v1\n",
        "kind: CustomResourceDefinition\n",
        "metadata:\n",
        "  annotations:\n",
        "    controller-gen.kubebuilder.io/version: v0.16.1\n",
        f"  name: {plural}.{group}\n",
        "spec:\n",
        f"  group: {group}\n",
        "  names:\n",
        f"    kind: {kind}\n",
        f"    listKind: {kind}List\n",
        f"    plural: {plural}\n",
        f"    singular: {kind.lower()}\n",
        "  scope: Namespaced\n",
        "  versions:\n",
    ]
    for v in ("v1alpha1", "v1") if rng.random() < 0.4 else ("v1",):
        # Nodes per version: about 60-150 kB of schema, as large operator CRDs have.
        BUDGET[0] = rng.randint(150, 400)
        out.append(f"  - additionalPrinterColumns:\n")
        out.append(f"    - jsonPath: .status.conditions[?(@.type==\"Ready\")].status\n")
        out.append(f"      name: Ready\n      type: string\n")
        out.append(f"    name: {v}\n    schema:\n      openAPIV3Schema:\n")
        schema_object(rng, 8, rng.randint(6, 9), out)
        out.append(f"    served: true\n    storage: {'true' if v == 'v1' else 'false'}\n")
        out.append("    subresources:\n      status: {}\n")
    return "".join(out)


def main():
    out_dir, size_mb = sys.argv[1], float(sys.argv[2])
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    target = int(size_mb * 1024 * 1024)
    written, files, i = 0, [], 0
    while written < target:
        docs = []
        # Files of about 1 MB, several CRDs each, as in operators' bundles.
        while sum(map(len, docs)) < min(1 << 20, target - written) and written + sum(map(len, docs)) < target:
            docs.append(crd(rng, i))
            i += 1
        text = "---\n".join(docs)
        fname = f"crds-{len(files):03}.yaml"
        with open(f"{out_dir}/{fname}", "w") as f:
            f.write(text)
        files.append(fname)
        written += len(text)
    with open(f"{out_dir}/kustomization.yaml", "w") as f:
        f.write("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n")
        f.write("commonLabels:\n  app.kubernetes.io/part-of: bench\n")
        f.write("resources:\n" + "".join(f"- {n}\n" for n in files))


if __name__ == "__main__":
    main()
