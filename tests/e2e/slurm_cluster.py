"""A real single-node Slurm cluster on loopback, started and stopped by the tests themselves.

Everything lives in one private directory: a fresh MUNGE key and its own `munged` (own socket,
pid, log and seed files), a generated slurm.conf (SlurmctldHost=localhost(127.0.0.1), free
loopback ports, no cgroup plugins, no accounting), `slurmctld -D` and `slurmd -D -N localhost`
as children of the test process. Clients find the cluster through SLURM_CONF (see `env()`); the
MUNGE socket reaches Slurm through `AuthInfo=socket=...` in slurm.conf, which Slurm 22.05 uses
for both auth/munge and cred/munge, so no system munged or /etc/slurm is involved.

Use from a test module (or a conftest.py):

    from slurm_cluster import slurm_cluster_fixture
    slurm_cluster = slurm_cluster_fixture()          # session-scoped pytest fixture

    def test_x(slurm_cluster, tmp_path):
        job = slurm_cluster.submit(None, "--wrap=hostname", "-o", str(tmp_path / "%j.out"))
        assert slurm_cluster.wait_for(job) == {job: "COMPLETED"}

or without pytest: `with SlurmCluster(workdir) as c: ...`.

If the Slurm/MUNGE binaries are not installed the fixture skips; if they are installed but the
daemons do not come up, the fixture fails with the daemon logs in the message (CI must see it).
Nothing is deleted on stop(): configs, logs and state stay in `cluster.root` for inspection.
"""

import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sinfo", "sbatch", "squeue", "scontrol", "scancel")
SBIN_DIRS = ("/usr/sbin", "/sbin", "/usr/local/sbin")

# Job states after which a job (or array task) will not run again.
TERMINAL_STATES = frozenset((
    "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "OUT_OF_MEMORY",
    "BOOT_FAIL", "DEADLINE", "SPECIAL_EXIT", "REVOKED",
))


class SlurmClusterError(RuntimeError):
    """The cluster could not be started or a command against it failed."""


def find_binary(name):
    path = shutil.which(name)
    if path:
        return path
    for d in SBIN_DIRS:
        cand = os.path.join(d, name)
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    return None


def missing_binaries():
    """Names of the Slurm/MUNGE programs the harness needs that are not installed."""
    return [n for n in DAEMONS + CLIENTS if find_binary(n) is None]


def _free_loopback_ports(count):
    socks, ports = [], []
    try:
        while len(ports) < count:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def _tail(path, lines=40):
    try:
        with open(path, "r", errors="replace") as f:
            data = f.readlines()
    except OSError as e:
        return "  <%s>\n" % e
    return "".join("  " + line for line in data[-lines:]) or "  <empty>\n"


def _available_memory_mb():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return 2048


