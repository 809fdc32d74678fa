#!/usr/bin/env python3
"""Fault-injection soak: a small job run many times, one random fault per run.

    benches/soak.py --chloe BIN [--runs 1000] [--max-seconds 3600] [--seed 1]
                    [--job tests/cluster/tiny.toml] [--flows single,sharded]
                    [--kinds sigkill,full_disk,...] [--no-gpu]

The seed plan's "99.9% uptime in simulation", measured: each run picks a flow
(a single `chloe run`, or N = 2..4 shards `chloe run --shard I/N` plus
`chloe merge`) and a fault:

- sigkill:   SIGKILL of a shard, of the merge or of a single run, at a
             random moment of its measured duration;
- full_disk: the output folder on a small tmpfs (root and mount), else
             `ulimit -f` with SIGXFSZ ignored (writes fail with EFBIG);
- readonly:  the output folder read-only (a read-only bind mount as root,
             else chmod), for the shards or the merge;
- corrupt:   a byte flipped, a file truncated or deleted, or a manifest garbled
             in one finished unit under OUT/shards/ (sharded flow);
- gpu_fail:  CHLOE_GPU_FAIL_AFTER_CHUNKS (test hook) with --backend gpu;
- panic:     CHLOE_FAULT_PANIC_FOLD (test hook), a panic in one fold's fit.

Under the fault, every step must succeed or fail cleanly: exit 2 or 3 with an
`error:` line, and no complete-looking folder (a summary.json beside reports
that are not the clean run's; a failed single run leaves no report at all). Then the fault is removed and the run resumed
(the failed shards rerun, skipping verified units; the merge or the single
run again): the reports must be byte-identical to a clean single run
(summary.json minus `run`), with the clean run's exit code. A GPU chunk
failure that falls back to the CPU may instead finish with the fallback
declared in summary.json and the stress within the CPU-GPU tolerance.

Counts printed at the end: runs, faults by kind, faults that made a step fail
(cleanly), recovered, clean failures (still a clear error after the resume),
wrong results (must be 0). Exit 1 when any run was wrong.
"""

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "cluster"))
from compare_reports import differences, files  # noqa: E402

KINDS = ["sigkill", "full_disk", "readonly", "corrupt", "gpu_fail", "panic"]
FLOWS = ["single", "sharded"]
# The stress contract (src/stress/parity.rs): floats within 1e-4.
GPU_TOL = 1e-4


class Wrong(Exception):
    """A wrong result: a report that differs, a partial folder that looks complete, an unclean exit."""


class Step:
    """One finished chloe process."""

    def __init__(self, argv, rc, err, killed=False):
        self.argv, self.rc, self.err, self.killed = argv, rc, err, killed

    def clean_failure(self) -> bool:
        return self.rc in (2, 3) and "error:" in self.err

    def describe(self) -> str:
        tail = "\n".join(self.err.strip().splitlines()[-3:])
        return f"`{' '.join(map(str, self.argv[1:]))}` exit {self.rc}: {tail}"


