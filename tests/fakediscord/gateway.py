"""The gateway: HELLO, heartbeats, IDENTIFY/READY/GUILD_CREATE, RESUME with replay, dispatch."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from .server import FakeDiscord

# Intents the fake routes events by.
GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_PRESENCES = 1 << 8
GUILD_MESSAGES = 1 << 9
GUILD_MESSAGE_REACTIONS = 1 << 10
DIRECT_MESSAGES = 1 << 12
DIRECT_MESSAGE_REACTIONS = 1 << 13
MESSAGE_CONTENT = 1 << 15
PRIVILEGED = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT

EventData = dict[str, Any] | Callable[["Session"], dict[str, Any] | None]


@dataclass
class GatewayEvent:
    """One line of ``fake.gateway_log``: what happened on the gateway, for assertions."""

    kind: str  # connect, identify, ready, resume, resumed, invalid_session, close, dispatch-drop
    time: float
    session_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class Connection:
    """One websocket. Frames go through a queue so dispatch can be called synchronously."""

    def __init__(self, ws: web.WebSocketResponse, path: str, query: dict[str, str]) -> None:
        self.ws = ws
        self.path = path
        self.query = query
        self.session: Session | None = None
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.compress = query.get("compress") == "zlib-stream"
        self._z = zlib.compressobj() if self.compress else None
        self.writer: asyncio.Task[None] | None = None
        self.closed = False
        self.last_heartbeat: float | None = None

    def send(self, payload: dict[str, Any]) -> None:
        if not self.closed:
            self.queue.put_nowait(("frame", payload))

    def close(self, code: int, reason: str = "") -> None:
        if not self.closed:
            self.queue.put_nowait(("close", (code, reason)))

    def abort(self) -> None:
        """Drop the TCP connection without a close frame, like a network failure."""
        self.closed = True
        transport = None
        req = getattr(self.ws, "_req", None)
        if req is not None:
            transport = req.transport
        if transport is not None:
            transport.abort()

    async def run_writer(self) -> None:
        while True:
            kind, item = await self.queue.get()
            try:
                if kind == "close":
                    code, reason = item
                    self.closed = True
                    await self.ws.close(code=code, message=reason.encode())
                    return
                text = json.dumps(item, separators=(",", ":"), ensure_ascii=False)
                if self._z is not None:
                    data = self._z.compress(text.encode()) + self._z.flush(zlib.Z_SYNC_FLUSH)
                    await self.ws.send_bytes(data)
                else:
                    await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                self.closed = True
                return
            finally:
                self.queue.task_done()

    async def drain(self, timeout: float = 2.0) -> None:  # noqa: ASYNC109
        if self.closed:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.queue.join(), timeout)


class Session:
    """A gateway session: survives a dropped socket (for RESUME) until invalidated."""

    def __init__(self, shard: tuple[int, int] | None, intents: int) -> None:
        self.id = secrets.token_hex(16)
        self.shard = shard
        self.intents = intents
        self.seq = 0
        #: (seq, frame) of every dispatch, for replay on RESUME.
        self.buffer: list[tuple[int, dict[str, Any]]] = []
        self.conn: Connection | None = None
        self.resumable = True
        self.alive = True

    def covers(self, guild_id: int | None) -> bool:
        """Discord's routing: guild -> shard (guild_id >> 22) % count; DMs -> shard 0."""
        if self.shard is None:
            return True
        shard_id, count = self.shard
        if guild_id is None:
            return shard_id == 0
        return (guild_id >> 22) % count == shard_id

    def push(self, event: str, data: dict[str, Any]) -> int:
        self.seq += 1
        frame = {"op": 0, "t": event, "s": self.seq, "d": data}
        self.buffer.append((self.seq, frame))
        if self.conn is not None:
            self.conn.send(frame)
        return self.seq


