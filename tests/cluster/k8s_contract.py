#!/usr/bin/env python3
"""Offline checks of the Kubernetes manifests in jobs/k8s/ (no cluster needed).

    k8s_contract.py validate
    k8s_contract.py run CHLOE [--job JOB] [--workers W]

`validate`: every manifest against the Kubernetes API schemas bundled by
kubernetes-validate (strict: unknown fields are errors), for the oldest
version the manifests need (1.29: backoffLimitPerIndex) and the newest
bundled; then the cross-manifest contract (Indexed completions equal to
--shards, the same claim, mount and OUT in shards and merge, the GPU variant
equal to the CPU one but for its backend and GPU request). A deliberately
broken manifest must fail, so the check is known to bite.

`run`: the Indexed Job contract test, playing the Job controller: the
shards Job's container command runs `completions` times with
JOB_COMPLETION_INDEX=0..N-1 set (at most W at once), with the volume's
mount path replaced by a temporary folder (holding the repository's jobs/
and datasets/) and `chloe` by the CHLOE binary; then the merge Job's
command; then a single `chloe run` of the same job, and the reports are
compared byte for byte (summary.json minus `run`), exit codes too. --job
swaps the job file argument for a smaller one (CI). This is a contract
test, not a cluster test: no scheduler, image or volume plugin is involved.
"""

import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import kubernetes_validate
import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
K8S = REPO / "jobs" / "k8s"
sys.path.insert(0, str(HERE))
from compare_reports import differences  # noqa: E402

# backoffLimitPerIndex and podFailurePolicy's FailIndex are beta from 1.29.
OLDEST = "1.29"


def load(name: str) -> dict:
    """The single resource of jobs/k8s/<name>."""
    docs = [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]
    if len(docs) != 1:
        raise SystemExit(f"{name}: expected one resource, found {len(docs)}")
    return docs[0]


def schema_errors(resource: dict) -> list[str]:
    """Schema violations of one resource at the oldest and newest versions."""
    errors = []
    for version in (OLDEST, kubernetes_validate.utils.latest_version()):
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            where = ".".join(str(p) for p in e.absolute_path) or "(top)"
            errors.append(f"k8s {version}: {where}: {e.message}")
    return errors


def container(job: dict) -> dict:
    """The one container of a Job's pod template."""
    cs = job["spec"]["template"]["spec"]["containers"]
    if len(cs) != 1:
        raise SystemExit(f"job {job['metadata']['name']}: expected one container, found {len(cs)}")
    return cs[0]


def flag(command: list[str], name: str) -> str | None:
    """The value after `name` in a command line, or None."""
    return command[command.index(name) + 1] if name in command else None


def contract_errors(pvc: dict, shards: dict, gpu: dict, merge: dict) -> list[str]:
    """Broken promises between the manifests (empty when they agree)."""
    errs = []
    spec = shards["spec"]
    cmd = container(shards)["command"]
    if spec.get("completionMode") != "Indexed":
        errs.append("shards-job: completionMode must be Indexed (JOB_COMPLETION_INDEX)")
    if str(spec.get("completions")) != flag(cmd, "--shards"):
        errs.append(f"shards-job: completions {spec.get('completions')} != --shards {flag(cmd, '--shards')}")
    if spec.get("parallelism", 1) > spec.get("completions", 1):
        errs.append("shards-job: parallelism exceeds completions")
    if "backoffLimitPerIndex" not in spec:
        errs.append("shards-job: no backoffLimitPerIndex (one shard's retries would fail all)")
    for job in (shards, gpu, merge):
        name = job["metadata"]["name"]
        pod = job["spec"]["template"]["spec"]
        if pod.get("restartPolicy") != "Never":
            errs.append(f"{name}: restartPolicy must be Never (podFailurePolicy, per-index retries)")
        claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod.get("volumes", [])}
        mounts = {m["name"]: m["mountPath"] for m in container(job).get("volumeMounts", [])}
        if set(claims.values()) != {pvc["metadata"]["name"]}:
            errs.append(f"{name}: claims {sorted(claims.values())}, not {pvc['metadata']['name']}")
        if mounts != {n: "/chloe" for n in claims}:
            errs.append(f"{name}: mounts {mounts}; expected the claim at /chloe")
    out = flag(cmd, "--out")
    merge_cmd = container(merge)["command"]
    if merge_cmd[:2] != ["chloe", "merge"] or merge_cmd[2] != out:
        errs.append(f"merge-job: command {merge_cmd} does not merge the shards' --out {out}")
    gpu_cmd = container(gpu)["command"]
    if flag(cmd, "--backend") != "cpu" or flag(gpu_cmd, "--backend") != "gpu":
        errs.append("shards-job must run --backend cpu and shards-job-gpu --backend gpu")
    as_cpu = [("cpu" if a == "gpu" else a) for a in gpu_cmd]
    if as_cpu != cmd or gpu["spec"]["completions"] != spec["completions"]:
        errs.append("shards-job-gpu differs from shards-job in more than the backend")
    limits = container(gpu).get("resources", {}).get("limits", {})
    if str(limits.get("nvidia.com/gpu")) != "1":
        errs.append("shards-job-gpu: no nvidia.com/gpu limit of 1")
    return errs


