"""A private network for browser tests: a Linux network namespace in which the clinic's server
and the browsers run, with a "wired" interface a test can unplug and a "Wi-Fi" one it can
bring up, as a laptop moves from its dock's cable to Wi-Fi. Needs root (CI runs as root)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

# iproute2, also where root's sbin directories are missing from PATH.
IP = shutil.which("ip", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") or "ip"

# Private ranges; nothing outside the namespace ever sees them.
WIRED = ("wired0", "10.77.0.2/24")
WIFI = ("wifi0", "10.88.0.2/24")


class PrivateNetwork:
    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def wrap(self) -> tuple[str, ...]:
        """Prefix for a command that should run inside the namespace."""
        return (IP, "netns", "exec", self.name)

    def _ip(self, *args: str) -> None:
        subprocess.run([IP, "-n", self.name, *args], check=True)

    def create(self) -> None:
        subprocess.run([IP, "netns", "add", self.name], check=True)
        self._ip("link", "set", "lo", "up")
        self._add_interface(*WIRED)

    def _add_interface(self, name: str, address: str) -> None:
        # A veth pair with both ends inside: the browsers see a real interface with an address
        # (they gather no ICE candidates on loopback).
        self._ip("link", "add", name, "type", "veth", "peer", "name", f"{name}-peer")
        self._ip("addr", "add", address, "dev", name)
        self._ip("link", "set", f"{name}-peer", "up")
        self._ip("link", "set", name, "up")

    def unplug_cable(self) -> None:
        """The interface every ICE candidate used goes away, and its address with it."""
        self._ip("link", "del", WIRED[0])

    def join_wifi(self) -> None:
        """Another interface with another address comes up. (Chrome notices a new interface
        within seconds; a new address on an existing interface it missed for a minute.)"""
        self._add_interface(*WIFI)

    def destroy(self) -> None:
        subprocess.run([IP, "netns", "del", self.name], check=False)

    def chromium_launcher(self, directory: Path, chromium: str) -> Path:
        """An executable that starts Chromium inside the namespace (Playwright's pipe to the
        browser is inherited across `ip netns exec`)."""
        launcher = directory / "chromium-in-netns"
        launcher.write_text(f'#!/bin/sh\nexec {" ".join(self.wrap)} {chromium} "$@"\n')
        launcher.chmod(0o755)
        return launcher

    def answers_healthz(self, base: str) -> bool:
        probe = (
            "import sys, urllib.request\n"
            "try:\n"
            "    sys.exit(urllib.request.urlopen(sys.argv[1], timeout=2).status != 200)\n"
            "except OSError:\n"
            "    sys.exit(1)\n"
        )
        command = [*self.wrap, sys.executable, "-c", probe, f"{base}/healthz"]
        return subprocess.run(command, check=False).returncode == 0


def can_create_namespaces() -> bool:
    return os.geteuid() == 0 and os.path.exists(IP)