class Soak:
    def __init__(self, args):
        self.chloe = str(Path(args.chloe).resolve())
        self.job = str(Path(args.job).resolve())
        self.rng = random.Random(args.seed)
        self.root = Path(tempfile.mkdtemp(prefix="chloe-soak-"))
        self.mounts = []
        self.can_mount = self._mount_works()
        self.durations = {}
        self.refs = {}
        # Exit codes of the steps that failed cleanly, by fault kind.
        self.kind = None
        self.exits = Counter()
        self.n_folds = 0

    # ---------------------------------------------------------------- processes
    @staticmethod
    def _mount_works() -> bool:
        """Whether this process may mount a tmpfs (root, and allowed here)."""
        if os.geteuid() != 0 or not shutil.which("mount"):
            return False
        with tempfile.TemporaryDirectory(prefix="chloe-soak-probe-") as probe:
            ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", probe],
                                capture_output=True).returncode == 0
            if ok:
                subprocess.run(["umount", probe], check=True)
        return ok

    def argv_run(self, out, backend, shard=None):
        argv = [self.chloe, "--quiet", "run", self.job, "--out", str(out), "--backend", backend]
        if shard is not None:
            argv += ["--shard", f"{shard[0]}/{shard[1]}"]
        return argv

    def argv_merge(self, out):
        return [self.chloe, "--quiet", "merge", str(out)]

    def step(self, argv, env=None, preexec=None, kill_after=None) -> Step:
        """Runs chloe to its end, or SIGKILLs it after kill_after seconds."""
        e = dict(os.environ)
        e.update(env or {})
        log = self.root / "stderr.log"
        with open(log, "w") as errf:
            p = subprocess.Popen(argv, env=e, stdout=subprocess.DEVNULL, stderr=errf,
                                 preexec_fn=preexec)
            killed = False
            try:
                p.wait(timeout=kill_after if kill_after is not None else 600)
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGKILL)
                p.wait()
                killed = kill_after is not None
                if not killed:
                    raise Wrong(f"hung for 600 s: {' '.join(argv)}")
        err = log.read_text(errors="replace")
        s = Step(argv, p.returncode, err, killed)
        if not killed and s.rc not in (0, 1, 2, 3):
            raise Wrong(f"unclean exit: {s.describe()}")
        if s.rc in (2, 3) and "error:" not in err:
            raise Wrong(f"exit {s.rc} without an error line: {s.describe()}")
        if s.rc in (2, 3) and self.kind:
            self.exits[(self.kind, s.rc)] += 1
        return s

    def timed(self, key, argv):
        t = time.monotonic()
        s = self.step(argv)
        self.durations[key] = max(self.durations.get(key, 0.0), time.monotonic() - t)
        return s

    # ---------------------------------------------------------------- references
    def prepare(self, backends):
        for b in backends:
            ref = self.root / f"ref-{b}"
            s = self.timed(("single", b), self.argv_run(ref, b))
            if s.rc not in (0, 1):
                sys.exit(f"soak: the clean run failed: {s.describe()}")
            self.refs[b] = (ref, s.rc)
        ref, rc = self.refs["cpu"]
        summary = json.loads((ref / "summary.json").read_text())
        self.n_folds = summary["walkforward"]["aggregate"]["n_folds"]
        if "sharded" in self.flows:
            for n in (2, 3, 4):
                out = self.root / f"clean-{n}"
                for i in range(n):
                    s = self.timed(("shard", n), self.argv_run(out, "cpu", (i, n)))
                    if s.rc != 0:
                        sys.exit(f"soak: clean shard {i}/{n} failed: {s.describe()}")
                m = self.timed(("merge", n), self.argv_merge(out))
                if m.rc != rc or differences(ref, out):
                    sys.exit(f"soak: a clean merge of {n} shards differs from the single run: "
                             f"{m.describe()} {differences(ref, out)}")
                shutil.rmtree(out)

    # ---------------------------------------------------------------- checks
    def check_not_complete_looking(self, out, backend, single=False):
        """After a failed step: either no summary.json (the mark of a complete
        folder; a merge moves it in last), or the clean run's reports. A single
        run replaces its folder whole, so it leaves no report file at all."""
        if (out / "summary.json").exists():
            diff = differences(self.refs[backend][0], out)
            if diff:
                raise Wrong(f"failed step left a complete-looking folder {out}: {diff[:3]}")
        elif single and out.exists() and files(out):
            raise Wrong(f"failed single run left reports without summary.json: {sorted(files(out))[:4]}")

    def check_final(self, out, backend, step):
        ref, rc = self.refs[backend]
        if step.rc != rc:
            raise Wrong(f"final exit {step.rc}, clean run {rc}: {step.describe()}")
        diff = differences(ref, out)
        if not diff:
            return "identical"
        if backend == "gpu" and self.gpu_fallback_ok(ref, out, diff):
            return "declared_fallback"
        raise Wrong(f"reports differ from the clean run: {diff[:4]}")

    def gpu_fallback_ok(self, ref, out, diff) -> bool:
        """A declared CPU fallback: only stress files differ, within tolerance."""
        summary = json.loads((out / "summary.json").read_text())
        backend = summary.get("backend", {})
        if "cpu" not in str(backend.get("used", "")) or not backend.get("fallback_reason"):
            return False
        for d in diff:
            if not (d.startswith("bytes differ: stress_") or d.startswith("summary.json differs")):
                return False
        a = json.loads((ref / "summary.json").read_text())["stress"]["scenarios"]
        b = summary["stress"]["scenarios"]
        if len(a) != len(b):
            return False
        for sa, sb in zip(a, b):
            for k, va in sa.items():
                vb = sb.get(k)
                if isinstance(va, float) and isinstance(vb, (int, float)):
                    scale = abs(va) if "terminal" in k else 1.0
                    if abs(va - vb) > GPU_TOL * max(scale, 1e-12):
                        return False
                elif k != "backend" and va != vb:
                    return False
        return True

    # ---------------------------------------------------------------- environments
    def mount_tmpfs(self, where, size):
        where.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=True)
        self.mounts.append(where)

    def mount_readonly(self, where):
        where.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "--bind", str(where), str(where)], check=True)
        self.mounts.append(where)
        subprocess.run(["mount", "-o", "remount,ro,bind", str(where)], check=True)

    def unmount(self, where):
        subprocess.run(["umount", str(where)], check=True)
        self.mounts.remove(where)

    def output_size(self):
        ref = self.refs["cpu"][0]
        return sum((ref / f).stat().st_size for f in files(ref))

    # ---------------------------------------------------------------- one run
    def one(self, kind, flow, n):
        """Runs one faulted run; returns (fault_bit, outcome)."""
        backend = "gpu" if kind == "gpu_fail" else "cpu"
        base = self.root / "run"
        if base.exists():
            shutil.rmtree(base)
        base.mkdir()
        out = base / "out"
        preexec, bit = None, False

        def run_shards(indices, env=None, preexec=None, kill=None):
            failed = []
            for i in indices:
                k = kill.get(i) if kill else None
                s = self.step(self.argv_run(out, backend, (i, n)), env, preexec, k)
                if s.killed or s.rc != 0:
                    if not s.killed and not s.clean_failure():
                        raise Wrong(f"shard failed uncleanly: {s.describe()}")
                    failed.append(i)
            return failed

        try:
            if kind == "sigkill":
                target = self.rng.choice(["single"] if flow == "single" else ["shard", "shard", "merge"])
                if target == "single":
                    # A previous complete folder must survive a killed run.
                    prior = self.rng.random() < 0.5
                    if prior:
                        shutil.copytree(self.refs["cpu"][0], out)
                    t = self.rng.uniform(0, self.durations[("single", "cpu")])
                    s = self.step(self.argv_run(out, backend), kill_after=t)
                    bit = s.killed
                    if s.killed:
                        self.check_not_complete_looking(out, backend, single=True)
                        if prior and not (out / "summary.json").exists():
                            raise Wrong("a killed run removed the previous complete folder")
                    elif s.rc not in (0, 1):
                        raise Wrong(f"unkilled run failed: {s.describe()}")
                    final = self.step(self.argv_run(out, backend))
                    return bit, self.check_final(out, backend, final)
                victim = self.rng.randrange(n)
                kill = None
                if target == "shard":
                    kill = {victim: self.rng.uniform(0, self.durations[("shard", n)])}
                failed = run_shards(range(n), kill=kill)
                bit = bool(failed)
                if target == "merge":
                    t = self.rng.uniform(0, self.durations[("merge", n)])
                    m = self.step(self.argv_merge(out), kill_after=t)
                    bit = m.killed
                    if m.killed:
                        self.check_not_complete_looking(out, backend)
                else:
                    m = self.step(self.argv_merge(out))
                    if failed and m.rc in (0, 1):
                        # Killed after its last unit: the merge must be right all the same.
                        return bit, self.check_final(out, backend, m)
                    if failed:
                        if m.rc != 2:
                            raise Wrong(f"merge with shard {victim} killed exited {m.rc}: {m.describe()}")
                        named = rf"resubmit array indices (\d+,)*{victim}(,\d+)* of {n}\b"
                        if not re.search(named, m.err):
                            raise Wrong(f"merge did not name index {victim}: {m.describe()}")
                        self.check_not_complete_looking(out, backend)
                        run_shards(failed)
                final = self.step(self.argv_merge(out))
                return bit, self.check_final(out, backend, final)

            if kind == "full_disk":
                need = self.output_size() * (1 if flow == "single" else 2)
                size = self.rng.randint(4096, max(8192, need))
                if self.can_mount:
                    self.mount_tmpfs(base / "disk", size)
                    out = base / "disk" / "out"
                else:
                    def preexec():
                        import resource
                        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
                return self.faulted(kind, flow, n, out, backend, {}, preexec,
                                    lambda: self.grow(base / "disk") if self.can_mount else None)

            if kind == "readonly":
                phase = "all" if flow == "single" else self.rng.choice(["shards", "merge"])
                return self.readonly(flow, n, base, out, backend, phase)

            if kind == "panic":
                fold = self.rng.randrange(self.n_folds)
                return self.faulted(kind, flow, n, out, backend,
                                    {"CHLOE_FAULT_PANIC_FOLD": str(fold)}, None, None)

            if kind == "gpu_fail":
                after = self.rng.randrange(0, 4)
                return self.faulted(kind, flow, n, out, backend,
                                    {"CHLOE_GPU_FAIL_AFTER_CHUNKS": str(after)}, None, None)

            if kind == "corrupt":
                run_shards(range(n))
                units = sorted(p for p in (out / "shards").iterdir() if p.is_dir())
                unit = self.rng.choice(units)
                how = self.corrupt(unit)
                m = self.step(self.argv_merge(out))
                bit = m.rc != self.refs[backend][1]
                if m.rc in (0, 1):
                    # The merge accepted the unit: its reports must still be right.
                    return False, self.check_final(out, backend, m)
                if m.rc != 2 or not m.clean_failure():
                    raise Wrong(f"merge of a folder with a {how} unit: {m.describe()}")
                self.check_not_complete_looking(out, backend)
                run_shards(range(n))
                final = self.step(self.argv_merge(out))
                return bit, self.check_final(out, backend, final)
            raise ValueError(kind)
        finally:
            for m in list(reversed(self.mounts)):
                self.unmount(m)

    def grow(self, disk):
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)

    def faulted(self, kind, flow, n, out, backend, env, preexec, relieve):
        """Everything under the fault, then everything again without it."""
        if flow == "single":
            s = self.step(self.argv_run(out, backend), env, preexec)
            if s.rc in (0, 1):
                # The fault did not stop the run (a GPU failure falls back).
                return False, self.check_final(out, backend, s)
            self.check_not_complete_looking(out, backend, single=True)
            if relieve:
                relieve()
            final = self.step(self.argv_run(out, backend))
            return True, self.check_final(out, backend, final)
        failed = []
        for i in range(n):
            s = self.step(self.argv_run(out, backend, (i, n)), env, preexec)
            if s.rc != 0:
                failed.append(i)
        merged = None
        if not failed:
            merged = self.step(self.argv_merge(out), env, preexec)
        bit = bool(failed) or merged.rc not in (0, 1)
        if not bit:
            return False, self.check_final(out, backend, merged)
        self.check_not_complete_looking(out, backend)
        if relieve:
            relieve()
        for i in range(n):
            s = self.step(self.argv_run(out, backend, (i, n)))
            if s.rc != 0:
                return bit, self.clean_end(s, out, backend)
        final = self.step(self.argv_merge(out))
        if final.rc in (2, 3):
            return bit, self.clean_end(final, out, backend)
        return bit, self.check_final(out, backend, final)

    def clean_end(self, s, out, backend):
        """A resume that still fails: fine only when it fails cleanly."""
        if not s.clean_failure():
            raise Wrong(f"resume failed uncleanly: {s.describe()}")
        self.check_not_complete_looking(out, backend)
        return "clean_failure"

    def readonly(self, flow, n, base, out, backend, phase):
        ro = base / "ro"
        target = ro / "out"
        ro.mkdir()
        if phase == "merge":
            for i in range(n):
                s = self.step(self.argv_run(target, backend, (i, n)))
                if s.rc != 0:
                    raise Wrong(f"clean shard failed: {s.describe()}")
        # Root ignores permissions: a read-only bind mount, else chmod (not root).
        if self.can_mount:
            self.mount_readonly(ro)
        else:
            os.chmod(ro, 0o555)
        pre = None
        if flow == "single":
            s = self.step(self.argv_run(target, backend), None, pre)
            steps = [s]
        elif phase == "shards":
            steps = [self.step(self.argv_run(target, backend, (i, n)), None, pre) for i in range(n)]
        else:
            steps = [self.step(self.argv_merge(target), None, pre)]
        bit = any(s.rc not in (0, 1) for s in steps)
        for s in steps:
            if s.rc not in (0, 1) and not s.clean_failure():
                raise Wrong(f"read-only folder: {s.describe()}")
        if bit:
            self.check_not_complete_looking(target, backend, single=flow == "single")
        if self.can_mount:
            self.unmount(ro)
        else:
            os.chmod(ro, 0o755)
        if flow == "single":
            final = self.step(self.argv_run(target, backend))
        else:
            for i in range(n):
                self.step(self.argv_run(target, backend, (i, n)))
            final = self.step(self.argv_merge(target))
        return bit, self.check_final(target, backend, final)

    def corrupt(self, unit: Path) -> str:
        victims = sorted(p for p in unit.rglob("*") if p.is_file())
        how = self.rng.choice(["flip", "truncate", "delete", "manifest", "unit_gone"])
        if how == "unit_gone" or not victims:
            shutil.rmtree(unit)
            return "deleted"
        manifests = [p for p in victims if p.name.startswith("manifest")]
        f = self.rng.choice(manifests if how == "manifest" and manifests else victims)
        data = bytearray(f.read_bytes())
        if how == "delete":
            f.unlink()
        elif how == "truncate":
            f.write_bytes(bytes(data[: self.rng.randrange(len(data))]) if data else b"x")
        elif how == "manifest":
            f.write_bytes(b"{ not json")
        else:
            if not data:
                data = bytearray(b"\0")
            i = self.rng.randrange(len(data))
            data[i] ^= 1 << self.rng.randrange(8)
            f.write_bytes(bytes(data))
        return f"{how} {f.relative_to(unit.parent)}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chloe", required=True, help="chloe binary")
    ap.add_argument("--job", default=str(REPO / "tests" / "cluster" / "tiny.toml"))
    ap.add_argument("--runs", type=int, default=1000, help="stop after this many runs")
    ap.add_argument("--max-seconds", type=float, default=3600, help="stop after this long")
    ap.add_argument("--seed", type=int, default=1, help="seed of the fault choices")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--flows", default=",".join(FLOWS))
    ap.add_argument("--no-gpu", action="store_true", help="no gpu_fail runs (no adapter)")
    a = ap.parse_args()
    kinds = [k for k in a.kinds.split(",") if k]
    flows = [f for f in a.flows.split(",") if f]
    if a.no_gpu and "gpu_fail" in kinds:
        kinds.remove("gpu_fail")
    if "sharded" not in flows and "corrupt" in kinds:
        kinds.remove("corrupt")
    if os.geteuid() == 0 and not Soak._mount_works() and "readonly" in kinds:
        print("soak: root without mount: no read-only folder can be made; readonly skipped")
        kinds.remove("readonly")
    bad = set(kinds) - set(KINDS) or set(flows) - set(FLOWS)
    if bad or not kinds or not flows:
        ap.error(f"unknown or empty --kinds/--flows: {sorted(bad)}")

    soak = Soak(a)
    soak.flows = flows
    # SIGINT or SIGTERM: finish the current run, unmount, print the counts.
    stop = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.append(True))
    started = time.monotonic()
    faults, bit, outcomes, wrong = Counter(), Counter(), Counter(), []
    runs = 0
    try:
        soak.prepare(["cpu", "gpu"] if "gpu_fail" in kinds else ["cpu"])
        print(f"soak: {soak.chloe} on {a.job}; kinds {kinds}, flows {flows}; "
              f"tmpfs/bind mounts {'yes' if soak.can_mount else 'no (ulimit -f, chmod)'}", flush=True)
        while runs < a.runs and time.monotonic() - started < a.max_seconds and not stop:
            kind = soak.rng.choice(kinds)
            flow = "sharded" if kind == "corrupt" else soak.rng.choice(flows)
            n = soak.rng.randint(2, 4) if flow == "sharded" else 1
            runs += 1
            faults[kind] += 1
            soak.kind = kind
            try:
                b, outcome = soak.one(kind, flow, n)
                bit[kind] += b
                outcomes["recovered" if outcome != "clean_failure" else "clean_failure"] += 1
                outcomes[outcome] += 1
            except Wrong as e:
                wrong.append(f"run {runs} ({kind}, {flow}, N={n}): {e}")
                print(f"WRONG {wrong[-1]}", flush=True)
            if runs % 50 == 0:
                print(f"  {runs} runs, {time.monotonic() - started:.0f} s, wrong {len(wrong)}", flush=True)
    finally:
        for m in reversed(soak.mounts):
            subprocess.run(["umount", str(m)])
        shutil.rmtree(soak.root, ignore_errors=True)
    wall = time.monotonic() - started
    if stop:
        print("soak: stopped by a signal")
    print(f"runs: {runs} in {wall:.1f} s ({wall / max(runs, 1):.2f} s per run)")
    print("faults by kind: " + ", ".join(f"{k} {faults[k]} (made a step fail: {bit[k]})" for k in kinds))
    print(f"recovered: {outcomes['recovered']} (identical {outcomes['identical']}, "
          f"declared GPU fallback within tolerance {outcomes['declared_fallback']})")
    print("failed steps by exit code (all with an error line): " + ", ".join(
        f"{k} (exit 2: {soak.exits[(k, 2)]}, exit 3: {soak.exits[(k, 3)]})" for k in kinds))
    print(f"clean failures after the resume: {outcomes['clean_failure']}")
    print(f"wrong results: {len(wrong)}")
    for w in wrong[:20]:
        print(f"  {w}")
    print(f"soak: {runs - len(wrong)} passed, {len(wrong)} failed")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
