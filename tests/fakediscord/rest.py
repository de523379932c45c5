"""REST route handlers (API v10), written against the shapes discord.py 2.7.1 sends and parses."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from . import gateway as gw
from . import interactions as ix
from .models import (
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    GUILD_ANNOUNCEMENT,
    GUILD_TEXT,
    Attachment,
    Channel,
    Guild,
    Message,
    emoji_key,
    looks_like_unicode_emoji,
)
from .perms import P, channel_permissions
from .routing import ApiRequest, RouteSpec, UploadedFile
from .validation import (
    ALREADY_ACKNOWLEDGED,
    CANNOT_DM_USER,
    CANNOT_EDIT_OTHERS_MESSAGE,
    INVALID_WEBHOOK_TOKEN,
    THREAD_ALREADY_CREATED,
    UNKNOWN_CHANNEL,
    UNKNOWN_EMOJI,
    UNKNOWN_GUILD,
    UNKNOWN_INTERACTION,
    UNKNOWN_MEMBER,
    UNKNOWN_MESSAGE,
    UNKNOWN_USER,
    UNKNOWN_WEBHOOK,
    ApiError,
    FormErrors,
    missing_access,
    missing_permissions,
    not_found,
    validate_choices,
    validate_commands,
    validate_message,
)

if TYPE_CHECKING:
    from .server import FakeDiscord

# Message flags a bot may set when sending.
_SENDABLE_FLAGS = (1 << 2) | (1 << 12) | (1 << 15) | FLAG_EPHEMERAL

NO_CONTENT = object()  # handlers return this for 204


class Created:
    """Wrap a body to answer 201 instead of 200."""

    def __init__(self, body: Any) -> None:
        self.body = body


def build_routes(fake: FakeDiscord) -> list[RouteSpec]:
    """The route table. Order matters where templates overlap (``@me``/``@original`` first)."""
    r = RestHandlers(fake)
    ch = "/channels/{channel_id}"
    msg = ch + "/messages/{message_id}"
    wh = "/webhooks/{webhook_id}/{webhook_token}"
    app = "/applications/{application_id}"
    return [
        RouteSpec("GET", "/users/@me", r.get_me),
        RouteSpec("GET", "/users/@me/guilds", r.get_my_guilds),
        RouteSpec("POST", "/users/@me/channels", r.create_dm),
        RouteSpec("GET", "/users/{user_id}", r.get_user),
        RouteSpec("GET", "/oauth2/applications/@me", r.get_app_info),
        RouteSpec("GET", "/applications/@me", r.get_app_info),
        RouteSpec("GET", "/gateway/bot", r.get_gateway_bot),
        RouteSpec("GET", "/gateway", r.get_gateway, auth="none"),
        RouteSpec("GET", "/guilds/{guild_id}", r.get_guild),
        RouteSpec("GET", "/guilds/{guild_id}/channels", r.get_guild_channels),
        RouteSpec("GET", "/guilds/{guild_id}/roles", r.get_guild_roles),
        RouteSpec("GET", "/guilds/{guild_id}/members/{member_id}", r.get_member),
        RouteSpec("GET", ch, r.get_channel),
        RouteSpec("POST", ch + "/typing", r.typing),
        RouteSpec("GET", ch + "/messages", r.get_messages),
        RouteSpec("POST", ch + "/messages", r.create_message),
        RouteSpec("GET", msg, r.get_message),
        RouteSpec("PATCH", msg, r.edit_message),
        RouteSpec("DELETE", msg, r.delete_message),
        RouteSpec("PUT", msg + "/reactions/{emoji}/@me", r.add_own_reaction),
        RouteSpec("DELETE", msg + "/reactions/{emoji}/@me", r.remove_own_reaction),
        RouteSpec("DELETE", msg + "/reactions/{emoji}/{user_id}", r.remove_user_reaction),
        RouteSpec("GET", msg + "/reactions/{emoji}", r.get_reaction_users),
        RouteSpec("DELETE", msg + "/reactions", r.clear_reactions),
        RouteSpec("POST", msg + "/threads", r.start_thread),
        RouteSpec("PUT", ch + "/thread-members/@me", r.join_thread),
        RouteSpec("GET", app + "/commands", r.get_global_commands),
        RouteSpec("PUT", app + "/commands", r.put_global_commands),
        RouteSpec("GET", app + "/guilds/{guild_id}/commands", r.get_guild_commands),
        RouteSpec("PUT", app + "/guilds/{guild_id}/commands", r.put_guild_commands),
        RouteSpec(
            "POST",
            "/interactions/{webhook_id}/{webhook_token}/callback",
            r.interaction_callback,
            auth="token",
            limited=False,
        ),
        RouteSpec("GET", wh + "/messages/@original", r.get_original, auth="token"),
        RouteSpec("PATCH", wh + "/messages/@original", r.edit_original, auth="token"),
        RouteSpec("DELETE", wh + "/messages/@original", r.delete_original, auth="token"),
        RouteSpec("POST", wh, r.create_followup, auth="token"),
        RouteSpec("GET", wh + "/messages/{message_id}", r.get_followup, auth="token"),
        RouteSpec("PATCH", wh + "/messages/{message_id}", r.edit_followup, auth="token"),
        RouteSpec("DELETE", wh + "/messages/{message_id}", r.delete_followup, auth="token"),
    ]


_MENTION_USER = re.compile(r"<@!?(\d+)>")
_MENTION_ROLE = re.compile(r"<@&(\d+)>")


class RestHandlers:
    """Route handlers. All state lives on the ``FakeDiscord`` they were built for."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.f = fake

    # -- lookups and checks -------------------------------------------------------------

    def _channel(self, channel_id: str | int) -> Channel:
        try:
            cid = int(channel_id)
        except ValueError:
            raise not_found(UNKNOWN_CHANNEL, "Channel") from None
        channel = self.f.channels.get(cid)
        if channel is None or cid in self.f.deleted_channel_ids:
            raise not_found(UNKNOWN_CHANNEL, "Channel")
        return channel

    def _guild_of(self, channel: Channel) -> Guild | None:
        if channel.guild_id is None:
            return None
        return self.f.guilds.get(channel.guild_id)

    def _bot_perms(self, channel: Channel) -> int:
        """The bot's permissions in ``channel``; raises 50001 when it cannot even see it."""
        if channel.is_dm:
            return int(
                P.VIEW_CHANNEL
                | P.SEND_MESSAGES
                | P.EMBED_LINKS
                | P.ATTACH_FILES
                | P.READ_MESSAGE_HISTORY
                | P.ADD_REACTIONS
            )
        guild = self._guild_of(channel)
        if guild is None or self.f.bot.id not in guild.members:
            raise missing_access()
        perms = channel_permissions(guild, channel, self.f.bot.id)
        if not perms & P.VIEW_CHANNEL:
            raise missing_access()
        return perms

    def _require(self, perms: int, needed: int) -> None:
        if needed & ~perms:
            self.f.permission_denials.append(needed & ~perms)
            raise missing_permissions()

    def _message(self, channel: Channel, message_id: str) -> Message:
        try:
            mid = int(message_id)
        except ValueError:
            raise not_found(UNKNOWN_MESSAGE, "Message") from None
        m = self.f.messages_by_id.get(mid)
        if m is None or m.channel_id != channel.id or mid not in channel.message_ids:
            raise not_found(UNKNOWN_MESSAGE, "Message")
        return m

    def _payload(self, m: Message, **extra: Any) -> dict[str, Any]:
        data = self.f.message_payload(m)
        data.update(extra)
        return data

    # -- users, application, gateway ----------------------------------------------------

    async def get_me(self, req: ApiRequest) -> Any:
        return self.f.bot.payload() | {
            "verified": True,
            "mfa_enabled": False,
            "email": None,
            "locale": "en-US",
        }

    async def get_user(self, req: ApiRequest) -> Any:
        try:
            user = self.f.users.get(int(req.params["user_id"]))
        except ValueError:
            user = None
        if user is None:
            raise not_found(UNKNOWN_USER, "User")
        return user.payload()

    async def get_my_guilds(self, req: ApiRequest) -> Any:
        out = []
        for g in self.f.bot_guilds():
            from .perms import base_permissions

            out.append(
                {
                    "id": str(g.id),
                    "name": g.name,
                    "icon": None,
                    "banner": None,
                    "owner": g.owner_id == self.f.bot.id,
                    "permissions": str(base_permissions(g, self.f.bot.id)),
                    "features": [],
                }
            )
        return out

    async def get_app_info(self, req: ApiRequest) -> Any:
        f = self.f
        return {
            "id": str(f.application_id),
            "name": f.application_name,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "owner": f.application_owner.payload(),
            "team": None,
            "flags": f.application_flags,
            "bot": f.bot.payload(),
            "tags": [],
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "approximate_guild_count": len(f.bot_guilds()),
            "integration_types_config": {"0": {}},
        }

    async def get_gateway_bot(self, req: ApiRequest) -> Any:
        f = self.f
        return {
            "url": f.gateway_url.rstrip("/"),
            "shards": f.recommended_shards,
            "session_start_limit": {
                "total": 1000,
                "remaining": 1000 - f.identify_count,
                "reset_after": 86_400_000,
                "max_concurrency": 1,
            },
        }

    async def get_gateway(self, req: ApiRequest) -> Any:
        return {"url": self.f.gateway_url.rstrip("/")}

    # -- guilds and members -------------------------------------------------------------

    def _guild(self, guild_id: str) -> Guild:
        try:
            guild = self.f.guilds.get(int(guild_id))
        except ValueError:
            guild = None
        if guild is None:
            raise not_found(UNKNOWN_GUILD, "Guild")
        if self.f.bot.id not in guild.members:
            raise missing_access()
        return guild

    async def get_guild(self, req: ApiRequest) -> Any:
        guild = self._guild(req.params["guild_id"])
        return guild.payload(counts=req.query.get("with_counts") in ("true", "1", "True"))

    async def get_guild_channels(self, req: ApiRequest) -> Any:
        guild = self._guild(req.params["guild_id"])
        return [
            c.payload()
            for c in guild.channels.values()
            if not c.is_thread and c.id not in self.f.deleted_channel_ids
        ]

    async def get_guild_roles(self, req: ApiRequest) -> Any:
        guild = self._guild(req.params["guild_id"])
        return [r.payload() for r in guild.roles.values()]

    async def get_member(self, req: ApiRequest) -> Any:
        guild = self._guild(req.params["guild_id"])
        try:
            member = guild.members.get(int(req.params["member_id"]))
        except ValueError:
            member = None
        if member is None:
            raise not_found(UNKNOWN_MEMBER, "Member")
        return member.payload()

    # -- channels -----------------------------------------------------------------------

    async def get_channel(self, req: ApiRequest) -> Any:
        channel = self._channel(req.params["channel_id"])
        self._bot_perms(channel)
        return channel.payload(self.f.users)

    async def typing(self, req: ApiRequest) -> Any:
        channel = self._channel(req.params["channel_id"])
        perms = self._bot_perms(channel)
        self._require(perms, self._send_perm(channel))
        return NO_CONTENT

    def _send_perm(self, channel: Channel) -> int:
        return int(P.SEND_MESSAGES_IN_THREADS if channel.is_thread else P.SEND_MESSAGES)

    async def create_dm(self, req: ApiRequest) -> Any:
        body = req.json or {}
        try:
            user = self.f.users.get(int(body.get("recipient_id")))
        except (TypeError, ValueError):
            user = None
        if user is None:
            errors = FormErrors()
            errors.add(("recipient_id",), "NUMBER_TYPE_COERCE", "Value is not snowflake.")
            errors.raise_if_any()
            raise AssertionError("unreachable")
        channel = self.f.dm_channel(user, create=True)
        assert channel is not None
        return channel.payload(self.f.users)

    # -- messages -------------------------------------------------------------------------

    async def get_messages(self, req: ApiRequest) -> Any:
        channel = self._channel(req.params["channel_id"])
        perms = self._bot_perms(channel)
        try:
            limit = int(req.query.get("limit", "50"))
        except ValueError:
            limit = -1
        if not 1 <= limit <= 100:
            errors = FormErrors()
            errors.add(
                ("limit",),
                "NUMBER_TYPE_MAX" if limit > 100 else "NUMBER_TYPE_MIN",
                "int value should be between 1 and 100",
            )
            errors.raise_if_any()
        if not perms & P.READ_MESSAGE_HISTORY:
            return []
        ids = list(channel.message_ids)
        if "around" in req.query:
            around = int(req.query["around"])
            older = [i for i in ids if i < around][-(limit // 2) :] if limit // 2 else []
            newer = [i for i in ids if i >= around][: limit - len(older)]
            page = older + newer
        elif "after" in req.query:
            after = int(req.query["after"])
            page = [i for i in ids if i > after][:limit]
        else:
            before = int(req.query["before"]) if "before" in req.query else None
            page = [i for i in ids if before is None or i < before][-limit:]
        return [self._payload(self.f.messages_by_id[i]) for i in reversed(page)]

    async def get_message(self, req: ApiRequest) -> Any:
        channel = self._channel(req.params["channel_id"])
        perms = self._bot_perms(channel)
        self._require(perms, int(P.READ_MESSAGE_HISTORY))
        return self._payload(self._message(channel, req.params["message_id"]))

    async def create_message(self, req: ApiRequest) -> Any:
        f = self.f
        channel = self._channel(req.params["channel_id"])
        perms = self._bot_perms(channel)
        body = req.json if isinstance(req.json, dict) else {}
        if channel.is_dm:
            recipient = f.users.get(channel.recipient_id or 0)
            if recipient is None or not f.can_dm(recipient):
                raise ApiError(403, CANNOT_DM_USER, "Cannot send messages to this user")
        self._require(perms, self._send_perm(channel))
        validate_message(body, n_files=len(req.files))
        needed = 0
        if body.get("embeds"):
            needed |= P.EMBED_LINKS
        if req.files:
            needed |= P.ATTACH_FILES
        if body.get("tts"):
            needed |= P.SEND_TTS_MESSAGES
        if body.get("message_reference"):
            needed |= P.READ_MESSAGE_HISTORY
        self._require(perms, int(needed))

        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            existing = f.nonce_lookup(f.bot.id, str(nonce))
            if existing is not None:
                f.nonce_dedupes += 1
                return self._payload(existing, nonce=existing.nonce)

        reference = body.get("message_reference")
        if reference:
            ref_id = reference.get("message_id")
            ref_channel = int(reference.get("channel_id") or channel.id)
            target = f.messages_by_id.get(int(ref_id)) if ref_id else None
            if (
                target is None
                or target.channel_id != ref_channel
                or (target.id not in f.channels[ref_channel].message_ids)
            ):
                if reference.get("fail_if_not_exists", True):
                    errors = FormErrors()
                    errors.add(("message_reference",), "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message")
                    errors.raise_if_any()
                reference = None
        message = f.new_message(
            channel,
            f.bot,
            body,
            files=req.files,
            reference=reference,
            message_type=19 if reference and reference.get("type", 0) == 0 else 0,
        )
        f.store_message(message)
        return self._payload(message, nonce=message.nonce)

    async def edit_message(self, req: ApiRequest) -> Any:
        channel = self._channel(req.params["channel_id"])
        perms = self._bot_perms(channel)
        message = self._message(channel, req.params["message_id"])
        body = req.json if isinstance(req.json, dict) else {}
        if message.author.id != self.f.bot.id:
            if set(body) - {"flags"}:
                raise ApiError(
                    403, CANNOT_EDIT_OTHERS_MESSAGE, "Cannot edit a message authored by another user"
                )
            self._require(perms, int(P.MANAGE_MESSAGES))
        validate_message(body, n_files=len(req.files), partial=True)
        if body.get("embeds"):
            self._require(perms, int(P.EMBED_LINKS))
        self.f.apply_edit(message, body, req.files)
        return self._payload(message)

    async def delete_message(self, req: ApiRequest) -> Any:
        channel = self._channel(req.params["channel_id"])
        perms = self._bot_perms(channel)
        message = self._message(channel, req.params["message_id"])
        if message.author.id != self.f.bot.id:
            self._require(perms, int(P.MANAGE_MESSAGES))
        self.f.remove_message(message)
        return NO_CONTENT

    # -- reactions ------------------------------------------------------------------------

    def _emoji(self, raw: str) -> str:
        key = emoji_key(raw)
        name, sep, eid = key.rpartition(":")
        if sep and name and eid.isdigit():
            if int(eid) not in self.f.custom_emoji_ids:
                raise ApiError(400, UNKNOWN_EMOJI, "Unknown Emoji")
            return key
        if not looks_like_unicode_emoji(key):
            raise ApiError(400, UNKNOWN_EMOJI, "Unknown Emoji")
        return key

    async def add_own_reaction(self, req: ApiRequest) -> Any:
        channel = self._channel(req.params["channel_id"])
        perms = self._bot_perms(channel)
        self._require(perms, int(P.READ_MESSAGE_HISTORY))
        message = self._message(channel, req.params["message_id"])
        key = self._emoji(req.params["emoji"])
        if not message.reactions.get(key):
            self._require(perms, int(P.ADD_REACTIONS))
        self.f.add_reaction(message, self.f.bot, key)
        return NO_CONTENT

    async def remove_own_reaction(self, req: ApiRequest) -> Any:
        channel = self._channel(req.params["channel_id"])
        self._bot_perms(channel)
        message = self._message(channel, req.params["message_id"])
        key = self._emoji(req.params["emoji"])
        self.f.remove_reaction(message, self.f.bot.id, key)
        return NO_CONTENT

    async def remove_user_reaction(self, req: ApiRequest) -> Any:
        channel = self._channel(req.params["channel_id"])
        perms = self._bot_perms(channel)
        message = self._message(channel, req.params["message_id"])
        key = self._emoji(req.params["emoji"])
        uid = int(req.params["user_id"])
        if uid != self.f.bot.id:
            self._require(perms, int(P.MANAGE_MESSAGES))
        self.f.remove_reaction(message, uid, key)
        return NO_CONTENT

    async def get_reaction_users(self, req: ApiRequest) -> Any:
        channel = self._channel(req.params["channel_id"])
        perms = self._bot_perms(channel)
        self._require(perms, int(P.READ_MESSAGE_HISTORY))
        message = self._message(channel, req.params["message_id"])
        key = self._emoji(req.params["emoji"])
        uids = sorted(message.reactions.get(key, []))
        after = int(req.query.get("after", "0"))
        limit = int(req.query.get("limit", "25"))
        uids = [u for u in uids if u > after][:limit]
        return [self.f.users[u].payload() for u in uids if u in self.f.users]

    async def clear_reactions(self, req: ApiRequest) -> Any:
        channel = self._channel(req.params["channel_id"])
        perms = self._bot_perms(channel)
        self._require(perms, int(P.MANAGE_MESSAGES))
        message = self._message(channel, req.params["message_id"])
        message.reactions.clear()
        self.f.dispatch_guild_or_dm(
            "MESSAGE_REACTION_REMOVE_ALL",
            {"channel_id": str(channel.id), "message_id": str(message.id)}
            | ({"guild_id": str(channel.guild_id)} if channel.guild_id else {}),
            channel,
            gw.GUILD_MESSAGE_REACTIONS,
            gw.DIRECT_MESSAGE_REACTIONS,
        )
        return NO_CONTENT

    # -- threads --------------------------------------------------------------------------

    async def start_thread(self, req: ApiRequest) -> Any:
        f = self.f
        channel = self._channel(req.params["channel_id"])
        perms = self._bot_perms(channel)
        if channel.type not in (GUILD_TEXT, GUILD_ANNOUNCEMENT):
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        self._require(perms, int(P.CREATE_PUBLIC_THREADS | P.READ_MESSAGE_HISTORY))
        message = self._message(channel, req.params["message_id"])
        body = req.json if isinstance(req.json, dict) else {}
        errors = FormErrors()
        errors.length_between(("name",), body.get("name"), 1, 100)
        duration = body.get("auto_archive_duration") or 1440
        if duration not in (60, 1440, 4320, 10080):
            errors.add(
                ("auto_archive_duration",),
                "BASE_TYPE_CHOICES",
                "Value must be one of {60, 1440, 4320, 10080}.",
            )
        errors.raise_if_any()
        if message.thread_id is not None:
            raise ApiError(400, THREAD_ALREADY_CREATED, "A thread has already been created for this message")
        thread = f.new_thread(
            channel, body["name"], owner=f.bot, message=message, auto_archive_duration=duration
        )
        return Created(thread.payload() | {"member": f.thread_member_payload(thread, f.bot.id)})

    async def join_thread(self, req: ApiRequest) -> Any:
        channel = self._channel(req.params["channel_id"])
        self._bot_perms(channel)
        if not channel.is_thread:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        channel.thread_member_ids.add(self.f.bot.id)
        return NO_CONTENT

    # -- application commands -----------------------------------------------------------

    def _check_app(self, req: ApiRequest) -> None:
        if req.params["application_id"] != str(self.f.application_id):
            raise ApiError(403, 50001, "Missing Access")

    async def get_global_commands(self, req: ApiRequest) -> Any:
        self._check_app(req)
        return self.f.command_payloads(None)

    async def put_global_commands(self, req: ApiRequest) -> Any:
        self._check_app(req)
        body = req.json if isinstance(req.json, list) else []
        validate_commands(body)
        return self.f.set_commands(None, body)

    async def get_guild_commands(self, req: ApiRequest) -> Any:
        self._check_app(req)
        guild = self._guild(req.params["guild_id"])
        return self.f.command_payloads(guild.id)

    async def put_guild_commands(self, req: ApiRequest) -> Any:
        self._check_app(req)
        guild = self._guild(req.params["guild_id"])
        body = req.json if isinstance(req.json, list) else []
        validate_commands(body)
        return self.f.set_commands(guild.id, body)

    # -- interactions ---------------------------------------------------------------------

    async def interaction_callback(self, req: ApiRequest) -> Any:
        f = self.f
        try:
            rec = f.interactions_by_id.get(int(req.params["webhook_id"]))
        except ValueError:
            rec = None
        if rec is None or rec.token != req.params["webhook_token"]:
            raise ApiError(404, UNKNOWN_INTERACTION, "Unknown interaction")
        t = time.monotonic()
        if rec.response_type is None and t > rec.deadline:
            rec.deadline_missed = True
            rec.late_callbacks += 1
            rec.rejected.append((404, UNKNOWN_INTERACTION))
            rec._touch()
            raise ApiError(404, UNKNOWN_INTERACTION, "Unknown interaction")
        if rec.response_type is not None:
            rec.rejected.append((400, ALREADY_ACKNOWLEDGED))
            rec._touch()
            raise ApiError(400, ALREADY_ACKNOWLEDGED, "Interaction has already been acknowledged.")
        body = req.json if isinstance(req.json, dict) else {}
        rtype = body.get("type")
        data = body.get("data") or {}
        allowed = {
            ix.APPLICATION_COMMAND: {4, 5, 9},
            ix.MESSAGE_COMPONENT: {4, 5, 6, 7, 9},
            ix.AUTOCOMPLETE: {8},
            ix.MODAL_SUBMIT: {4, 5, 6, 7},
        }[rec.type]
        if rtype not in allowed:
            errors = FormErrors()
            errors.add(
                ("type",),
                "INTERACTION_RESPONSE_TYPE_INVALID",
                "Interaction response type is invalid for this interaction",
            )
            errors.raise_if_any()
        channel = f.channels[rec.channel_id]
        resource: dict[str, Any] = {"type": rtype}
        if rtype == ix.CHANNEL_MESSAGE:
            validate_message(data, n_files=len(req.files))
            rec.message = f.interaction_message(rec, channel, data, req.files)
        elif rtype == ix.DEFERRED_CHANNEL_MESSAGE:
            rec.message = f.interaction_message(
                rec,
                channel,
                {"content": "", "flags": (data.get("flags") or 0) & FLAG_EPHEMERAL},
                [],
                loading=True,
            )
        elif rtype in (ix.DEFERRED_UPDATE_MESSAGE, ix.UPDATE_MESSAGE):
            source = f.messages_by_id.get(rec.source_message_id or 0)
            if source is None:
                raise not_found(UNKNOWN_MESSAGE, "Message")
            if rtype == ix.UPDATE_MESSAGE:
                validate_message(data, n_files=len(req.files), partial=True)
                f.apply_edit(source, data, req.files)
            rec.message = source
        elif rtype == ix.AUTOCOMPLETE_RESULT:
            validate_choices(data.get("choices"))
            rec.choices = list(data.get("choices") or [])
        elif rtype == ix.MODAL:
            errors = FormErrors()
            errors.length_between(("data", "custom_id"), data.get("custom_id"), 1, 100)
            errors.length_between(("data", "title"), data.get("title"), 1, 45)
            comps = data.get("components") or []
            if not 1 <= len(comps) <= 5:
                errors.add(
                    ("data", "components"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length."
                )
            errors.raise_if_any()
            rec.modal = data
        rec.response_type = rtype
        rec.responded_at = t
        rec._touch()
        if rec.message is not None and rtype in (4, 5, 7):
            resource["message"] = self._payload(rec.message)
        if req.query.get("with_response") not in ("1", "true", "True"):
            return NO_CONTENT
        interaction: dict[str, Any] = {"id": str(rec.id), "type": rec.type}
        if rec.message is not None and rtype in (4, 5, 6, 7):
            interaction["response_message_id"] = str(rec.message.id)
            interaction["response_message_loading"] = rtype == 5
            interaction["response_message_ephemeral"] = rec.message.ephemeral
        return {"interaction": interaction, "resource": resource}

    def _webhook_interaction(self, req: ApiRequest) -> ix.Interaction:
        f = self.f
        if req.params["webhook_id"] != str(f.application_id):
            raise not_found(UNKNOWN_WEBHOOK, "Webhook")
        rec = f.interactions_by_token.get(req.params["webhook_token"])
        if rec is None or time.monotonic() > rec.expires:
            raise ApiError(401, INVALID_WEBHOOK_TOKEN, "Invalid Webhook Token")
        return rec

    def _original(self, rec: ix.Interaction) -> Message:
        if rec.message is None or rec.message.id not in self.f.messages_by_id:
            raise not_found(UNKNOWN_MESSAGE, "Message")
        return rec.message

    async def get_original(self, req: ApiRequest) -> Any:
        rec = self._webhook_interaction(req)
        return self._payload(self._original(rec))

    async def edit_original(self, req: ApiRequest) -> Any:
        rec = self._webhook_interaction(req)
        message = self._original(rec)
        body = req.json if isinstance(req.json, dict) else {}
        validate_message(body, n_files=len(req.files), partial=True)
        self.f.apply_edit(message, body, req.files, clear_loading=True)
        rec.edits += 1
        rec._touch()
        return self._payload(message)

    async def delete_original(self, req: ApiRequest) -> Any:
        rec = self._webhook_interaction(req)
        message = self._original(rec)
        self.f.remove_message(message)
        rec.deleted = True
        rec._touch()
        return NO_CONTENT

    async def create_followup(self, req: ApiRequest) -> Any:
        f = self.f
        rec = self._webhook_interaction(req)
        if rec.response_type is None:
            raise not_found(UNKNOWN_WEBHOOK, "Webhook")
        body = req.json if isinstance(req.json, dict) else {}
        validate_message(body, n_files=len(req.files))
        original = rec.message
        if (
            rec.response_type == ix.DEFERRED_CHANNEL_MESSAGE
            and original is not None
            and original.flags & FLAG_LOADING
        ):
            # Discord turns the first followup after a "thinking" defer into the original
            # response: it keeps the defer's ephemeral state, whatever the followup asked.
            edit = dict(body)
            edit.pop("flags", None)
            f.apply_edit(original, edit, req.files, clear_loading=True)
            message = original
        else:
            message = f.interaction_message(rec, f.channels[rec.channel_id], body, req.files, followup=True)
        rec.followups.append(message)
        rec._touch()
        if req.query.get("wait") in ("0", "false", "False"):
            return NO_CONTENT
        return self._payload(message)

    def _followup(self, rec: ix.Interaction, message_id: str) -> Message:
        try:
            mid = int(message_id)
        except ValueError:
            raise not_found(UNKNOWN_MESSAGE, "Message") from None
        for m in ([rec.message] if rec.message else []) + rec.followups:
            if m.id == mid and mid in self.f.messages_by_id:
                return m
        raise not_found(UNKNOWN_MESSAGE, "Message")

    async def get_followup(self, req: ApiRequest) -> Any:
        rec = self._webhook_interaction(req)
        return self._payload(self._followup(rec, req.params["message_id"]))

    async def edit_followup(self, req: ApiRequest) -> Any:
        rec = self._webhook_interaction(req)
        message = self._followup(rec, req.params["message_id"])
        body = req.json if isinstance(req.json, dict) else {}
        validate_message(body, n_files=len(req.files), partial=True)
        self.f.apply_edit(message, body, req.files, clear_loading=True)
        if message is rec.message:
            rec.edits += 1
        rec._touch()
        return self._payload(message)

    async def delete_followup(self, req: ApiRequest) -> Any:
        rec = self._webhook_interaction(req)
        message = self._followup(rec, req.params["message_id"])
        self.f.remove_message(message)
        rec._touch()
        return NO_CONTENT


def attachments_from(
    f: FakeDiscord, channel: Channel, body: dict[str, Any], files: list[UploadedFile]
) -> list[Attachment]:
    """Match uploaded ``files[n]`` parts with ``attachments`` metadata in ``payload_json``."""
    meta = {}
    for a in body.get("attachments") or []:
        if isinstance(a, dict) and "id" in a:
            meta[str(a["id"])] = a
    out: list[Attachment] = []
    for index, upload in enumerate(files):
        m = re.match(r"files\[(\d+)\]", upload.field)
        key = m.group(1) if m else str(index)
        info = meta.get(key, {})
        aid = f.snowflakes.next()
        filename = info.get("filename") or upload.filename
        out.append(
            Attachment(
                id=aid,
                filename=filename,
                data=upload.data,
                content_type=_guess_type(filename, upload.content_type),
                url=f"{f.base_url}/attachments/{channel.id}/{aid}/{filename}",
                description=info.get("description"),
            )
        )
    return out


def _guess_type(filename: str, given: str | None) -> str | None:
    import mimetypes

    guessed, _ = mimetypes.guess_type(filename)
    if guessed:
        return guessed if not guessed.startswith("text/") else guessed + "; charset=utf-8"
    return given


def mentions_for(
    f: FakeDiscord,
    channel: Channel,
    content: str,
    allowed: dict[str, Any] | None,
    reply_to: Message | None,
) -> tuple[list[int], list[int], bool]:
    """Users and roles a message actually pings, honouring ``allowed_mentions``."""
    parse = {"users", "roles", "everyone"} if allowed is None else set(allowed.get("parse") or [])
    users_allowed = {int(u) for u in (allowed or {}).get("users") or []}
    roles_allowed = {int(r) for r in (allowed or {}).get("roles") or []}
    users = []
    for uid in map(int, _MENTION_USER.findall(content or "")):
        if uid in f.users and ("users" in parse or uid in users_allowed) and uid not in users:
            users.append(uid)
    ping_reply = allowed is None or allowed.get("replied_user", True)
    if reply_to is not None and ping_reply and reply_to.author.id not in users:
        users.append(reply_to.author.id)
    roles = []
    guild = f.guilds.get(channel.guild_id or 0)
    for rid in map(int, _MENTION_ROLE.findall(content or "")):
        if guild and rid in guild.roles and ("roles" in parse or rid in roles_allowed):
            roles.append(rid)
    everyone = "everyone" in parse and ("@everyone" in (content or "") or "@here" in (content or ""))
    return users, roles, everyone
