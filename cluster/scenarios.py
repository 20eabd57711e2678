"""What the cluster must do, each scenario a function of the running `Cluster`
answering a dict with `passed` (bool), `checks` (what was seen, in words) and
its figures.

1. `webhooks_every_platform`: a customer writes on X, Telegram, WhatsApp,
   Instagram and SMS; the sandbox host POSTs each platform's signed webhook
   to the load balancer; each is stored exactly once, also after the
   platform delivers it again (Telegram's redelivery, X's retry).
2. `reply_on_b`: an agent's reply posted on web host B (web2) is delivered
   to the platform exactly once, by whichever worker takes it.
3. `websocket_a_sees_b`: an agent's inbox websocket on web host A (web1's
   realtime process) hears of a message whose webhook was POSTed to web2.
4. `attachment_shared`: a customer's photo, fetched from the platform by a
   worker and stored in the bucket on the db host, is served byte for byte
   by web1 and by web2.
5. `kills_under_load`: webhooks (X DMs signed by the load generator, and
   Telegram, WhatsApp, Instagram and SMS posted by the sandbox host) and
   replies through the load balancer while web1 and worker1 are SIGKILLed;
   every acknowledged webhook is stored once, every accepted reply is
   delivered once.

Counting: a webhook is *acknowledged* when PingBack answered it 2xx (the
load generator retries the same signed event after a connection error or a
5xx, as platforms do); *stored* when its message is in the database; a
*duplicate* is a second message of the same event (same text, unique per
event). A reply is *accepted* when the API answered 202; *delivered* when the
sandbox's Telegram received its `sendMessage`; a *duplicate* is a second
`sendMessage` of the same reply (same text, unique per reply). A reply whose
worker died while sending it is marked `uncertain` by PingBack (it may or may
not have reached the platform; PingBack never resends it on its own, the
agent sees it and chooses): one not received by the platform is counted
apart (`uncertain_not_delivered`), not as missing; *missing* is an accepted
reply neither delivered nor marked uncertain.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import threading
import time
import uuid
from collections import Counter
from typing import Any

import requests

from cluster.stack import Cluster

SIGNATURE_HEADER = "x-twitter-webhooks-signature"
WAIT_S = 60.0
SETTLE_S = 3.0
LOAD_S = 24.0
KILL_WEB_AT_S = 6.0
KILL_WORKER_AT_S = 10.0
WEBHOOK_THREADS = 4
REPLY_THREADS = 2
LOAD_PLATFORMS = ("telegram", "whatsapp", "instagram", "sms")
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
    b"\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01"
    b"\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


def http() -> requests.Session:
    """A session that ignores proxy settings from the environment and
    trusts the run's certificate authority (the load balancer's HTTPS)."""
    session = requests.Session()
    session.trust_env = False
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or True
    return session


def wait_until(predicate, timeout: float = WAIT_S, interval: float = 0.2):
    """`predicate()` once truthy, or its last (falsy) value after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def inbound_count(text: str) -> int:
    """Inbound messages whose text is `text`."""
    from conversations.models import Message

    return Message.objects.filter(direction="inbound", text=text).count()


def sandbox_sends(cluster: Cluster) -> Counter:
    """How many times the sandbox's Telegram received each text in a
    `sendMessage` (the platform's side of delivery)."""
    answer = http().get(f"{cluster.sandbox_url}/_sandbox/requests", timeout=30)
    answer.raise_for_status()
    sent: Counter = Counter()
    for record in answer.json()["requests"]:
        if record.get("platform") == "telegram" and record["path"].endswith(
            "/sendMessage"
        ):
            body = record.get("json") or {}
            if 200 <= (record.get("status") or 0) < 300:
                sent[body.get("text", "")] += 1
    return sent


