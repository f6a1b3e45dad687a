"""A real nginx in front of the example, for the tests of shared caches and reverse proxies.

:class:`Nginx` runs nginx in the foreground as the current user, with
everything it writes (config, pid, logs, cache, temporary files) under one
directory, and the ``http`` block's contents the test hands it::

    with Nginx(prefix, http_block) as base_url:
        httpx.get(f"{base_url}/api/articles/")

Tests that use it skip where there is no ``nginx`` binary (``.ci/run``
installs one).
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.live import LOOPBACK, GunicornServer, free_port

__all__ = ["NGINX", "Nginx", "Origin"]

NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin:/usr/local/nginx/sbin")

#: How long nginx may take to listen.
START_TIMEOUT = 10.0


class Origin(GunicornServer):
    """The example under one gunicorn worker, with a settings module a test wrote into ``settings_dir``."""

    def __init__(self, settings_dir: Path, settings_module: str) -> None:
        super().__init__(workers=1)
        self.settings_dir = settings_dir
        self.settings_module = settings_module

    def environment(self) -> dict[str, str]:
        env = super().environment()
        env["DJANGO_SETTINGS_MODULE"] = self.settings_module
        env["PYTHONPATH"] = os.pathsep.join([str(self.settings_dir), env["PYTHONPATH"]])
        return env


def main_config(prefix: Path, http_block: str) -> str:
    """The whole config: the process and its files under ``prefix``, around ``http_block``."""
    # A master started by root hands its workers to "nobody" unless told otherwise.
    user = (
        f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};" if os.geteuid() == 0 else ""
    )
    return f"""
{user}
daemon off;
master_process on;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {prefix}/default-access.log;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
{http_block}
}}
"""


class Nginx:
    """nginx in the foreground, as the current user, with its config, pid, logs and cache in ``prefix``.

    ``http_block`` is what goes inside ``http { }``; it may use ``{port}``
    for the port this instance listens on.
    """

    def __init__(self, prefix: Path, http_block: str) -> None:
        self.prefix = prefix
        self.port = free_port()
        self.base_url = f"http://{LOOPBACK}:{self.port}"
        self.config = prefix / "nginx.conf"
        self.config.write_text(main_config(prefix, http_block.replace("{port}", str(self.port))))
        self.process: subprocess.Popen[bytes] | None = None

    def log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def __enter__(self) -> str:
        # -e: the error log before the config is read, so nothing is written outside prefix.
        command = [str(NGINX), "-p", str(self.prefix), "-c", str(self.config), "-e", str(self.prefix / "error.log")]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited with status {self.process.returncode}:\n{self.log()}")
            try:
                with socket.create_connection((LOOPBACK, self.port), timeout=0.5):
                    return self.base_url
            except OSError:
                if time.monotonic() > deadline:
                    self.__exit__()
                    raise RuntimeError(f"nginx not listening after {START_TIMEOUT:.0f} s:\n{self.log()}") from None
                time.sleep(0.05)

    def __exit__(self, *exc_info: object) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()  # SIGTERM: nginx's fast shutdown
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
