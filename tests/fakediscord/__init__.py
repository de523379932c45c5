"""A loopback fake Discord (REST API v10 + gateway) for end-to-end tests with real discord.py.

See README.md in this folder for what it covers and what it deliberately does not.
"""

from .client import point_discord_py_at, running_client
from .gateway import (
    DIRECT_MESSAGE_REACTIONS,
    DIRECT_MESSAGES,
    GUILD_MEMBERS,
    GUILD_MESSAGE_REACTIONS,
    GUILD_MESSAGES,
    GUILDS,
    MESSAGE_CONTENT,
)
from .interactions import Interaction, InteractionNotAnswered
from .models import Attachment, Channel, Guild, Member, Message, Overwrite, Role, User
from .perms import DEFAULT_BOT, DEFAULT_EVERYONE, P
from .ratelimit import RateLimits
from .routing import Injection, RateLimitHit, RecordedRequest
from .server import CommandNotRegistered, FakeDiscord, NotAvailable

__all__ = [
    "DEFAULT_BOT",
    "DEFAULT_EVERYONE",
    "DIRECT_MESSAGES",
    "DIRECT_MESSAGE_REACTIONS",
    "GUILDS",
    "GUILD_MEMBERS",
    "GUILD_MESSAGES",
    "GUILD_MESSAGE_REACTIONS",
    "MESSAGE_CONTENT",
    "Attachment",
    "Channel",
    "CommandNotRegistered",
    "FakeDiscord",
    "Guild",
    "Injection",
    "Interaction",
    "InteractionNotAnswered",
    "Member",
    "Message",
    "NotAvailable",
    "Overwrite",
    "P",
    "RateLimitHit",
    "RateLimits",
    "RecordedRequest",
    "Role",
    "User",
    "point_discord_py_at",
    "running_client",
]