class Gateway:
    """Owns sessions and connections; ``FakeDiscord`` provides the world and the checks."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.sessions: list[Session] = []
        self.connections: list[Connection] = []
        self.log: list[GatewayEvent] = []
        self.dispatched: list[tuple[str, dict[str, Any]]] = []

    def _log(self, kind: str, session: Session | None = None, **detail: Any) -> None:
        self.log.append(GatewayEvent(kind, time.monotonic(), session.id if session else None, detail))

    # -- websocket endpoint -------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        conn = Connection(ws, request.path, dict(request.query))
        conn.writer = asyncio.create_task(conn.run_writer(), name="fakediscord-gateway-writer")
        self.connections.append(conn)
        self._log("connect", path=request.path, query=dict(request.query))
        fake = self.fake
        conn.send(
            {
                "op": 10,
                "d": {
                    "heartbeat_interval": int(fake.heartbeat_interval * 1000),
                    "_trace": ['["fake-gateway"]'],
                },
                "s": None,
                "t": None,
            }
        )
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    try:
                        payload = json.loads(msg.data)
                    except ValueError:
                        conn.close(4002, "Error while decoding payload.")
                        continue
                    await self._on_payload(conn, payload)
                elif msg.type == WSMsgType.BINARY:
                    conn.close(4002, "Error while decoding payload.")
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            conn.closed = True
            self._log("close", conn.session, code=ws.close_code)
            session = conn.session
            if session is not None and session.conn is conn:
                session.conn = None
            if conn.writer is not None and not conn.writer.done():
                conn.writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await conn.writer
        return ws

    async def _on_payload(self, conn: Connection, payload: dict[str, Any]) -> None:
        op = payload.get("op")
        d = payload.get("d")
        if op == 1:
            conn.last_heartbeat = time.monotonic()
            conn.send({"op": 11, "d": None, "s": None, "t": None})
        elif op == 2:
            self._identify(conn, d or {})
        elif op == 6:
            self._resume(conn, d or {})
        elif conn.session is None:
            conn.close(4003, "Not authenticated.")
        elif op == 3:
            self._log("presence", conn.session, presence=d)
        elif op == 8:
            self._request_members(conn, d or {})
        elif op == 4:
            pass
        else:
            conn.close(4001, "Unknown opcode.")

    def _token_ok(self, token: Any) -> bool:
        if not isinstance(token, str):
            return False
        return token.removeprefix("Bot ") == self.fake.token

    def _identify(self, conn: Connection, d: dict[str, Any]) -> None:
        fake = self.fake
        if conn.session is not None:
            conn.close(4005, "Already authenticated.")
            return
        if not self._token_ok(d.get("token")):
            self._log("identify-rejected", reason="token")
            conn.close(4004, "Authentication failed.")
            return
        shard_raw = d.get("shard")
        shard: tuple[int, int] | None = None
        if shard_raw is not None:
            try:
                shard = (int(shard_raw[0]), int(shard_raw[1]))
            except (TypeError, ValueError, IndexError):
                shard = (-1, 0)
            if shard[1] < 1 or not 0 <= shard[0] < shard[1]:
                conn.close(4010, "Invalid shard.")
                return
        intents = d.get("intents")
        if not isinstance(intents, int) or intents < 0 or intents >= 1 << 26:
            conn.close(4013, "Invalid intent(s).")
            return
        if intents & PRIVILEGED & ~fake.privileged_intents:
            conn.close(4014, "Disallowed intent(s).")
            return
        # A new identify on the same shard replaces dead sessions of that shard.
        for old in self.sessions:
            if old.alive and old.conn is None and old.shard == shard:
                old.alive = False
        session = Session(shard, intents)
        session.conn = conn
        conn.session = session
        self.sessions.append(session)
        self._log("identify", session, shard=shard, intents=intents, properties=d.get("properties"))
        guilds = [g for g in fake.bot_guilds() if session.covers(g.id)]
        ready: dict[str, Any] = {
            "v": 10,
            "user": fake.bot.payload() | {"verified": True, "mfa_enabled": False, "email": None},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": fake.resume_gateway_url,
            "application": {"id": str(fake.application_id), "flags": fake.application_flags},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "user_settings": {},
            "geo_ordered_rtc_regions": [],
            "_trace": ['["fake-gateway"]'],
        }
        if shard is not None:
            ready["shard"] = [shard[0], shard[1]]
        session.push("READY", ready)
        self._log("ready", session, guilds=[g.id for g in guilds])
        if intents & GUILDS:
            for g in guilds:
                session.push("GUILD_CREATE", fake.guild_create_payload(g))

    def _resume(self, conn: Connection, d: dict[str, Any]) -> None:
        if not self._token_ok(d.get("token")):
            conn.close(4004, "Authentication failed.")
            return
        session = next((s for s in self.sessions if s.id == d.get("session_id")), None)
        self._log("resume", session, requested=d.get("session_id"), seq=d.get("seq"))
        if session is None or not session.alive or not session.resumable:
            if session is not None:
                session.alive = False
            self._log("invalid_session", session)
            conn.send({"op": 9, "d": False, "s": None, "t": None})
            return
        if session.conn is not None and session.conn is not conn:
            session.conn.close(4000, "Session resumed elsewhere.")
        session.conn = conn
        conn.session = session
        seq = d.get("seq") or 0
        replayed = 0
        for s, frame in session.buffer:
            if s > seq:
                conn.send(frame)
                replayed += 1
        session.push("RESUMED", {"_trace": ['["fake-gateway"]']})
        self._log("resumed", session, replayed=replayed)

    def _request_members(self, conn: Connection, d: dict[str, Any]) -> None:
        session = conn.session
        assert session is not None
        if not session.intents & GUILD_MEMBERS:
            return
        gids = d.get("guild_id")
        for gid in gids if isinstance(gids, list) else [gids]:
            guild = self.fake.guilds.get(int(gid))
            if guild is None:
                continue
            members = list(guild.members.values())
            wanted = d.get("user_ids")
            if wanted:
                wanted_ids = {int(u) for u in (wanted if isinstance(wanted, list) else [wanted])}
                members = [m for m in members if m.id in wanted_ids]
            query = d.get("query")
            if query:
                members = [m for m in members if m.user.username.lower().startswith(query.lower())]
            limit = d.get("limit") or 0
            if limit:
                members = members[:limit]
            chunk: dict[str, Any] = {
                "guild_id": str(guild.id),
                "members": [m.payload() for m in members],
                "chunk_index": 0,
                "chunk_count": 1,
                "not_found": [],
            }
            if d.get("nonce"):
                chunk["nonce"] = d["nonce"]
            session.push("GUILD_MEMBERS_CHUNK", chunk)

    # -- dispatch -----------------------------------------------------------------------

    def dispatch(self, event: str, data: EventData, *, guild_id: int | None, intent: int | None) -> int:
        """Send ``event`` to every live session whose shard and intents cover it.

        ``data`` may be a callable taking the session, for per-session payloads (returning None
        skips that session). Returns how many sessions received it.
        """
        delivered = 0
        for session in self.sessions:
            if not session.alive or not session.covers(guild_id):
                continue
            if intent is not None and not session.intents & intent:
                continue
            payload = data(session) if callable(data) else data
            if payload is None:
                continue
            session.push(event, payload)
            delivered += 1
        self.dispatched.append((event, data if isinstance(data, dict) else {}))
        return delivered

    async def drain(self) -> None:
        for conn in list(self.connections):
            await conn.drain()

    def live_connections(self, shard_id: int | None = None) -> list[Connection]:
        out = []
        for s in self.sessions:
            live = s.alive and s.conn is not None and not s.conn.closed
            if live and (shard_id is None or (s.shard or (0, 1))[0] == shard_id):
                assert s.conn is not None
                out.append(s.conn)
        return out

    async def close_all(self) -> None:
        for conn in list(self.connections):
            if not conn.closed:
                conn.close(1001, "Server shutting down.")
        for conn in list(self.connections):
            if conn.writer is not None:
                with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(asyncio.shield(conn.writer), 1.0)
            if conn.writer is not None and not conn.writer.done():
                conn.writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await conn.writer
