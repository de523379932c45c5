"""The Discord answers of /similar, the Similar button and /recommend: service -> embed + Save menu.

Shared by the cog and the persistent button so both say the same; they take the few things they
use (the store, the meaning service, settings), here reached through the bot object Discord hands
to a callback.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

from bot.meaning.render import for_you_field, recommend_embed, save_options, similar_embed
from bot.meaning.service import MeaningUnavailable
from bot.sources import parse_arxiv_id

if TYPE_CHECKING:
    from bot.app import PaperBot

log = logging.getLogger(__name__)

SIMILAR_COUNT = 5


def paper_key_from(text: str) -> str:
    """An arXiv id or URL -> the paper's key; anything else (an rss: key) as typed."""
    parsed = parse_arxiv_id(text)
    return parsed[0] if parsed else text.strip()


def _menu(papers) -> discord.ui.View:
    from bot.views import SaveMenu

    view = discord.ui.View(timeout=None)
    view.add_item(SaveMenu(save_options(papers)))
    return view


async def similar_answer(bot: PaperBot, paper_text: str
                         ) -> tuple[str | None, discord.Embed | None, discord.ui.View | None]:
    """(text, embed, view) for 'papers like this one'."""
    key = paper_key_from(paper_text)
    paper = await bot.store.get_paper(key)
    if paper is None:
        return (f"I have no stored paper `{discord.utils.escape_markdown(key[:90])}`. Post it first with "
                "`/paper`, or pick one from the suggestions.", None, None)
    try:
        related = await bot.meaning.similar(paper, SIMILAR_COUNT)
    except MeaningUnavailable as problem:
        return (f"⚠️ {problem}", None, None)
    embed = discord.Embed.from_dict(similar_embed(paper, related))
    return None, embed, _menu([r.paper for r in related]) if related else None


async def recommend_answer(bot: PaperBot, user_id: int
                           ) -> tuple[str | None, discord.Embed | None, discord.ui.View | None]:
    days = bot.settings.meaning.recommend_days
    try:
        recs = await bot.meaning.recommend(user_id, days=days, k=5)
    except MeaningUnavailable as problem:
        return (f"⚠️ {problem}", None, None)
    if not recs:
        if not await bot.store.bookmarked_paper_ids(user_id, limit=1):
            return ("I recommend from your bookmarks, and you have none yet: save papers you like with 🔖 "
                    "(on any paper card, or the Save menus), then try again.", None, None)
        return (f"No paper of the last {days} days is close to your bookmarks yet.", None, None)
    embed = discord.Embed.from_dict(recommend_embed(recs, days=days))
    return None, embed, _menu([r.paper for r in recs])


async def for_you_section(meaning, store, user_id: int, *, days: int, k: int = 3) -> dict | None:
    """The daily DM's ✨ For you field, for readers who opted in (/recommend daily:on); None
    otherwise, or when search by meaning cannot answer (the DM goes out without it)."""
    if meaning is None or not meaning.ready or not await store.wants_dm_recommendations(user_id):
        return None
    try:
        return for_you_field(await meaning.recommend(user_id, days=days, k=k))
    except Exception:
        log.exception("the For you section for %s failed; the DM goes without it", user_id)
        return None
