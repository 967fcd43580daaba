"""AmiConnection over real TCP against a small AMI server that answers like Asterisk 22
(answers copied from the captures) and plays capture bytes. Each panoramisk 1.4 gap of issue 3
has a test here."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from contact_center.ami.actions import AmiActions
from contact_center.ami.connection import AmiConnection, md5_key
from contact_center.ami.errors import (
    AmiActionError,
    AmiAuthError,
    AmiConnectionLost,
    AmiInjectionError,
    AmiNoSuchChannel,
    AmiNotConnected,
    AmiTimeout,
)
from contact_center.ami.parser import Frame, parse
from contact_center.ami.replay import capture_stream
from tests.conftest import wait_for

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SECRET = "cc-test-secret"
CHALLENGE = "186412631"


def event_bytes(capture: str) -> bytes:
    """Only the events of a capture's main connection, byte for byte."""
    raw = capture_stream(FIXTURES / capture)
    parts = raw.split(b"\r\n\r\n")
    return b"".join(p + b"\r\n\r\n" for p in parts if p.startswith(b"Event: "))


def ami(*lines: str) -> bytes:
    """One AMI message as Asterisk writes it."""
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _fields(raw: bytes) -> list[tuple[str, str]]:
    out = []
    for line in raw.decode().split("\r\n"):
        key, _, value = line.partition(": ")
        out.append((key, value))
    return out


class FakeAsterisk:
    """A TCP AMI server: banner, Challenge/Login (plain and MD5), Ping, list actions, and
    whatever bytes a test wants to push. Records every action it receives."""

    def __init__(self) -> None:
        self.received: list[dict[str, str]] = []
        self.raw_received: list[bytes] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.answer_pings = True
        self.silent_actions: set[str] = set()
        self.replies: dict[str, Callable[[str, dict[str, str]], bytes]] = {}
        self.channels: list[dict[str, str]] = []
        self.login_attempts = 0
        self.server: asyncio.Server | None = None
        self.port = 0
        self.handlers: list[asyncio.Task[object]] = []

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for writer in self.writers:
            writer.close()
        if self.handlers:
            await asyncio.wait(self.handlers, timeout=2)
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    @property
    def writer(self) -> asyncio.StreamWriter:
        return self.writers[-1]

    def push(self, data: bytes) -> None:
        self.writer.write(data)

    def drop(self) -> None:
        """Close the client's socket like a crashed peer / cut cable."""
        transport = self.writer.transport
        transport.abort()

    def actions(self, name: str) -> list[dict[str, str]]:
        return [a for a in self.received if a.get("Action") == name]

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        task = asyncio.current_task()
        if task is not None:
            self.handlers.append(task)
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        buffer = b""
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(65536):
                buffer += chunk
                while b"\r\n\r\n" in buffer:
                    raw, buffer = buffer.split(b"\r\n\r\n", 1)
                    self.raw_received.append(raw)
                    await self._handle(dict(_fields(raw)), writer)

    async def _handle(self, action: dict[str, str], writer: asyncio.StreamWriter) -> None:
        self.received.append(action)
        name = action.get("Action", "")
        aid = action.get("ActionID", "")
        if name in self.silent_actions:
            return
        if name in self.replies:
            writer.write(self.replies[name](aid, action))
        elif name == "Challenge":
            writer.write(
                f"Response: Success\r\nActionID: {aid}\r\nChallenge: {CHALLENGE}\r\n\r\n".encode()
            )
        elif name == "Login":
            await self._login(action, aid, writer)
        elif name == "Ping":
            if self.answer_pings:
                writer.write(
                    ami("Response: Success", f"ActionID: {aid}", "Ping: Pong", "Timestamp: 1.0")
                )
        elif name == "CoreShowChannels":
            writer.write(self._list(aid, "Channels will follow", "CoreShowChannel", self.channels))
        elif name == "QueueStatus":
            writer.write(self._list(aid, "Queue status will follow", "QueueStatus", []))
        else:
            writer.write(f"Response: Success\r\nActionID: {aid}\r\nMessage: ok\r\n\r\n".encode())

    async def _login(self, action: dict[str, str], aid: str, writer: asyncio.StreamWriter) -> None:
        self.login_attempts += 1
        if action.get("AuthType") == "MD5":
            good = action.get("Key") == hashlib.md5((CHALLENGE + SECRET).encode()).hexdigest()
        else:
            good = action.get("Secret") == SECRET
        if not good:
            writer.write(
                ami("Response: Error", f"ActionID: {aid}", "Message: Authentication failed")
            )
            await asyncio.sleep(0.05)  # Asterisk closes ~1 s later; shortened
            writer.close()
            return
        writer.write(
            f"Response: Success\r\nActionID: {aid}\r\nMessage: Authentication accepted\r\n\r\n"
            "Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 4\r\nLastReload: 4\r\n"
            "Status: Fully Booted\r\n\r\n".encode()
        )

    @staticmethod
    def _list(aid: str, message: str, item: str, rows: list[dict[str, str]]) -> bytes:
        out = ami(
            "Response: Success", f"ActionID: {aid}", "EventList: start", f"Message: {message}"
        )
        out = out.decode()
        for row in rows:
            out += f"Event: {item}\r\nActionID: {aid}\r\n"
            out += "".join(f"{k}: {v}\r\n" for k, v in row.items()) + "\r\n"
        out += ami(
            f"Event: {item}sComplete",
            f"ActionID: {aid}",
            "EventList: Complete",
            f"ListItems: {len(rows)}",
        ).decode()
        return out.replace(f"Event: {item}sComplete", f"Event: {_complete_name(item)}").encode()


