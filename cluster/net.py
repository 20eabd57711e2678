"""Hosts on one machine: Linux network namespaces on a bridge.

`Network(run_id)` makes a bridge `pb<run>br` in the machine's own namespace
(address `10.231.<n>.1/24`, where the orchestrator, the load generator and the
checks run, as "the internet") and, per `Network.host(name, last_octet)`, a
namespace `pb<run>-<name>` joined to the bridge by a veth pair, with its own
address `10.231.<n>.<last_octet>` and its own loopback. A process started with
`Host.spawn` runs inside that namespace; `Host.kill` SIGKILLs every process
in it (a host dying: no graceful shutdown of anything on it).

`Network.close()` stops every process on every host (SIGTERM, then SIGKILL),
deletes the namespaces, the veth pairs and the bridge. `cleanup_stale()`
does the same for what a crashed earlier run left behind (names carrying a
process id that no longer runs).

Everything here needs root (`ip netns`, `ip link`).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "pb"
IP = shutil.which("ip") or "/usr/sbin/ip"
_NETNS_NAME = re.compile(rf"^{PREFIX}(\d+)-\w+$")
_LINK_NAME = re.compile(rf"^{PREFIX}(\d+)(br|v\d+)$")


def ip(*args: str, check: bool = True) -> str:
    """Run `ip <args>`; its standard output. Raises `CalledProcessError`
    (with the command's error output) when `check` and it fails."""
    done = subprocess.run(  # noqa: S603 (fixed program, our arguments)
        [IP, *args], capture_output=True, text=True, check=False
    )
    if check and done.returncode != 0:
        raise subprocess.CalledProcessError(
            done.returncode, [IP, *args], done.stdout, done.stderr
        )
    return done.stdout


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def namespace_pids(namespace: str) -> list[int]:
    """Process ids of every process running in `namespace` (none when the
    namespace is gone)."""
    out = ip("netns", "pids", namespace, check=False)
    return [int(word) for word in out.split() if word.isdigit()]


def stop_namespace_processes(namespace: str, grace_s: float = 3.0) -> None:
    """SIGTERM every process of `namespace`, then SIGKILL what is left after
    `grace_s` seconds; returns once none is left (or after 10 s more)."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
        pids = namespace_pids(namespace)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and namespace_pids(namespace):
            time.sleep(0.1)


def cleanup_stale() -> list[str]:
    """Remove namespaces and links of earlier runs whose process is gone;
    the names removed."""
    removed = []
    for line in ip("netns", "list", check=False).splitlines():
        name = line.split()[0] if line.split() else ""
        match = _NETNS_NAME.match(name)
        if match and not _alive(int(match.group(1))):
            stop_namespace_processes(name, grace_s=0.5)
            ip("netns", "delete", name, check=False)
            removed.append(name)
    for line in ip("-o", "link", "show", check=False).splitlines():
        parts = line.split(":")
        if len(parts) < 2:
            continue
        name = parts[1].strip().split("@")[0]
        match = _LINK_NAME.match(name)
        if match and not _alive(int(match.group(1))):
            ip("link", "delete", name, check=False)
            removed.append(name)
    return removed


@dataclass
class Host:
    """One namespace with one address; the processes started on it."""

    name: str
    namespace: str
    address: str
    processes: list[subprocess.Popen] = field(default_factory=list)
    killed_at: float | None = None

    def spawn(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str],
        log: Path,
        cwd: Path | None = None,
        user: str | None = None,
    ) -> subprocess.Popen:
        """Start `command` inside this host's namespace (as `user` when
        given, through `runuser`), output appended to `log`."""
        prefix = [IP, "netns", "exec", self.namespace]
        if user:
            prefix += [shutil.which("runuser") or "/usr/sbin/runuser", "-u", user, "--"]
        with open(log, "ab") as output:
            process = subprocess.Popen(  # noqa: S603 (our own command lines)
                [*prefix, *command],
                env=dict(env),
                cwd=cwd,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    def run(self, command: Sequence[str], *, env: Mapping[str, str]) -> str:
        """Run `command` in the namespace to its end; its output. Raises
        `CalledProcessError` when it fails."""
        done = subprocess.run(  # noqa: S603 (our own command lines)
            [IP, "netns", "exec", self.namespace, *command],
            env=dict(env),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise subprocess.CalledProcessError(
                done.returncode, command, done.stdout, done.stderr
            )
        return done.stdout

    def kill(self) -> int:
        """SIGKILL every process on this host at once (the host dies); the
        number of processes killed."""
        pids = namespace_pids(self.namespace)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.killed_at = time.time()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        return len(pids)

    def stop(self) -> None:
        """Stop every process on this host (SIGTERM, then SIGKILL)."""
        stop_namespace_processes(self.namespace)
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait()


class Network:
    """The bridge and the hosts of one run (`run_id`: this process's id)."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        self.subnet = f"10.231.{20 + run_id % 200}"
        self.bridge = f"{PREFIX}{run_id}br"
        self.address = f"{self.subnet}.1"
        self.hosts: dict[str, Host] = {}
        ip("link", "add", self.bridge, "type", "bridge")
        ip("addr", "add", f"{self.address}/24", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")

    def host(self, name: str, last_octet: int) -> Host:
        """Create host `name` at `<subnet>.<last_octet>`, its loopback up."""
        namespace = f"{PREFIX}{self.run_id}-{name}"
        outside = f"{PREFIX}{self.run_id}v{last_octet}"
        inside = f"{PREFIX}{self.run_id}i{last_octet}"
        address = f"{self.subnet}.{last_octet}"
        ip("netns", "add", namespace)
        host = Host(name=name, namespace=namespace, address=address)
        self.hosts[name] = host
        ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        ip("link", "set", outside, "master", self.bridge)
        ip("link", "set", outside, "up")
        ip("link", "set", inside, "netns", namespace)
        in_ns = ("-n", namespace)
        ip(*in_ns, "link", "set", inside, "name", "eth0")
        ip(*in_ns, "addr", "add", f"{address}/24", "dev", "eth0")
        ip(*in_ns, "link", "set", "eth0", "up")
        ip(*in_ns, "link", "set", "lo", "up")
        ip(*in_ns, "route", "add", "default", "via", self.address)
        return host

    def close(self) -> None:
        """Stop every host's processes; delete namespaces, links, bridge."""
        for host in self.hosts.values():
            host.stop()
        for host in self.hosts.values():
            ip("netns", "delete", host.namespace, check=False)
            last = host.address.rsplit(".", 1)[1]
            ip("link", "delete", f"{PREFIX}{self.run_id}v{last}", check=False)
        ip("link", "delete", self.bridge, check=False)
