"""Gathering what a server liked in a week (store reads), for the weekly recap and /top."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.community.recap import LISTED, WEEK, TopicActivity, WeekFacts
from bot.search import parse_query
from bot.store import Store


async def week_facts(store: Store, guild_id: int, categories: Sequence[str], end: datetime) -> WeekFacts:
    """The week before `end`: most saved here, top Hugging Face papers, topics by new papers."""
    start = end - WEEK
    saved = await store.top_saved(guild_id, since=start, categories=categories, limit=LISTED)
    upvoted = await store.top_upvoted(since=start, categories=categories, limit=LISTED)
    topics = await store.list_topics(guild_id)
    activity: list[TopicActivity] = []
    if topics:
        week_papers = await store.papers_first_seen_since(start)
        followers = await store.topic_saves_since(guild_id, start)
        for topic in topics:
            matched = await store.papers_matching(parse_query(topic.query), week_papers) \
                if week_papers else set()
            activity.append(TopicActivity(topic.name, len(matched), followers.get(topic.id, 0)))
        activity.sort(key=lambda t: (-t.papers, -t.new_followers, t.name.lower()))
    return WeekFacts(start=start, end=end, saved=saved, upvoted=upvoted, topics=activity)