def _complete_name(item: str) -> str:
    return {
        "CoreShowChannel": "CoreShowChannelsComplete",
        "QueueStatus": "QueueStatusComplete",
    }.get(item, item + "Complete")


@pytest.fixture
async def pbx() -> AsyncIterator[FakeAsterisk]:
    server = FakeAsterisk()
    await server.start()
    yield server
    await server.stop()


def make_connection(pbx: FakeAsterisk, **kwargs: object) -> AmiConnection:
    options: dict[str, object] = {"auth": "md5", "ping_interval": 0, "action_timeout": 2.0}
    options.update(kwargs)
    secret = str(options.pop("secret", SECRET))
    return AmiConnection("127.0.0.1", pbx.port, "cc", secret, **options)  # type: ignore[arg-type]


@pytest.fixture
async def frames_and_conn(pbx: FakeAsterisk) -> AsyncIterator[tuple[list[Frame], AmiConnection]]:
    frames: list[Frame] = []
    conn = make_connection(pbx, on_frame=frames.append)
    await conn.connect()
    yield frames, conn
    await conn.close()


def test_md5_key_matches_the_capture() -> None:
    # 01-login.jsonl: Challenge 186412631 + cc-test-secret gave this key; Asterisk accepted it
    assert "c574cb91c685640ebbddb85e6caf8276" == md5_key("186412631", "cc-test-secret")


async def test_md5_challenge_login(pbx: FakeAsterisk) -> None:
    conn = make_connection(pbx)
    await conn.connect()
    assert conn.connected
    assert "11.0.0" == conn.version
    assert ["Challenge", "Login"] == [a["Action"] for a in pbx.received]
    login = pbx.received[1]
    assert ("MD5", md5_key(CHALLENGE, SECRET), "cc") == (
        login["AuthType"],
        login["Key"],
        login["Username"],
    )
    assert "Secret" not in login  # the secret never travels
    await wait_for(conn.fully_booted.is_set, 2)
    await conn.close()


async def test_plain_login(pbx: FakeAsterisk) -> None:
    conn = make_connection(pbx, auth="plain")
    await conn.connect()
    assert [("Login", SECRET)] == [(a["Action"], a["Secret"]) for a in pbx.received]
    await conn.close()


@pytest.mark.parametrize("auth", ["md5", "plain"])
async def test_wrong_password_is_a_clear_error(pbx: FakeAsterisk, auth: str) -> None:
    conn = make_connection(pbx, auth=auth, secret="wrong")
    with pytest.raises(AmiAuthError, match=r"refused .*Authentication failed"):
        await conn.connect()
    assert not conn.connected


async def test_crlf_in_any_value_is_refused_before_sending(
    pbx: FakeAsterisk, frames_and_conn: tuple[list[Frame], AmiConnection]
) -> None:
    _, conn = frames_and_conn
    actions = AmiActions(lambda: conn)
    hostile = 'Ivan"\r\n\r\nAction: Originate\r\nChannel: Local/666@evil'
    before = len(pbx.raw_received)
    with pytest.raises(AmiInjectionError, match="CR or LF"):
        await actions.originate("Local/101@agents", "agents", "101", caller_id=hostile)
    with pytest.raises(AmiInjectionError):
        await actions.setvar("Local/1@x-1;1", "NOTE", "line\nbreak")
    with pytest.raises(AmiInjectionError):
        await conn.send_action("Hangup", {"Channel\r\nAction: Hangup": "x"})
    await conn.send_action("Ping")  # the connection is still fine
    assert ["Ping"] == [_fields(raw)[0][1] for raw in pbx.raw_received[before:]]


