"""/search and /paper. Thin: parse, ask the store (or arXiv, once), render, answer.

/search answers privately by default (exploring a topic should not flood the channel);
`public:True` shares the results. The hits are fetched once (the best 50) and kept in a
small in-memory session for paging. Previous/Next and the Save menu are dynamic items:
their custom_id carries the session, the page and the searcher, so a click after the
session expired or after a restart gets a polite answer instead of "interaction failed",
and the Save menu (whose options are paper ids) keeps working even then.

/paper posts a paper's card in the channel, fetching it from the arXiv API (through the
shared polite fetcher) when it is not stored yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import logging
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import PaperBot
from bot.digest.model import BOOKMARK_EMOJI
from bot.digest.render import paper_buttons, paper_embed
from bot.errors import UserFacingError
from bot.fetch import FetchError
from bot.meaning import MeaningUnavailable
from bot.meaning.hybrid import MODES, hybrid_hits, ranking_label
from bot.merge import StoredPaper
from bot.models import FeedFormatError, FeedKind, ParsedFeed
from bot.present import escape_markdown, trim
from bot.search import parse_query
from bot.search.render import (
    EMPTY_QUERY,
    MAX_RESULTS,
    ResultRow,
    clamp_page,
    heading_for,
    no_results_text,
    page_count,
    result_row,
    results_embed,
    save_options,
)
from bot.sources import parse_arxiv_id, parse_feed
from bot.taxonomy import categories, split_categories, suggest
from bot.views import build_view, save_for_user

log = logging.getLogger(__name__)

SESSION_TTL_SECONDS = 15 * 60  # idle time before a search's pages are forgotten
MAX_SESSIONS = 500  # at most ~50 small rows each: a few MB at worst
LOOKUP_TIMEOUT_SECONDS = 30.0  # the arXiv look-up, including the wait for the polite limiter
ATOM = "application/atom+xml, application/xml;q=0.9, */*;q=0.5"
NOT_FOUND_TTL_SECONDS = 10 * 60  # an id arXiv just said it does not have is not asked again soon

EXPIRED = ("⌛ This search has expired (results are kept for 15 minutes, and not across restarts of "
           "the bot). Run `/search` again to page through them; the 🔖 menu still saves.")
FAILED = "Something went wrong on my side with that; please try again, or run `/search` again."


# ---------------------------------------------------------------------- sessions


@dataclass(slots=True)
class SearchSession:
    id: str
    user_id: int
    user_name: str
    heading: str
    notes: tuple[str, ...]
    rows: list[ResultRow]
    capped: bool
    public: bool
    last_used: float = 0.0
    page: int = 0
    ranking: str | None = None  # "meaning and words" when /search ranked by meaning (bot/meaning/)


@dataclass
class SessionStore:
    """Recent searches by id: expire after `ttl` seconds unused; the least recently used go first
    when there are more than `max_size`."""

    ttl: float = SESSION_TTL_SECONDS
    max_size: int = MAX_SESSIONS
    clock: Callable[[], float] = time.monotonic
    _sessions: OrderedDict[str, SearchSession] = field(default_factory=OrderedDict)

    def add(self, *, user_id: int, user_name: str, heading: str, notes: Sequence[str],
            rows: list[ResultRow], capped: bool, public: bool, ranking: str | None = None) -> SearchSession:
        self._expire()
        session_id = secrets.token_hex(5)
        while session_id in self._sessions:
            session_id = secrets.token_hex(5)
        session = SearchSession(session_id, user_id, user_name, heading, tuple(notes), rows, capped, public,
                                last_used=self.clock(), ranking=ranking)
        self._sessions[session_id] = session
        while len(self._sessions) > self.max_size:
            self._sessions.popitem(last=False)
        return session

    def get(self, session_id: str) -> SearchSession | None:
        """The live session (and mark it used), or None once it expired or was evicted."""
        self._expire()
        session = self._sessions.get(session_id)
        if session is not None:
            session.last_used = self.clock()
            self._sessions.move_to_end(session_id)
        return session

    def _expire(self) -> None:
        cutoff = self.clock() - self.ttl
        while self._sessions:
            oldest = next(iter(self._sessions.values()))
            if oldest.last_used > cutoff:
                break
            self._sessions.popitem(last=False)

    def clear(self) -> None:
        self._sessions.clear()

    def __len__(self) -> int:
        return len(self._sessions)


# ---------------------------------------------------------------------- components


def page_custom_id(direction: str, session_id: str, page: int, user_id: int) -> str:
    return f"pb:search:{direction}:{session_id}:{page}:{user_id}"


def save_custom_id(session_id: str, page: int) -> str:
    return f"pb:search:save:{session_id}:{page}"


class SearchPageButton(discord.ui.DynamicItem[discord.ui.Button],
                       template=r"pb:search:(?P<dir>prev|next):(?P<sid>[0-9a-f]{1,16}):(?P<page>\d{1,4}):"
                                r"(?P<user>\d{1,20})"):
    """Previous / Next on a /search answer. Only the searcher turns the pages."""

    def __init__(self, direction: str, session_id: str, page: int, user_id: int, *, disabled: bool = False):
        label, emoji = ("Previous", "◀️") if direction == "prev" else ("Next", "▶️")
        super().__init__(discord.ui.Button(
            label=label, emoji=emoji, style=discord.ButtonStyle.secondary, disabled=disabled, row=1,
            custom_id=page_custom_id(direction, session_id, page, user_id)))
        self.direction, self.session_id, self.page, self.user_id = direction, session_id, page, user_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button,
                             match: re.Match[str]) -> SearchPageButton:
        return cls(match["dir"], match["sid"], int(match["page"]), int(match["user"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await self._turn(interaction)
        except Exception:
            log.exception("turning to page %s of search %s failed", self.page, self.session_id)
            await _tell(interaction, FAILED)

    async def _turn(self, interaction: discord.Interaction) -> None:
        if interaction.user.id != self.user_id:
            await interaction.response.send_message(
                f"Only <@{self.user_id}> can turn the pages of this search. Run `/search` yourself to "
                "page through results; the 🔖 menu saves any paper shown here to your bookmarks.",
                ephemeral=True)
            return
        cog = interaction.client.get_cog("Search") if isinstance(interaction.client, commands.Bot) else None
        sessions = getattr(cog, "sessions", None)
        session = sessions.get(self.session_id) if sessions is not None else None
        if session is None or session.user_id != self.user_id:
            await interaction.response.send_message(EXPIRED, ephemeral=True)
            return
        embed, view = render_page(session, self.page)
        await interaction.response.edit_message(embed=embed, view=view)


class SearchSaveSelect(discord.ui.DynamicItem[discord.ui.Select],
                       template=r"pb:search:save:(?P<sid>[0-9a-f]{1,16}):(?P<page>\d{1,4})"):
    """🔖 Save menu on a /search page: bookmarks the chosen paper for whoever picks it. Its options
    are paper ids, so it needs no session and works on any /search message, however old."""

    def __init__(self, session_id: str, page: int, options: Sequence[tuple[str, str, str]] = ()):
        select: discord.ui.Select = discord.ui.Select(
            custom_id=save_custom_id(session_id, page), placeholder="🔖 Save a result to your bookmarks…",
            min_values=1, max_values=1, row=0,
            options=[discord.SelectOption(label=label, value=value, description=description)
                     for label, value, description in options] or [discord.SelectOption(label="-")],
        )
        super().__init__(select)
        self.session_id, self.page = session_id, page

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Select,
                             match: re.Match[str]) -> SearchSaveSelect:
        return cls(match["sid"], int(match["page"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            values = self.item.values
            if not values:
                await interaction.response.send_message("Pick a paper in the menu to save it.",
                                                        ephemeral=True)
                return
            bot: PaperBot = interaction.client  # type: ignore[assignment]
            text = await save_for_user(bot, interaction.user.id, values[0], source="search",
                                       guild_id=interaction.guild_id)
            await interaction.response.send_message(text, ephemeral=True)
        except Exception:
            log.exception("saving from search %s failed", self.session_id)
            await _tell(interaction, FAILED)


async def _tell(interaction: discord.Interaction, text: str) -> None:
    """An ephemeral line, whether or not the interaction was already answered."""
    with contextlib.suppress(discord.HTTPException):
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)


def render_page(session: SearchSession, page: int) -> tuple[discord.Embed, discord.ui.View]:
    page = clamp_page(page, len(session.rows))
    session.page = page
    embed = results_embed(session.rows, page, heading=session.heading, notes=session.notes,
                          capped=session.capped, searcher=session.user_name if session.public else None,
                          ranking=session.ranking)
    view = discord.ui.View(timeout=None)
    view.add_item(SearchSaveSelect(session.id, page, save_options(session.rows, page)))
    pages = page_count(len(session.rows))
    if pages > 1:
        view.add_item(SearchPageButton("prev", session.id, max(page - 1, 0), session.user_id,
                                       disabled=page == 0))
        view.add_item(SearchPageButton("next", session.id, min(page + 1, pages - 1), session.user_id,
                                       disabled=page == pages - 1))
    return discord.Embed.from_dict(embed), view


# ---------------------------------------------------------------------- the cog


class Search(commands.Cog):
    def __init__(self, bot: PaperBot):
        self.bot = bot
        self.sessions = SessionStore()
        self._not_found: OrderedDict[str, float] = OrderedDict()
        self.lookup_timeout = LOOKUP_TIMEOUT_SECONDS

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(SearchPageButton, SearchSaveSelect)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(SearchPageButton, SearchSaveSelect)

    # ------------------------------------------------------------------ /search

    @app_commands.command(name="search", description="Search the papers paperbot has stored")
    @app_commands.describe(
        query='Words, "a phrase", author:name, title:word, -exclude, an arXiv id…',
        category="Only these arXiv categories, e.g. cs.LG or cs.CL cs.AI (an archive like cs covers all)",
        author="Only papers with this author",
        since_days="Only papers announced in the last N days",
        has_code="Only papers with a code repository",
        public="Post the results in the channel for everyone (default: only you see them)",
        mode="hybrid: by meaning and words (default) · words: your words only · meaning: by meaning only",
    )
    @app_commands.choices(mode=[app_commands.Choice(name=m, value=m) for m in MODES])
    async def search(
        self, interaction: discord.Interaction, query: str, category: str | None = None,
        author: str | None = None, since_days: app_commands.Range[int, 1, 3650] | None = None,
        has_code: bool = False, public: bool = False, mode: str = "hybrid",
    ) -> None:
        # Always deferred privately: "nothing found" and mistakes stay between the bot and the
        # searcher; shared results are posted as a separate public message.
        await interaction.response.defer(ephemeral=True, thinking=True)
        parsed = parse_query(query, category=self._categories(category), author=author,
                             since_days=since_days, has_code=has_code, today=self.bot.clock().date())
        if parsed.is_empty:
            notes = "".join(f"\nℹ️ {escape_markdown(trim(n, 200))}" for n in parsed.notes)
            await interaction.followup.send(EMPTY_QUERY + notes, ephemeral=True)
            return
        started = time.perf_counter()
        try:
            hits = await hybrid_hits(parsed, limit=MAX_RESULTS, mode=mode,  # type: ignore[arg-type]
                                     word_search=self.bot.store.search, meaning=self.bot.meaning,
                                     load=self.bot.store.papers_by_ids)
        except MeaningUnavailable as problem:
            await interaction.followup.send(f"⚠️ {problem}. `mode: words` searches your words.",
                                            ephemeral=True)
            return
        elapsed_ms = (time.perf_counter() - started) * 1000
        log.debug("search %r: %d hits in %.1f ms", parsed.describe()[:80], len(hits), elapsed_ms)
        if not hits:
            stored = await self.bot.store.count_papers()
            await interaction.followup.send(no_results_text(parsed, stored=stored), ephemeral=True)
            return
        notes = list(parsed.notes)
        if not parsed.has_text and not parsed.arxiv_ids:
            notes.append("your query has no words to match, so these are the newest papers matching the "
                         "filters")
        session = self.sessions.add(
            user_id=interaction.user.id, user_name=interaction.user.display_name,
            heading=heading_for(parsed), notes=notes, rows=[result_row(h) for h in hits],
            capped=len(hits) >= MAX_RESULTS, public=public,
            ranking=ranking_label(mode, parsed, self.bot.meaning),  # type: ignore[arg-type]
        )
        embed, view = render_page(session, 0)
        if not public:
            await interaction.followup.send(embed=embed, view=view, ephemeral=True)
            return
        # The private "thinking" answer becomes a short note; the results go to the channel.
        await interaction.followup.send(
            f"📣 Shared {len(hits)}{'+' if session.capped else ''} results in the channel. Only you can "
            "turn its pages; anyone can save a result from its 🔖 menu.", ephemeral=True)
        await interaction.followup.send(embed=embed, view=view, ephemeral=False,
                                        allowed_mentions=discord.AllowedMentions.none())

    def _categories(self, text: str | None) -> list[str]:
        if text is None or not text.strip():
            return []
        known, unknown = split_categories(text)
        if unknown:
            first = unknown[0][:40].replace("`", "'")
            close = _close_categories(first)
            hint = f" Did you mean {', '.join(f'`{c}`' for c in close)}?" if close else ""
            raise UserFacingError(
                f"`{first}` is not an arXiv category.{hint} Use codes such as `cs.LG` or "
                "`cs.CL cs.AI` (the option's autocomplete lists them), or an archive such as `cs`.")
        return known

    @search.autocomplete("category")
    async def category_autocomplete(self, interaction: discord.Interaction,
                                    current: str) -> list[app_commands.Choice[str]]:
        head, _, last = current.rpartition(" ")
        head = f"{head} " if head else ""
        choices = []
        for code, name in suggest(last, limit=25):
            value = f"{head}{code}"
            if len(value) <= 100:
                choices.append(app_commands.Choice(name=trim(f"{value} — {name}", 100), value=value))
        return choices

    # ------------------------------------------------------------------ /paper

    @app_commands.command(name="paper", description="Post a paper's card here, by arXiv id or link")
    @app_commands.rename(paper_id="id")
    @app_commands.describe(paper_id="An arXiv id or link: 2405.12345, arXiv:2405.12345v2, "
                                    "https://arxiv.org/abs/2405.12345")
    async def paper(self, interaction: discord.Interaction, paper_id: str) -> None:
        # Deferred privately, so a wrong id or an arXiv failure is told to the user alone; the
        # card is then posted as its own public message (a followup), which others can 🔖.
        await interaction.response.defer(ephemeral=True, thinking=True)
        key = self._paper_key(paper_id)
        paper = await self.bot.store.get_paper(key)
        fetched = False
        if paper is None:
            paper = await self._look_up(key)
            fetched = True
        where = ("Fetched it from arXiv (it is stored now, so `/search` finds it too) and posted"
                 if fetched else "Posted")
        await interaction.followup.send(f"{where} the card for `{paper.key}` below.", ephemeral=True)
        card = await interaction.followup.send(
            embed=discord.Embed.from_dict(paper_embed(
                paper, footer=f"Shared by {interaction.user.display_name} · react 🔖 or press Save to "
                              "bookmark it")),
            view=build_view(paper_buttons(paper)) or discord.utils.MISSING,
            ephemeral=False, wait=True, allowed_mentions=discord.AllowedMentions.none(),
        )
        channel_id = interaction.channel_id or card.channel.id
        await self.bot.store.record_posted(
            run_id=None, seq=None, message_id=card.id, channel_id=channel_id, guild_id=interaction.guild_id,
            kind="card", paper_key=paper.key, now=self.bot.clock(),
        )
        try:
            await self.bot.get_partial_messageable(channel_id).get_partial_message(card.id).add_reaction(
                BOOKMARK_EMOJI)
            await self.bot.store.mark_reacted(card.id)
        except discord.HTTPException as error:
            # Cosmetic: the card and its Save button work without the bot's own 🔖.
            log.info("could not add 🔖 to card %s in channel %s: %s", card.id, channel_id, error)

    def _paper_key(self, text: str) -> str:
        parsed = parse_arxiv_id(text)
        if parsed is not None:
            return parsed[0]
        shown = trim(text.replace("`", "'"), 60) or "that"  # in a code span: shown literally
        raise UserFacingError(
            f"`{shown}` is not an arXiv id. Give one like `2405.12345`, `arXiv:2405.12345v2`, "
            "`hep-th/0505137` or a link such as `https://arxiv.org/abs/2405.12345`. To find a paper by "
            "its title or authors, use `/search`.")

    async def _look_up(self, key: str) -> StoredPaper:
        """Ask the arXiv API for one id (through the shared polite fetcher), store it, return it."""
        now = time.monotonic()
        remembered = self._not_found.get(key)
        if remembered is not None and now - remembered < NOT_FOUND_TTL_SECONDS:
            raise UserFacingError(f"arXiv has no paper `{key}` (I asked it a moment ago). Check the id.")
        api_url = self.bot.settings.arxiv.api_url
        url = f"{api_url}{'&' if '?' in api_url else '?'}{urlencode({'id_list': key})}"
        try:
            async with asyncio.timeout(self.lookup_timeout):
                response = await self.bot.fetcher.get(url, accept=ATOM)
                parsed = await asyncio.to_thread(parse_feed, response.body, FeedKind.ARXIV_API)
        except TimeoutError:
            raise UserFacingError(
                f"arXiv did not answer in time for `{key}`; it may be busy. Try again in a minute.") from None
        except (FetchError, FeedFormatError) as error:
            log.info("arXiv look-up of %s failed: %s", key, error)
            raise UserFacingError(_arxiv_trouble(key, error)) from None
        found = [p for p in parsed.papers if p.key == key]
        if not found:
            self._remember_not_found(key, now)
            raise UserFacingError(
                f"arXiv has no paper `{key}`. Check the id (new-style ids look like `2405.12345`).")
        one = ParsedFeed(kind=FeedKind.ARXIV_API, papers=found[:1], title=parsed.title,
                         total_results=parsed.total_results)
        await self.bot.store.record_api_results(api_url, one, at=self.bot.clock())
        paper = await self.bot.store.get_paper(key)
        if paper is None:  # pragma: no cover - the batch was just written
            raise UserFacingError(f"Could not store `{key}`; please try again.")
        return paper

    def _remember_not_found(self, key: str, at: float) -> None:
        self._not_found[key] = at
        self._not_found.move_to_end(key)
        while len(self._not_found) > 1000:
            self._not_found.popitem(last=False)


def _arxiv_trouble(key: str, error: FetchError | FeedFormatError) -> str:
    """Why the look-up failed, for the user: rate limited, unreachable, or an error page."""
    retry_after = getattr(error, "retry_after", None)
    wait = f" (it asks to wait {int(retry_after)} s)" if retry_after else ""
    if "rate exceeded" in str(error).lower():
        return (f"arXiv is limiting requests right now (it answered “Rate exceeded.”){wait}, so I could not "
                f"look up `{key}`. Try again in a minute.")
    if isinstance(error, FetchError):
        return (f"I could not reach arXiv to look up `{key}` ({escape_markdown(trim(error.reason, 160))})"
                f"{wait}. Try again in a minute.")
    return (f"arXiv answered with an error page instead of `{key}`; it may be down for a moment. "
            "Try again later.")


def _close_categories(word: str) -> list[str]:
    """Categories a mistyped code was probably meant to be: 'cs.LGG' -> cs.LG."""
    codes = {code.lower(): code for code in categories()}
    close = difflib.get_close_matches(word.lower(), list(codes), n=3, cutoff=0.6)
    return [codes[c] for c in close] or [code for code, _ in suggest(word, limit=3)]


async def setup(bot: PaperBot) -> None:
    await bot.add_cog(Search(bot))
