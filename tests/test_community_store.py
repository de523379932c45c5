"""The community queries on both store backends (SQLite and PostgreSQL): server feeds, live-post
claims, what a server saved, DM settings."""

from __future__ import annotations

from datetime import timedelta

from bot.store import Store
from tests.test_store import NOW, arxiv, ingest


async def test_follows_claims_and_backlog(store: Store) -> None:
    await ingest(store, "https://blog.example.org/feed", [arxiv("2608.00001", "Old item")])
    feed = await store.feed_by_url("https://blog.example.org/feed")
    assert feed is not None
    cursor = await store.max_sighting_of_feed(feed.id)
    follow, created = await store.add_server_feed(guild_id=1, channel_id=2, feed_id=feed.id, mode="live",
                                                  filter_query=None, created_by=9, cursor=cursor, now=NOW)
    assert created and follow.feed is not None and follow.feed.url == feed.url
    again, created = await store.add_server_feed(guild_id=1, channel_id=2, feed_id=feed.id, mode="digest",
                                                 filter_query="x", created_by=9, cursor=0, now=NOW)
    assert not created and again.id == follow.id and again.mode == "digest" and again.cursor == cursor
    assert await store.count_server_feeds(1) == 1
    # A re-served old item is not new; a new one is.
    await ingest(store, "https://blog.example.org/feed",
                 [arxiv("2608.00001", "Old item"), arxiv("2608.00002", "New item")], day=NOW.date())
    items = await store.feed_items_after(feed.id, cursor)
    papers = await store.papers_by_ids([p for _, p in items])
    assert [p.key for p in papers] == ["2608.00002"]
    upto = max(s for s, _ in items)
    post_id = await store.claim_live_post(follow.id, channel_id=2, paper_ids=[p for _, p in items],
                                          cursor_to=upto, now=NOW)
    assert post_id
    taken = await store.claim_live_post(follow.id, channel_id=2, paper_ids=[1], cursor_to=upto, now=NOW)
    assert taken is None  # the cursor already moved: claimed once
    [pending] = await store.unfinished_live_posts()
    assert pending.id == post_id and pending.message_id is None
    await store.finish_live_post(post_id, message_id=555)
    assert await store.unfinished_live_posts() == []
    assert (await store.get_live_post(post_id)).message_id == 555
    told = await store.disable_server_feeds(feed.id, "HTTP 404", now=NOW)
    assert [f.id for f in told] == [follow.id]
    await store.mark_told_disabled(follow.id)
    assert await store.disable_server_feeds(feed.id, "HTTP 404", now=NOW) == []
    assert (await store.feed_by_id(feed.id)).enabled  # the operator's (config) feed keeps being polled
    added = await store.upsert_feed("https://lab.example.org/atom", kind=None, name=None, origin="admin")
    other, _ = await store.add_server_feed(guild_id=1, channel_id=3, feed_id=added.id, mode="live",
                                           filter_query=None, created_by=9, cursor=0, now=NOW)
    assert [f.id for f in await store.disable_server_feeds(added.id, "timed out", now=NOW)] == [other.id]
    assert not (await store.feed_by_id(added.id)).enabled  # a feed added from Discord stops
    assert (await store.get_server_feed(other.id)).disabled_reason == "timed out"
    assert await store.remove_server_feed(99, follow.id) is None  # another server's
    assert (await store.remove_server_feed(1, follow.id)) is not None
    assert [f.id for f in await store.list_server_feeds(guild_id=1)] == [other.id]


async def test_top_saved_and_dm_settings(store: Store) -> None:
    await ingest(store, "https://rss.arxiv.org/rss/cs.LG",
                 [arxiv("2608.00001", "A"), arxiv("2608.00002", "B"), arxiv("2608.00003", "C")])
    for user, key, guild in ((1, "2608.00002", 7), (2, "2608.00002", 7), (3, "2608.00001", 7),
                             (4, "2608.00003", 8)):
        saved = await store.add_bookmark(user, key, source="button", guild_id=guild, now=NOW, limit=10)
        assert saved == "added"
    top = await store.top_saved(7, since=NOW - timedelta(days=1))
    assert [(p.key, n) for p, n in top] == [("2608.00002", 2), ("2608.00001", 1)]
    assert await store.top_saved(7, since=NOW + timedelta(days=1)) == []
    assert await store.top_saved(7, since=NOW - timedelta(days=1), categories=["math"]) == []
    await store.set_dm_settings(5, hour=8, timezone="Europe/Berlin", off=False)
    await store.set_dm_settings(6, hour=None, timezone="UTC", off=True)
    chosen = await store.dm_settings_of([5, 6, 7])
    assert chosen[5].hour == 8 and chosen[5].timezone == "Europe/Berlin" and not chosen[5].off
    assert chosen[6].off and 7 not in chosen
    await store.clear_dm_settings(5)
    assert 5 not in await store.dm_settings_of([5])
