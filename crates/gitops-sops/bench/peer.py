#!/usr/bin/env python3
"""Peer benchmark: `sops -d` against gitops-sops on the same files, encrypted by `sops`.

Decrypts, in one run:
  * one SOPS YAML file with 5,000 values, and
  * a tree of 200 small encrypted Kubernetes Secrets,
with the real `sops` binary and with this crate (the `sops` example, release build), checks the
outputs are byte-identical, and prints times and ratios.

Usage (from the repository root):
    python3 crates/gitops-sops/bench/peer.py

The sops binary is taken from GITOPS_SOPS_BIN, else the test cache (`bash scripts/provision.sh`
installs it), else PATH; keys come from age-keygen (Debian package `age`).
Set CARGO_TARGET_DIR to reuse a build directory, or GITOPS_SOPS_OURS to a built example.
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
RUNS = 10


def find_sops():
    if os.environ.get("GITOPS_SOPS_BIN"):
        return os.environ["GITOPS_SOPS_BIN"]
    cache = os.environ.get("GITOPS_TESTENV_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "gitops-testenv",
    )
    found = sorted(glob.glob(os.path.join(cache, "sops-*", "bin", "sops")))
    if found:
        return found[-1]
    path = shutil.which("sops")
    if path:
        return path
    sys.exit("sops not found: run `bash scripts/provision.sh` or set GITOPS_SOPS_BIN")


def build_ours():
    if os.environ.get("GITOPS_SOPS_OURS"):
        return os.environ["GITOPS_SOPS_OURS"]
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
    subprocess.run(
        ["cargo", "build", "--release", "-q", "-p", "gitops-sops", "--example", "sops"],
        cwd=ROOT,
        check=True,
    )
    return os.path.join(target, "release", "examples", "sops")


def best(cmd, env, runs=RUNS):
    times = []
    out = None
    for _ in range(runs):
        start = time.perf_counter()
        res = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        times.append(time.perf_counter() - start)
        if res.returncode != 0:
            sys.exit(f"{cmd[0]} failed: {res.stderr.decode(errors='replace')[:500]}")
        out = res.stdout
    return min(times), out


def main():
    sops = find_sops()
    ours = build_ours()
    work = tempfile.mkdtemp(prefix="sops-peer-")
    try:
        # A key pair from age-keygen.
        keygen = shutil.which("age-keygen")
        if not keygen:
            sys.exit("age-keygen not found (apt-get install age)")
        key_file = os.path.join(work, "key.txt")
        subprocess.run([keygen, "-o", key_file], check=True, capture_output=True)
        recipient = [l.split(": ")[1] for l in open(key_file) if l.startswith("# public key")][0].strip()
        env = dict(os.environ, SOPS_AGE_KEY_FILE=key_file)
        env.pop("SOPS_AGE_KEY", None)

        # 5,000 values.
        large = os.path.join(work, "large.yaml")
        with open(large, "w") as f:
            f.write("apiVersion: v1\nkind: Secret\nmetadata:\n  name: big\n")
            for s in range(50):
                f.write(f"section{s}:\n")
                for i in range(100):
                    f.write(f"  key{i}: value-{s}-{i}-abcdefghijklmnopqrstuvwxyz\n")
        large_enc = os.path.join(work, "large.enc.yaml")
        with open(large_enc, "wb") as f:
            f.write(subprocess.run([sops, "encrypt", "--age", recipient, large], env=env, check=True,
                                   capture_output=True).stdout)

        # 200 small Secrets in a tree.
        tree = os.path.join(work, "tree")
        files = []
        for i in range(200):
            d = os.path.join(tree, f"ns{i // 20}")
            os.makedirs(d, exist_ok=True)
            plain = os.path.join(work, f"s{i}.yaml")
            with open(plain, "w") as f:
                f.write(f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: s{i}\n  namespace: apps\ntype: Opaque\n"
                        f"stringData:\n  username: user{i}\n  password: pw-{i}-0123456789\n"
                        f"  url: https://db{i}.example.com:5432/app\n")
            enc = os.path.join(d, f"secret-{i}.yaml")
            with open(enc, "wb") as f:
                f.write(subprocess.run([sops, "encrypt", "--encrypted-regex", "^(data|stringData)$",
                                        "--age", recipient, plain], env=env, check=True,
                                       capture_output=True).stdout)
            files.append(enc)

        # Large file.
        t_sops_large, out_sops = best([sops, "decrypt", large_enc], env)
        t_ours_large, out_ours = best([ours, "decrypt", large_enc], env)
        assert out_sops == out_ours, "outputs differ on the large file"

        # Tree: sops -d once per file (how a tool would use it), ours in one process.
        def sops_tree():
            start = time.perf_counter()
            outs = []
            for p in files:
                outs.append(subprocess.run([sops, "decrypt", p], env=env, check=True, capture_output=True).stdout)
            return time.perf_counter() - start, outs

        t_sops_tree, outs = min((sops_tree() for _ in range(2)), key=lambda r: r[0])
        t_ours_tree_proc, _ = best([ours, "decrypt"] + files, env)
        ours_tree_out = subprocess.run([ours, "decrypt"] + files, env=env, check=True, capture_output=True).stdout
        assert b"".join(outs) == ours_tree_out, "outputs differ on the tree"
        in_process, in_process_cpu, second_pass = [], [], []
        for _ in range(3 * RUNS):
            line = subprocess.run([ours, "decrypt-tree", tree], env=env, check=True, capture_output=True).stdout
            fields = line.decode().split(",")
            in_process.append(float(fields[2].split()[0]) / 1000.0)
            in_process_cpu.append(float(fields[3].split()[1]) / 1000.0)
            second_pass.append(float(fields[4].split("/")[1].split()[0]) / 1000.0)
        t_ours_tree_inproc = min(in_process)
        t_ours_tree_cpu = min(in_process_cpu)
        t_ours_tree_again = min(second_pass)

        print(f"sops: {sops}")
        print(f"ours: {ours}")
        print()
        print(f"| case | sops -d | gitops-sops | ratio |")
        print(f"|---|---|---|---|")
        print(f"| 5,000-value YAML (process, best of {RUNS}) | {t_sops_large*1000:.1f} ms | {t_ours_large*1000:.1f} ms | {t_sops_large/t_ours_large:.1f}x |")
        print(f"| 200 Secrets, one process each for sops vs one process for ours | {t_sops_tree*1000:.0f} ms | {t_ours_tree_proc*1000:.1f} ms | {t_sops_tree/t_ours_tree_proc:.0f}x |")
        print(f"| 200 Secrets, in-process (ours, files already read, best of {3 * RUNS}) | - | {t_ours_tree_inproc*1000:.1f} ms wall, {t_ours_tree_cpu*1000:.1f} ms CPU | goal < 50 ms |")
        print(f"| 200 Secrets, in-process, next pass of the same SopsDecryptor (data keys remembered) | - | {t_ours_tree_again*1000:.1f} ms | |")
        print()
        print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (wall times grow with it)")
        print()
        print("outputs byte-identical: yes")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
