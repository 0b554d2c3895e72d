"""The LOGGING phase and the admin endpoints: access + WAF logs, metrics, audit, alarms.

    logging:
      dir: bastion-data/logs          # default: <log_dir>/logs
      access_format: JSON             # CLF | JSON | XML | CSV | a $context template | off
      waf: true                       # one AWS WAF log record per request
      redact_headers: [x-session]     # beyond Authorization, Cookie, API keys, SigV4 params
      waf_logging_configuration: waf-logging.json  # `aws wafv2 get-logging-configuration`:
                                      # its RedactedFields and LoggingFilter (logfilter.py)
      trace: errors                   # decision trace in the WAF log: off | errors | info
    metrics: {enabled: true}          # /metrics (Prometheus), /_bastion/metrics (CloudWatch view)
    audit:
      dir: bastion-data/audit
      key_dir: /etc/bastion/audit-keys  # private signing key, kept apart from the logs
      data_plane: false               # also one record per API invocation
    alarms:
      - {name: blocked-spike, metric_name: BlockedRequests, namespace: AWS/WAFV2,
         threshold: 100, comparison_operator: GreaterThanThreshold, period: 60,
         evaluation_periods: 1, alarm_actions: [ops]}
    notifications:
      ops:
        - {type: webhook, url: "https://hooks.example/x", secret_env: HOOK_SECRET}
        - {type: email, host: 127.0.0.1, port: 25, sender: a@b, recipients: [c@d]}

The logging stage runs after the client has its response; records go to a bounded queue
drained by a writer thread, so a slow disk never stalls a request (drops are counted).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from bastion.clock import SystemClock
from bastion.config import Problems, Section, Settings
from bastion.gateway.gateway import GatewayContext
from bastion.observe.accesslog import AccessLogFormatter, compile_template
from bastion.observe.alarms import Alarm, AlarmEvaluator, MetricStore
from bastion.observe.audit import AuditTrail, UserIdentity
from bastion.observe.audit.signing import Signer, generate_signing_key
from bastion.observe.capture import RequestRenderer, capture, webacl_arn
from bastion.observe.logfilter import LoggingFilter, WafLoggingConfiguration
from bastion.observe.metrics import GatewayMetrics
from bastion.observe.native import LINES_AND_METRICS, native_lines
from bastion.observe.notify import EmailSink, Notifier, SlackSink, WebhookSink
from bastion.observe.redact import Redactor
from bastion.observe.waflog import WafLogBuilder
from bastion.observe.writer import LogWriter
from bastion.pipeline import Exchange, Phase, Response, Stage

__all__ = ["LoggingStage", "observe_layer"]

log = logging.getLogger("bastion.observe")

class LoggingStage:
    """LOGGING phase: one access-log line and one WAF record per request, and metrics.

    With the C part (``bastion.observe.native``) the usual request's lines and metrics are
    made here in one C call, and ``finish`` renders the rest in Python, in order. Without it,
    the request path queues one ``capture`` tuple and the writer thread updates the metrics and
    renders the lines (``RequestRenderer``) in batches; without a writer, or when its queue is
    full, the metrics are updated here.
    """

    name = "observe"
    phase = Phase.LOGGING
    priority = 0

    def __init__(self, ctx: GatewayContext, *, writer: LogWriter | None,
                 access: AccessLogFormatter | None, waf: WafLogBuilder | None,
                 metrics: GatewayMetrics | None, audit: AuditTrail | None,
                 audit_data_plane: bool, trace: str = "errors",
                 waf_filter: LoggingFilter | None = None) -> None:
        self.ctx = ctx
        self.trace = trace
        self.clock = ctx.clock
        self.metrics = metrics
        self.audit = audit
        self.audit_data_plane = audit_data_plane
        self.stage = ctx.settings.api.stage
        # with a writer, the metrics are updated there too, in batches (hot caches): they lag
        # the requests by at most one batch (64 requests or the writer's flush interval)
        self.renderer = RequestRenderer(access=access, waf=waf, stage=self.stage,
                                        api_id=ctx.settings.api.api_id,
                                        metrics=metrics if writer is not None else None,
                                        observed=metrics, waf_filter=waf_filter,
                                        account_id=ctx.settings.api.account_id,
                                        region=ctx.settings.api.region)
        self.writer = writer if self.renderer.outputs else None
        # the usual request's lines (and metrics) in C right here (None: not built, or the
        # template needs the Python path); other requests take the capture path below
        self.native: Any = None
        if self.writer is not None:
            self.writer.add_renderer(_KIND, self.renderer.outputs, self.renderer,
                                     batch=self.renderer.many)
        if self.writer is not None or metrics is not None:
            self.native = native_lines(
                access=access if self.writer is not None else None,
                waf=self.renderer.waf_encoder if self.writer is not None else None,
                getters=self.renderer.getters, stage=self.stage,
                api_id=ctx.settings.api.api_id, account_id=ctx.settings.api.account_id,
                region=ctx.settings.api.region, waf_filter=waf_filter,
                wake=self.writer.wake if self.writer is not None else None, metrics=metrics)
        if self.native is not None:
            if self.writer is not None:
                self.writer.add_source(self.renderer.outputs, self.native)
            if isinstance(self.clock, SystemClock) and not (audit and audit_data_plane):
                # the whole stage in C (it reads time.monotonic's clock itself); the Python
                # run stays for values of other types, finish for the rest
                self.native.bind_stage(_TRACE_LEVELS[trace], self.finish, self.run)
                self.run = self.native.run  # type: ignore[method-assign]

    def run(self, ex: Exchange) -> None:
        """The Python stage (``native.run`` replaces it where it can: see ``__init__``)."""
        resp = ex.response
        status = resp.status if resp is not None else 0
        total = self.clock.monotonic() - ex.started_mono
        t = ex.timings
        get = t.get
        integration_s = get("integration", 0.0)
        waf_s = get("webacl", 0.0) + get("waf", 0.0) + get("crs", 0.0) if t else 0.0
        auth_s = get("iam", 0.0) + get("authorizer", 0.0) + get("cedar", 0.0) if t else 0.0
        waf_log: dict[str, Any] | None = ex.notes.get("waf_log") if ex.notes else None
        level = self.trace
        with_trace = level == "info" or (level == "errors" and ex.interruption is not None)
        native = self.native
        done = native.render(ex, status, total, integration_s, waf_s, auth_s, waf_log,
                             with_trace) if native is not None else 0
        if done != LINES_AND_METRICS:
            self.finish(ex, status, total, integration_s, waf_s, auth_s, waf_log, with_trace,
                        done)
        if self.audit is not None and self.audit_data_plane and ex.route is not None:
            ident = ex.identity
            self.audit.event(
                "Invoke", UserIdentity(
                    type="IAMUser" if ident.get("userArn") else "Unknown",
                    arn=ident.get("userArn"), account_id=ident.get("accountId"),
                    access_key_id=ident.get("accessKey"), principal_id=ex.principal),
                event_source="execute-api.bastion.local", source_ip_address=ex.request.client_ip,
                user_agent=ex.request.headers.get("user-agent"), request_id=ex.request_id,
                request_parameters={"method": ex.request.method,
                                    "resource": ex.route.resource_path},
                response_elements={"status": status})

    def finish(self, ex: Exchange, status: int, total: float, integration_s: float,
               waf_s: float, auth_s: float, waf_log: dict[str, Any] | None, with_trace: bool,
               done: int) -> None:
        """What the C renderer left: the metrics (``done``: lines written), or the lines and
        metrics (0) through a capture."""
        writer = self.writer
        native = self.native
        route = ex.route
        # metrics alone, or lines already rendered in C: metrics straight from the exchange
        if writer is None or done:
            if self.metrics is not None:
                notes = ex.notes
                observe = self.renderer.observe_values if native is None \
                    else self.renderer.observe_now
                observe(
                    route.resource_path if route is not None else None, ex.request.method,
                    status, total, integration_s, waf_s,
                    route.route.authorizer if route is not None else None, auth_s, waf_log,
                    tuple(ex.labels) if ex.labels else (),
                    notes.get("cache") if notes else None)
        else:
            c = capture(ex, status, total, integration_s, waf_s, auth_s, waf_log,
                        with_trace=with_trace)
            if native is not None and not native.closed:
                # rendered here, in order with the C path's lines (metrics updated too)
                native.add(ex.started_at, self.renderer(c))
            elif not writer.submit(_KIND, c, ts=ex.started_at) or self.renderer.metrics is None:
                if self.metrics is not None:   # metrics count every request, queued or dropped
                    self.renderer.observe(c)


_TRACE_LEVELS = {"off": 0, "errors": 1, "info": 2}
_KIND = "request"   # the writer's record kind for captures; rendered into access + waf
# Captures are rendered 64 at a time: the writer holds the GIL for the whole batch, and 256
# (~2 ms of rendering) put the event loop's p99 at 5.2-6.3 ms against 3.5-4.1 ms with 64, for
# the same throughput (bench/observe.py, 10 alternating rounds). Smaller batches add a wake-up
# and a write per file per batch: 16 measured +4.5 us a request, 32 between -2.3 and +2.8.
_BATCH = 64


def _sinks(ctx: GatewayContext, sec: Section) -> dict[str, list[Any]]:
    topics: dict[str, list[Any]] = {}
    for topic in list(sec.data):
        entries = sec.items(topic)
        sinks: list[Any] = []
        for _line, spec in entries:
            if not isinstance(spec, dict):
                sec.error("each sink must be a mapping", topic)
                continue
            kind = spec.get("type")
            name = f"{topic}.{kind}"
            if kind == "webhook":
                secret = os.environ.get(str(spec.get("secret_env", "")), "") or str(
                    spec.get("secret", ""))
                sinks.append(WebhookSink(str(spec["url"]), secret.encode(), name=name))
            elif kind == "slack":
                sinks.append(SlackSink(str(spec["url"]), name=name))
            elif kind == "email":
                sinks.append(EmailSink(str(spec["host"]), int(spec.get("port", 25)),
                                       str(spec["sender"]), list(spec["recipients"]),
                                       name=name, starttls=bool(spec.get("starttls", False))))
            else:
                sec.error(f"unknown sink type {kind!r} (webhook, slack, email)", topic)
        topics[topic] = sinks
    return topics


def _alarms(items: list[tuple[int | None, Any]], sec: Section) -> list[Alarm]:
    out: list[Alarm] = []
    for line, spec in items:
        if not isinstance(spec, dict):
            sec.error("each alarm must be a mapping", "alarms", line=line)
            continue
        kw = dict(spec)
        for key in ("alarm_actions", "ok_actions", "insufficient_data_actions"):
            if key in kw:
                kw[key] = tuple(kw[key])
        try:
            out.append(Alarm(**kw))
        except TypeError as exc:
            sec.error(f"bad alarm: {exc}", "alarms", line=line)
    return out


def _admin_routes(ctx: GatewayContext) -> dict[str, Callable[[], Awaitable[Response]]]:
    routes: dict[str, Callable[[], Awaitable[Response]]] = ctx.resources.setdefault(
        "admin_routes", {})
    return routes


def observe_layer(ctx: GatewayContext) -> list[Stage]:
    settings = ctx.settings
    problems = Problems()
    file = str(settings.source)
    lsec = Section(settings.extra.get("logging"), file=file, path="logging", problems=problems)
    # logging.dir is relative to the config file; the default is already (<log_dir>/logs)
    configured_dir = lsec.get("dir", str, "")
    fmt = lsec.get("access_format", str, "JSON")
    waf_on = lsec.get("waf", bool, True)
    redact = [str(h) for h in lsec.get("redact_headers", list, [])]
    aws_logging = lsec.get("waf_logging_configuration", str, "")
    waf_config: WafLoggingConfiguration | None = None
    if aws_logging:
        path = Path(aws_logging)
        try:
            waf_config = WafLoggingConfiguration.load(
                path if path.is_absolute() else settings.base_dir / path)
        except ValueError as exc:
            lsec.error(str(exc), "waf_logging_configuration")
    enabled = lsec.get("enabled", bool, True)
    # the decision trace in the WAF log's bastion object: off, on refusals only, or always
    trace = lsec.get("trace", str, "errors", choices=("off", "errors", "info"))
    lsec.done()
    msec = Section(settings.extra.get("metrics"), file=file, path="metrics", problems=problems)
    metrics_on = msec.get("enabled", bool, True)
    msec.done()
    asec = Section(settings.extra.get("audit"), file=file, path="audit", problems=problems)
    audit_dir = asec.get("dir", str, "")
    key_dir = asec.get("key_dir", str, "")
    data_plane = asec.get("data_plane", bool, False)
    asec.done()
    nsec = Section(settings.extra.get("notifications"), file=file, path="notifications",
                   problems=problems)
    root = Section({"alarms": settings.extra.get("alarms")}, file=file, path="",
                   problems=problems)
    alarm_items = root.items("alarms")
    problems.raise_if_any()
    base = settings.base_dir

    if ctx.dry_run:  # validated above; a validation run writes nothing
        enabled = False
        audit_dir = ""
    writer: LogWriter | None = None
    if enabled:
        log_dir = base / configured_dir if configured_dir else settings.log_dir / "logs"
        writer = LogWriter(log_dir, clock=ctx.clock, batch=_BATCH)
        ctx.closers.append(writer.close)
        ctx.resources["log_writer"] = writer
    access = compile_template(fmt) if enabled and fmt.lower() != "off" else None
    api = settings.api
    # the same ARN as $context.webaclArn (capture.webacl_arn), so the two logs agree
    waf = WafLogBuilder(webacl_id=webacl_arn(api.region, api.account_id, api.api_id),
                        http_source_id=f"{api.api_id}:{api.stage}",
                        redactor=Redactor.from_aws(waf_config.redacted_fields, headers=redact)
                        if waf_config is not None else Redactor(headers=redact)) \
        if enabled and waf_on else None
    metrics = GatewayMetrics(version="1") if metrics_on else None
    if metrics is not None:
        ctx.resources["metrics"] = metrics
        routes = _admin_routes(ctx)

        async def prometheus() -> Response:
            return Response(200, [("Content-Type", "text/plain; version=0.0.4")],
                            metrics.expose().encode())

        async def cloudwatch() -> Response:
            return Response(200, [("Content-Type", "application/json")],
                            orjson.dumps(metrics.cloudwatch()))
        routes["/metrics"] = prometheus
        routes["/_bastion/metrics"] = cloudwatch

    audit: AuditTrail | None = None
    if audit_dir:
        adir = Path(audit_dir) if Path(audit_dir).is_absolute() else base / audit_dir
        kdir = (Path(key_dir) if Path(key_dir).is_absolute() else base / key_dir) if key_dir \
            else adir.parent / "audit-keys"
        private = kdir / "audit-private.pem"
        if not private.exists():
            private, _ = generate_signing_key(kdir)
        workers = int(os.environ.get(WORKERS_ENV, "1") or "1")
        if workers > 1:
            # one hash chain per writer: each worker process claims a stable slot directory
            adir = _claim_slot(ctx, adir, workers)
        audit = AuditTrail(adir, Signer.from_file(private), ctx.clock,
                           account_id=api.account_id, region=api.region,
                           private_key_path=private)
        ctx.resources["audit"] = audit
        ctx.closers.append(audit.close)
        audit.event("LoadConfiguration", UserIdentity(type="AWSService",
                                                      invoked_by="bastion.gateway.local"),
                    request_parameters={"config": str(settings.source), "stage": api.stage,
                                        "routes": len(ctx.api.routes)})
        _every(ctx, 30.0, audit.tick)

    alarms = _alarms(alarm_items, root)
    topics = _sinks(ctx, nsec)
    nsec.done()
    problems.raise_if_any()
    if alarms:
        if metrics is None:
            raise_config(file, "alarms need metrics.enabled")
        assert metrics is not None
        store = MetricStore(ctx.clock)
        notifier = Notifier(topics, account_id=api.account_id, region=api.region)
        ctx.closers.append(notifier.close)
        evaluator = AlarmEvaluator(store, ctx.clock, alarms, on_change=notifier)

        def beat() -> None:
            store.sample(metrics.cloudwatch())
            evaluator.evaluate()
        _every(ctx, 10.0, beat)
    if writer is None and metrics is None and not (audit is not None and data_plane):
        return []
    return [LoggingStage(ctx, writer=writer, access=access, waf=waf, metrics=metrics,
                         audit=audit, audit_data_plane=data_plane, trace=trace,
                         waf_filter=waf_config.filter if waf_config is not None else None)]


WORKERS_ENV = "BASTION_WORKERS"  # set by `bastion serve --workers N` for its worker processes


def _claim_slot(ctx: GatewayContext, audit_dir: Path, workers: int) -> Path:
    """``<audit dir>/worker-<i>``, the first slot no other live process holds (an flock on
    ``.worker-<i>.lock``, held for the life of the process): each worker keeps its own
    CloudTrail chain, continued across restarts, and ``bastion audit verify --dir`` checks
    each slot directory."""
    import fcntl

    audit_dir.mkdir(parents=True, exist_ok=True)
    for i in range(workers * 4):
        fh = open(audit_dir / f".worker-{i}.lock", "a")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            continue
        ctx.closers.append(fh.close)
        return audit_dir / f"worker-{i}"
    raise_config(str(ctx.settings.source), "no free audit trail slot for this worker")
    raise AssertionError("unreachable")


def prepare_audit_keys(settings: Settings) -> None:
    """Create the audit signing key once, before worker processes start (they would race)."""
    data = settings.extra.get("audit")
    if not isinstance(data, dict) or not data.get("dir"):
        return
    base = settings.base_dir
    adir = Path(str(data["dir"]))
    adir = adir if adir.is_absolute() else base / adir
    key_dir = data.get("key_dir")
    kdir = (Path(str(key_dir)) if Path(str(key_dir)).is_absolute() else base / str(key_dir)) \
        if key_dir else adir.parent / "audit-keys"
    if not (kdir / "audit-private.pem").exists():
        generate_signing_key(kdir)


def raise_config(file: str, message: str) -> None:
    from bastion.errors import ConfigError

    raise ConfigError(message, file=file, key="alarms")


def _every(ctx: GatewayContext, seconds: float, fn: Callable[[], None]) -> None:
    """Run ``fn`` every ``seconds`` on the event loop while the server runs."""
    async def loop() -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                fn()
            except Exception:  # a background duty must never stop
                log.exception("background task %s failed", getattr(fn, "__name__", fn))
    tasks: list[Callable[[], Awaitable[None]]] = ctx.resources.setdefault("background", [])
    tasks.append(loop)