def senders(cluster: Cluster, message_ids) -> dict[str, int]:
    """Which worker host logged `delivery.sent` for each of `message_ids`:
    `{worker host: count}`, read from the workers' logs."""
    wanted = set(message_ids)
    found: Counter = Counter()
    for name in ("worker1", "worker2"):
        log = cluster.logs / f"{name}-celery.log"
        if not log.exists():
            continue
        for line in log.read_text(errors="replace").splitlines():
            if '"delivery.sent"' not in line:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("message_id") in wanted:
                found[name] += 1
    return dict(found)


def web_hits(cluster: Cluster, path_start: str) -> dict[str, int]:
    """Requests whose path starts with `path_start` in each web host's
    gunicorn access log: `{web host: count}`."""
    hits = {}
    for name in ("web1", "web2"):
        log = cluster.logs / f"{name}-gunicorn.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        hits[name] = text.count(f"POST {path_start}")
    return hits


def api_token(cluster: Cluster) -> str:
    """The demo admin's API token, from `setup_demo`'s output."""
    for line in cluster.demo_output.splitlines():
        if line.startswith("API token: "):
            return line.split(": ", 1)[1].strip()
    raise RuntimeError("setup_demo printed no API token")


def x_webhook_channel():
    """The demo's X channel that receives webhooks (not the polling one)."""
    from channels_app.models import Channel

    return Channel.objects.filter(type="x").exclude(config__delivery="polling").get()


def signed_x_dm(text: str) -> tuple[bytes, str]:
    """An X DM webhook (a new event) from a customer to the demo account:
    its body and its signature header's value."""
    from sandbox.platforms.x.payloads import DEMO_APP, XUser, dm_payload, new_id, sign

    customer = XUser(
        id="2300000000000000001",
        screen_name="cluster_customer",
        name="Cluster Customer",
    )
    payload = dm_payload(
        account=DEMO_APP.account, customer=customer, text=text, event_id=new_id()
    )
    body = json.dumps(payload, separators=(",", ":")).encode()
    return body, sign(body, DEMO_APP.consumer_secret)


def _acknowledged(deliveries: list[dict]) -> bool:
    return bool(deliveries) and all(
        200 <= (d.get("status_code") or 0) < 300 for d in deliveries
    )


# 1 ------------------------------------------------------------------------


def webhooks_every_platform(cluster: Cluster) -> dict[str, Any]:
    """Each platform's customer writes (the sandbox POSTs the signed webhook
    to the load balancer), then the platform delivers the same event again;
    every message is stored exactly once."""
    from sandbox.core.delivery import json_bytes
    from sandbox.platforms.x.payloads import DEMO_APP, sign

    session = http()
    base = f"{cluster.sandbox_url}/_sandbox"
    nonce = uuid.uuid4().hex[:8]
    per_platform = 4
    rows = []
    for platform, path, field in (
        ("x", "x/customer/dm", "text"),
        ("telegram", "telegram/customer/message", "text"),
        ("whatsapp", "whatsapp/customer/message", "text"),
        ("instagram", "instagram/customer/message", "text"),
        ("sms", "sms/customer/message", "body"),
    ):
        texts, acked, redelivered = [], 0, 0
        for index in range(per_platform):
            text = f"cluster {platform} {index} {nonce}"
            answer = session.post(f"{base}/{path}", json={field: text}, timeout=30)
            answer.raise_for_status()
            result = answer.json()
            deliveries = result.get("deliveries") or [result.get("delivery") or {}]
            acked += _acknowledged(deliveries)
            texts.append(text)
            # The platform delivers the same event again (a retry after a
            # lost answer): Telegram through its stand-in, X by the same
            # signed body POSTed again to the same URL.
            if platform == "telegram":
                again = session.post(
                    f"{base}/telegram/customer/redeliver",
                    json={"update_id": result["update_id"]},
                    timeout=30,
                ).json()
                redelivered += _acknowledged([again.get("delivery") or {}])
            elif platform == "x":
                body = json_bytes(result["payload"])
                again = session.post(
                    deliveries[0]["url"],
                    data=body,
                    headers={
                        "Content-Type": "application/json",
                        SIGNATURE_HEADER: sign(body, DEMO_APP.consumer_secret),
                    },
                    timeout=30,
                )
                redelivered += 200 <= again.status_code < 300
        rows.append(
            {
                "platform": platform,
                "texts": texts,
                "sent": per_platform,
                "acknowledged": acked,
                "delivered_again": redelivered,
            }
        )
    every_text = [text for row in rows for text in row["texts"]]
    wait_until(lambda: all(inbound_count(t) >= 1 for t in every_text))
    time.sleep(SETTLE_S)
    for row in rows:
        counts = [inbound_count(t) for t in row.pop("texts")]
        row["stored"] = sum(1 for c in counts if c >= 1)
        row["duplicated"] = sum(c - 1 for c in counts if c > 1)
    passed = all(
        row["acknowledged"] == row["sent"] == row["stored"] and not row["duplicated"]
        for row in rows
    ) and all(row["delivered_again"] == row["sent"] for row in rows[:2])
    return {
        "passed": passed,
        "platforms": rows,
        "checks": "each platform's webhooks POSTed by the sandbox host to the "
        "load balancer, acknowledged and stored once; X and Telegram events "
        "delivered a second time and still stored once",
    }


