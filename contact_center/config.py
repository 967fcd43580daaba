"""One configuration object: defaults → TOML file → environment (``CC_…``) → command line.

Every section is a frozen dataclass; the environment variable for a field is
``CC_<SECTION>_<FIELD>`` in upper case (``CC_DATABASE_URL``, ``CC_AMI_SECRET``). Secrets may
also be read from a file named by ``CC_<SECTION>_<FIELD>_FILE`` (docker secrets).
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the source."""


@dataclass(frozen=True, slots=True)
class GeneralSettings:
    data_dir: str = "data"
    server_id: str = "pbx1"  # id of the default Asterisk server
    timezone: str = "UTC"
    default_region: str = "RU"  # phonenumbers region for numbers without a country code
    default_area_code: str = ""  # prepended to short local numbers (e.g. 1234567 -> 495…)
    lookup_suffix_digits: int = 0  # 0 disables the last-N-digits fallback
    log_json: bool = False
    log_level: str = "INFO"


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    url: str = ""  # empty: SQLite file under data_dir
    echo: bool = False
    pool_size: int = 10


@dataclass(frozen=True, slots=True)
class BusSettings:
    backend: str = "memory"  # memory | redis
    redis_url: str = "redis://127.0.0.1:6379/0"
    stream_maxlen: int = 100_000
    prefix: str = "cc"


@dataclass(frozen=True, slots=True)
class AmiSettings:
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "cc"
    secret: str = ""
    auth: str = "md5"  # md5 | plain
    ping_interval: float = 5.0
    action_timeout: float = 10.0
    reconnect_min: float = 0.5
    reconnect_max: float = 30.0
    cdr_csv_path: str = ""  # Master.csv on a volume shared with Asterisk
    queue_log_path: str = ""
    # One active connector per server across hosts (ami/leader.py): a Redis lease on
    # leader_key(bus.prefix, server) in bus.redis_url; 0 disables it (a single host).
    leader_ttl_ms: int = 10_000


@dataclass(frozen=True, slots=True)
class AgiSettings:
    host: str = "127.0.0.1"  # FastAGI has no authentication: bind to the PBX network only
    port: int = 4573
    menus_dir: str = "ivr_menus"
    session_timeout: float = 600.0
    command_timeout: float = 30.0
    default_menu: str = "bank"  # run when the dialplan names no menu we know
    routing_rules: str = "routing.yaml"  # routing rules file; missing file: menus decide alone
    did_menus: str = ""  # DID=menu, comma-separated: "4951110006=bank,4951110007=shop"


@dataclass(frozen=True, slots=True)
class WebSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    secure_cookies: bool = False
    allowed_origins: str = ""  # comma-separated; empty: same origin only
    public_url: str = ""
    pop_templates_dir: str = ""  # a folder whose pop_*.html override the built-in card
    # added by integrations: when set, /metrics needs "Authorization: Bearer <token>"
    metrics_token: str = ""
    trusted_proxies: str = ""  # reverse proxies (addresses/networks) whose X-Forwarded-For counts
    login_failures_per_account: int = 5  # failed sign-ins before an account is locked
    login_failures_per_address: int = 20  # failed sign-ins before a client address is locked
    login_lock_seconds: int = 60  # first lock; each further failure doubles it
    login_lock_max_seconds: int = 86400  # the longest lock
    password_workers: int = 2  # threads checking passwords (argon2), off the event loop
    password_queue: int = 64  # sign-ins waiting for a check; more are told to retry (503)


@dataclass(frozen=True, slots=True)
class RecordingSettings:
    spool_dir: str = "data/recordings"
    output_format: str = "mp3"
    retention_days: int = 365
    max_bytes: int = 512 * 1024 * 1024
    max_seconds: float = 300.0
    # added by recording: post-processing and retention knobs
    workers: int = 1  # processes in the post-processing pool
    bitrate: str = "24k"  # compact format bitrate (speech)
    silence_threshold_dbfs: float = -45.0  # a 20 ms window quieter than this is dead air
    min_silence_seconds: float = 1.0  # shorter pauses are normal speech, not dead air
    keep_original: bool = False  # keep the WAV after a successful conversion
    retention_mode: str = "delete"  # delete | archive
    archive_dir: str = ""  # where "archive" moves old recordings


