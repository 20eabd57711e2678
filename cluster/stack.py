"""The cluster: which host runs what, with which settings, and how each part is
started and checked.

- db (.2): its own PostgreSQL (initdb into the run's directory),
  redis-server, moto's S3 server;
- lb (.3): HAProxy, `/ws/` to the realtime processes, the rest to the web
  processes;
- web1, web2 (.11, .12): gunicorn (`gunicorn.conf.py`, port 8000) and
  uvicorn (`pingback.asgi`, port 8001);
- worker1, worker2 (.21, .22): `celery -A pingback worker`;
- beat (.31): `celery -A pingback beat`;
- sandbox (.41): the platforms' stand-in (`manage.py run_sandbox`, 8765).

The machine's own namespace (`.1`, the bridge) is the outside world: it runs
the migrations and the demo setup against the db host, the load generator, and
reads the database to count. Every PingBack process gets the same settings
(`Cluster.env`), as the hosts of one installation share one environment file
(docs/deployment.md, "Settings"): production mode (no DEBUG, no development
keys), media in the S3 bucket, the sweeps tightened so a lost task comes back
within seconds rather than the production defaults' half minute.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from cluster.net import Host, Network

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PG_BIN = Path("/usr/lib/postgresql")
START_TIMEOUT_S = 90.0
WEB_PORT, REALTIME_PORT, SANDBOX_PORT, S3_PORT = 8000, 8001, 8765, 5000
S3_KEY_ID, S3_SECRET, S3_REGION = "cluster", "cluster-secret", "us-east-1"

HOSTS = {
    "db": 2,
    "lb": 3,
    "web1": 11,
    "web2": 12,
    "worker1": 21,
    "worker2": 22,
    "beat": 31,
    "sandbox": 41,
}
HAPROXY_CONFIG = """\
global
    maxconn 4000
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
    retries 2
    option redispatch
frontend pingback
    bind {lb}:80
    bind {lb}:443 ssl crt {certificate}
    http-request set-header X-Forwarded-Proto https if {{ ssl_fc }}
    http-request set-header X-Forwarded-Proto http if !{{ ssl_fc }}
    acl websocket path_beg /ws/
    use_backend realtime if websocket
    default_backend web
backend web
    balance roundrobin
    option httpchk GET /healthz
    server web1 {web1}:{web_port} check inter 500ms fall 2 rise 2
    server web2 {web2}:{web_port} check inter 500ms fall 2 rise 2
backend realtime
    balance roundrobin
    option httpchk GET /healthz
    server web1 {web1}:{realtime_port} check inter 500ms fall 2 rise 2
    server web2 {web2}:{realtime_port} check inter 500ms fall 2 rise 2