# 2 ------------------------------------------------------------------------


def telegram_conversation_id() -> int:
    """The demo customer's Telegram conversation (scenario 1 made it)."""
    from conversations.models import Conversation

    return Conversation.objects.filter(channel_type="telegram").latest("id").id


def reply_on_b(cluster: Cluster) -> dict[str, Any]:
    """An agent's reply posted on web2 (bypassing the load balancer) is sent
    once to the platform."""
    from conversations.models import Message

    conversation_id = telegram_conversation_id()
    text = f"cluster reply on web2 {uuid.uuid4().hex[:8]}"
    answer = http().post(
        f"{cluster.web_url('web2')}/api/v1/conversations/{conversation_id}/messages",
        json={"text": text},
        headers={"Authorization": f"Bearer {api_token(cluster)}"},
        timeout=30,
    )
    accepted = answer.status_code == 202
    message_id = answer.json().get("id") if accepted else None
    wait_until(lambda: sandbox_sends(cluster)[text] >= 1)
    time.sleep(SETTLE_S)
    sends = sandbox_sends(cluster)[text]
    status = (
        Message.objects.filter(pk=message_id).values_list("status", flat=True).first()
    )
    return {
        "passed": accepted and sends == 1 and status == "sent",
        "answer": answer.status_code,
        "message_id": message_id,
        "sends_seen_by_platform": sends,
        "status": status,
        "sent_by": senders(cluster, [message_id]),
        "checks": "reply POSTed to web2's gunicorn, answered 202, sent once "
        "to the sandbox's Telegram by a worker, marked sent",
    }


# 3 ------------------------------------------------------------------------


def websocket_a_sees_b(cluster: Cluster) -> dict[str, Any]:
    """The admin's inbox websocket, open on web1's realtime process, hears of
    a message whose webhook web2 took."""
    from django.contrib.auth import get_user_model

    from bench.realtime import InboxSocket
    from conversations.models import Message
    from sandbox.management.commands.setup_demo import DEMO_EMAIL

    user = get_user_model().objects.get(username=DEMO_EMAIL)
    channel = x_webhook_channel()
    heard: dict[int, float] = {}
    heard_via_lb: dict[int, float] = {}
    text = f"cluster websocket {uuid.uuid4().hex[:8]}"
    # A second agent tab through the load balancer's `/ws/` route (plain
    # HTTP port: the websocket client is given no CA), on whichever realtime
    # process HAProxy picks.
    lb_plain = f"http://{cluster.address('lb')}"
    with (
        InboxSocket(cluster.realtime_url("web1"), user, heard),
        InboxSocket(lb_plain, user, heard_via_lb),
    ):
        body, signature = signed_x_dm(text)
        posted = time.time()
        answer = http().post(
            f"{cluster.web_url('web2')}/api/v1/webhooks/x/{channel.pk}",
            data=body,
            headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature},
            timeout=30,
        )
        message_id = wait_until(
            lambda: (
                Message.objects.filter(text=text).values_list("id", flat=True).first()
            )
        )
        wait_until(
            lambda: message_id in heard and message_id in heard_via_lb, timeout=30
        )
    seen = message_id in heard
    return {
        "passed": answer.status_code == 200
        and bool(message_id)
        and seen
        and message_id in heard_via_lb,
        "heard_through_lb_ws": message_id in heard_via_lb,
        "webhook_answer_from_web2": answer.status_code,
        "message_id": message_id,
        "heard_on_web1": seen,
        "latency_ms": round((heard[message_id] - posted) * 1000) if seen else None,
        "checks": "websocket on web1:8001 (realtime), webhook POSTed to "
        "web2:8000; the created message's event arrived on the websocket "
        "without reloading anything (and on a second websocket opened "
        "through the load balancer's /ws/ route)",
    }


