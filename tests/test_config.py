"""Configuration: found in the documented order, validated at start, errors name the key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from bot.config import (
    DEFAULT_FEED_URLS,
    ConfigError,
    Settings,
    discord_token,
    load_settings,
    mask_secret,
    parse_settings,
)
from bot.models import FeedKind

ROOT = Path(__file__).resolve().parent.parent

MINIMAL = """
[database]
path = "data/paperbot.db"

[[feeds]]
url = "https://rss.arxiv.org/rss/cs.LG"   # kind detected from the content when not given
# kind = "arxiv-rss" | "arxiv-api" | "hf-daily" | "rss"
"""


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PAPERBOT_CONFIG", raising=False)
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)


def test_the_minimal_form_from_the_docs_works(tmp_path: Path) -> None:
    path = tmp_path / "minimal.toml"
    path.write_text(MINIMAL)
    settings = load_settings(path).settings
    assert settings.database.path == Path("data/paperbot.db")
    assert [f.url for f in settings.feeds] == ["https://rss.arxiv.org/rss/cs.LG"]
    assert settings.feeds[0].kind is None


def test_no_config_at_all_gives_the_embedded_defaults() -> None:
    loaded = load_settings(None)
    assert loaded.source is None
    assert loaded.settings.database.path == Path("data/paperbot.db")
    assert [f.url for f in loaded.settings.feeds] == list(DEFAULT_FEED_URLS)
    assert loaded.settings.arxiv.min_interval_seconds == 3.0


def test_lookup_order_flag_then_env_then_local_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config.toml").write_text('[logging]\nlevel = "WARNING"\n')
    assert load_settings(None).settings.logging.level == "WARNING"
    env_file = tmp_path / "env.toml"
    env_file.write_text('[logging]\nlevel = "ERROR"\n')
    monkeypatch.setenv("PAPERBOT_CONFIG", str(env_file))
    assert load_settings(None).settings.logging.level == "ERROR"
    flag_file = tmp_path / "flag.toml"
    flag_file.write_text('[logging]\nlevel = "debug"\n')
    assert load_settings(flag_file).settings.logging.level == "DEBUG"


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ('[databse]\npath = "x"\n', "databse: unknown setting"),
        ('[[feeds]]\nurl = "ftp://example.org/feed"\n', "feeds[0].url: expected an http:// or https:// URL"),
        ('[[feeds]]\nurl = "https://x.org/f"\nkind = "atom"\n', "feeds[0].kind"),
        ("[polling]\ninterval_minutes = 0\n", "polling.interval_minutes"),
        ('[polling]\ninterval_minutes = "often"\n', "polling.interval_minutes"),
        ('[digest]\ntimezone = "Mars/Olympus"\n', "digest.timezone: expected an IANA time zone"),
        ("[discord]\nshard_ids = [0]\n", "shard_ids needs shard_count"),
        ('[discord]\ngateway_url = "https://x"\n', "discord.gateway_url: expected a ws:// or wss:// URL"),
        ('[[feeds]]\nurl = "https://x.org/f"\n[[feeds]]\nurl = "https://x.org/f"\n', "listed twice"),
    ],
)
def test_a_wrong_key_or_value_names_the_key(tmp_path: Path, document: str, expected: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(document)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


def test_broken_toml_and_missing_files_are_clear(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[database\npath = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(broken)
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.toml")


def test_the_example_config_is_valid_and_documents_every_setting() -> None:
    text = (ROOT / "config.example.toml").read_text()
    settings = parse_settings(tomllib.loads(text), "config.example.toml")
    assert settings.feeds[2].kind is FeedKind.HF_DAILY

    def keys(model: type[BaseModel]) -> set[str]:
        return set(model.model_fields)

    for section, field in Settings.model_fields.items():
        assert f"[{section}]" in text or f"[[{section}]]" in text, section
        annotation = field.annotation
        inner = getattr(annotation, "__args__", (annotation,))[0]
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            for key in keys(inner):
                assert f"{key} =" in text, f"{section}.{key} is not documented"


def test_the_token_comes_from_the_environment_and_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert discord_token() is None
    monkeypatch.setenv("DISCORD_TOKEN", "  abc.def.ghi  ")
    assert discord_token() == "abc.def.ghi"
    assert "abc" not in mask_secret(discord_token())


def test_the_docker_image_config_keeps_the_database_on_the_volume() -> None:
    text = (ROOT / "docker" / "config.toml").read_text()
    settings = parse_settings(tomllib.loads(text), "docker/config.toml")
    assert settings.database.path == Path("/data/paperbot.db")
    assert [f.url for f in settings.feeds] == list(DEFAULT_FEED_URLS)
