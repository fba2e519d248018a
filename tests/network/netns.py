"""Validators on separate hosts, simulated with Linux network namespaces.

Each validator gets a namespace of its own with one interface and its own private IPv4
address: a veth pair whose host end is plugged into a bridge in the root namespace. The bridge
holds the test's own address on that subnet, so the test process reaches every validator's API
directly, and a validator can be cut off by taking its host end down (`cut`), which drops its
traffic both ways without resets, like a pulled cable.

Everything is named after the test process's pid, and the subnet is a 10.213.X.0/24 no
interface here already uses, so parallel runs never share a name or a subnet. `Netns.remove`
deletes every namespace, veth and bridge this object created, and is safe to call on a
half-built setup (the fixture calls it whatever happened).

`NetnsNetwork` is a `LocalNetwork` whose configs listen on the namespace addresses and whose
processes start with `ip netns exec NS` (same interpreter, environment inherited, so
PYTHONPATH still points at this tree); the probes and waits of `tests.network.netcheck` then
work on it unchanged.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from network.localnet import LocalNetwork, LocalNetworkError, _node_command

SUBNET_PREFIX = "10.213"
HOST_OCTET = 1  # the bridge's (the test's) address on the subnet
FIRST_NODE_OCTET = 10


class NetnsUnavailable(Exception):
    """Namespaces cannot be made here (not root, no `ip`, or no permission); the reason."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {result.stderr.strip()}")
    return result


def _free_subnet_octet(start: int) -> int:
    """A third octet X such that no address or route here mentions 10.213.X."""
    used = _ip("-o", "-4", "addr").stdout + _ip("-4", "route").stdout
    for step in range(254):
        octet = (start + step) % 254 + 1
        if f"{SUBNET_PREFIX}.{octet}." not in used:
            return octet
    raise NetnsUnavailable(f"every {SUBNET_PREFIX}.X.0/24 subnet is already in use")