# 4 ------------------------------------------------------------------------


def attachment_shared(cluster: Cluster) -> dict[str, Any]:
    """A customer's Telegram photo: the webhook goes through the load
    balancer, a worker fetches the file from the platform into the bucket;
    web1 and web2 both serve it."""
    import boto3

    from conversations.models import Message
    from conversations.services.attachments import attachment_link

    caption = f"cluster photo {uuid.uuid4().hex[:8]}"
    answer = http().post(
        f"{cluster.sandbox_url}/_sandbox/telegram/customer/message",
        json={
            "kind": "photo",
            "text": caption,
            "file": {
                "name": "label.png",
                "content_type": "image/png",
                "content_base64": base64.b64encode(PNG).decode(),
            },
        },
        timeout=30,
    )
    answer.raise_for_status()

    def stored():
        message = Message.objects.filter(text=caption).first()
        if message and message.attachments and message.attachments[0].get("stored"):
            return message
        return None

    message = wait_until(stored)
    served = {}
    if message:
        link = attachment_link(message.id, 0)
        for web in ("web1", "web2"):
            got = http().get(f"{cluster.web_url(web)}{link}", timeout=30)
            served[web] = got.status_code == 200 and got.content == PNG
    env = cluster.env()
    bucket = boto3.client(
        "s3",
        endpoint_url=env["PINGBACK_MEDIA_S3_ENDPOINT_URL"],
        region_name=env["PINGBACK_MEDIA_S3_REGION"],
        aws_access_key_id=env["PINGBACK_MEDIA_S3_ACCESS_KEY_ID"],
        aws_secret_access_key=env["PINGBACK_MEDIA_S3_SECRET_ACCESS_KEY"],
    )
    objects = bucket.list_objects_v2(Bucket=env["PINGBACK_MEDIA_S3_BUCKET"])
    keys = [item["Key"] for item in objects.get("Contents", [])]
    return {
        "passed": bool(message) and served == {"web1": True, "web2": True},
        "message_id": message.id if message else None,
        "attachment": (message.attachments[0] if message else None),
        "objects_in_bucket": len(keys),
        "served_identical": served,
        "checks": "photo fetched from the sandbox by a worker, stored in the "
        "S3 bucket on the db host, the same bytes served by web1 and by web2",
    }


# 5 ------------------------------------------------------------------------