class SlurmCluster:
    """One slurmctld + one slurmd (node `localhost`, partition `debug`, two stand-in GPUs
    without CUDA devices) + a private munged."""

    def __init__(self, root=None, start_timeout=60.0, node_name="localhost", partition="debug"):
        self.root = os.path.abspath(root) if root else tempfile.mkdtemp(prefix="slurm-cluster-")
        self.start_timeout = start_timeout
        self.node_name = node_name
        self.partition = partition
        self.gpus = 2  # stand-in GRES (see _write_conf)
        self.conf_path = os.path.join(self.root, "etc", "slurm.conf")
        self.log_dir = os.path.join(self.root, "log")
        self.state_dir = os.path.join(self.root, "state")
        self.spool_dir = os.path.join(self.root, "spool")
        self.run_dir = os.path.join(self.root, "run")
        self.munge_dir = os.path.join(self.root, "munge")
        self.munge_socket = os.path.join(self.munge_dir, "munge.socket")
        self.munge_key = os.path.join(self.munge_dir, "munge.key")
        self.ctld_port = self.slurmd_port = None
        self._procs = {}  # name -> Popen, in start order
        self._out_files = []
        self._started = False
        self._stopped = False

    # ---------------------------------------------------------------- environment / commands

    def env(self, extra=None):
        """Environment for Slurm clients talking to this cluster (and for submitted jobs)."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SLURM_", "SBATCH_", "SALLOC_", "SRUN_", "SQUEUE_", "SINFO_"))}
        env["SLURM_CONF"] = self.conf_path
        if extra:
            env.update(extra)
        return env

    def run(self, cmd, check=True, timeout=30, env=None, **kwargs):
        """Run a client command (list, or string for the shell) against this cluster."""
        res = subprocess.run(cmd, shell=isinstance(cmd, str), env=self.env(env),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, text=True, timeout=timeout, **kwargs)
        if check and res.returncode != 0:
            raise SlurmClusterError("command failed (exit %d): %s\nstdout: %s\nstderr: %s"
                                    % (res.returncode, cmd, res.stdout.strip(), res.stderr.strip()))
        return res

    def submit(self, script, *args, script_args=(), cwd=None, env=None):
        """sbatch --parsable [args] [script [script_args]]; returns the job id as a string.

        `script` may be None when args contain --wrap. The job inherits env() (plus `env`);
        its working directory is `cwd` (default: the cluster root)."""
        cmd = ["sbatch", "--parsable"] + [str(a) for a in args]
        if script is not None:
            cmd += [str(script)] + [str(a) for a in script_args]
        res = self.run(cmd, cwd=cwd or self.root, env=env)
        job_id = res.stdout.strip().splitlines()[-1].split(";")[0]
        if not job_id.isdigit():
            raise SlurmClusterError("sbatch printed no job id: %r %r" % (res.stdout, res.stderr))
        return job_id

    def jobs(self, job_id):
        """Parsed `scontrol -o show job ID` records (one dict per job / array task)."""
        res = self.run(["scontrol", "-o", "show", "job", str(job_id)], check=False)
        if res.returncode != 0:
            raise SlurmClusterError("scontrol show job %s failed: %s %s"
                                    % (job_id, res.stdout.strip(), res.stderr.strip()))
        records = []
        for line in res.stdout.splitlines():
            if not line.strip():
                continue
            rec = {}
            for m in re.finditer(r"(\w[\w:/]*)=(\S*)", line):
                rec.setdefault(m.group(1), m.group(2))
            records.append(rec)
        return records

    @staticmethod
    def _key(rec):
        task = rec.get("ArrayTaskId")
        if task and rec.get("ArrayJobId"):
            return "%s_%s" % (rec["ArrayJobId"], task)
        return rec.get("JobId", "?")

    def states(self, job_id):
        """{job id or 'arrayjob_task': JobState} right now."""
        return {self._key(r): r.get("JobState", "?") for r in self.jobs(job_id)}

    def wait_for(self, job_id, timeout=60, poll=0.25):
        """Wait until the job (every task of an array) is finished; return states().

        Keys are the job id for a plain job, 'ARRAYJOB_TASK' for array tasks."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            last = self.states(job_id)
            if last and all(s in TERMINAL_STATES for s in last.values()):
                return last
            if time.monotonic() > deadline:
                raise SlurmClusterError("job %s not finished after %ss: %s\n%s"
                                        % (job_id, timeout, last, self.logs(lines=20)))
            self._check_alive()
            time.sleep(poll)

    def wait_for_state(self, job_id, state, timeout=30, poll=0.2):
        """Wait until every record of the job is in `state` (e.g. RUNNING)."""
        deadline = time.monotonic() + timeout
        while True:
            st = self.states(job_id)
            if st and all(s == state for s in st.values()):
                return st
            if time.monotonic() > deadline:
                raise SlurmClusterError("job %s not %s after %ss: %s" % (job_id, state, timeout, st))
            time.sleep(poll)

    # ---------------------------------------------------------------- start

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        missing = missing_binaries()
        if missing:
            raise SlurmClusterError("Slurm/MUNGE programs not installed: %s" % ", ".join(missing))
        if self._started:
            return self
        self._started = True
        atexit.register(self.stop)
        try:
            self._make_dirs()
            self._start_munged()
            for attempt in (1, 2):
                self._write_conf()
                self._spawn("slurmctld", [find_binary("slurmctld"), "-D", "-c",
                                          "-f", self.conf_path])
                self._spawn("slurmd", [find_binary("slurmd"), "-D", "-N", self.node_name,
                                       "-f", self.conf_path])
                try:
                    self._wait_idle()
                    break
                except SlurmClusterError:
                    # The free ports were picked, then released: another process may have
                    # taken one in between. Retry once with fresh ports in that case only.
                    if attempt == 2 or "Address already in use" not in self.logs(lines=200):
                        raise
                    self._stop_proc("slurmd")
                    self._stop_proc("slurmctld")
        except Exception as e:
            msg = "Slurm test cluster in %s failed to start: %s\n%s" % (self.root, e, self.logs())
            self.stop()
            raise SlurmClusterError(msg) from None
        return self

    def _make_dirs(self):
        for d in (os.path.dirname(self.conf_path), self.log_dir, self.state_dir,
                  self.spool_dir, self.run_dir):
            os.makedirs(d, mode=0o755, exist_ok=True)
        # munged wants a socket directory only its owner can write (0711 so job users can reach
        # the socket); AF_UNIX paths max out at 107 bytes.
        if len(self.munge_socket) > 100:
            self.munge_dir = tempfile.mkdtemp(prefix="munge-")
            self.munge_socket = os.path.join(self.munge_dir, "munge.socket")
            self.munge_key = os.path.join(self.munge_dir, "munge.key")
        os.makedirs(self.munge_dir, mode=0o711, exist_ok=True)
        os.chmod(self.munge_dir, 0o711)

    def _start_munged(self):
        fd = os.open(self.munge_key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(1024))
        os.chmod(self.munge_key, 0o400)
        self._spawn("munged", [
            find_binary("munged"), "--foreground", "--force",
            "--socket=" + self.munge_socket,
            "--key-file=" + self.munge_key,
            "--pid-file=" + os.path.join(self.munge_dir, "munged.pid"),
            "--log-file=" + os.path.join(self.log_dir, "munged.log"),
            "--seed-file=" + os.path.join(self.munge_dir, "munged.seed"),
            "--num-threads=2",
        ])
        deadline = time.monotonic() + 15
        munge, unmunge = find_binary("munge"), find_binary("unmunge")
        while True:
            self._check_alive()
            if os.path.exists(self.munge_socket):
                if not (munge and unmunge):
                    return
                cred = subprocess.run([munge, "-n", "-S", self.munge_socket], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=10)
                if cred.returncode == 0:
                    dec = subprocess.run([unmunge, "-S", self.munge_socket], input=cred.stdout,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
                    if dec.returncode == 0:
                        return
            if time.monotonic() > deadline:
                raise SlurmClusterError("munged socket %s not usable after 15 s" % self.munge_socket)
            time.sleep(0.1)

    def _node_hardware(self):
        """Sockets/cores/threads as slurmd itself detects them, so the node is never drained for
        'Low socket*core*thread count'; falls back to CPUs=nproc."""
        cpus = os.cpu_count() or 1
        hw = "CPUs=%d" % cpus
        try:
            res = subprocess.run([find_binary("slurmd"), "-C"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                                 timeout=20)
            fields = dict(re.findall(r"(\w+)=(\S+)", res.stdout.splitlines()[0]))
            keys = ("CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket", "ThreadsPerCore")
            if res.returncode == 0 and all(k in fields for k in keys):
                hw = " ".join("%s=%s" % (k, fields[k]) for k in keys)
                cpus = int(fields["CPUs"])
        except (OSError, IndexError, ValueError, subprocess.SubprocessError):
            pass
        return hw, cpus

    def _write_conf(self):
        self.ctld_port, self.slurmd_port = _free_loopback_ports(2)
        hw, self.cpus = self._node_hardware()
        mem_mb = max(256, min(4096, _available_memory_mb() // 2))
        plugstack = os.path.join(os.path.dirname(self.conf_path), "plugstack.conf")
        open(plugstack, "w").close()  # keep /etc/slurm/plugstack.conf.d out of our jobs
        lines = [
            "# generated by tests/e2e/slurm_cluster.py",
            "ClusterName=h5prune-test",
            "SlurmctldHost=localhost(127.0.0.1)",
            "SlurmctldPort=%d" % self.ctld_port,
            "SlurmdPort=%d" % self.slurmd_port,
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            "AuthInfo=socket=%s" % self.munge_socket,
            "StateSaveLocation=%s" % self.state_dir,
            "SlurmdSpoolDir=%s" % self.spool_dir,
            "SlurmctldPidFile=%s" % os.path.join(self.run_dir, "slurmctld.pid"),
            "SlurmdPidFile=%s" % os.path.join(self.run_dir, "slurmd.pid"),
            "SlurmctldLogFile=%s" % os.path.join(self.log_dir, "slurmctld.log"),
            "SlurmdLogFile=%s" % os.path.join(self.log_dir, "slurmd.log"),
            "SlurmctldDebug=info",
            "SlurmdDebug=info",
            "PlugStackConfig=%s" % plugstack,
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/none",
            "SwitchType=switch/none",
            "MpiDefault=none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_CPU",
            "SchedulerType=sched/backfill",
            "SchedulerParameters=batch_sched_delay=0",
            "ReturnToService=2",
            "MailProg=/bin/true",
            "KillWait=5",
            "MinJobAge=600",
            "InactiveLimit=0",
            "SlurmdTimeout=120",
            "SlurmctldTimeout=120",
            # Two GPUs whose "device files" are /dev/null and /dev/zero (gres.conf), so that
            # scripts asking for --gpus-per-task or --gres=gpu are accepted and scheduled; jobs
            # get CUDA_VISIBLE_DEVICES but no CUDA device, so h5prune runs on the CPU.
            "GresTypes=gpu",
            "NodeName=%s NodeAddr=127.0.0.1 NodeHostname=%s %s RealMemory=%d Gres=gpu:%d State=UNKNOWN"
            % (self.node_name, self.node_name, hw, mem_mb, self.gpus),
            "PartitionName=%s Nodes=%s Default=YES MaxTime=INFINITE State=UP"
            % (self.partition, self.node_name),
        ]
        with open(self.conf_path, "w") as f:
            f.write("\n".join(lines) + "\n")
        with open(os.path.join(os.path.dirname(self.conf_path), "gres.conf"), "w") as f:
            f.write("AutoDetect=off\n" + "".join("NodeName=%s Name=gpu File=%s\n" % (self.node_name, dev) for dev in ("/dev/null", "/dev/zero")[:self.gpus]))

    def _spawn(self, name, argv):
        out_path = os.path.join(self.log_dir, name + ".stdout")
        out = open(out_path, "ab")
        self._out_files.append(out)
        env = self.env()
        self._procs[name] = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, env=env, cwd=self.root,
                                             start_new_session=True)

    def _check_alive(self):
        for name, p in self._procs.items():
            rc = p.poll()
            if rc is not None:
                raise SlurmClusterError("%s exited with status %s" % (name, rc))

    def _wait_idle(self):
        deadline = time.monotonic() + self.start_timeout
        last = ""
        while True:
            self._check_alive()
            res = self.run(["sinfo", "-h", "-N", "-n", self.node_name, "-o", "%T"],
                           check=False, timeout=15)
            last = (res.stdout + res.stderr).strip()
            if res.returncode == 0 and res.stdout.strip() == "idle":
                return
            if time.monotonic() > deadline:
                raise SlurmClusterError("node %s not idle after %ss (last sinfo: %r)"
                                        % (self.node_name, self.start_timeout, last))
            time.sleep(0.25)

    # ---------------------------------------------------------------- stop / diagnostics

    def logs(self, lines=40):
        """Tails of every daemon log, for assertion messages."""
        parts = []
        for name in ("munged.log", "munged.stdout", "slurmctld.log", "slurmctld.stdout",
                     "slurmd.log", "slurmd.stdout"):
            path = os.path.join(self.log_dir, name)
            if os.path.exists(path):
                parts.append("--- %s (last %d lines)\n%s" % (path, lines, _tail(path, lines)))
        return "".join(parts) or "(no daemon logs in %s)\n" % self.log_dir

    def _stray_pids(self):
        """Processes started through this cluster (slurmstepd, job scripts and their children):
        slurmd, sbatch and jobs all carry SLURM_CONF=<our conf> in their environment."""
        marker = ("SLURM_CONF=" + self.conf_path).encode()
        ours = {p.pid for p in self._procs.values()}
        skip = {os.getpid(), os.getppid()}
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            pid = int(entry)
            if pid in skip or pid in ours:
                continue
            try:
                with open("/proc/%d/environ" % pid, "rb") as f:
                    if marker in f.read().split(b"\0"):
                        pids.append(pid)
            except OSError:
                continue
        return pids

    @staticmethod
    def _kill_pids(pids, timeout):
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        alive = list(pids)
        while alive and time.monotonic() < deadline:
            time.sleep(0.1)
            alive = [p for p in alive if os.path.exists("/proc/%d" % p)
                     and not _is_zombie(p)]
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def _stop_proc(self, name, timeout=10):
        p = self._procs.get(name)
        if p is None or p.poll() is not None:
            return
        p.terminate()
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)

    def stop(self):
        """Cancel leftover jobs, then stop slurmd, slurmctld and munged (TERM, KILL after a
        timeout). Idempotent; deletes nothing."""
        if self._stopped or not self._started:
            return
        self._stopped = True
        try:
            ctld = self._procs.get("slurmctld")
            if ctld is not None and ctld.poll() is None and os.path.exists(self.conf_path):
                try:
                    res = self.run(["squeue", "-h", "-o", "%A"], check=False, timeout=10)
                    ids = sorted(set(res.stdout.split()))
                    if ids:
                        self.run(["scancel"] + ids, check=False, timeout=10)
                        deadline = time.monotonic() + 10
                        while time.monotonic() < deadline:
                            res = self.run(["squeue", "-h", "-o", "%A"], check=False, timeout=10)
                            if res.returncode != 0 or not res.stdout.strip():
                                break
                            time.sleep(0.2)
                except (subprocess.SubprocessError, OSError):
                    pass
            self._stop_proc("slurmd")
            self._stop_proc("slurmctld")
            # slurmstepd and job processes outlive slurmd; slurmscriptd goes with slurmctld.
            self._kill_pids(self._stray_pids(), timeout=5)
            self._stop_proc("munged")
        finally:
            for p in self._procs.values():
                if p.poll() is None:
                    p.kill()
                    try:
                        p.wait(5)
                    except subprocess.TimeoutExpired:
                        pass
            for f in self._out_files:
                f.close()
            try:
                atexit.unregister(self.stop)
            except Exception:
                pass


def _is_zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def slurm_cluster_fixture(name="slurm_cluster", scope="session", **kwargs):
    """A pytest fixture (assign it to a module/conftest global) yielding a started SlurmCluster.

    Skips when the Slurm/MUNGE programs are absent; fails, with the daemon logs, when they are
    present but the cluster does not come up. The cluster is stopped whatever the tests do."""
    import pytest

    @pytest.fixture(scope=scope, name=name)
    def _slurm_cluster(tmp_path_factory):
        missing = missing_binaries()
        if missing:
            pytest.skip("Slurm/MUNGE not installed (missing %s); run scripts/install-deps.sh"
                        % ", ".join(missing))
        cluster = SlurmCluster(str(tmp_path_factory.mktemp("slurm")), **kwargs)
        try:
            cluster.start()
        except SlurmClusterError as e:
            pytest.fail(str(e), pytrace=False)
        try:
            yield cluster
        finally:
            cluster.stop()

    return _slurm_cluster