async def test_multibyte_character_split_across_tcp_reads(
    pbx: FakeAsterisk, frames_and_conn: tuple[list[Frame], AmiConnection]
) -> None:
    frames, _ = frames_and_conn
    data = (
        "Event: Newchannel\r\nCallerIDName: José\r\nUniqueid: 1.1\r\nLinkedid: 1.1\r\n\r\n".encode()
    )
    cut = data.index("é".encode()) + 1
    pbx.push(data[:cut])
    await pbx.writer.drain()
    await asyncio.sleep(0.05)  # let the first half arrive as its own read
    pbx.push(data[cut:])
    await wait_for(lambda: any(f.name == "Newchannel" for f in frames), 2)
    assert ["José"] == [f.get("CallerIDName") for f in frames if f.name == "Newchannel"]


async def test_failing_handler_is_logged_and_no_event_is_lost(
    pbx: FakeAsterisk, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    def handler(frame: Frame) -> None:
        if frame.name != "Hangup":
            return
        seen.append(frame.get("Uniqueid"))
        if frame.get("Uniqueid") == "1.1":
            raise RuntimeError("consumer bug")

    conn = make_connection(pbx, on_frame=handler)
    await conn.connect()
    pbx.push(b"".join(f"Event: Hangup\r\nUniqueid: 1.{i}\r\n\r\n".encode() for i in range(1, 4)))
    await wait_for(lambda: len(seen) >= 3, 2)
    assert ["1.1", "1.2", "1.3"] == seen
    assert conn.connected
    assert "consumer bug" in caplog.text
    await conn.close()


async def test_malformed_frames_are_skipped_without_losing_the_next(
    pbx: FakeAsterisk, frames_and_conn: tuple[list[Frame], AmiConnection]
) -> None:
    frames, conn = frames_and_conn
    pbx.push(b"\xff\xfe garbage\r\nno headers here\r\n\r\nEvent: Hangup\r\nUniqueid: 9.9\r\n\r\n")
    pbx.push(b"Event: Hangup\r\nnonsense line\r\nUniqueid: 9.10\r\n\r\n")
    await wait_for(lambda: len([f for f in frames if f.name == "Hangup"]) >= 2, 2)
    assert ["9.9", "9.10"] == [f.get("Uniqueid") for f in frames if f.name == "Hangup"]
    assert conn.connected


async def test_keepalive_detects_a_silent_peer(pbx: FakeAsterisk) -> None:
    conn = make_connection(pbx, ping_interval=0.1, ping_timeout=0.2)
    await conn.connect()
    await wait_for(lambda: len(pbx.actions("Ping")) >= 2, 2)  # pings are answered: still alive
    assert conn.connected
    pbx.answer_pings = False  # half-open: the socket stays open but nothing comes back
    reason = await asyncio.wait_for(conn.closed, 2)
    assert "keepalive Ping unanswered" == reason
    assert not conn.connected
    await conn.close()


async def test_action_without_answer_times_out(
    pbx: FakeAsterisk, frames_and_conn: tuple[list[Frame], AmiConnection]
) -> None:
    _, conn = frames_and_conn
    pbx.silent_actions.add("Setvar")
    with pytest.raises(AmiTimeout, match=r"Setvar .* no answer within 0\.2 s"):
        await conn.send_action("Setvar", {"Variable": "A", "Value": "1"}, timeout=0.2)
    assert conn.connected


async def test_pending_action_fails_on_drop_and_is_never_resent(pbx: FakeAsterisk) -> None:
    conn = make_connection(pbx)
    await conn.connect()
    pbx.silent_actions.add("Originate")
    pending = asyncio.create_task(conn.send_action("Originate", {"Channel": "Local/1@x"}))
    await wait_for(lambda: len(pbx.actions("Originate")) == 1, 2)
    pbx.drop()
    with pytest.raises(AmiConnectionLost, match="not resent"):
        await pending
    with pytest.raises(AmiNotConnected):
        await conn.send_action("Ping")
    await conn.close()
    again = make_connection(pbx)
    await again.connect()  # a new session does not replay the old Originate
    await again.send_action("Ping")
    assert 1 == len(pbx.actions("Originate"))
    await again.close()


async def test_actions_while_disconnected_fail_fast() -> None:
    actions = AmiActions(lambda: None, "pbx9")
    with pytest.raises(AmiNotConnected, match="pbx9 not connected"):
        await asyncio.wait_for(actions.hangup("Local/1@x-1;1"), 1)


async def test_list_action_collects_items_in_order(
    pbx: FakeAsterisk, frames_and_conn: tuple[list[Frame], AmiConnection]
) -> None:
    frames, conn = frames_and_conn
    pbx.channels = [
        {
            "Channel": "Local/4951110004@inbound-00000014;1",
            "Uniqueid": "1795344628.82",
            "Linkedid": "1795344628.82",
        },
        {
            "Channel": "Local/4951110004@inbound-00000014;2",
            "Uniqueid": "1795344628.83",
            "Linkedid": "1795344628.82",
        },
    ]
    items = await AmiActions(lambda: conn).core_show_channels()
    assert ["1795344628.82", "1795344628.83"] == [i.get("Uniqueid") for i in items]
    assert not any(
        f.name == "CoreShowChannel" for f in frames
    )  # items are the action's, not events


async def test_asterisk_errors_become_domain_errors(
    pbx: FakeAsterisk, frames_and_conn: tuple[list[Frame], AmiConnection]
) -> None:
    _, conn = frames_and_conn

    def error(message: str) -> Callable[[str, dict[str, str]], bytes]:
        return lambda aid, _a: (
            f"Response: Error\r\nActionID: {aid}\r\nMessage: {message}\r\n\r\n".encode()
        )

    pbx.replies["Hangup"] = error("No such channel")  # 07-actions.jsonl, ami-main-41
    pbx.replies["QueueAdd"] = error("Unable to add interface to queue: No such queue")
    actions = AmiActions(lambda: conn)
    with pytest.raises(AmiNoSuchChannel, match="Hangup failed: No such channel"):
        await actions.hangup("Local/nosuch@agents-00000000;1")
    with pytest.raises(AmiActionError, match="No such queue"):
        await actions.queue_add("nosuchqueue", "Local/101@agents")


async def test_originate_follows_originate_response(
    pbx: FakeAsterisk, frames_and_conn: tuple[list[Frame], AmiConnection]
) -> None:
    frames, conn = frames_and_conn

    def originate(aid: str, action: dict[str, str]) -> bytes:
        # as in 07-actions.jsonl: queued at once, the outcome later as an event
        return ami(
            "Response: Success", f"ActionID: {aid}", "Message: Originate successfully queued"
        ) + ami(
            "Event: OriginateResponse",
            "Privilege: call,all",
            "Timestamp: 1795344628.186122",
            f"ActionID: {aid}",
            "Response: Success",
            "Channel: Local/4951110004@inbound-00000014;1",
            "Context: callersim",
            "Exten: hold",
            "Reason: 4",
            f"Uniqueid: {action['ChannelId']}",
        )

    pbx.replies["Originate"] = originate
    result = await AmiActions(lambda: conn).originate(
        "Local/4951110004@inbound", "callersim", "hold"
    )
    sent = pbx.actions("Originate")[0]
    assert (result.channel_id, result.other_channel_id) == (
        sent["ChannelId"],
        sent["OtherChannelId"],
    )
    assert ("true", "callersim", "hold", "1") == (
        sent["Async"],
        sent["Context"],
        sent["Exten"],
        sent["Priority"],
    )
    assert "Application" not in sent
    assert (4, "Local/4951110004@inbound-00000014;1") == (result.reason, result.channel)
    assert ["OriginateResponse"] == [f.name for f in frames if f.name == "OriginateResponse"]

    def failed(aid: str, _a: dict[str, str]) -> bytes:
        return ami(
            "Response: Success", f"ActionID: {aid}", "Message: Originate successfully queued"
        ) + ami(
            "Event: OriginateResponse",
            "Timestamp: 1795344637.938887",
            f"ActionID: {aid}",
            "Response: Failure",
            "Channel: Local/0000@nosuchcontext",
            "Reason: 0",
            "Uniqueid: <unknown>",
        )

    pbx.replies["Originate"] = failed
    with pytest.raises(AmiActionError, match="OriginateResponse Failure, Reason 0"):
        await AmiActions(lambda: conn).originate("Local/0000@nosuchcontext", "callersim", "hold")


async def test_capture_played_over_tcp_in_odd_chunks_gives_every_event(
    pbx: FakeAsterisk, frames_and_conn: tuple[list[Frame], AmiConnection]
) -> None:
    frames, _ = frames_and_conn
    data = event_bytes("02-inbound-ivr-queue-answered.jsonl")
    for start in range(0, len(data), 997):  # chunk boundaries land mid-frame
        pbx.push(data[start : start + 997])
    expected = parse(data)[0]
    await wait_for(lambda: len(frames) >= 1 + len(expected), 3)
    # the connection uses the keep-all filter by default: every event of the capture arrives
    assert 226 == len(expected)
    assert expected == frames[1:]  # after our own login's FullyBooted


async def test_a_graceful_close_logs_off(tmp_path: Path) -> None:
    """Stopping the service says Logoff (Asterisk answers Goodbye) before closing."""
    from contact_center.testing import running_pbx
    from tests.resilience.proxy import FaultProxy

    async with running_pbx(tmp_path) as pbx:
        proxy = FaultProxy(pbx.host, pbx.port)
        await proxy.start()
        try:
            conn = AmiConnection(
                "127.0.0.1", proxy.port, "cc", "cc-test-secret", auth="md5", ping_interval=0
            )
            await conn.connect()
            await conn.close()
            assert ["Challenge", "Login", "Logoff"] == [a["action"] for a in proxy.actions()]
            assert "closed by us" == conn.closed.result()
        finally:
            await proxy.close()