def validate() -> int:
    manifests = sorted(p.name for p in K8S.glob("*.yaml"))
    failed = 0
    for name in manifests:
        errs = schema_errors(load(name))
        failed += bool(errs)
        print(f"{'FAIL' if errs else 'ok  '} schema {name}")
        for e in errs:
            print(f"     {e}")
    pvc, shards = load("pvc.yaml"), load("shards-job.yaml")
    gpu, merge = load("shards-job-gpu.yaml"), load("merge-job.yaml")
    errs = contract_errors(pvc, shards, gpu, merge)
    failed += bool(errs)
    print(f"{'FAIL' if errs else 'ok  '} contract between the manifests")
    for e in errs:
        print(f"     {e}")
    # The checks must bite: a misspelt field and a wrong completion count fail.
    broken = copy.deepcopy(shards)
    broken["spec"]["backoffLimitPerIndx"] = 2
    bad_count = copy.deepcopy(shards)
    bad_count["spec"]["completions"] = 5
    bites = bool(schema_errors(broken)) and bool(contract_errors(pvc, bad_count, gpu, merge))
    failed += not bites
    print(f"{'ok  ' if bites else 'FAIL'} a broken manifest is rejected")
    print(f"{len(manifests) + 2 - failed} passed, {failed} failed")
    return 1 if failed else 0


def localize(command: list[str], chloe: str, volume: Path, job: str | None) -> list[str]:
    """The container command as it runs here: binary, volume path and job swapped."""
    cmd = [a.replace("/chloe/", f"{volume}/") if a.startswith("/chloe/") else a for a in command]
    if cmd[0] == "chloe":
        cmd[0] = chloe
    if job and "run" in cmd:
        cmd[cmd.index("run") + 1] = str(Path(job).resolve())
    return cmd


def pod_env(c: dict) -> dict:
    """The process environment of a pod of this container, outside a cluster."""
    env = dict(os.environ)
    env.update({e["name"]: str(e["value"]) for e in c.get("env", []) if "value" in e})
    return env


def run(chloe: str, job: str | None, workers: int) -> int:
    shards, merge = load("shards-job.yaml"), load("merge-job.yaml")
    n = int(shards["spec"]["completions"])
    width = min(int(shards["spec"].get("parallelism", 1)), workers)
    sc, mc = container(shards), container(merge)
    with tempfile.TemporaryDirectory(prefix="chloe-k8s-") as tmp:
        volume = Path(tmp) / "volume"
        volume.mkdir()
        for d in ("jobs", "datasets"):
            (volume / d).symlink_to(REPO / d)
        cmd = localize(sc["command"], chloe, volume, job)

        def pod(index: int) -> tuple[int, int, str]:
            env = pod_env(sc) | {"JOB_COMPLETION_INDEX": str(index)}
            p = subprocess.run(cmd, env=env, capture_output=True, text=True)
            return index, p.returncode, p.stderr

        print(f"contract: {n} pods of {shards['metadata']['name']}, {width} at a time: {' '.join(cmd)}")
        with ThreadPoolExecutor(width) as pool:
            results = list(pool.map(pod, range(n)))
        bad = [(i, rc, err) for i, rc, err in results if rc != 0]
        for i, rc, err in bad:
            print(f"FAIL pod JOB_COMPLETION_INDEX={i} exited {rc}:\n{err[-2000:]}")
        if bad:
            return 1
        out = Path(cmd[cmd.index("--out") + 1])
        # Each pod took its own index from JOB_COMPLETION_INDEX: the units' manifests say which.
        writers = {json.loads(m.read_text())["shard"] for m in out.glob("shards/*/manifest.json")}
        expected = {f"{i}/{n}" for i in range(n)}
        if writers != expected:
            print(f"FAIL units written by shards {sorted(writers)}, expected {sorted(expected)}")
            return 1
        mcmd = localize(mc["command"], chloe, volume, job)
        m = subprocess.run(mcmd, env=pod_env(mc), capture_output=True, text=True)
        single = Path(tmp) / "single"
        scmd = [a for a in cmd]
        scmd[scmd.index("--out") + 1] = str(single)
        i = scmd.index("--shards")
        del scmd[i : i + 2]
        s = subprocess.run(scmd, env=pod_env(sc), capture_output=True, text=True)
        print(f"merge exit {m.returncode}, single run exit {s.returncode}")
        if s.returncode not in (0, 1):
            print(f"FAIL single run:\n{s.stderr[-2000:]}")
            return 1
        if m.returncode != s.returncode:
            print(f"FAIL merge exit {m.returncode} != single run exit {s.returncode}:\n{m.stderr[-2000:]}")
            return 1
        problems = differences(single, out)
        for p in problems:
            print(f"  {p}")
        print(f"{'FAIL' if problems else 'ok  '} merged reports of {n} indexed pods equal the single run")
        print(f"{0 if problems else 1} passed, {1 if problems else 0} failed")
        return 1 if problems else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    sub.add_parser("validate", help="schemas and the contract between the manifests")
    r = sub.add_parser("run", help="run the Indexed Job's command per index, merge, compare")
    r.add_argument("chloe", help="the chloe binary")
    r.add_argument("--job", help="job file to run instead of the manifest's")
    r.add_argument("--workers", type=int, default=2, help="pods at once (default 2)")
    a = ap.parse_args()
    if a.what == "validate":
        return validate()
    return run(a.chloe, a.job, a.workers)


if __name__ == "__main__":
    sys.exit(main())
