"""Simulator settings: AMI users, queues, operators, files. Plain frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field

# manager.conf permission classes; "all" expands to every one of them.
ALL_CLASSES = frozenset(
    {
        "system", "call", "log", "verbose", "command", "agent", "user", "config", "dtmf",
        "reporting", "cdr", "dialplan", "originate", "agi", "cc", "aoc", "test", "security",
        "message",
    }
)  # fmt: skip


def parse_classes(text: str) -> frozenset[str]:
    """``read = system,call`` → the set of classes (``all`` means every class)."""
    names = {part.strip().lower() for part in text.split(",") if part.strip()}
    if "all" in names:
        return ALL_CLASSES
    return frozenset(names & ALL_CLASSES)


@dataclass(frozen=True, slots=True)
class User:
    """An AMI account as in manager.conf."""

    username: str
    secret: str
    read: frozenset[str] = ALL_CLASSES
    write: frozenset[str] = ALL_CLASSES


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """One queue as in queues.conf (only the knobs the simulator honours)."""

    name: str
    strategy: str = "rrmemory"  # ringall | rrmemory | leastrecent
    timeout: float = 8.0  # seconds an operator rings
    retry: float = 1.0  # pause before the next attempt
    servicelevel: int = 60
    # app_queue's wrapuptime: a member is not offered a call for this long after one ends
    wrapuptime: float = 0.0
    # autopause: "no" | "yes" (pause in this queue) | "all" (in every queue) after a
    # ring-no-answer, reason "Auto-Pause"; autopausedelay spares a member whose last call
    # ended less than that many seconds ago
    autopause: str = "no"
    autopausedelay: float = 0.0
    # [general] shared_lastcall: a call's end starts the wrap-up in all the member's queues
    shared_lastcall: bool = False


@dataclass(frozen=True, slots=True)
class Operator:
    """How an operator's phone behaves when a queue rings it.

    ``answer_after`` seconds of ringing then answer; ``None`` never answers (ring-no-answer);
    ``manual`` waits for :meth:`SimPbx.answer` (the demo console). ``talk`` hangs up after that
    many seconds of conversation (``None``: the caller or a person ends the call).
    """

    interface: str  # Local/101@agents
    name: str = ""
    answer_after: float | None = 1.0
    manual: bool = False
    talk: float | None = None
    busy: bool = False  # a PJSIP phone that answers "486 Busy Here"

    def ring_text(self) -> str:
        """The rig's ``RING_1XX`` global for this phone (60: rings out every timeout)."""
        if self.answer_after is None:
            return "60"
        return f"{self.answer_after:g}"


DEFAULT_USERS = (
    User("cc", "cc-test-secret"),
    User(
        "ccro",
        "ccro-test-secret",
        read=parse_classes("system,call,log,verbose,agent,user,config,dtmf,reporting,cdr,dialplan"),
        write=frozenset(),
    ),
)

# The operators' phones of the capture rig ([globals] RING_1XX in extensions.conf).
RIG_OPERATORS = (
    Operator("Local/101@agents", "Operator 101", answer_after=1.0),
    Operator("Local/102@agents", "Operator 102", answer_after=None),
    Operator("Local/103@agents", "Operator 103", answer_after=2.0),
)

# Used when the dial plan has no queues.conf beside it.
DEFAULT_QUEUES = (
    QueueConfig("support", strategy="rrmemory", timeout=8.0, retry=1.0, servicelevel=60),
    QueueConfig("sales", strategy="rrmemory", timeout=6.0, retry=1.0, servicelevel=30),
)


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Everything a :class:`SimPbx` needs; the defaults mirror tests/fixtures/asterisk-config."""

    host: str = "127.0.0.1"
    port: int = 0  # 0: any free port (tests)
    users: tuple[User, ...] = DEFAULT_USERS
    # Empty: the queues.conf that goes with the dial plan (the rig's with its config-more
    # addition, deploy/asterisk/queues.conf, or one beside a given extensions.conf).
    queues: tuple[QueueConfig, ...] = ()
    operators: tuple[Operator, ...] = ()
    spool_dir: str = ""  # MixMonitor files; empty: recordings are not written
    queue_log_path: str = ""  # empty: no queue_log file
    cdr_csv_path: str = ""  # Master.csv; empty: no file
    agi_host: str = "127.0.0.1"
    agi_port: int = 4573
    prompt_seconds: float = 1.0  # how long a Background()/Playback() prompt plays
    ivr_timeout: float = 8.0  # WaitExten()
    default_ring: float = 1.0  # [agents] RING when an operator is not configured
    time_scale: float = 1.0  # every simulated delay is multiplied by this (tests: 0.05)
    external_answer_after: float = 1.0  # an outside number dialled through the trunk answers
    # Atxfer: a scripted operator consults this long after the target answered, then hangs
    # up (completing the transfer). None (as in Asterisk): the consultation lasts until the
    # operator completes, aborts or swaps (features.conf codes, AMI PlayDTMF Receive), or
    # hangs up (pbx.hangup_operator, AMI Hangup), or the target hangs up.
    atxfer_complete_after: float | None = None
    # The dial plan to run: "rig" (the capture rig's extensions.conf and its config-more
    # additions, tests/fixtures), "shipped" (deploy/asterisk/extensions.conf), or the path of
    # an extensions.conf.
    dialplan: str = "rig"
    # Local channels into these contexts are simulated operators' phones: their Wait()
    # steps ring and talk as the Operator config says (default_ring when not configured).
    phone_contexts: tuple[str, ...] = ("agents",)
    trunk_endpoint: str = "trunk"  # Dial(PJSIP/<number>@trunk) reaches the simulated provider
    trunk_context: str = "from-trunk"  # where provider calls arrive (pjsip.conf context)
    phone_context: str = "operators"  # the operators' PJSIP endpoints' context
    # [globals] of the dial plan overridden, e.g. (("CC_QUEUE_TIMEOUT", "5"),)
    dialplan_globals: tuple[tuple[str, str], ...] = ()
    extra: dict[str, str] = field(default_factory=dict)
