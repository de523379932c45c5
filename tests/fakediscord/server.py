"""``FakeDiscord``: a loopback Discord (REST v10 + gateway) and the controls tests drive it with."""

from __future__ import annotations

import asyncio
import inspect
import json
import secrets
import time
import traceback
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar
from urllib.parse import unquote

from aiohttp import hdrs, web

from . import gateway as gw
from . import interactions as ix
from .models import (
    ATTACHMENT_SIZE_LIMIT,
    DM,
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    GUILD_TEXT,
    PUBLIC_THREAD,
    Attachment,
    Channel,
    Guild,
    Member,
    Message,
    Overwrite,
    Role,
    Snowflakes,
    User,
    emoji_key,
    emoji_payload,
    id_of,
    iso,
    now,
)
from .perms import DEFAULT_BOT, DEFAULT_EVERYONE, P, base_permissions, channel_permissions, to_bits
from .ratelimit import RateLimiter, RateLimits
from .rest import NO_CONTENT, Created, attachments_from, build_routes, mentions_for
from .routing import (
    MAJOR_PARAMS,
    ApiRequest,
    Injection,
    RateLimitHit,
    RecordedRequest,
    RouteSpec,
    UploadedFile,
    pattern_matches,
)
from .validation import EMPTY_MESSAGE, ApiError, validate_commands

T = TypeVar("T")

_SENDABLE_FLAGS = (1 << 2) | (1 << 12) | (1 << 15)


class CommandNotRegistered(LookupError):
    """A test invoked a slash command Discord does not know (it was never synced)."""


class NotAvailable(PermissionError):
    """The simulated user could not do this in the Discord client (no permission, no button)."""


def _json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    # Exactly "application/json": discord.py compares the header verbatim.
    h = {hdrs.CONTENT_TYPE: "application/json", "Via": "1.1 google"}
    if headers:
        h.update(headers)
    return web.Response(status=status, body=json.dumps(body).encode(), headers=h)


def _empty_response(headers: dict[str, str] | None = None) -> web.Response:
    # 204 carries no body and no Content-Type, as on Discord (a JSON type with an empty body
    # would make discord.py try to parse "").
    h = {"Via": "1.1 google"}
    if headers:
        h.update(headers)
    return web.Response(status=204, headers=h)


