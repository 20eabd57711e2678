"""PingBack on several hosts, on one machine: a multi-host test.

`python -m cluster` builds a small cluster out of Linux network namespaces
(`cluster.net`), starts PingBack's processes on them as a production
installation runs them (`cluster.stack`), drives it through the load
balancer (`cluster.scenarios`) and writes what it saw to
`cluster/results/latest.md` (`cluster.report`). See docs/deployment.md,
"Proof on several hosts".
"""
