"""`python -m cluster`: build the cluster, run the scenarios, write the report,
stop everything.

Needs root (network namespaces), HAProxy (`apt-get install haproxy`),
PostgreSQL's server binaries, redis-server and the virtualenv's moto. Writes
`cluster/results/latest.md` and `cluster/results/latest.json`; exits 0 when
every scenario passed, 1 when one failed, 2 when the cluster could not be
built. The run's logs (one per process) stay in the directory printed at the
end when something failed, and are deleted otherwise.

`python -m cluster --up` only builds the cluster, checks it, and tears it
down (the first step of the run, on its own).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the multi-host test; the exit status (see the module's doc)."""
    parser = argparse.ArgumentParser(prog="python -m cluster")
    parser.add_argument("--up", action="store_true", help="only build and check")
    parser.add_argument(
        "--only", action="append", help="run only this scenario (repeatable)"
    )
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("python -m cluster needs root (ip netns)", file=sys.stderr)
        return 2

    # `timeout` (as .ci/run uses it) and service managers stop with SIGTERM:
    # tear the cluster down then too.
    signal.signal(signal.SIGTERM, _interrupt)
    from cluster.net import cleanup_stale
    from cluster.stack import Cluster

    for name in cleanup_stale():
        print(f"removed {name}, left by an earlier run that is gone")
    for stale in Path(tempfile.gettempdir()).glob("pingback-cluster-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(stale, ignore_errors=True)

    workdir = Path(tempfile.gettempdir()) / f"pingback-cluster-{os.getpid()}"
    workdir.mkdir(mode=0o755)
    cluster = Cluster(workdir)
    # The orchestrator reads the cluster's database and broker as any
    # PingBack process does: with the cluster's settings.
    os.environ.update(cluster.env())
    os.chdir(Path(__file__).resolve().parents[1])
    sys.path.insert(0, os.getcwd())
    import django

    django.setup()

    status = 2
    results: dict = {}
    started = time.monotonic()
    try:
        cluster.start()
        # The load generator and the checks reach the load balancer over
        # HTTPS, trusting the run's own certificate authority.
        os.environ["REQUESTS_CA_BUNDLE"] = str(cluster.ca_path)
        status = 0
        if not args.up:
            from cluster.scenarios import run_scenarios

            results = run_scenarios(cluster, set(args.only or ()))
            status = 0 if all(r["passed"] for r in results.values()) else 1
    except KeyboardInterrupt:
        print("interrupted: stopping the cluster", file=sys.stderr)
        status = 130
    except Exception:  # reported, then everything is stopped
        traceback.print_exc()
        results["error"] = {"passed": False, "error": traceback.format_exc()}
        status = status or 1 if results.keys() - {"error"} else 2
    finally:
        cluster.close()
    runtime = round(time.monotonic() - started, 1)
    if not args.up:
        from cluster.report import write_report

        path = write_report(cluster, results, runtime_s=runtime, status=status)
        print(f"report: {path}")
    print(f"cluster run: {runtime} s, exit {status}")
    if status == 0:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"logs kept in {workdir / 'logs'}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