class Netns:
    """N namespaces on one bridge; `create()` builds them, `remove()` takes them all down."""

    def __init__(self, count: int) -> None:
        pid = os.getpid()
        self.count = count
        self.tag = f"dn{pid}"
        self.namespaces = [f"{self.tag}n{i}" for i in range(count)]
        self.host_ends = [f"{self.tag}h{i}" for i in range(count)]  # <= 15 chars for pid < 1e8
        self.bridge = f"{self.tag}br"
        self.octet = _free_subnet_octet(pid)
        self.addresses = [
            f"{SUBNET_PREFIX}.{self.octet}.{FIRST_NODE_OCTET + i}" for i in range(count)
        ]
        self._made_namespaces: list[str] = []
        self._made_links: list[str] = []

    @staticmethod
    def check_available() -> None:
        """Raise NetnsUnavailable with the reason if this process cannot make namespaces."""
        if os.geteuid() != 0:
            raise NetnsUnavailable("network namespaces need root")
        if shutil.which("ip") is None:
            raise NetnsUnavailable("the `ip` command (iproute2) is not installed")
        probe = f"dn{os.getpid()}probe"
        result = _ip("netns", "add", probe, check=False)
        if result.returncode != 0:
            raise NetnsUnavailable(f"`ip netns add` failed: {result.stderr.strip()}")
        _ip("netns", "del", probe, check=False)

    def create(self) -> None:
        _ip("link", "add", self.bridge, "type", "bridge")
        self._made_links.append(self.bridge)
        _ip("addr", "add", f"{SUBNET_PREFIX}.{self.octet}.{HOST_OCTET}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for ns, host_end, address in zip(
            self.namespaces, self.host_ends, self.addresses, strict=True
        ):
            _ip("netns", "add", ns)
            self._made_namespaces.append(ns)
            inner = f"{host_end}x"
            _ip("link", "add", host_end, "type", "veth", "peer", "name", inner)
            self._made_links.append(host_end)
            _ip("link", "set", inner, "netns", ns)
            _ip("link", "set", host_end, "master", self.bridge)
            _ip("link", "set", host_end, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "addr", "add", f"{address}/24", "dev", inner)
            _ip("-n", ns, "link", "set", inner, "up")

    def cut(self, index: int) -> None:
        """Take validator `index`'s cable out: nothing reaches it, nothing leaves it."""
        _ip("link", "set", self.host_ends[index], "down")

    def heal(self, index: int) -> None:
        _ip("link", "set", self.host_ends[index], "up")

    def get_inside(self, index: int, url: str) -> str:
        """GET `url` from inside namespace `index` (reaches its node even while it is cut)."""
        script = (
            "import sys, urllib.request\n"
            "sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())"
        )
        result = subprocess.run(
            ["ip", "netns", "exec", self.namespaces[index], sys.executable, "-c", script, url],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if result.returncode != 0:
            raise AssertionError(f"GET {url} inside {self.namespaces[index]}: {result.stderr}")
        return result.stdout

    def remove(self) -> list[str]:
        """Delete all this object made; the errors, if any (for the report). The veth pairs
        go first, from the host end (synchronous, unlike the pair's removal with its
        namespace), then the namespaces, then the bridge."""
        errors = []
        for link in reversed(self._made_links):
            result = _ip("link", "del", link, check=False)
            if result.returncode != 0 and "Cannot find device" not in result.stderr:
                errors.append(f"link del {link}: {result.stderr.strip()}")
        self._made_links.clear()
        for ns in reversed(self._made_namespaces):
            result = _ip("netns", "del", ns, check=False)
            if result.returncode != 0:
                errors.append(f"netns del {ns}: {result.stderr.strip()}")
        self._made_namespaces.clear()
        return errors

    def leftovers(self) -> list[str]:
        """Names of this run that still exist (should be none after `remove`)."""
        namespaces = _ip("netns", "list").stdout
        links = _ip("-o", "link").stdout
        return [
            name
            for name in [*self.namespaces, *self.host_ends, self.bridge]
            if name in namespaces.split() or f" {name}:" in links or f" {name}@" in links
        ]


class NetnsNetwork(LocalNetwork):
    """A testnet whose validator `i` listens on `netns.addresses[i]` inside namespace `i`."""

    def __init__(self, directory: Path, netns: Netns, *, config_extra: str = "") -> None:
        self.netns = netns
        super().__init__(directory, validators=netns.count, config_extra=config_extra)
        self._rewrite_addresses()

    def _rewrite_addresses(self) -> None:
        """`init_testnet` writes 127.0.0.1 everywhere; give each port its node's address."""
        for config in self.layout.configs:
            text = config.read_text(encoding="utf-8")
            for ports in (self.layout.p2p_ports, self.layout.api_ports):
                for port, address in zip(ports, self.netns.addresses, strict=True):
                    text = text.replace(f'"127.0.0.1:{port}"', f'"{address}:{port}"')
            if "127.0.0.1" in text:
                raise AssertionError(f"{config} still names 127.0.0.1 after the rewrite")
            config.write_text(text, encoding="utf-8")

    @property
    def api_urls(self) -> tuple[str, ...]:
        return tuple(
            f"http://{address}:{port}"
            for address, port in zip(self.netns.addresses, self.layout.api_ports, strict=True)
        )

    def _spawn(self, index: int) -> None:
        """`LocalNetwork._spawn`, but inside the node's namespace. `ip netns exec` execs the
        node in place, so the pid (and the signals the base class sends) are the node's."""
        if self.is_running(index):
            raise LocalNetworkError(f"validator {index} is already running")
        command = [
            "ip",
            "netns",
            "exec",
            self.netns.namespaces[index],
            *_node_command(self.layout.configs[index]),
        ]
        with self.log_path(index).open("ab") as log:
            self._procs[index] = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
            )