@dataclass(frozen=True, slots=True)
class StatsSettings:
    service_level_seconds: int = 20
    short_abandon_seconds: int = 5
    day_start_hour: int = 0
    timezone: str = ""  # empty: general.timezone
    queue_service_levels: str = ""  # per-queue thresholds: "support=60,sales=30"
    queue_wrapup_seconds: str = ""  # per-queue automatic wrap-up: "support=10"
    wrapup_reasons: str = "wrapup,acw,after-call-work"  # pause reasons counted as wrap-up
    ewt_method: str = "linear"  # linear | erlang
    default_aht_seconds: float = 180.0  # EWT before a queue has completed a call today
    publish_interval: float = 0.2  # at most one wallboard snapshot per interval


@dataclass(frozen=True, slots=True)
class BillingSettings:
    inbound_plan: str = "inbound"  # tariff plan for inbound calls (toll-free, DID)
    outbound_plan: str = "outbound"  # tariff plan for callbacks and click-to-call
    history_spill_dir: str = ""  # empty: <data_dir>/history-spill (history buffer on disk)
    history_buffer_max_events: int = 1_000_000


@dataclass(frozen=True, slots=True)
class CallbackSettings:
    """Callbacks dialled back operator-first (contact_center/callbacks)."""

    enabled: bool = True
    interval: float = 5.0  # seconds between looks for callbacks that are due
    max_attempts: int = 3  # attempts that reached the customer's line (busy, no answer…)
    retry_no_answer_minutes: float = 15.0
    retry_busy_minutes: float = 5.0
    retry_failed_minutes: float = 30.0
    operator_retry_seconds: float = 60.0  # the operator's phone was not answered
    ring_operator_seconds: int = 20  # how long the operator's phone rings first
    dial_timeout_minutes: float = 10.0  # an attempt with no outcome by then is tried again


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    # Webhooks never reach loopback, private, link-local, multicast or unspecified addresses
    # (checked when added and at every connection) unless listed here.
    allow_networks: str = ""  # networks webhooks may reach anyway: "10.1.2.0/24,::1"
    max_response_bytes: int = 65536  # read at most this much of a reply (never decompressed)
    timeout_seconds: float = 10.0  # per delivery attempt


@dataclass(frozen=True, slots=True)
class CrmSettings:
    """An external CRM the pop and the IVR ask about callers, beside the local database."""

    adapter: str = ""  # "" (no CRM) / rest / odoo
    url: str = ""  # rest: URL template, {phone} = E.164, {digits} = without +; odoo: server URL
    auth_header: str = ""  # rest: one header for every request: "Authorization: Bearer …"
    fields: str = ""  # rest: FIELD=PATH, comma-separated: "external_id=id,name=full_name"
    results_path: str = ""  # rest: dotted path of the contact list; empty: the whole answer
    link_template: str = ""  # rest: the contact's page in the CRM, {id} = its external id
    account_url: str = ""  # rest: for the IVR, a URL template with {account}; empty: local only
    odoo_database: str = ""
    odoo_login: str = ""
    odoo_password: str = ""  # the password or an API key of odoo_login
    odoo_phone_fields: str = "phone_sanitized"  # res.partner fields matched to the caller
    timeout: float = 2.0  # seconds one CRM request may take (a late answer fills the cache)
    budget: float = 0.3  # seconds a pop waits for the CRM; then the mark "CRM unavailable"
    failures_to_open: int = 5  # consecutive failures that open the circuit breaker
    open_seconds: float = 30.0  # an open breaker answers "unavailable" without asking
    cache_size: int = 10_000  # numbers whose CRM answer is kept
    cache_ttl: float = 60.0  # seconds a CRM answer is kept


@dataclass(frozen=True, slots=True)
class WallboardSettings:
    """When the wallboard's tiles turn amber or red, and in which colours (stats/http.py)."""

    sl_amber_below: float = 90.0  # service level % under which the tile is amber (the target)
    sl_red_below: float = 80.0  # service level % under which it is red
    wait_amber_seconds: float = 60.0  # longest wait from which the tile is amber
    wait_red_seconds: float = 120.0  # longest wait from which it is red
    abandon_amber_pct: float = 5.0  # abandon rate % from which the tile is amber
    abandon_red_pct: float = 10.0  # abandon rate % from which it is red
    ok_colour: str = "#276749"  # tiles within their thresholds (colours: #rgb or #rrggbb)
    amber_colour: str = "#b7791f"  # the amber tiles
    red_colour: str = "#c53030"  # the red tiles
    queues: str = ""  # per queue, any key above: "support.sl_red_below=70,sales.red_colour=#9b2c2c"