class FakeDiscord:
    """A loopback Discord. Start it (``await fake.start()`` or ``async with``), point a client at
    ``api_base_url`` / ``gateway_url``, build a world with the ``create_*`` controls, then act as
    users with ``invoke``/``click``/``react``/``post_message`` and assert on ``messages``,
    ``requests`` and the returned interaction records.
    """

    def __init__(
        self,
        *,
        token: str = "fake-bot-token",
        bot_name: str = "paperbot",
        application_name: str = "paperbot",
        host: str = "127.0.0.1",
        heartbeat_interval: float = 41.25,
        interaction_deadline: float = 3.0,
        interaction_token_lifetime: float = 15 * 60,
        rate_limits: RateLimits | None = None,
        privileged_intents: int = 0,
        require_registered_commands: bool = True,
        nonce_window: float = 300.0,
    ) -> None:
        self.token = token
        self.host = host
        #: Seconds; sent in HELLO (Discord uses ~41.25 s).
        self.heartbeat_interval = heartbeat_interval
        #: Seconds from dispatch to the first interaction response (Discord: 3).
        self.interaction_deadline = interaction_deadline
        #: Seconds an interaction token accepts followups/edits (Discord: 15 min).
        self.interaction_token_lifetime = interaction_token_lifetime
        self.rate_limits = rate_limits or RateLimits()
        #: Privileged intents "enabled in the developer portal" (bits from ``gateway``).
        self.privileged_intents = privileged_intents
        #: When True (Discord's behaviour) ``invoke`` refuses commands that were never synced.
        self.require_registered_commands = require_registered_commands
        self.nonce_window = nonce_window
        self.recommended_shards = 1
        self.application_flags = 0

        self.snowflakes = Snowflakes()
        self.bot = User(self.snowflakes.next(), bot_name, bot=True)
        self.application_id = self.bot.id
        self.application_name = application_name
        self.application_owner = User(self.snowflakes.next(), "app-owner")
        self.users: dict[int, User] = {
            self.bot.id: self.bot,
            self.application_owner.id: self.application_owner,
        }
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.deleted_channel_ids: set[int] = set()
        self.messages_by_id: dict[int, Message] = {}
        self.deleted_messages: list[Message] = []
        self.custom_emoji_ids: set[int] = set()
        self._dm_by_user: dict[int, int] = {}
        self._nonces: dict[tuple[int, str], tuple[int, float]] = {}
        self.nonce_dedupes = 0

        self._commands: dict[int | None, list[dict[str, Any]]] = {}
        #: New commands created by syncs (Discord allows ~200 a day).
        self.command_creates = 0
        self.command_syncs: list[tuple[int | None, float]] = []

        self.interactions: list[ix.Interaction] = []
        self.interactions_by_id: dict[int, ix.Interaction] = {}
        self.interactions_by_token: dict[str, ix.Interaction] = {}

        #: Every REST request, in arrival order.
        self.requests: list[RecordedRequest] = []
        #: Every 429 the fake sent (route buckets, global, injected).
        self.rate_limit_hits: list[RateLimitHit] = []
        #: 401/403/429 answers, which Discord counts toward its invalid-request ban.
        self.invalid_requests = 0
        #: Missing permission bits, one entry per 50013 answer.
        self.permission_denials: list[int] = []
        #: Requests to routes the fake does not model (answered 404).
        self.unknown_routes: list[RecordedRequest] = []
        #: Exceptions inside the fake itself (answered 503); the fixture fails the test on them.
        self.internal_errors: list[str] = []

        self.limiter = RateLimiter(self.rate_limits)
        self._injections: list[Injection] = []
        self.gateway = gw.Gateway(self)
        self._routes: list[RouteSpec] = build_routes(self)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> FakeDiscord:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._entry)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def stop(self) -> None:
        await self.gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("FakeDiscord is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def api_base_url(self) -> str:
        """Value for ``discord.http.Route.BASE``."""
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        """Value for ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY``."""
        return f"ws://{self.host}:{self.port}/"

    @property
    def resume_gateway_url(self) -> str:
        """Sent in READY; a resuming client connects here (visible in ``gateway_log``)."""
        return f"ws://{self.host}:{self.port}/resume/"

    # -- HTTP entry ------------------------------------------------------------------------

    async def _entry(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self.gateway.handle(request)
        raw = request.rel_url.raw_path
        if raw.startswith("/attachments/"):
            return self._serve_attachment(raw)
        prefix = "/api/v10"
        if not raw.startswith(prefix + "/"):
            return _json_response(404, {"message": "404: Not Found", "code": 0})
        raw_path = raw[len(prefix) :]
        method = request.method.upper()
        spec, params = self._match(method, raw_path)
        rec = RecordedRequest(
            method,
            unquote(raw_path),
            spec.template if spec else None,
            dict(request.query),
            None,
            [],
            time.monotonic(),
        )
        self.requests.append(rec)
        try:
            body, files = await self._read_body(request)
        except ApiError as e:
            return self._finish(rec, _json_response(e.status, e.body))
        rec.json, rec.files = body, files
        if spec is None or params is None:
            self.unknown_routes.append(rec)
            return self._finish(rec, _json_response(404, {"message": "404: Not Found", "code": 0}))
        headers: dict[str, str] = {}
        try:
            if spec.auth == "bot" and request.headers.get("Authorization") != f"Bot {self.token}":
                raise ApiError(401, 0, "401: Unauthorized")
            injected = self._take_injection(rec, after=False)
            if injected is not None:
                rec.injected = True
                return self._finish(rec, injected)
            if self.rate_limits.enabled:
                if spec.auth == "bot":
                    decision = self.limiter.check_global()
                    if not decision.allowed:
                        return self._finish(
                            rec, self._too_many(rec, decision.retry_after, True, decision.headers, "global")
                        )
                if spec.limited:
                    major = "+".join(params[k] for k in MAJOR_PARAMS if k in params)
                    decision = self.limiter.check_route(spec.key, major)
                    headers.update(decision.headers)
                    if not decision.allowed:
                        return self._finish(
                            rec, self._too_many(rec, decision.retry_after, False, decision.headers, "user")
                        )
            req = ApiRequest(method, rec.path, params, rec.query, body, files, dict(request.headers))
            result = await spec.handler(req)
        except ApiError as e:
            return self._finish(rec, _json_response(e.status, e.body, headers))
        except Exception:
            self.internal_errors.append(traceback.format_exc())
            return self._finish(
                rec,
                _json_response(
                    503, {"message": "fake discord internal error (see fake.internal_errors)", "code": 0}
                ),
            )
        injected = self._take_injection(rec, after=True)
        if injected is not None:
            rec.injected = True
            return self._finish(rec, injected)
        if result is NO_CONTENT:
            return self._finish(rec, _empty_response(headers))
        if isinstance(result, Created):
            return self._finish(rec, _json_response(201, result.body, headers))
        return self._finish(rec, _json_response(200, result, headers))

    def _finish(self, rec: RecordedRequest, response: web.Response) -> web.Response:
        rec.status = response.status
        if response.status >= 400 and response.body:
            try:
                rec.code = json.loads(bytes(response.body)).get("code")  # type: ignore[arg-type]
            except (ValueError, TypeError, AttributeError):
                rec.code = None
        if response.status in (401, 403) or (
            response.status == 429 and response.headers.get("X-RateLimit-Scope") != "shared"
        ):
            self.invalid_requests += 1
        return response

    def _match(self, method: str, raw_path: str) -> tuple[RouteSpec | None, dict[str, str] | None]:
        for spec in self._routes:
            params = spec.match(method, raw_path)
            if params is not None:
                return spec, params
        return None, None

    async def _read_body(self, request: web.Request) -> tuple[Any, list[UploadedFile]]:
        files: list[UploadedFile] = []
        if not request.can_read_body:
            return None, files
        if request.content_type == "multipart/form-data":
            body: Any = None
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not hasattr(part, "read"):
                    continue
                data = await part.read()  # type: ignore[union-attr]
                name = part.name or ""
                filename = getattr(part, "filename", None)
                if name == "payload_json":
                    body = self._parse_json(bytes(data).decode())
                elif filename is not None:
                    files.append(
                        UploadedFile(name, filename, part.headers.get(hdrs.CONTENT_TYPE), bytes(data))
                    )
            return body, files
        text = await request.text()
        return (self._parse_json(text) if text else None), files

    @staticmethod
    def _parse_json(text: str) -> Any:
        try:
            return json.loads(text)
        except ValueError:
            raise ApiError(400, 50109, "The request body contains invalid JSON.") from None

    def _too_many(
        self,
        rec: RecordedRequest,
        retry_after: float,
        is_global: bool,
        headers: dict[str, str],
        scope: str,
        injected: bool = False,
    ) -> web.Response:
        self.rate_limit_hits.append(
            RateLimitHit(time.monotonic(), rec.method, rec.path, scope, retry_after, is_global, injected)
        )
        h = dict(headers)
        h["X-RateLimit-Scope"] = scope
        h.setdefault("Retry-After", str(max(1, int(retry_after + 0.999))))
        if is_global:
            h["X-RateLimit-Global"] = "true"
        body = {
            "message": "You are being rate limited.",
            "retry_after": round(retry_after, 3),
            "global": is_global,
        }
        if is_global:
            body["code"] = 0
        return _json_response(429, body, h)

    def _take_injection(self, rec: RecordedRequest, *, after: bool) -> web.Response | None:
        for inj in self._injections:
            if inj.after_processing != after:
                continue
            if inj.remaining <= 0 or not pattern_matches(inj.pattern, rec.method, rec.path, rec.route):
                continue
            inj.hits += 1
            if inj.status == 429:
                return self._too_many(
                    rec,
                    inj.retry_after,
                    inj.is_global,
                    {},
                    "global" if inj.is_global else "user",
                    injected=True,
                )
            body = (
                inj.body
                if inj.body is not None
                else {"message": f"{inj.status}: injected by test", "code": 0}
            )
            return _json_response(inj.status, body)
        return None

    def _serve_attachment(self, raw: str) -> web.Response:
        parts = raw.split("/")
        try:
            aid = int(parts[3])
        except (IndexError, ValueError):
            return _json_response(404, {"message": "404: Not Found", "code": 0})
        for m in list(self.messages_by_id.values()) + self.deleted_messages:
            for a in m.attachments:
                if a.id == aid:
                    return web.Response(
                        body=a.data, headers={hdrs.CONTENT_TYPE: a.content_type or "application/octet-stream"}
                    )
        return _json_response(404, {"message": "404: Not Found", "code": 0})

    # -- test controls: requests, failures, rate limits ------------------------------------

    def inject(
        self,
        pattern: str,
        *,
        status: int = 429,
        count: int = 1,
        retry_after: float = 0.2,
        is_global: bool = False,
        body: dict[str, Any] | None = None,
        after_processing: bool = False,
    ) -> Injection:
        """Answer the next ``count`` requests matching ``pattern`` with ``status``.

        ``pattern`` is ``"[METHOD ]path"`` where path is a route template
        (``/channels/{channel_id}/messages``) or a glob over the concrete path
        (``/channels/*/messages``). 429s carry ``Via`` so discord.py retries them.
        Note discord.py retries 500/502/504 itself (sleeping 1 s, 3 s, ...) but not 503.
        ``after_processing=True`` lets the request take effect first and then answers with
        ``status`` (a lost response: the case where retries duplicate posts without a nonce).
        """
        inj = Injection(pattern, status, count, retry_after, is_global, body, after_processing)
        self._injections.append(inj)
        return inj

    def requests_matching(self, pattern: str) -> list[RecordedRequest]:
        """Recorded requests matching a pattern (same syntax as ``inject``)."""
        return [r for r in self.requests if r.matches(pattern)]

    @property
    def count_429(self) -> int:
        """How many 429 answers the fake sent (all kinds)."""
        return len(self.rate_limit_hits)

    # -- world: users, guilds, roles, members, channels ------------------------------------

    def create_user(
        self,
        username: str,
        *,
        bot: bool = False,
        global_name: str | None = None,
        id: int | None = None,
    ) -> User:
        user = User(id or self.snowflakes.next(), username, global_name=global_name, bot=bot)
        self.users[user.id] = user
        return user

    def create_guild(
        self,
        name: str = "Test Server",
        *,
        owner: User | None = None,
        id: int | None = None,
        bot_permissions: Any = DEFAULT_BOT,
        everyone_permissions: Any = DEFAULT_EVERYONE,
        with_bot: bool = True,
    ) -> Guild:
        """A server owned by ``owner`` (created if omitted), with the bot invited by default.

        The bot gets a managed role holding ``bot_permissions``, like an invite link's scope.
        Pass ``id`` to place a guild on a given shard: shard = ``(id >> 22) % shard_count``.
        """
        gid = id or self.snowflakes.next()
        owner = owner or self.create_user(f"owner-{str(gid)[-4:]}")
        guild = Guild(gid, name, owner.id)
        guild.roles[gid] = Role(gid, gid, "@everyone", to_bits(everyone_permissions), 0)
        self.guilds[gid] = guild
        guild.members[owner.id] = Member(gid, owner)
        if with_bot:
            self._join_bot(guild, to_bits(bot_permissions))
        return guild

    def _join_bot(self, guild: Guild, permissions: int) -> None:
        role = Role(
            self.snowflakes.next(),
            guild.id,
            self.bot.username,
            permissions,
            position=1,
            managed=True,
            bot_id=self.bot.id,
        )
        guild.roles[role.id] = role
        guild.members[self.bot.id] = Member(guild.id, self.bot, [role.id])
        self.gateway.dispatch(
            "GUILD_CREATE", lambda s: self.guild_create_payload(guild), guild_id=guild.id, intent=gw.GUILDS
        )

    def add_bot(self, guild: Guild, *, permissions: Any = DEFAULT_BOT) -> None:
        """Invite the bot to a guild it is not in (dispatches GUILD_CREATE)."""
        if self.bot.id not in guild.members:
            self._join_bot(guild, to_bits(permissions))

    def remove_bot(self, guild: Guild) -> None:
        """The bot is kicked: GUILD_DELETE, and its calls there get 50001 Missing Access."""
        guild.members.pop(self.bot.id, None)
        for rid in [r.id for r in guild.roles.values() if r.bot_id == self.bot.id]:
            guild.roles.pop(rid)
        self.gateway.dispatch("GUILD_DELETE", {"id": str(guild.id)}, guild_id=guild.id, intent=gw.GUILDS)

    def bot_guilds(self) -> list[Guild]:
        return [g for g in self.guilds.values() if self.bot.id in g.members]

    def create_role(self, guild: Guild, name: str, permissions: Any = 0) -> Role:
        position = max(r.position for r in guild.roles.values()) + 1
        role = Role(self.snowflakes.next(), guild.id, name, to_bits(permissions), position)
        guild.roles[role.id] = role
        self.gateway.dispatch(
            "GUILD_ROLE_CREATE",
            {"guild_id": str(guild.id), "role": role.payload()},
            guild_id=guild.id,
            intent=gw.GUILDS,
        )
        return role

    def set_role_permissions(self, role: Role, permissions: Any) -> None:
        role.permissions = to_bits(permissions)
        self.gateway.dispatch(
            "GUILD_ROLE_UPDATE",
            {"guild_id": str(role.guild_id), "role": role.payload()},
            guild_id=role.guild_id,
            intent=gw.GUILDS,
        )

    def add_member(
        self,
        guild: Guild,
        user: User,
        *,
        roles: Iterable[Role] = (),
        admin: bool = False,
        nick: str | None = None,
    ) -> Member:
        """Add ``user`` to ``guild``. ``admin=True`` gives a role with MANAGE_GUILD."""
        role_ids = [r.id for r in roles]
        if admin:
            admin_role = next((r for r in guild.roles.values() if r.name == "Admins"), None)
            if admin_role is None:
                admin_role = self.create_role(guild, "Admins", P.MANAGE_GUILD)
            role_ids.append(admin_role.id)
        member = Member(guild.id, user, role_ids, nick)
        guild.members[user.id] = member
        self.gateway.dispatch(
            "GUILD_MEMBER_ADD",
            member.payload() | {"guild_id": str(guild.id)},
            guild_id=guild.id,
            intent=gw.GUILD_MEMBERS,
        )
        return member

    def create_channel(
        self,
        guild: Guild,
        name: str = "general",
        *,
        type: int = GUILD_TEXT,
        overwrites: Iterable[Overwrite] = (),
        topic: str | None = None,
        parent: Channel | None = None,
    ) -> Channel:
        """A guild channel (text by default). Build overwrites with ``fake.overwrite(...)``."""
        position = sum(1 for c in guild.channels.values() if not c.is_thread)
        channel = Channel(
            self.snowflakes.next(),
            type,
            name,
            guild.id,
            position,
            parent.id if parent else None,
            topic,
            overwrites=list(overwrites),
        )
        guild.channels[channel.id] = channel
        self.channels[channel.id] = channel
        self.gateway.dispatch("CHANNEL_CREATE", channel.payload(), guild_id=guild.id, intent=gw.GUILDS)
        return channel

    def overwrite(self, target: Any, *, allow: Any = 0, deny: Any = 0) -> Overwrite:
        """An overwrite for a ``Role``, ``Member``/``User`` or a ``Guild`` (= @everyone)."""
        if isinstance(target, Guild):
            return Overwrite(target.id, 0, to_bits(allow), to_bits(deny))
        if isinstance(target, Role):
            return Overwrite(target.id, 0, to_bits(allow), to_bits(deny))
        return Overwrite(id_of(target), 1, to_bits(allow), to_bits(deny))

    def set_permissions(self, channel: Channel, target: Any, *, allow: Any = 0, deny: Any = 0) -> None:
        """Replace ``target``'s overwrite on ``channel`` (both zero removes it)."""
        ow = self.overwrite(target, allow=allow, deny=deny)
        channel.overwrites = [o for o in channel.overwrites if (o.type, o.id) != (ow.type, ow.id)]
        if ow.allow or ow.deny:
            channel.overwrites.append(ow)
        self.gateway.dispatch(
            "CHANNEL_UPDATE", channel.payload(), guild_id=channel.guild_id, intent=gw.GUILDS
        )

    def set_bot_permissions(self, channel: Channel, *, allow: Any = 0, deny: Any = 0) -> None:
        """A member overwrite for the bot on ``channel``."""
        self.set_permissions(channel, self.bot, allow=allow, deny=deny)

    def deny_bot(self, channel: Channel, *perms: Any) -> None:
        """Shorthand: ``fake.deny_bot(channel, P.EMBED_LINKS)``."""
        self.set_bot_permissions(channel, deny=list(perms))

    def permissions_in(self, channel: Channel, user: Any = None) -> int:
        """Effective permissions of ``user`` (default: the bot) in ``channel``."""
        guild = self.guilds[channel.guild_id] if channel.guild_id else None
        if guild is None:
            return int(P.VIEW_CHANNEL | P.SEND_MESSAGES | P.READ_MESSAGE_HISTORY | P.ADD_REACTIONS)
        return channel_permissions(guild, channel, id_of(user) if user else self.bot.id)

    def create_thread(
        self, channel: Channel, name: str, *, owner: User, message: Message | None = None
    ) -> Channel:
        """A user starts a public thread (dispatches THREAD_CREATE)."""
        return self.new_thread(channel, name, owner=owner, message=message)

    def new_thread(
        self,
        channel: Channel,
        name: str,
        *,
        owner: User,
        message: Message | None = None,
        auto_archive_duration: int = 1440,
    ) -> Channel:
        tid = message.id if message is not None else self.snowflakes.next()
        thread = Channel(
            tid,
            PUBLIC_THREAD,
            name,
            channel.guild_id,
            parent_id=channel.id,
            owner_id=owner.id,
            auto_archive_duration=auto_archive_duration,
        )
        thread.thread_member_ids.add(owner.id)
        guild = self.guilds[channel.guild_id or 0]
        guild.channels[tid] = thread
        self.channels[tid] = thread
        if message is not None:
            message.thread_id = tid

        def event(session: gw.Session) -> dict[str, Any]:
            data = thread.payload() | {"newly_created": True}
            if self.bot.id in thread.thread_member_ids:
                data["member"] = self.thread_member_payload(thread, self.bot.id)
            return data

        self.gateway.dispatch("THREAD_CREATE", event, guild_id=channel.guild_id, intent=gw.GUILDS)
        return thread

    def thread_member_payload(self, thread: Channel, user_id: int) -> dict[str, Any]:
        return {"id": str(thread.id), "user_id": str(user_id), "join_timestamp": iso(now()), "flags": 0}

    async def delete_channel(self, channel: Any) -> None:
        """Delete a channel (and its threads): CHANNEL_DELETE, then 10003 for later calls."""
        ch = self.channels[id_of(channel)]
        doomed = [ch] + [c for c in self.channels.values() if c.is_thread and c.parent_id == ch.id]
        for c in doomed:
            self.deleted_channel_ids.add(c.id)
            guild = self.guilds.get(c.guild_id or 0)
            if guild is not None:
                guild.channels.pop(c.id, None)
            if c.is_thread:
                self.gateway.dispatch(
                    "THREAD_DELETE",
                    {
                        "id": str(c.id),
                        "guild_id": str(c.guild_id),
                        "parent_id": str(c.parent_id),
                        "type": c.type,
                    },
                    guild_id=c.guild_id,
                    intent=gw.GUILDS,
                )
            else:
                self.gateway.dispatch("CHANNEL_DELETE", c.payload(), guild_id=c.guild_id, intent=gw.GUILDS)
        await self.gateway.drain()

    def guild_create_payload(self, guild: Guild) -> dict[str, Any]:
        """GUILD_CREATE: guild fields, channels, active threads, roles, and the bot's member.

        Like Discord without the presence intent, only the bot's own member is included;
        discord.py asks for the rest (op 8) when it has the members intent.
        """
        bot_member = guild.members.get(self.bot.id)
        live = [c for c in guild.channels.values() if c.id not in self.deleted_channel_ids]
        threads = []
        for t in live:
            if t.is_thread and not t.archived:
                data = t.payload()
                if self.bot.id in t.thread_member_ids:
                    data["member"] = self.thread_member_payload(t, self.bot.id)
                threads.append(data)
        return guild.payload() | {
            "joined_at": iso(bot_member.joined_at if bot_member else now()),
            "large": len(guild.members) >= 250,
            "unavailable": False,
            "member_count": len(guild.members),
            "voice_states": [],
            "members": [bot_member.payload()] if bot_member else [],
            "channels": [c.payload() for c in live if not c.is_thread],
            "threads": threads,
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "embedded_activities": [],
            "lazy": True,
        }

    # -- messages ----------------------------------------------------------------------------

    def messages(self, channel: Any) -> list[Message]:
        """Current messages of a channel or thread, oldest first (deleted ones excluded)."""
        ch = self.channels[id_of(channel)]
        return [self.messages_by_id[i] for i in ch.message_ids]

    def message(self, message_id: Any) -> Message | None:
        """A live message by id (ephemeral interaction responses included)."""
        return self.messages_by_id.get(id_of(message_id))

    def message_payload(self, m: Message) -> dict[str, Any]:
        data = m.payload(me=self.bot.id, users_by_id=self.users)
        if m.thread_id is not None and m.thread_id in self.channels:
            data["thread"] = self.channels[m.thread_id].payload()
        return data

    def nonce_lookup(self, author_id: int, nonce: str) -> Message | None:
        hit = self._nonces.get((author_id, nonce))
        if hit is None or time.monotonic() - hit[1] > self.nonce_window:
            return None
        return self.messages_by_id.get(hit[0])

    def new_message(
        self,
        channel: Channel,
        author: User,
        body: dict[str, Any],
        *,
        files: list[UploadedFile] = (),  # type: ignore[assignment]
        reference: dict[str, Any] | None = None,
        message_type: int = 0,
        extra_flags: int = 0,
        allowed_flags: int = _SENDABLE_FLAGS,
    ) -> Message:
        reply_to = None
        if reference and reference.get("message_id"):
            reply_to = self.messages_by_id.get(int(reference["message_id"]))
        content = body.get("content")
        content = "" if content is None else str(content)
        allowed = body.get("allowed_mentions")
        users, roles, everyone = mentions_for(
            self, channel, content, allowed, reply_to if message_type == 19 else None
        )
        nonce = body.get("nonce")
        msg = Message(
            id=self.snowflakes.next(),
            channel_id=channel.id,
            guild_id=channel.guild_id,
            author=author,
            content=content,
            embeds=[_embed(e) for e in body.get("embeds") or []],
            components=list(body.get("components") or []),
            attachments=attachments_from(self, channel, body, list(files)),
            nonce=nonce,
            flags=((body.get("flags") or 0) & allowed_flags) | extra_flags,
            type=message_type,
            tts=bool(body.get("tts")),
            allowed_mentions=allowed,
            message_reference=None
            if reference is None
            else {
                "type": reference.get("type", 0),
                "message_id": str(reference["message_id"]),
                "channel_id": str(reference.get("channel_id") or channel.id),
                **({"guild_id": str(channel.guild_id)} if channel.guild_id else {}),
            },
            mentions=users,
            mention_roles=roles,
            mention_everyone=everyone,
        )
        return msg

    def store_message(self, msg: Message) -> None:
        """Save a new message; unless ephemeral, list it in its channel and send MESSAGE_CREATE."""
        self.messages_by_id[msg.id] = msg
        if msg.nonce is not None:
            self._nonces[(msg.author.id, str(msg.nonce))] = (msg.id, time.monotonic())
        if msg.ephemeral:
            return
        channel = self.channels[msg.channel_id]
        channel.message_ids.append(msg.id)
        channel.last_message_id = msg.id
        if channel.is_thread:
            channel.message_count += 1
            channel.total_message_sent += 1
        self._dispatch_message("MESSAGE_CREATE", msg, with_nonce=True)

    def _dispatch_message(self, event: str, msg: Message, *, with_nonce: bool = False) -> None:
        channel = self.channels[msg.channel_id]
        base = self.message_payload(msg)
        if with_nonce and msg.nonce is not None:
            base["nonce"] = msg.nonce
        if channel.guild_id is not None:
            base["guild_id"] = str(channel.guild_id)
            member = self.guilds[channel.guild_id].members.get(msg.author.id)
            if member is not None and msg.webhook_id is None:
                base["member"] = member.payload(with_user=False)
        privileged_content = not (
            msg.author.id == self.bot.id or channel.is_dm or self.bot.id in msg.mentions
        )

        def for_session(session: gw.Session) -> dict[str, Any]:
            if privileged_content and not session.intents & gw.MESSAGE_CONTENT:
                return base | {"content": "", "embeds": [], "attachments": [], "components": []}
            return base

        self.dispatch_guild_or_dm(event, for_session, channel, gw.GUILD_MESSAGES, gw.DIRECT_MESSAGES)

    def apply_edit(
        self, msg: Message, body: dict[str, Any], files: list[UploadedFile], *, clear_loading: bool = False
    ) -> None:
        """Apply a PATCH body the way Discord does (only the fields present change)."""
        content = msg.content if "content" not in body else (body["content"] or "")
        embeds = msg.embeds if "embeds" not in body else [_embed(e) for e in body["embeds"] or []]
        components = msg.components if "components" not in body else list(body["components"] or [])
        attachments = msg.attachments
        if "attachments" in body:
            keep = {str(a.get("id")) for a in body["attachments"] or [] if isinstance(a, dict)}
            attachments = [a for a in msg.attachments if str(a.id) in keep]
        new_files = attachments_from(self, self.channels[msg.channel_id], body, files) if files else []
        attachments = attachments + new_files
        if not (content.strip() or embeds or components or attachments):
            raise ApiError(400, EMPTY_MESSAGE, "Cannot send an empty message")
        msg.content, msg.embeds, msg.components, msg.attachments = (content, embeds, components, attachments)
        if "flags" in body and body["flags"] is not None:
            msg.flags = (msg.flags & ~(1 << 2)) | (int(body["flags"]) & (1 << 2))
        if "allowed_mentions" in body:
            msg.allowed_mentions = body["allowed_mentions"]
        if clear_loading:
            msg.flags &= ~FLAG_LOADING
        msg.edited_at = now()
        channel = self.channels[msg.channel_id]
        msg.mentions, msg.mention_roles, msg.mention_everyone = mentions_for(
            self, channel, msg.content, msg.allowed_mentions, None
        )
        if not msg.ephemeral:
            self._dispatch_message("MESSAGE_UPDATE", msg)

    def remove_message(self, msg: Message) -> None:
        self.messages_by_id.pop(msg.id, None)
        self.deleted_messages.append(msg)
        if msg.ephemeral:
            return
        channel = self.channels[msg.channel_id]
        if msg.id in channel.message_ids:
            channel.message_ids.remove(msg.id)
        data = {"id": str(msg.id), "channel_id": str(channel.id)}
        if channel.guild_id:
            data["guild_id"] = str(channel.guild_id)
        self.dispatch_guild_or_dm("MESSAGE_DELETE", data, channel, gw.GUILD_MESSAGES, gw.DIRECT_MESSAGES)

    def dispatch_guild_or_dm(
        self, event: str, data: gw.EventData, channel: Channel, guild_intent: int, dm_intent: int
    ) -> None:
        if channel.guild_id is not None:
            self.gateway.dispatch(event, data, guild_id=channel.guild_id, intent=guild_intent)
        else:
            self.gateway.dispatch(event, data, guild_id=None, intent=dm_intent)

    async def post_message(
        self,
        user: User,
        channel: Any,
        content: str = "",
        *,
        embeds: list[dict[str, Any]] | None = None,
        reply_to: Message | None = None,
    ) -> Message:
        """A user writes in a channel/thread/DM (checks that user's permissions)."""
        ch = self.channels[id_of(channel)]
        if not ch.is_dm:
            need = P.SEND_MESSAGES_IN_THREADS if ch.is_thread else P.SEND_MESSAGES
            if not self.permissions_in(ch, user) & (P.VIEW_CHANNEL | need) == (P.VIEW_CHANNEL | need):
                raise NotAvailable(f"{user.username} cannot write in #{ch.name}")
        body: dict[str, Any] = {"content": content, "embeds": embeds or []}
        ref = None if reply_to is None else {"message_id": reply_to.id, "channel_id": ch.id}
        msg = self.new_message(ch, user, body, reference=ref, message_type=19 if ref else 0)
        self.store_message(msg)
        await self.gateway.drain()
        return msg

    async def delete_message(self, message: Any) -> None:
        """A moderator deletes a message (MESSAGE_DELETE)."""
        msg = self.messages_by_id[id_of(message)]
        self.remove_message(msg)
        await self.gateway.drain()

    # -- DMs -----------------------------------------------------------------------------------

    def dm_channel(self, user: Any, *, create: bool = False) -> Channel | None:
        uid = id_of(user)
        cid = self._dm_by_user.get(uid)
        if cid is None:
            if not create:
                return None
            channel = Channel(self.snowflakes.next(), DM, recipient_id=uid)
            self.channels[channel.id] = channel
            self._dm_by_user[uid] = channel.id
            return channel
        return self.channels[cid]

    def dm_messages(self, user: Any) -> list[Message]:
        """Messages in the DM between the bot and ``user`` (empty if none was opened)."""
        channel = self.dm_channel(user)
        return [] if channel is None else self.messages(channel)

    def close_dms(self, user: User) -> None:
        """The user turned off DMs from server members: the bot's sends get 403 50007."""
        user.dms_open = False

    def open_dms(self, user: User) -> None:
        user.dms_open = True

    def can_dm(self, user: User) -> bool:
        if user.bot or not user.dms_open:
            return False
        return any(user.id in g.members for g in self.bot_guilds())

    # -- reactions -------------------------------------------------------------------------------

    def add_reaction(self, msg: Message, user: User, key: str) -> bool:
        users = msg.reactions.setdefault(key, [])
        if user.id in users:
            return False
        users.append(user.id)
        channel = self.channels[msg.channel_id]
        data: dict[str, Any] = {
            "type": 0,
            "user_id": str(user.id),
            "channel_id": str(channel.id),
            "message_id": str(msg.id),
            "emoji": emoji_payload(key),
            "burst": False,
            "burst_colors": [],
            "message_author_id": str(msg.author.id),
        }
        if channel.guild_id is not None:
            data["guild_id"] = str(channel.guild_id)
            member = self.guilds[channel.guild_id].members.get(user.id)
            if member is not None:
                data["member"] = member.payload()
        self.dispatch_guild_or_dm(
            "MESSAGE_REACTION_ADD", data, channel, gw.GUILD_MESSAGE_REACTIONS, gw.DIRECT_MESSAGE_REACTIONS
        )
        return True

    def remove_reaction(self, msg: Message, user_id: int, key: str) -> bool:
        users = msg.reactions.get(key) or []
        if user_id not in users:
            return False
        users.remove(user_id)
        if not users:
            msg.reactions.pop(key, None)
        channel = self.channels[msg.channel_id]
        data: dict[str, Any] = {
            "type": 0,
            "user_id": str(user_id),
            "channel_id": str(channel.id),
            "message_id": str(msg.id),
            "emoji": emoji_payload(key),
            "burst": False,
        }
        if channel.guild_id is not None:
            data["guild_id"] = str(channel.guild_id)
        self.dispatch_guild_or_dm(
            "MESSAGE_REACTION_REMOVE", data, channel, gw.GUILD_MESSAGE_REACTIONS, gw.DIRECT_MESSAGE_REACTIONS
        )
        return True

    def _reaction_target(self, user: User, channel: Any, message: Any) -> tuple[Channel, Message]:
        ch = self.channels[id_of(channel)]
        msg = self.messages_by_id.get(id_of(message))
        if msg is None or msg.channel_id != ch.id:
            raise LookupError(f"message {id_of(message)} is not in channel {ch.id}")
        return ch, msg

    async def react(self, user: User, channel: Any, message: Any, emoji: str) -> None:
        """``user`` clicks a reaction (MESSAGE_REACTION_ADD), if they are allowed to."""
        ch, msg = self._reaction_target(user, channel, message)
        key = emoji_key(emoji)
        perms = self.permissions_in(ch, user)
        need = P.VIEW_CHANNEL | P.READ_MESSAGE_HISTORY
        if not msg.reactions.get(key):
            need |= P.ADD_REACTIONS
        if perms & need != need:
            raise NotAvailable(f"{user.username} cannot react in #{ch.name}")
        self.add_reaction(msg, user, key)
        await self.gateway.drain()

    async def unreact(self, user: User, channel: Any, message: Any, emoji: str) -> None:
        """``user`` removes their reaction (MESSAGE_REACTION_REMOVE)."""
        _, msg = self._reaction_target(user, channel, message)
        self.remove_reaction(msg, user.id, emoji_key(emoji))
        await self.gateway.drain()

    def add_custom_emoji(self, name: str) -> str:
        """Register a guild emoji the bot may react with; returns its ``name:id`` key."""
        eid = self.snowflakes.next()
        self.custom_emoji_ids.add(eid)
        return f"{name}:{eid}"

    # -- application commands ------------------------------------------------------------------

    def command_payloads(self, guild_id: int | None) -> list[dict[str, Any]]:
        return [dict(c) for c in self._commands.get(guild_id, [])]

    def commands(self, guild: Any = None) -> list[dict[str, Any]]:
        """Commands registered in a scope (global when ``guild`` is None)."""
        return self.command_payloads(None if guild is None else id_of(guild))

    def set_commands(self, guild_id: int | None, body: list[dict[str, Any]]) -> list[dict[str, Any]]:
        existing = {(c.get("type", 1), c["name"]): c for c in self._commands.get(guild_id, [])}
        out = []
        for c in body:
            key = (c.get("type", 1), c["name"])
            old = existing.get(key)
            if old is None:
                self.command_creates += 1
            stored: dict[str, Any] = {
                "id": old["id"] if old else str(self.snowflakes.next()),
                "application_id": str(self.application_id),
                "version": str(self.snowflakes.next()),
                "type": c.get("type", 1),
                "name": c["name"],
                "name_localizations": c.get("name_localizations"),
                "description": c.get("description", ""),
                "description_localizations": c.get("description_localizations"),
                "options": c.get("options") or [],
                "default_member_permissions": c.get("default_member_permissions"),
                "dm_permission": c.get("dm_permission", True),
                "contexts": c.get("contexts"),
                "integration_types": c.get("integration_types") or [0],
                "nsfw": c.get("nsfw", False),
            }
            if guild_id is not None:
                stored["guild_id"] = str(guild_id)
            out.append(stored)
        self._commands[guild_id] = out
        self.command_syncs.append((guild_id, time.monotonic()))
        return [dict(c) for c in out]

    def register_commands(self, commands: list[dict[str, Any]], guild: Any = None) -> None:
        """Pre-register commands as if synced in an earlier run (validated like a sync)."""
        validate_commands(commands)
        self.set_commands(None if guild is None else id_of(guild), commands)

    def register_tree(self, tree: Any, guild: Any = None) -> None:
        """Register a discord.py ``CommandTree``'s commands without a client round-trip."""
        scope = None if guild is None else _Obj(id_of(guild))
        self.register_commands([c.to_dict(tree) for c in tree.get_commands(guild=scope)], guild)

    def _find_command(
        self, name: str, guild_id: int | None, ctype: int = 1
    ) -> tuple[dict[str, Any] | None, int | None]:
        if guild_id is not None:
            for c in self._commands.get(guild_id, []):
                if c["name"] == name and c.get("type", 1) == ctype:
                    return c, guild_id
        for c in self._commands.get(None, []):
            if c["name"] == name and c.get("type", 1) == ctype:
                return c, None
        return None, None

    # -- interactions ---------------------------------------------------------------------------

    def _context(self, user: User, guild: Any, channel: Any) -> tuple[Guild | None, Channel]:
        if guild is None:
            ch = self.dm_channel(user, create=True)
            assert ch is not None
            return None, ch
        g = self.guilds[id_of(guild)]
        if user.id not in g.members:
            raise NotAvailable(f"{user.username} is not a member of {g.name}")
        ch = self.channels[id_of(channel)]
        if ch.id in self.deleted_channel_ids:
            raise NotAvailable(f"#{ch.name} was deleted")
        if not self.permissions_in(ch, user) & P.VIEW_CHANNEL:
            raise NotAvailable(f"{user.username} cannot see #{ch.name}")
        return g, ch

    def _new_interaction(
        self,
        itype: int,
        user: User,
        guild: Guild | None,
        channel: Channel,
        data: dict[str, Any],
        *,
        message: Message | None = None,
        locale: str = "en-US",
    ) -> ix.Interaction:
        iid = self.snowflakes.next()
        token = "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48)
        user_perms = (
            self.permissions_in(channel, user)
            if guild
            else int(
                P.VIEW_CHANNEL
                | P.SEND_MESSAGES
                | P.EMBED_LINKS
                | P.ATTACH_FILES
                | P.READ_MESSAGE_HISTORY
                | P.ADD_REACTIONS
                | P.USE_APPLICATION_COMMANDS
            )
        )
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(self.application_id),
            "type": itype,
            "data": data,
            "token": token,
            "version": 1,
            "channel_id": str(channel.id),
            "channel": channel.payload(self.users) | {"permissions": str(user_perms)},
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
            "app_permissions": str(self.permissions_in(channel) if guild else user_perms),
        }
        if guild is not None:
            payload["guild_id"] = str(guild.id)
            payload["guild"] = {"id": str(guild.id), "locale": guild.preferred_locale, "features": []}
            payload["guild_locale"] = guild.preferred_locale
            payload["member"] = guild.members[user.id].payload(permissions=user_perms)
            payload["authorizing_integration_owners"] = {"0": str(guild.id)}
            payload["context"] = 0
        else:
            payload["user"] = user.payload()
            payload["authorizing_integration_owners"] = {"0": "0"}
            payload["context"] = 1
        if message is not None:
            payload["message"] = self.message_payload(message)
        t = time.monotonic()
        rec = ix.Interaction(
            id=iid,
            token=token,
            type=itype,
            user_id=user.id,
            guild_id=guild.id if guild else None,
            channel_id=channel.id,
            payload=payload,
            dispatched_at=t,
            deadline=t + self.interaction_deadline,
            expires=t + self.interaction_token_lifetime,
            source_message_id=message.id if message else None,
        )
        self.interactions.append(rec)
        self.interactions_by_id[iid] = rec
        self.interactions_by_token[token] = rec
        self.gateway.dispatch(
            "INTERACTION_CREATE", payload, guild_id=guild.id if guild else None, intent=None
        )
        return rec

    def interaction_message(
        self,
        rec: ix.Interaction,
        channel: Channel,
        data: dict[str, Any],
        files: list[UploadedFile],
        *,
        loading: bool = False,
        followup: bool = False,
    ) -> Message:
        msg = self.new_message(
            channel,
            self.bot,
            data,
            files=files,
            message_type=20 if rec.type == ix.APPLICATION_COMMAND and not followup else 0,
            extra_flags=FLAG_LOADING if loading else 0,
            allowed_flags=_SENDABLE_FLAGS | FLAG_EPHEMERAL,
        )
        msg.webhook_id = self.application_id
        msg.application_id = self.application_id
        msg.interaction_id = rec.id
        msg.interaction_user_id = rec.user_id
        msg.interaction_type = rec.type
        self.store_message(msg)
        return msg

    async def _await_response(
        self,
        rec: ix.Interaction,
        complete_within: float,
        late_grace: float,
        settle: float,
    ) -> ix.Interaction:
        await self.gateway.drain()
        initial_wait = max(rec.deadline + late_grace - time.monotonic(), 0)
        await rec.wait(lambda: rec.responded or rec.late_callbacks > 0, initial_wait)
        if not rec.responded:
            rec.deadline_missed = True
            return rec
        await rec.wait(rec.is_complete, complete_within)
        if settle:
            await asyncio.sleep(settle)
        return rec

    async def invoke(
        self,
        user: User,
        guild: Any,
        channel: Any,
        name: str,
        *,
        subcommand: str | None = None,
        group: str | None = None,
        options: dict[str, Any] | None = None,
        locale: str = "en-US",
        timeout: float = 10.0,  # noqa: ASYNC109
        late_grace: float = 1.0,
        settle: float = 0.0,
    ) -> ix.Interaction:
        """``user`` runs ``/name [group] [subcommand] options...`` in ``channel``.

        Waits for the initial response (up to the deadline plus ``late_grace``, to catch a
        late reply) and, after a "thinking" defer, for the edit or first followup (up to
        ``timeout``); ``settle`` waits a little longer for more followups. ``guild=None``
        runs it in the user's DM with the bot.
        """
        g, ch = self._context(user, guild, channel)
        data = self._command_data(user, g, ch, name, group, subcommand, options, focused=None)
        rec = self._new_interaction(ix.APPLICATION_COMMAND, user, g, ch, data, locale=locale)
        return await self._await_response(rec, timeout, late_grace, settle)

    async def autocomplete(
        self,
        user: User,
        guild: Any,
        channel: Any,
        name: str,
        *,
        focused: str,
        subcommand: str | None = None,
        group: str | None = None,
        options: dict[str, Any] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[dict[str, Any]]:
        """``user`` types into option ``focused`` (its text is ``options[focused]``, default "");
        returns the bot's choices. Raises ``InteractionNotAnswered`` if none came in time."""
        g, ch = self._context(user, guild, channel)
        opts = dict(options or {})
        opts.setdefault(focused, "")
        data = self._command_data(user, g, ch, name, group, subcommand, opts, focused=focused)
        rec = self._new_interaction(ix.AUTOCOMPLETE, user, g, ch, data)
        await self._await_response(rec, timeout, 0.5, 0.0)
        if rec.choices is None:
            raise ix.InteractionNotAnswered(f"no autocomplete answer for /{name} {focused}")
        return rec.choices

    async def click(
        self,
        user: User,
        message: Any,
        custom_id: str,
        *,
        values: list[str] | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109
        late_grace: float = 1.0,
        settle: float = 0.0,
    ) -> ix.Interaction:
        """``user`` clicks the button (or picks ``values`` in the select) ``custom_id`` on
        ``message``. Refuses components that are missing or disabled, as the client would."""
        msg = self.messages_by_id.get(id_of(message))
        if msg is None:
            raise LookupError(f"message {id_of(message)} does not exist (deleted?)")
        comp = _find_component(msg.components, custom_id)
        if comp is None:
            raise NotAvailable(f"no component {custom_id!r} on message {msg.id}; has {msg.custom_ids}")
        if comp.get("disabled"):
            raise NotAvailable(f"component {custom_id!r} is disabled")
        if msg.ephemeral:
            origin = self.interactions_by_id.get(msg.interaction_id or 0)
            if origin is None or origin.user_id != user.id:
                raise NotAvailable("only the user who got an ephemeral message can click it")
        ch = self.channels[msg.channel_id]
        g = self.guilds.get(ch.guild_id or 0) if ch.guild_id else None
        if g is not None:
            self._context(user, g, ch)
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": comp.get("type", 2)}
        if comp.get("type", 2) != 2:
            data["values"] = list(values or [])
        rec = self._new_interaction(ix.MESSAGE_COMPONENT, user, g, ch, data, message=msg)
        return await self._await_response(rec, timeout, late_grace, settle)

    def _command_data(
        self,
        user: User,
        guild: Guild | None,
        channel: Channel,
        name: str,
        group: str | None,
        subcommand: str | None,
        options: dict[str, Any] | None,
        *,
        focused: str | None,
    ) -> dict[str, Any]:
        cmd, scope = self._find_command(name, guild.id if guild else None)
        if cmd is None:
            if self.require_registered_commands:
                raise CommandNotRegistered(
                    f"/{name} is not registered with Discord (sync the tree, or call "
                    f"fake.register_tree / fake.register_commands first)"
                )
            cmd_id = self._adhoc_command_id(name)
            schema: list[dict[str, Any]] | None = None
        else:
            cmd_id = int(cmd["id"])
            schema = cmd.get("options") or []
            self._check_command_available(cmd, user, guild)
        resolved: dict[str, dict[str, Any]] = {}
        leaf_schema = schema
        if subcommand is None and group is not None:
            raise ValueError("a subcommand group needs a subcommand")
        if subcommand is not None and schema is not None:
            container = schema
            if group is not None:
                grp = next((o for o in schema if o.get("type") == 2 and o["name"] == group), None)
                if grp is None:
                    raise ValueError(f"/{name} has no subcommand group {group!r}")
                container = grp.get("options") or []
            sub = next((o for o in container if o.get("type") == 1 and o["name"] == subcommand), None)
            if sub is None:
                raise ValueError(f"/{name} has no subcommand {subcommand!r}")
            leaf_schema = sub.get("options") or []
        elif schema and any(o.get("type") in (1, 2) for o in schema):
            raise ValueError(f"/{name} needs a subcommand")
        leaf = self._convert_options(leaf_schema, options or {}, guild, channel, user, resolved, focused)
        nested: list[dict[str, Any]] = leaf
        if subcommand is not None:
            nested = [{"type": 1, "name": subcommand, "options": leaf}]
            if group is not None:
                nested = [{"type": 2, "name": group, "options": nested}]
        data: dict[str, Any] = {"id": str(cmd_id), "name": name, "type": 1}
        if nested:
            data["options"] = nested
        if resolved:
            data["resolved"] = resolved
        if scope is not None:
            data["guild_id"] = str(scope)
        return data

    def _adhoc_command_id(self, name: str) -> int:
        ids = self.__dict__.setdefault("_adhoc_ids", {})
        if name not in ids:
            ids[name] = self.snowflakes.next()
        return ids[name]

    def _check_command_available(self, cmd: dict[str, Any], user: User, guild: Guild | None) -> None:
        if guild is None:
            contexts = cmd.get("contexts")
            if (contexts is not None and 1 not in contexts) or cmd.get("dm_permission") is False:
                raise NotAvailable(f"/{cmd['name']} is not available in DMs")
            return
        if cmd.get("contexts") is not None and 0 not in cmd["contexts"]:
            raise NotAvailable(f"/{cmd['name']} is not available in servers")
        needed = cmd.get("default_member_permissions")
        if needed is not None:
            perms = base_permissions(guild, user.id)
            if perms & P.ADMINISTRATOR or guild.owner_id == user.id:
                return
            bits = int(needed)
            if bits == 0 or perms & bits != bits:
                raise NotAvailable(
                    f"{user.username} cannot see /{cmd['name']} (default_member_permissions={needed})"
                )

    def _convert_options(
        self,
        schema: list[dict[str, Any]] | None,
        given: dict[str, Any],
        guild: Guild | None,
        channel: Channel,
        user: User,
        resolved: dict[str, dict[str, Any]],
        focused: str | None,
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if schema is None:
            for name, value in given.items():
                out.append(self._infer_option(name, value, guild, channel, user, resolved, focused))
            return out
        by_name = {o["name"]: o for o in schema if o.get("type") not in (1, 2)}
        unknown = set(given) - set(by_name)
        if unknown:
            raise ValueError(f"unknown option(s) {sorted(unknown)}; the command has {sorted(by_name)}")
        for opt in schema:
            if opt.get("type") in (1, 2):
                continue
            oname = opt["name"]
            if oname not in given:
                if opt.get("required") and focused is None:
                    raise ValueError(f"required option {oname!r} missing")
                continue
            value = given[oname]
            if oname == focused:
                out.append({"name": oname, "type": opt["type"], "value": str(value), "focused": True})
                continue
            out.append(self._typed_option(opt, value, guild, channel, user, resolved))
        return out

    def _typed_option(
        self,
        opt: dict[str, Any],
        value: Any,
        guild: Guild | None,
        channel: Channel,
        user: User,
        resolved: dict[str, dict[str, Any]],
    ) -> dict[str, Any]:
        otype = opt["type"]
        oname = opt["name"]
        if otype in (3, 4, 5, 10):
            if otype == 3:
                value = str(value)
                lo, hi = opt.get("min_length", 0), opt.get("max_length", 6000)
                if not lo <= len(value) <= hi:
                    raise ValueError(f"{oname}: length must be in [{lo}, {hi}]")
            elif otype == 4:
                if isinstance(value, bool) or int(value) != value:
                    raise ValueError(f"{oname}: needs an integer, got {value!r}")
                value = int(value)
            elif otype == 5:
                value = bool(value)
            else:
                value = float(value)
            if otype in (4, 10):
                if "min_value" in opt and value < opt["min_value"]:
                    raise ValueError(f"{oname}: below min_value {opt['min_value']}")
                if "max_value" in opt and value > opt["max_value"]:
                    raise ValueError(f"{oname}: above max_value {opt['max_value']}")
            choices = opt.get("choices")
            if choices and value not in [c["value"] for c in choices]:
                raise ValueError(f"{oname}: {value!r} is not one of the choices")
            return {"name": oname, "type": otype, "value": value}
        if otype in (6, 7, 8, 9):
            return self._snowflake_option(opt, value, guild, channel, user, resolved)
        raise NotImplementedError(f"option type {otype} ({oname}) is not simulated")

    def _snowflake_option(
        self,
        opt: dict[str, Any],
        value: Any,
        guild: Guild | None,
        channel: Channel,
        user: User,
        resolved: dict[str, dict[str, Any]],
    ) -> dict[str, Any]:
        otype, oname = opt["type"], opt["name"]
        sid = id_of(value)
        if otype in (6, 9) and sid in self.users:
            target = self.users[sid]
            resolved.setdefault("users", {})[str(sid)] = target.payload()
            if guild is not None and sid in guild.members:
                member = guild.members[sid]
                perms = self.permissions_in(channel, target)
                resolved.setdefault("members", {})[str(sid)] = member.payload(
                    with_user=False, permissions=perms
                )
            return {"name": oname, "type": otype, "value": str(sid)}
        if otype in (8, 9) and guild is not None and sid in guild.roles:
            resolved.setdefault("roles", {})[str(sid)] = guild.roles[sid].payload()
            return {"name": oname, "type": otype, "value": str(sid)}
        if otype == 7 and sid in self.channels:
            ch = self.channels[sid]
            allowed = opt.get("channel_types")
            if allowed and ch.type not in allowed:
                raise ValueError(f"{oname}: channel type {ch.type} not in {allowed}")
            if ch.guild_id != (guild.id if guild else None):
                raise ValueError(f"{oname}: channel {sid} is not in this server")
            data = ch.payload() | {"permissions": str(self.permissions_in(ch, user))}
            resolved.setdefault("channels", {})[str(sid)] = data
            return {"name": oname, "type": otype, "value": str(sid)}
        raise ValueError(f"{oname}: {value!r} does not resolve to a user/role/channel")

    def _infer_option(
        self,
        name: str,
        value: Any,
        guild: Guild | None,
        channel: Channel,
        user: User,
        resolved: dict[str, dict[str, Any]],
        focused: str | None,
    ) -> dict[str, Any]:
        if name == focused:
            return {"name": name, "type": 3, "value": str(value), "focused": True}
        if isinstance(value, bool):
            return {"name": name, "type": 5, "value": value}
        if isinstance(value, int):
            return {"name": name, "type": 4, "value": value}
        if isinstance(value, float):
            return {"name": name, "type": 10, "value": value}
        if isinstance(value, str):
            return {"name": name, "type": 3, "value": value}
        kind = 7 if isinstance(value, Channel) else 8 if isinstance(value, Role) else 6
        return self._snowflake_option({"name": name, "type": kind}, value, guild, channel, user, resolved)

    # -- gateway controls -------------------------------------------------------------------------

    @property
    def identify_count(self) -> int:
        return sum(1 for e in self.gateway.log if e.kind == "identify")

    @property
    def resume_count(self) -> int:
        """Successful resumes (RESUMED sent)."""
        return sum(1 for e in self.gateway.log if e.kind == "resumed")

    @property
    def gateway_log(self) -> list[gw.GatewayEvent]:
        return self.gateway.log

    @property
    def connected(self) -> bool:
        return bool(self.gateway.live_connections())

    async def drop_gateway(
        self, *, resumable: bool = True, code: int | None = None, shard_id: int | None = None
    ) -> int:
        """Drop live gateway sockets (all, or one shard's); returns how many.

        ``code=None`` aborts the TCP connection (a network failure); an int sends a close
        frame with that code. ``resumable=False`` makes the next RESUME get INVALID_SESSION,
        so the client has to IDENTIFY again.
        """
        conns = self.gateway.live_connections(shard_id)
        for conn in conns:
            if conn.session is not None and not resumable:
                conn.session.resumable = False
            if code is None:
                await conn.drain(0.5)
                conn.abort()
            else:
                conn.close(code, "dropped by test")
        return len(conns)

    def send_reconnect(self) -> None:
        """Op 7 RECONNECT: the client closes and resumes."""
        for conn in self.gateway.live_connections():
            conn.send({"op": 7, "d": None, "s": None, "t": None})

    def invalidate_session(self, *, resumable: bool = False) -> None:
        """Op 9 INVALID_SESSION on every live socket."""
        for conn in self.gateway.live_connections():
            if conn.session is not None and not resumable:
                conn.session.alive = False
            conn.send({"op": 9, "d": resumable, "s": None, "t": None})

    # -- waiting and checks -------------------------------------------------------------------------

    async def wait_until(
        self,
        predicate: Callable[[], T | Awaitable[T]],
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        interval: float = 0.01,
        message: str | None = None,
    ) -> T:
        """Poll ``predicate`` until truthy and return its value; TimeoutError otherwise."""
        end = time.monotonic() + timeout
        while True:
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value  # type: ignore[return-value]
            if time.monotonic() >= end:
                raise TimeoutError(message or f"condition not met within {timeout}s")
            await asyncio.sleep(interval)

    def check(self) -> None:
        """Raise if the fake itself failed or the client used routes the fake does not model."""
        problems = []
        if self.internal_errors:
            problems.append("fake discord internal errors:\n" + "\n".join(self.internal_errors))
        if self.unknown_routes:
            problems.append(
                "requests to routes the fake does not model: "
                + ", ".join(f"{r.method} {r.path}" for r in self.unknown_routes)
            )
        if problems:
            raise AssertionError("\n\n".join(problems))


class _Obj:
    def __init__(self, id: int) -> None:
        self.id = id


def _embed(e: dict[str, Any]) -> dict[str, Any]:
    out = dict(e)
    out.setdefault("type", "rich")
    return out


def _find_component(items: list[dict[str, Any]], custom_id: str) -> dict[str, Any] | None:
    for item in items:
        if item.get("custom_id") == custom_id:
            return item
        found = _find_component(item.get("components") or [], custom_id)
        if found is not None:
            return found
        acc = item.get("accessory")
        if isinstance(acc, dict) and acc.get("custom_id") == custom_id:
            return acc
    return None


__all__ = ["Attachment", "CommandNotRegistered", "FakeDiscord", "NotAvailable"]
