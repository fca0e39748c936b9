"""A real one-node SLURM cluster on this machine, for the tests and for trying ``--profile slurm``.

    python tests/slurm/local_cluster.py start DIR     # install (root), configure, start; prints env
    python tests/slurm/local_cluster.py stop DIR      # stops exactly the daemons ``start`` began

Debian's ``slurm-wlm`` + ``munge`` (22.05), no cgroups, no accounting database. The config, key,
state and logs live under DIR and the daemons listen on free ports, so nothing in /etc is touched.
Two paths are fixed by SLURM itself: munged's socket (/run/munge; a munged already running there
is shared, not replaced) and the configless slurmd's config cache (/run/slurm/conf), which is also
how client commands on the node find the cluster with no ``SLURM_CONF`` — the way Snakemake's
jobstep executor runs its ``srun``, since it drops every SLURM_* variable. ``stop`` removes
/run/slurm when ``start`` created it. The node advertises 8 fake GPUs (``Gres=gpu:h200:8``)
backed by character devices (a regular file drains the node with "gres/gpu count reported lower
than configured (0 < 8)"), so GPU requests schedule exactly as on an H200 node.

Without accounting ``sacct`` cannot see finished jobs: Snakemake's SLURM executor must use
``squeue`` for job status here (``slurm-status-command: squeue``); ``MinJobAge=300`` keeps finished
jobs visible to ``squeue`` for that. Jobs asking more CPUs or memory than the node has would pend
forever, so the node is sized from this machine and requests must fit it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
# Where libmunge and slurmd look with no config: a configless slurmd must authenticate before it
# has a config naming another socket, and caches the fetched config under RUN_DIR/conf.
MUNGE_SOCKET = "/run/munge/munge.socket.2"
RUN_DIR = Path("/run/slurm")
PACKAGES = ("slurm-wlm", "munge")


class Unavailable(RuntimeError):
    """This machine cannot run the cluster (not root, no packages and no way to install them)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_installed() -> None:
    if all(shutil.which(d) or Path(f"/usr/sbin/{d}").exists() for d in DAEMONS):
        return
    if os.geteuid() != 0:
        raise Unavailable("slurm-wlm and munge are not installed and this user is not root to install them")
    if not shutil.which("apt-get"):
        raise Unavailable("slurm-wlm and munge are not installed and there is no apt-get")
    r = subprocess.run(
        ["apt-get", "install", "-y", "-q", *PACKAGES],
        capture_output=True,
        text=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    if r.returncode != 0:
        raise Unavailable(f"apt-get install {' '.join(PACKAGES)} failed: {r.stderr.strip().splitlines()[-1:]}")


def _binary(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


class LocalSlurm:
    """The cluster's files under ``root``; ``start`` and ``stop`` manage its three daemons by PID."""

    def __init__(self, root: str | Path, cpus: int | None = None, mem_mb: int | None = None, gpus: int = 8):
        self.root = Path(root).resolve()
        self.node = socket.gethostname().split(".")[0]
        self.cpus = cpus or os.cpu_count() or 1
        self.mem_mb = mem_mb or int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20 * 0.9)
        self.gpus = gpus
        self.conf = self.root / "slurm.conf"
        self.pids_file = self.root / "pids.json"

    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf)}

    def _write_config(self) -> None:
        r = self.root
        for d in ("state", "spool", "log", "run", "dev"):
            (r / d).mkdir(parents=True, exist_ok=True)
        os.chmod(r, 0o755)
        key = r / "munge.key"
        if not key.exists():
            key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o400)
        for i in range(self.gpus):
            dev = r / "dev" / f"nvidia{i}"
            if not dev.exists():
                os.mknod(dev, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # /dev/null's numbers
        self.ctld_port = _free_port()
        gres = f"Gres=gpu:h200:{self.gpus}" if self.gpus else ""
        self.conf.write_text(f"""\
ClusterName=maya-local
SlurmctldHost={self.node}(127.0.0.1)
SlurmctldPort={self.ctld_port}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool
SlurmctldPidFile={r}/run/slurmctld.pid
SlurmdPidFile={r}/run/slurmd.pid
SlurmctldLogFile={r}/log/slurmctld.log
SlurmdLogFile={r}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MinJobAge=300
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
GresTypes=gpu
SchedulerParameters=sched_interval=2
SlurmctldParameters=enable_configless
NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.mem_mb} {gres} State=UNKNOWN
PartitionName=local Nodes={self.node} Default=YES MaxTime=INFINITE State=UP
""")
        (r / "gres.conf").write_text(
            f"NodeName={self.node} Name=gpu Type=h200 File={r}/dev/nvidia[0-{self.gpus - 1}]\n" if self.gpus else ""
        )

    def start(self, timeout: float = 60) -> LocalSlurm:
        ensure_installed()
        if os.geteuid() != 0:
            raise Unavailable("the local cluster runs its daemons as root (SlurmdUser=root)")
        self._write_config()
        r = self.root
        env = {**os.environ, **self.env()}
        cmds = {
            "munged": [
                _binary("munged"),
                "-F",
                "--force",
                f"--key-file={r}/munge.key",
                f"--socket={MUNGE_SOCKET}",
                f"--pid-file={r}/run/munged.pid",
                f"--log-file={r}/log/munged.log",
                f"--seed-file={r}/run/munged.seed",
            ],
            "slurmctld": [_binary("slurmctld"), "-D", "-i", "-f", str(self.conf)],
            # Configless: slurmd fetches the config from slurmctld and caches it where every client
            # command on the node looks when SLURM_CONF is unset (/run/slurm/conf) — Snakemake's
            # SLURM jobstep executor drops SLURM_* variables, SLURM_CONF included, before its srun.
            "slurmd": [_binary("slurmd"), "-D", "--conf-server", f"127.0.0.1:{self.ctld_port}"],
        }
        if _munge_running():  # a system munged: every daemon and client here then shares it
            del cmds["munged"]
        Path(MUNGE_SOCKET).parent.mkdir(parents=True, exist_ok=True)
        made_run_dir = not RUN_DIR.exists()
        pids = {}
        try:
            for name, cmd in cmds.items():
                log = open(r / "log" / f"{name}.out", "ab")  # noqa: SIM115 (the daemon's stdout)
                pids[name] = subprocess.Popen(
                    cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
                ).pid
                self.pids_file.write_text(json.dumps({"pids": pids, "made_run_dir": made_run_dir}))
                if name == "munged":
                    self._wait(_munge_running, timeout, "munged's socket")
            self._wait(self._node_ready, timeout, f"node {self.node} to become idle")
        except Exception:
            self.stop()
            raise
        return self

    def _node_ready(self) -> bool:
        out = self.run(["sinfo", "-h", "-N", "-o", "%T"], check=False).stdout.strip()
        return out in ("idle", "mixed", "allocated")

    def _wait(self, ok, timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if ok():
                return
            for name, pid in json.loads(self.pids_file.read_text())["pids"].items():
                if not _alive(pid):
                    raise RuntimeError(f"{name} exited; see {self.root / 'log'}: " + self.tail(name))
            time.sleep(0.5)
        raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}; see {self.root / 'log'}")

    def tail(self, name: str, lines: int = 5) -> str:
        text = ""
        for f in (self.root / "log" / f"{name}.log", self.root / "log" / f"{name}.out"):
            if f.exists():
                text += f.read_text(errors="replace")
        return " | ".join(text.strip().splitlines()[-lines:])

    def run(self, cmd: list[str], check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(cmd, capture_output=True, text=True, check=check, env={**os.environ, **self.env()})

    def stop(self) -> None:
        """SIGTERM the daemons this cluster started (slurmd first), then SIGKILL what outlives 10 s."""
        if not self.pids_file.exists():
            return
        state = json.loads(self.pids_file.read_text())
        pids = state["pids"]
        for name in reversed(DAEMONS):
            if name in pids and _alive(pids[name]):
                os.kill(pids[name], signal.SIGTERM)
        end = time.monotonic() + 10
        while time.monotonic() < end and any(_alive(p) for p in pids.values()):
            time.sleep(0.2)
        for p in pids.values():
            if _alive(p):
                os.kill(p, signal.SIGKILL)
        if state["made_run_dir"]:  # slurmd's config cache, which would outlive the cluster
            shutil.rmtree(RUN_DIR, ignore_errors=True)
        self.pids_file.unlink()


def _munge_running() -> bool:
    return subprocess.run(["munge", "-n"], capture_output=True).returncode == 0 if shutil.which("munge") else False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of ours is not alive
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except OSError:
        return False


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=["start", "stop"])
    p.add_argument("dir", help="the cluster's files (config, keys, state, logs)")
    p.add_argument("--cpus", type=int, help="CPUs the node offers (default: this machine's)")
    p.add_argument("--mem-mb", type=int, help="memory the node offers (default: 90 %% of this machine's)")
    p.add_argument("--gpus", type=int, default=8, help="fake GPUs (gres gpu:h200)")
    a = p.parse_args(argv)
    c = LocalSlurm(a.dir, a.cpus, a.mem_mb, a.gpus)
    if a.action == "stop":
        c.stop()
        return 0
    try:
        c.start()
    except Unavailable as e:
        print(f"local SLURM unavailable: {e}", file=sys.stderr)
        return 2
    print(f"export SLURM_CONF={c.conf}")
    print(c.run(["sinfo", "-N", "-o", "%N %T %c %m %G"]).stdout.strip(), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