@dataclass(frozen=True, slots=True)
class Settings:
    general: GeneralSettings = field(default_factory=GeneralSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    bus: BusSettings = field(default_factory=BusSettings)
    ami: AmiSettings = field(default_factory=AmiSettings)
    agi: AgiSettings = field(default_factory=AgiSettings)
    web: WebSettings = field(default_factory=WebSettings)
    recording: RecordingSettings = field(default_factory=RecordingSettings)
    stats: StatsSettings = field(default_factory=StatsSettings)
    billing: BillingSettings = field(default_factory=BillingSettings)
    callbacks: CallbackSettings = field(default_factory=CallbackSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    crm: CrmSettings = field(default_factory=CrmSettings)
    wallboard: WallboardSettings = field(default_factory=WallboardSettings)

    @property
    def database_url(self) -> str:
        """The SQLAlchemy async URL; the embedded default is a SQLite file in data_dir."""
        if self.database.url:
            return self.database.url
        path = Path(self.general.data_dir).resolve() / "contact_center.sqlite3"
        return f"sqlite+aiosqlite:///{path}"

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict with secrets masked, safe to log or print."""
        out: dict[str, Any] = {}
        for sec in dataclasses.fields(self):
            values = dataclasses.asdict(getattr(self, sec.name))
            for key in values:
                secrets = {"secret", "secret_key", "password", "metrics_token", "auth_header"}
                if (key in secrets or key.endswith("_password")) and values[key]:
                    values[key] = "***"
            out[sec.name] = values
        return out


# Secrets that ship in examples and guides: as good as none in production.
WELL_KNOWN_SECRETS = frozenset({"", "change-me", "changeme", "secret", "password", "admin"})
LOCAL_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
AMI_ROLES = frozenset({"connector", "all"})
CONSOLE_ROLES = frozenset({"web", "all"})


def binds_locally(host: str) -> bool:
    """Does this bind address accept connections from this host only?"""
    import ipaddress

    if host in LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def production_problems(settings: Settings, role: str = "all") -> list[str]:
    """What makes these settings unfit to serve ``role`` in production, one phrase each
    (an empty list: fine). ``serve`` refuses to start on any of them."""
    problems: list[str] = []
    if role in AMI_ROLES and settings.ami.secret.strip().lower() in WELL_KNOWN_SECRETS:
        what = "empty" if not settings.ami.secret else "a well-known default"
        problems.append(f"the AMI secret is {what} (set CC_AMI_SECRET)")
    web = settings.web
    if not binds_locally(web.host):
        if role in CONSOLE_ROLES and not web.secure_cookies:
            problems.append(
                f"session cookies are not Secure while the web binds {web.host}"
                " (set CC_WEB_SECURE_COOKIES=true behind TLS)"
            )
        if not web.metrics_token:
            problems.append(f"/metrics would be public on {web.host} (set CC_WEB_METRICS_TOKEN)")
    return problems


_BOOL_TRUE = {"1", "true", "yes", "on"}
_BOOL_FALSE = {"0", "false", "no", "off", ""}


def _coerce(value: Any, typ: Any, where: str) -> Any:
    if typ in (bool, "bool"):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _BOOL_TRUE:
            return True
        if text in _BOOL_FALSE:
            return False
        raise ConfigError(f"{where}: expected a boolean, got {value!r}")
    if typ in (int, "int"):
        # int() would quietly turn TOML 50.5 into 50 and true into 1.
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected an integer, got {value!r}") from None
    if typ in (float, "float"):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    return str(value)


def _merge(
    base: dict[str, dict[str, Any]],
    layer: Mapping[str, Any],
    source: str,
    origins: dict[str, str] | None = None,
) -> None:
    for section, values in layer.items():
        if section not in base:
            raise ConfigError(f"{source}: unknown section [{section}]")
        if not isinstance(values, Mapping):
            raise ConfigError(f"{source}: [{section}] must be a table")
        for key, value in values.items():
            if key not in base[section]:
                raise ConfigError(f"{source}: unknown key {section}.{key}")
            base[section][key] = value
            if origins is not None:
                origins[f"{section}.{key}"] = source


def _section_classes() -> dict[str, type]:
    hints = get_type_hints(Settings)
    return {f.name: hints[f.name] for f in dataclasses.fields(Settings)}


def load_settings(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Settings:
    """Build the one Settings object from its layers; later layers win."""
    environ = os.environ if environ is None else environ
    layered: dict[str, dict[str, Any]] = {
        name: dataclasses.asdict(cls()) for name, cls in _section_classes().items()
    }
    origins: dict[str, str] = {}  # section.key → where its value came from, for errors
    path = path or environ.get("CC_CONFIG") or None
    if path:
        p = Path(path)
        try:
            with p.open("rb") as fh:
                _merge(layered, tomllib.load(fh), str(p), origins)
        except FileNotFoundError:
            raise ConfigError(f"{p}: configuration file not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: {exc}") from None
    for section, values in layered.items():
        for key in values:
            name = f"CC_{section}_{key}".upper()
            if name in environ:
                values[key] = environ[name]
                origins[f"{section}.{key}"] = f"environment {name}"
            elif f"{name}_FILE" in environ:
                origins[f"{section}.{key}"] = f"environment {name}_FILE"
                try:
                    values[key] = Path(environ[f"{name}_FILE"]).read_text().strip()
                except OSError as exc:
                    raise ConfigError(f"{name}_FILE: {exc}") from None
    if overrides:
        _merge(
            layered,
            {k: {kk: vv for kk, vv in v.items() if vv is not None} for k, v in overrides.items()},
            "command line",
            origins,
        )
    sections: dict[str, Any] = {}
    for name, cls in _section_classes().items():
        hints = get_type_hints(cls)
        kwargs = {
            key: _coerce(value, hints[key], _where(origins, f"{name}.{key}"))
            for key, value in layered[name].items()
        }
        sections[name] = cls(**kwargs)
    _check_crm(sections["crm"], origins)
    _check_wallboard(sections["wallboard"], origins)
    return Settings(**sections)


def _where(origins: Mapping[str, str], key: str, fallback: str = "") -> str:
    """``file: section.key`` (or the environment variable), for an error message; a key
    set nowhere is named with where ``fallback`` (the key that needs it) was set."""
    origin = origins.get(key) or origins.get(fallback)
    return f"{origin}: {key}" if origin else key


def _check_crm(crm: CrmSettings, origins: Mapping[str, str]) -> None:
    """The [crm] section can work: each mistake named with its source, key and reason."""
    from contact_center.crm.contacts import FieldMappingError, parse_field_mapping
    from contact_center.crm.rest import check_url_template, parse_header

    def fail(key: str, reason: str) -> None:
        raise ConfigError(f"{_where(origins, f'crm.{key}', 'crm.adapter')}: {reason}")

    if crm.adapter not in ("", "rest", "odoo"):
        fail("adapter", f"unknown CRM adapter {crm.adapter!r} (use rest or odoo, or leave empty)")
    for key in ("timeout", "budget", "open_seconds", "cache_ttl"):
        if getattr(crm, key) <= 0:
            fail(key, "must be more than 0")
    if crm.failures_to_open < 1:
        fail("failures_to_open", "must be at least 1")
    if crm.cache_size < 0:
        fail("cache_size", "must not be negative")
    if not crm.adapter:
        return
    if crm.budget > crm.timeout:
        fail("budget", f"longer than crm.timeout ({crm.timeout:g} s): a pop would wait in vain")
    if crm.adapter == "rest":
        problem = check_url_template(crm.url)
        if problem:
            fail("url", problem)
        problem = check_url_template(crm.account_url, account=True) if crm.account_url else None
        if problem:
            fail("account_url", problem)
        try:
            mapping = parse_field_mapping(crm.fields)
        except FieldMappingError as exc:
            fail("fields", str(exc))
        if "name" not in mapping:
            fail("fields", "no name=PATH: the card needs the contact's name")
        try:
            parse_header(crm.auth_header)
        except ValueError as exc:
            fail("auth_header", str(exc))  # the value is a secret: not repeated
        return
    if not crm.url.startswith(("http://", "https://")):
        fail("url", "the Odoo server's URL must start with http:// or https://")
    for key in ("odoo_database", "odoo_login", "odoo_password"):
        if not getattr(crm, key):
            fail(key, "needed by the odoo adapter")


WALLBOARD_COLOURS = ("ok_colour", "amber_colour", "red_colour")
_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")


def wallboard_overrides(wallboard: WallboardSettings) -> dict[str, dict[str, float | str]]:
    """``wallboard.queues`` as {queue: {key: value}}; ConfigError (without the source) on a
    mistake: an unknown key, a number that is not one, a colour that is not #rgb/#rrggbb."""
    keys = {f.name for f in dataclasses.fields(WallboardSettings)} - {"queues"}
    out: dict[str, dict[str, float | str]] = {}
    for part in wallboard.queues.split(","):
        if not part.strip():
            continue
        name, eq, raw = part.partition("=")
        queue, dot, key = name.strip().rpartition(".")
        value = raw.strip()
        if not eq or not dot or not queue:
            raise ConfigError(f"{part.strip()!r}: expected QUEUE.KEY=VALUE")
        if key not in keys:
            raise ConfigError(f"{part.strip()!r}: unknown key {key!r} ({', '.join(sorted(keys))})")
        out.setdefault(queue, {})[key] = _wallboard_value(key, value)
    return out


def _wallboard_value(key: str, value: str) -> float | str:
    if key in WALLBOARD_COLOURS:
        if not _COLOUR.fullmatch(value):
            raise ConfigError(f"{key}: {value!r} is not a colour (#rgb or #rrggbb)")
        return value
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{key}: expected a number, got {value!r}") from None
    if number < 0:
        raise ConfigError(f"{key}: must not be negative")
    return number


def _check_wallboard(wallboard: WallboardSettings, origins: Mapping[str, str]) -> None:
    """The [wallboard] section can work: colours are colours, per-queue keys exist."""
    for key in WALLBOARD_COLOURS:
        if not _COLOUR.fullmatch(getattr(wallboard, key)):
            raise ConfigError(
                f"{_where(origins, f'wallboard.{key}')}: {getattr(wallboard, key)!r} is not a"
                " colour (#rgb or #rrggbb)"
            )
    for key in ("sl_amber_below", "sl_red_below", "wait_amber_seconds", "wait_red_seconds",
                "abandon_amber_pct", "abandon_red_pct"):  # fmt: skip
        if getattr(wallboard, key) < 0:
            raise ConfigError(f"{_where(origins, f'wallboard.{key}')}: must not be negative")
    try:
        wallboard_overrides(wallboard)
    except ConfigError as exc:
        raise ConfigError(f"{_where(origins, 'wallboard.queues')}: {exc}") from None


def reference_markdown() -> str:
    """The configuration reference (docs/configuration.md), from the dataclasses themselves:
    every setting with its environment variable, default and the comment beside it."""
    import inspect
    import re

    field_line = re.compile(r"^\s+(\w+): [^=]+= (.+?)(?:\s+#\s*(.*))?$")
    out = [
        "# Configuration reference",
        "",
        "Layers, later ones win: defaults → TOML file (`--config` or `CC_CONFIG`) → environment",
        "(`CC_<SECTION>_<KEY>`, or `CC_<SECTION>_<KEY>_FILE` naming a file that holds the value,",
        "for secrets) → command line. Generated by `contact-center config reference`.",
        "",
    ]
    for name, cls in _section_classes().items():
        out += [
            f"## [{name}]",
            "",
            "| key | environment | default | meaning |",
            "|---|---|---|---|",
        ]
        for line in inspect.getsource(cls).splitlines():
            m = field_line.match(line)
            if not m:
                continue
            key, default, comment = m.group(1), m.group(2), m.group(3) or ""
            env = f"CC_{name}_{key}".upper()
            out.append(f"| `{key}` | `{env}` | `{default}` | {comment.replace('|', '/')} |")
        out.append("")
    return "\n".join(out)