class Load:
    """Webhook and reply posters hitting the load balancer until `stop`."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.webhooks_acked: list[str] = []
        self.webhooks_attempts = 0
        self.webhooks_retries = 0
        self.webhooks_given_up: list[str] = []
        self.replies_acked: dict[str, int] = {}
        self.replies_failed = 0
        # Per platform posted through the sandbox host: texts acknowledged,
        # and texts whose every delivery went unacknowledged.
        self.platform_acked: dict[str, list[str]] = {p: [] for p in LOAD_PLATFORMS}
        self.platform_unacked: dict[str, list[str]] = {p: [] for p in LOAD_PLATFORMS}
        self.platform_redeliveries = 0
        self.numbers = itertools.count()
        self.channel_id = x_webhook_channel().pk
        self.conversation_id = telegram_conversation_id()
        self.token = api_token(cluster)
        self.nonce = uuid.uuid4().hex[:8]

    def webhooks(self) -> None:
        """POST new signed X DMs; retry each until it is answered 2xx."""
        session = http()
        url = f"{self.cluster.lb_url}/api/v1/webhooks/x/{self.channel_id}"
        while not self.stop.is_set():
            text = f"cluster load {self.nonce} dm {next(self.numbers)}"
            body, signature = signed_x_dm(text)
            for attempt in range(30):
                with self.lock:
                    self.webhooks_attempts += 1
                    self.webhooks_retries += attempt > 0
                try:
                    answer = session.post(
                        url,
                        data=body,
                        headers={
                            "Content-Type": "application/json",
                            SIGNATURE_HEADER: signature,
                        },
                        timeout=15,
                    )
                    if 200 <= answer.status_code < 300:
                        with self.lock:
                            self.webhooks_acked.append(text)
                        break
                except requests.RequestException:
                    session = http()
                time.sleep(0.2)
            else:
                with self.lock:
                    self.webhooks_given_up.append(text)

    def platform_webhooks(self) -> None:
        """Customers of Telegram, WhatsApp, Instagram and SMS write in turn;
        the sandbox host POSTs each signed webhook to the load balancer.
        A Telegram update left unacknowledged is delivered again (Telegram
        retries); the sandbox's other platforms have no redelivery, so an
        unacknowledged event of theirs is counted as not acknowledged."""
        session = http()
        base = f"{self.cluster.sandbox_url}/_sandbox"
        for platform in itertools.cycle(LOAD_PLATFORMS):
            if self.stop.is_set():
                return
            text = f"cluster load {self.nonce} {platform} {next(self.numbers)}"
            field = "body" if platform == "sms" else "text"
            try:
                result = session.post(
                    f"{base}/{platform}/customer/message",
                    json={field: text},
                    timeout=30,
                ).json()
            except (requests.RequestException, ValueError):
                session = http()
                with self.lock:
                    self.platform_unacked[platform].append(text)
                continue
            deliveries = result.get("deliveries") or [result.get("delivery") or {}]
            acked = _acknowledged(deliveries)
            if not acked and platform == "telegram" and "update_id" in result:
                for _ in range(30):
                    time.sleep(0.3)
                    with self.lock:
                        self.platform_redeliveries += 1
                    again = session.post(
                        f"{base}/telegram/customer/redeliver",
                        json={"update_id": result["update_id"]},
                        timeout=30,
                    ).json()
                    if _acknowledged([again.get("delivery") or {}]):
                        acked = True
                        break
            with self.lock:
                (self.platform_acked if acked else self.platform_unacked)[
                    platform
                ].append(text)

    def replies(self) -> None:
        """POST replies (no retry: a reply without an answer may or may not
        exist, and is not counted as accepted)."""
        session = http()
        url = (
            f"{self.cluster.lb_url}/api/v1/conversations/"
            f"{self.conversation_id}/messages"
        )
        headers = {"Authorization": f"Bearer {self.token}"}
        while not self.stop.is_set():
            text = f"cluster load {self.nonce} reply {next(self.numbers)}"
            try:
                answer = session.post(
                    url, json={"text": text}, headers=headers, timeout=15
                )
            except requests.RequestException:
                session = http()
                with self.lock:
                    self.replies_failed += 1
                continue
            with self.lock:
                if answer.status_code == 202:
                    self.replies_acked[text] = answer.json()["id"]
                else:
                    self.replies_failed += 1
            time.sleep(0.1)


def kills_under_load(cluster: Cluster) -> dict[str, Any]:
    """Load through the load balancer for `LOAD_S` s; web1 SIGKILLed at
    `KILL_WEB_AT_S` s, worker1 at `KILL_WORKER_AT_S` s. Then every
    acknowledged webhook must be stored once and every accepted reply
    delivered once (waiting up to `WAIT_S` s for the survivors to finish)."""
    from django.db.models import Count

    from conversations.models import Message

    load = Load(cluster)
    threads = [
        threading.Thread(target=load.webhooks, daemon=True)
        for _ in range(WEBHOOK_THREADS)
    ] + [
        threading.Thread(target=load.replies, daemon=True) for _ in range(REPLY_THREADS)
    ]
    threads.append(threading.Thread(target=load.platform_webhooks, daemon=True))
    hits_before = web_hits(cluster, "/api/v1/webhooks/")
    started = time.monotonic()
    cluster.mark(
        f"load starts: {WEBHOOK_THREADS} posters of X webhooks, one of "
        f"{', '.join(LOAD_PLATFORMS)} webhooks (through the sandbox host) and "
        f"{REPLY_THREADS} of replies, all through the load balancer"
    )
    for thread in threads:
        thread.start()
    killed = {}
    for at, host in ((KILL_WEB_AT_S, "web1"), (KILL_WORKER_AT_S, "worker1")):
        time.sleep(max(0.0, started + at - time.monotonic()))
        with load.lock:
            so_far = len(load.webhooks_acked), len(load.replies_acked)
        count = cluster.host(host).kill()
        killed[host] = {
            "at_s": round(time.monotonic() - started, 2),
            "processes": count,
            "webhooks_acknowledged_before": so_far[0],
            "replies_accepted_before": so_far[1],
        }
        cluster.mark(
            f"SIGKILL every process on {host} ({count}) at "
            f"{killed[host]['at_s']} s into the load"
        )
    time.sleep(max(0.0, started + LOAD_S - time.monotonic()))
    load.stop.set()
    for thread in threads:
        thread.join(timeout=60)
    cluster.mark(
        f"load stops after {round(time.monotonic() - started, 1)} s: "
        f"{len(load.webhooks_acked)} X webhooks and "
        f"{sum(len(t) for t in load.platform_acked.values())} other platforms' "
        "webhooks acknowledged, "
        f"{len(load.replies_acked)} replies accepted"
    )
    acked = set(load.webhooks_acked)
    for texts in load.platform_acked.values():
        acked |= set(texts)
    prefix = f"cluster load {load.nonce} "

    def stored_counts() -> dict[str, int]:
        return dict(
            Message.objects.filter(direction="inbound", text__startswith=prefix)
            .values_list("text")
            .annotate(n=Count("id"))
            .values_list("text", "n")
        )

    def all_stored() -> bool:
        return acked <= set(stored_counts())

    def reply_statuses() -> dict[int, str]:
        return dict(
            Message.objects.filter(
                pk__in=list(load.replies_acked.values())
            ).values_list("id", "status")
        )

    def all_delivered() -> bool:
        sent = sandbox_sends(cluster)
        status = reply_statuses()
        return all(
            sent[text] >= 1 or status.get(message_id) == "uncertain"
            for text, message_id in load.replies_acked.items()
        )

    drain_started = time.monotonic()
    wait_until(all_stored, timeout=90, interval=1.0)
    wait_until(all_delivered, timeout=90, interval=1.0)
    time.sleep(SETTLE_S * 2)
    drained_s = round(time.monotonic() - drain_started, 1)
    cluster.mark(f"survivors drained in {drained_s} s")
    counts = stored_counts()
    sent = sandbox_sends(cluster)
    reply_prefix = f"cluster load {load.nonce} reply "
    reply_sends = {t: n for t, n in sent.items() if t.startswith(reply_prefix)}
    status_of = reply_statuses()
    statuses = Counter(status_of.values())
    undelivered = [
        message_id
        for text, message_id in load.replies_acked.items()
        if reply_sends.get(text, 0) == 0
    ]
    sources = {"x": ("dm", load.webhooks_acked, load.webhooks_given_up)}
    for platform in LOAD_PLATFORMS:
        sources[platform] = (
            platform,
            load.platform_acked[platform],
            load.platform_unacked[platform],
        )
    webhooks = []
    for platform, (word, acked_texts, unacked_texts) in sources.items():
        mine = {t: n for t, n in counts.items() if t.startswith(f"{prefix}{word} ")}
        webhooks.append(
            {
                "platform": platform,
                "posted_by": "load generator" if platform == "x" else "sandbox host",
                "acknowledged": len(acked_texts),
                "not_acknowledged": len(unacked_texts),
                "stored": sum(1 for t in acked_texts if mine.get(t, 0) >= 1),
                "missing": sum(1 for t in acked_texts if mine.get(t, 0) == 0),
                "duplicated": sum(n - 1 for n in mine.values() if n > 1),
                "stored_not_acknowledged": sum(
                    1 for t in mine if t not in set(acked_texts)
                ),
            }
        )
    retries = {
        "x_attempts": load.webhooks_attempts,
        "x_retried_after_error": load.webhooks_retries,
        "telegram_redeliveries": load.platform_redeliveries,
    }
    replies = {
        "accepted": len(load.replies_acked),
        "not_answered": load.replies_failed,
        "delivered": sum(1 for t in load.replies_acked if reply_sends.get(t, 0) >= 1),
        "delivered_not_accepted": sum(
            1 for t in reply_sends if t not in load.replies_acked
        ),
        # Not received by the platform, and shown to the agent as
        # `uncertain` (the worker died mid-send; PingBack never resends on
        # its own, the agent chooses): not lost silently, not sent twice.
        "uncertain_not_delivered": sum(
            1 for m in undelivered if status_of.get(m) == "uncertain"
        ),
        "missing": sum(1 for m in undelivered if status_of.get(m) != "uncertain"),
        "duplicated": sum(n - 1 for n in reply_sends.values() if n > 1),
        "statuses": dict(statuses),
        "sent_by": senders(cluster, load.replies_acked.values()),
    }
    hits_after = web_hits(cluster, "/api/v1/webhooks/")
    retries["webhooks_answered_by"] = {
        web: hits_after[web] - hits_before[web] for web in hits_after
    }
    passed = (
        all(row["acknowledged"] > 0 for row in webhooks)
        and replies["accepted"] > 0
        and not any(row["missing"] or row["duplicated"] for row in webhooks)
        and replies["missing"] == 0
        and replies["duplicated"] == 0
    )
    return {
        "passed": passed,
        "load_s": LOAD_S,
        "killed": killed,
        "webhooks": webhooks,
        "retries": retries,
        "replies": replies,
        "drained_s": drained_s,
        "checks": "every webhook acknowledged during the load is stored "
        "exactly once and every reply accepted is sent exactly once, with "
        "web1 and worker1 killed mid-load",
    }


SCENARIOS = (
    ("webhooks_every_platform", webhooks_every_platform),
    ("reply_on_b", reply_on_b),
    ("websocket_a_sees_b", websocket_a_sees_b),
    ("attachment_shared", attachment_shared),
    ("kills_under_load", kills_under_load),
)


def run_scenarios(cluster: Cluster, only: set[str] | None = None) -> dict:
    """Run the scenarios in order (those named in `only`, when given);
    `{name: result}`. A scenario that raises is recorded as failed with its
    error, and the next ones still run."""
    import traceback

    results = {}
    for name, scenario in SCENARIOS:
        if only and name not in only:
            continue
        began = time.monotonic()
        cluster.mark(f"scenario {name} starts")
        try:
            result = scenario(cluster)
        except Exception as error:  # recorded; the run goes on
            result = {
                "passed": False,
                "error": f"{type(error).__name__}: {error}",
                "traceback": traceback.format_exc(),
            }
        result["seconds"] = round(time.monotonic() - began, 1)
        cluster.mark(f"scenario {name}: {'passed' if result['passed'] else 'FAILED'}")
        results[name] = result
        print(f"{name}: {'passed' if result['passed'] else 'FAILED'}", flush=True)
        if not result["passed"]:
            print(json.dumps(result, indent=1, default=str)[:3000], flush=True)
    return results