"""


def wait_tcp(address: str, port: int, what: str, timeout: float = START_TIMEOUT_S):
    """Return once `address:port` accepts a connection. Raises
    `RuntimeError` naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((address, port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} ({address}:{port}) did not listen within {timeout} s")


def wait_http(url: str, what: str, timeout: float = START_TIMEOUT_S) -> None:
    """Return once GET `url` answers 200. Raises `RuntimeError` naming
    `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=3) as answer:  # noqa: S310
                if answer.status == 200:
                    return
        except urllib.error.HTTPError as error:
            last = f"HTTP {error.code}"
        except (urllib.error.URLError, OSError) as error:
            last = str(error)
        time.sleep(0.3)
    raise RuntimeError(f"{what}: {url} not ready within {timeout} s ({last})")


class Cluster:
    """The hosts of one run and what runs on them. `start()` builds it all;
    `close()` stops it all and deletes the run's directory."""

    def __init__(self, workdir: Path) -> None:
        self.run_id = os.getpid()
        self.workdir = workdir
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.net: Network | None = None
        self.timeline: list[tuple[float, str]] = []
        self.started_at = time.time()

    # Addresses -----------------------------------------------------------

    def address(self, host: str) -> str:
        """The address of `host` (a key of `HOSTS`)."""
        return f"10.231.{20 + self.run_id % 200}.{HOSTS[host]}"

    @property
    def lb_url(self) -> str:
        """The load balancer's base URL (what platforms and agents use):
        HTTPS, with the run's own certificate authority (`ca_path`)."""
        return f"https://{self.address('lb')}"

    def web_url(self, host: str) -> str:
        """A web host's gunicorn, reached directly (not through the LB)."""
        return f"http://{self.address(host)}:{WEB_PORT}"

    def realtime_url(self, host: str) -> str:
        """A web host's uvicorn (websockets), reached directly."""
        return f"http://{self.address(host)}:{REALTIME_PORT}"

    @property
    def sandbox_url(self) -> str:
        """The platforms' stand-in."""
        return f"http://{self.address('sandbox')}:{SANDBOX_PORT}"

    @property
    def s3_url(self) -> str:
        """moto's S3 API on the db host."""
        return f"http://{self.address('db')}:{S3_PORT}"

    def env(self) -> dict[str, str]:
        """The settings every PingBack process of the cluster gets."""
        if not hasattr(self, "_env"):
            from cryptography.fernet import Fernet

            db = self.address("db")
            web_hosts = [self.address(h) for h in ("lb", "web1", "web2")]
            self._env = {
                "PATH": f"{BIN}:/usr/sbin:/usr/bin:/sbin:/bin",
                "HOME": str(self.workdir),
                "LANG": "C.UTF-8",
                "PYTHONUNBUFFERED": "1",
                "DJANGO_SETTINGS_MODULE": "pingback.settings",
                "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
                "PINGBACK_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
                "DJANGO_ALLOWED_HOSTS": ",".join(web_hosts),
                "DATABASE_URL": f"postgres://postgres@{db}:5432/pingback",
                "REDIS_URL": f"redis://{db}:6379/0",
                "PINGBACK_PUBLIC_BASE_URL": self.lb_url,
                # HAProxy terminates TLS and always sets this header.
                "DJANGO_SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
                "X_API_BASE_URL": self.sandbox_url,
                "TELEGRAM_API_BASE_URL": self.sandbox_url,
                "GRAPH_API_BASE_URL": self.sandbox_url,
                "TWILIO_API_BASE_URL": self.sandbox_url,
                "EGRESS_ALLOWED_HOSTS": f"{self.address('sandbox')}:{SANDBOX_PORT}",
                "PINGBACK_MEDIA_S3_BUCKET": "pingback-cluster-media",
                "PINGBACK_MEDIA_S3_ENDPOINT_URL": self.s3_url,
                "PINGBACK_MEDIA_S3_REGION": S3_REGION,
                "PINGBACK_MEDIA_S3_ACCESS_KEY_ID": S3_KEY_ID,
                "PINGBACK_MEDIA_S3_SECRET_ACCESS_KEY": S3_SECRET,
                "PINGBACK_MEDIA_S3_ADDRESSING_STYLE": "path",
                # A lost wake-up or reply comes back within seconds.
                "INBOUND_SWEEP_INTERVAL": "3",
                "OUTBOX_SWEEP_INTERVAL": "2",
                "OUTBOX_REPUBLISH_AFTER": "5",
                "DELIVERY_LEASE_SECONDS": "15",
                "API_THROTTLE_USER": "1000000/min",
                "API_THROTTLE_ANON": "1000000/min",
                "WEB_CONCURRENCY": "2",
                "GUNICORN_TIMEOUT": "60",
                # Which web host answered what (the report counts them).
                "GUNICORN_ACCESS_LOG": "-",
                "X_POLL_INTERVAL": "3600",
            }
        return dict(self._env)

    def host(self, name: str) -> Host:
        """The running host `name`."""
        assert self.net is not None
        return self.net.hosts[name]

    def mark(self, what: str) -> None:
        """Note `what` on the run's timeline (seconds since start)."""
        self.timeline.append((round(time.time() - self.started_at, 2), what))

    # Starting ------------------------------------------------------------

    def start(self) -> None:
        """Build the network, start every service, migrate, set up the demo
        business through the load balancer, and check every part answers.
        Raises `RuntimeError` (naming the log to read) when a part does not
        come up."""
        from cluster.tls import make_certificates

        self.ca_path, self.lb_certificate = make_certificates(
            self.workdir, self.address("lb")
        )
        self.net = Network(self.run_id)
        for name, octet in HOSTS.items():
            self.net.host(name, octet)
        self.mark("network up: " + ", ".join(HOSTS))
        self._start_db()
        self._migrate()
        self._start_sandbox()
        for web in ("web1", "web2"):
            self.start_web(web)
        self._start_lb()
        for worker in ("worker1", "worker2"):
            self.start_worker(worker)
        self._start_beat()
        for web in ("web1", "web2"):
            wait_http(f"{self.web_url(web)}/readyz", f"{web} gunicorn")
            wait_http(f"{self.realtime_url(web)}/healthz", f"{web} uvicorn")
        wait_http(f"http://{self.address('lb')}/readyz", "HAProxy")
        self._wait_workers(["worker1", "worker2"])
        self.mark("PingBack up on web1, web2, worker1, worker2, beat")
        self._setup_demo()
        self.mark("demo business set up through the load balancer")

    def _log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def _start_db(self) -> None:
        db = self.host("db")
        address = db.address
        pg = self.workdir / "pg"
        pg.mkdir()
        shutil.chown(pg, "postgres", "postgres")
        version = sorted(PG_BIN.iterdir())[-1] / "bin"
        subprocess.run(  # noqa: S603
            [
                shutil.which("runuser") or "/usr/sbin/runuser", "-u", "postgres", "--",
                str(version / "initdb"),
                "-D", str(pg / "data"), "-A", "trust", "-U", "postgres",
                "--no-sync", "-E", "UTF8",
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        with open(pg / "data" / "pg_hba.conf", "a") as hba:
            hba.write(f"host all all {self.net.subnet}.0/24 trust\n")
        db.spawn(
            [
                str(version / "postgres"), "-D", str(pg / "data"),
                "-c", f"listen_addresses={address}", "-c", "port=5432",
                "-c", f"unix_socket_directories={pg}",
                "-c", "fsync=off", "-c", "synchronous_commit=off",
                "-c", "full_page_writes=off", "-c", "max_connections=300",
            ],
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
            log=self._log("db-postgres"),
            user="postgres",
        )  # fmt: skip
        db.spawn(
            [
                "redis-server", "--bind", address, "--port", "6379",
                "--save", "", "--appendonly", "no", "--protected-mode", "no",
                "--dir", str(self.workdir),
            ],
            env={"PATH": "/usr/bin:/bin"},
            log=self._log("db-redis"),
        )  # fmt: skip
        db.spawn(
            [str(BIN / "moto_server"), "-H", address, "-p", str(S3_PORT)],
            env={"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(self.workdir)},
            log=self._log("db-moto"),
        )
        wait_tcp(address, 5432, "PostgreSQL")
        wait_tcp(address, 6379, "Redis")
        wait_tcp(address, S3_PORT, "moto S3")
        deadline = time.monotonic() + 30
        while True:
            done = subprocess.run(  # noqa: S603
                [str(version / "psql"), "-h", address, "-U", "postgres", "-c",
                 "CREATE DATABASE pingback"],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if done.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"CREATE DATABASE failed: {done.stderr}")
            time.sleep(0.3)
        import boto3

        boto3.client(
            "s3",
            endpoint_url=self.s3_url,
            region_name=S3_REGION,
            aws_access_key_id=S3_KEY_ID,
            aws_secret_access_key=S3_SECRET,
        ).create_bucket(Bucket=self.env()["PINGBACK_MEDIA_S3_BUCKET"])
        self.mark("db host: PostgreSQL, Redis, S3 (moto) up")

    def manage(self, *args: str, extra: dict[str, str] | None = None) -> str:
        """Run `manage.py <args>` from the machine's namespace against the
        cluster's database; its output. Raises `RuntimeError` with the output
        when it fails."""
        done = subprocess.run(  # noqa: S603
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env={**self.env(), **(extra or {})},
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
            )
        return done.stdout

    def _migrate(self) -> None:
        self.manage("migrate", "--noinput")
        self.mark("migrated (once, from outside the web hosts)")

    def _start_sandbox(self) -> None:
        sandbox = self.host("sandbox")
        sandbox.spawn(
            [
                sys.executable, "manage.py", "run_sandbox",
                "--host", sandbox.address, "--port", str(SANDBOX_PORT),
            ],
            env={
                **self.env(),
                "PINGBACK_SANDBOX": "1",
                "REQUESTS_CA_BUNDLE": str(self.workdir / "ca.pem"),
            },
            cwd=ROOT,
            log=self._log("sandbox"),
        )  # fmt: skip
        wait_http(f"{self.sandbox_url}/", "sandbox")

    def start_web(self, name: str) -> None:
        """Start gunicorn and uvicorn on web host `name` (not waiting)."""
        host = self.host(name)
        env = {
            **self.env(),
            "GUNICORN_BIND": f"{host.address}:{WEB_PORT}",
            "GUNICORN_FORWARDED_ALLOW_IPS": self.address("lb"),
        }
        host.spawn(
            [str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py")],
            env=env,
            cwd=ROOT,
            log=self._log(f"{name}-gunicorn"),
        )
        host.spawn(
            [
                str(BIN / "uvicorn"), "pingback.asgi:application",
                "--host", host.address, "--port", str(REALTIME_PORT),
                "--lifespan", "off", "--ws-max-size", "65536",
                "--log-level", "warning",
            ],
            env={**env, "DATABASE_CONN_MAX_AGE": "0"},
            cwd=ROOT,
            log=self._log(f"{name}-uvicorn"),
        )  # fmt: skip

    def _start_lb(self) -> None:
        lb = self.host("lb")
        config = self.workdir / "haproxy.cfg"
        config.write_text(
            HAPROXY_CONFIG.format(
                lb=lb.address,
                certificate=self.lb_certificate,
                web1=self.address("web1"),
                web2=self.address("web2"),
                web_port=WEB_PORT,
                realtime_port=REALTIME_PORT,
            )
        )
        lb.spawn(
            [shutil.which("haproxy") or "/usr/sbin/haproxy", "-db", "-f", str(config)],
            env={"PATH": "/usr/sbin:/usr/bin:/bin"},
            log=self._log("lb-haproxy"),
        )
        wait_tcp(lb.address, 80, "HAProxy")

    def start_worker(self, name: str) -> None:
        """Start a Celery worker (2 processes) on host `name`."""
        self.host(name).spawn(
            [
                str(BIN / "celery"), "-A", "pingback", "worker",
                "--concurrency=2", "--loglevel=INFO",
                "--without-gossip", "--without-mingle", "-n", f"{name}@cluster",
            ],
            env=self.env(),
            cwd=ROOT,
            log=self._log(f"{name}-celery"),
        )  # fmt: skip

    def _start_beat(self) -> None:
        self.host("beat").spawn(
            [
                str(BIN / "celery"), "-A", "pingback", "beat", "--loglevel=INFO",
                f"--schedule={self.workdir / 'celerybeat-schedule'}",
            ],
            env=self.env(),
            cwd=ROOT,
            log=self._log("beat-celery"),
        )  # fmt: skip

    def _wait_workers(self, names: list[str]) -> None:
        from pingback.celery import app

        wanted = {f"{name}@cluster" for name in names}
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            answered = set()
            for reply in app.control.ping(timeout=1.0) or []:
                answered |= set(reply)
            if wanted <= answered:
                return
        raise RuntimeError(f"Celery workers {sorted(wanted)} did not answer a ping")

    def _setup_demo(self) -> None:
        self.demo_output = self.manage(
            "setup_demo",
            "--password",
            "cluster-password",
            "--sandbox-url",
            self.sandbox_url,
            extra={"PINGBACK_SANDBOX": "1"},
        )
        (self.logs / "setup_demo.log").write_text(
            "\n".join(
                "API token: (not kept in the log)"
                if line.startswith("API token")
                else line
                for line in self.demo_output.splitlines()
            )
        )

    # Stopping ------------------------------------------------------------

    def close(self) -> None:
        """Stop every process on every host; delete the network."""
        if self.net is not None:
            self.net.close()
            self.mark("every host stopped, network deleted")
