#!/usr/bin/env python3
"""Boots the box's image under QEMU (KVM when the machine has it, software emulation
otherwise) with UEFI (OVMF) and a TPM2 (swtpm), as a box would run it, and checks:

- first boot: the console shows the recovery key, the admin page's address, its certificate's
  fingerprint and the one-time password; /readyz answers through a forwarded port;
- the admin logs in with that password and the host says a canary line (kept in the event log
  on the data partition);
- an appliance made to hang (SIGSTOP, through the guest agent) is restarted by systemd's
  watchdog;
- after a clean power-off the data partition is LUKS2 and the canary is nowhere in the raw disk;
- the box boots again, unlocks its data with the TPM, and the same password still logs in.

    provisioning/image/test.py IMG [--timeout SECONDS]
"""

import base64
import http.cookiejar
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Box:
    def __init__(self, image, work, timeout):
        self.work = work
        self.timeout = timeout
        self.disk = os.path.join(work, "disk.raw")
        shutil.copyfile(image, self.disk)
        with open(self.disk, "r+b") as f:  # room for the data partition
            f.truncate(os.path.getsize(self.disk) + (3 << 30))
        shutil.copyfile(OVMF_VARS, os.path.join(work, "vars.fd"))
        os.makedirs(os.path.join(work, "tpm"))
        self.port = free_port()
        self.boots = 0
        self.kvm = os.access("/dev/kvm", os.R_OK | os.W_OK)
        self.qemu = None
        self.swtpm = None

    def boot(self):
        self.boots += 1
        w = self.work
        tpm_sock = os.path.join(w, "swtpm.sock")
        if os.path.exists(tpm_sock):
            os.remove(tpm_sock)
        self.swtpm = subprocess.Popen(
            ["swtpm", "socket", "--tpm2", "--tpmstate", "dir=" + os.path.join(w, "tpm"),
             "--ctrl", "type=unixio,path=" + tpm_sock],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait(lambda: os.path.exists(tpm_sock), 10, "swtpm")
        self.serial = os.path.join(w, "serial-%d.log" % self.boots)
        self.qga = os.path.join(w, "qga.sock")
        self.monitor = os.path.join(w, "monitor.sock")
        for p in (self.qga, self.monitor):
            if os.path.exists(p):
                os.remove(p)
        cmd = [
            "qemu-system-x86_64", "-machine", "q35,accel=" + ("kvm" if self.kvm else "tcg"),
            "-cpu", "max", "-m", "2048", "-smp", "2",
            "-drive", "if=pflash,format=raw,readonly=on,file=" + OVMF_CODE,
            "-drive", "if=pflash,format=raw,file=" + os.path.join(w, "vars.fd"),
            "-drive", "file=%s,format=raw,if=virtio" % self.disk,
            "-nic", "user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:%d-:8443" % self.port,
            "-chardev", "socket,id=chrtpm,path=" + tpm_sock,
            "-tpmdev", "emulator,id=tpm0,chardev=chrtpm", "-device", "tpm-tis,tpmdev=tpm0",
            "-chardev", "socket,path=%s,server=on,wait=off,id=qga0" % self.qga,
            "-device", "virtio-serial",
            "-device", "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0",
            "-monitor", "unix:%s,server,nowait" % self.monitor,
            "-serial", "file:" + self.serial, "-display", "none",
        ]
        self.qemu = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.started = time.time()
        # A KVM that cannot run this guest (some nested set-ups) ends QEMU at once, or stops
        # the guest with an internal error in the firmware (a paravirtual KVM such as kvm-pvm
        # runs only kernels built for it): emulate instead.
        try:
            self.qemu.wait(timeout=5)
            err = self.qemu.stderr.read().decode(errors="replace")
        except subprocess.TimeoutExpired:
            if not self.kvm or not self.stopped_by_kvm(20):
                return
            err = "KVM stopped the guest (%s)" % self.vm_status()
            self.qemu.kill()
            self.qemu.wait()
        self.swtpm.kill()
        self.swtpm.wait()
        if not self.kvm:
            raise RuntimeError("qemu failed: " + err)
        print("KVM cannot run this guest here (%s); emulating" % err.strip()[:200], flush=True)
        self.kvm = False
        self.boots -= 1
        self.boot()

    def vm_status(self):
        """QEMU's `info status` (`running`, `paused (internal-error)`, ...), or "" unreadable."""
        try:
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(2)
            s.connect(self.monitor)
            s.sendall(b"info status\n")
            out = b""
            deadline = time.time() + 2
            while not re.search(rb"VM status: [^\r\n]*[\r\n]", out):
                if time.time() > deadline:
                    break
                try:
                    chunk = s.recv(4096)
                except socket.timeout:
                    break
                if not chunk:
                    break
                out += chunk
            s.close()
        except OSError:
            return ""
        m = re.search(r"VM status: ([^\r\n]*)", out.decode(errors="replace"))
        return m.group(1).strip() if m else ""

    def stopped_by_kvm(self, seconds):
        """Whether, within `seconds`, KVM stops the guest with an internal error (checked until
        the console shows the guest's first output)."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            if "internal-error" in self.vm_status():
                return True
            if self.console():
                return False
            time.sleep(1)
        return False

    def console(self):
        try:
            with open(self.serial, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def https(self, method, path, body=None, opener=None, headers=None):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        url = "https://127.0.0.1:%d%s" % (self.port, path)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        if data is not None:
            req.add_header("content-type", "application/json")
        req.add_header("origin", "https://127.0.0.1:%d" % self.port)
        handlers = [urllib.request.HTTPSHandler(context=ctx)]
        if opener is not None:
            handlers.append(urllib.request.HTTPCookieProcessor(opener))
        try:
            with urllib.request.build_opener(*handlers).open(req, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except (OSError, urllib.error.URLError) as e:
            return 0, str(e)

    def ready(self):
        return self.https("GET", "/readyz")[0] == 200

    def guest(self, command):
        """Runs a command in the box through the QEMU guest agent; its output."""
        s = socket.socket(socket.AF_UNIX)
        s.connect(self.qga)
        s.settimeout(30)
        f = s.makefile("rw")

        def ask(req):
            f.write(json.dumps(req) + "\n")
            f.flush()
            while True:
                line = json.loads(f.readline())
                if "return" in line or "error" in line:
                    return line

        ask({"execute": "guest-sync", "arguments": {"id": 42}})
        pid = ask({"execute": "guest-exec", "arguments": {
            "path": "/bin/sh", "arg": ["-c", command], "capture-output": True}})["return"]["pid"]
        for _ in range(100):
            st = ask({"execute": "guest-exec-status", "arguments": {"pid": pid}})["return"]
            if st.get("exited"):
                s.close()
                return base64.b64decode(st.get("out-data", "")).decode().strip()
            time.sleep(0.2)
        raise RuntimeError("guest command did not finish: " + command)

    def power_off(self):
        """A clean power-off, as the operator's `poweroff` would do it (through the guest
        agent; the ACPI button as well, in case the agent is not listening)."""
        s = socket.socket(socket.AF_UNIX)
        s.connect(self.qga)
        s.sendall(json.dumps({"execute": "guest-shutdown", "arguments": {"mode": "powerdown"}}).encode() + b"\n")
        s.close()
        time.sleep(2)
        s = socket.socket(socket.AF_UNIX)
        s.connect(self.monitor)
        s.sendall(b"system_powerdown\n")
        time.sleep(1)
        s.close()
        try:
            self.qemu.wait(timeout=180)
        except subprocess.TimeoutExpired:
            self.qemu.kill()
            raise RuntimeError("the box did not power off within 180 s:\n" + self.console()[-3000:])
        self.swtpm.wait(timeout=30)

    def kill(self):
        for p in (self.qemu, self.swtpm):
            if p and p.poll() is None:
                p.kill()


def wait(check, timeout, what, box=None):
    start = time.time()
    while not check():
        if box is not None and box.qemu is not None and box.qemu.poll() is None \
                and "internal-error" in box.vm_status():
            raise RuntimeError("QEMU stopped the guest (%s) waiting for %s\n%s"
                               % (box.vm_status(), what, box.console()[-4000:]))
        if time.time() - start > timeout:
            tail = box.console()[-4000:] if box else ""
            raise RuntimeError("timed out after %d s waiting for %s\n%s" % (timeout, what, tail))
        time.sleep(1)
    return time.time() - start


def login(box, password):
    jar = http.cookiejar.CookieJar()
    status, body = box.https("POST", "/api/v1/login", {"username": "admin", "password": password}, jar)
    if status != 200:
        return None
    return jar, json.loads(body).get("csrf", "")


def main():
    image = sys.argv[1]
    timeout = int(sys.argv[sys.argv.index("--timeout") + 1]) if "--timeout" in sys.argv else 600
    work = tempfile.mkdtemp(prefix="sothebais-qemu.")
    box = Box(image, work, timeout)
    report = []
    try:
        box.boot()
        took = wait(lambda: "one-time password:" in box.console(), timeout, "the first boot's console", box)
        con = box.console()
        password = re.search(r"one-time password:\s+(\S+)", con).group(1)
        assert "RECOVERY KEY" in con, con[-3000:]
        recovery = re.search(r"RECOVERY KEY.*?\n\s*\n\s+(\S+)", con, re.S).group(1)
        assert "sealed to this box" in con, "the TPM2 was not used:\n" + con[-3000:]
        assert "Certificate SHA-256: " in con and ".local:8443" in con, con[-3000:]
        ready = wait(box.ready, 120, "/readyz", box)
        report.append("first boot: console after %.0f s (%s), /readyz %.0f s later" % (took, "KVM" if box.kvm else "TCG", ready))

        session = login(box, password)
        assert session, "the one-time password does not log in"
        jar, csrf = session
        canary = "canary line %d" % os.getpid()
        status, body = box.https("POST", "/api/v1/host/say", {"text": canary}, jar, {"x-csrf-token": csrf})
        assert status == 200, (status, body)
        report.append("logged in with the console's password; the host said a canary line")

        before = box.guest("pidof appliance")
        box.guest("kill -STOP " + before)
        wait(lambda: not box.ready(), 60, "the hung appliance to stop answering", box)
        back = wait(lambda: box.ready(), 180, "the watchdog to restart the appliance", box)
        after = box.guest("pidof appliance")
        assert after and after != before, (before, after)
        report.append("SIGSTOP: the watchdog restarted the appliance (pid %s -> %s) in %.0f s" % (before, after, back))

        box.power_off()
        # The data partition, from outside: LUKS2, and the canary nowhere on the disk.
        table = json.loads(subprocess.check_output(["sfdisk", "-J", box.disk]))["partitiontable"]
        data = [p for p in table["partitions"] if p.get("name") == "data"]
        assert data, table
        with open(box.disk, "rb") as f:
            f.seek(data[0]["start"] * 512)
            assert f.read(6) == b"LUKS\xba\xbe", "the data partition is not LUKS"
        found = subprocess.run(["grep", "-c", "-a", "-F", canary, box.disk], capture_output=True, text=True)
        assert found.stdout.strip() == "0", "the canary is readable on the disk"
        report.append("powered off: the data partition is LUKS2; the canary is not on the disk in clear")

        box.boot()
        wait(box.ready, timeout, "/readyz after the reboot", box)
        assert login(box, password), "the password no longer logs in after the reboot"
        assert "RECOVERY KEY" not in box.console(), "the first boot ran again"
        report.append("rebooted: the TPM unlocked the data, the same password logs in")
        box.power_off()
    except Exception:
        box.kill()
        print("\n".join(report))
        print("kept for a look: " + work)
        raise
    shutil.rmtree(work, ignore_errors=True)
    print("\n".join(report))
    print("the image passed (a %d-character recovery key was shown once)" % len(recovery))


if __name__ == "__main__":
    main()
