"""Server feeds end to end: /feed add, test, list, remove against the fake Discord and real HTTP
on loopback; SSRF refusals, live posts capped and paged, failures, exactly once across a restart."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime

import pytest

from tests.botharness import World
from tests.fakediscord import NotAvailable
from tests.test_digests import fast_sends

pytestmark = pytest.mark.timeout(120)

# The feed server is on loopback: these tests let feeds reach 127.0.0.1 only (the operator's
# allow list), so every other private address is still refused as in production.
LOOPBACK_ONLY = {"allowed_private_networks": ["127.0.0.1/32"]}


def rss(items: range | list[int], *, title: str = "Lab Blog", prefix: str = "post") -> str:
    start = datetime(2026, 8, 20, tzinfo=UTC)
    entries = "".join(
        f"<item><title>{prefix.title()} number {n}: results &amp; notes</title>"
        f"<link>https://blog.example.org/{prefix}/{n}</link><guid>https://blog.example.org/{prefix}/{n}</guid>"
        f"<author>writer{n}@example.org (Writer {n})</author>"
        f"<description>Item {n} of the lab blog about attention and transformers.</description>"
        f"<pubDate>{format_datetime(start + timedelta(minutes=n))}</pubDate></item>"
        for n in items
    )
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>'
            f"<link>https://blog.example.org/</link><description>x</description>{entries}</channel></rss>")


def feed_world(world: World) -> World:
    world.sections["http"] = dict(LOOPBACK_ONLY)
    world.rebuild_settings()
    fast_sends(world.fake)
    return world


async def feed(world: World, subcommand: str, **options: object):
    return await world.fake.invoke(world.admin, world.guild, world.channel, "feed",
                                    subcommand=subcommand, options=options)


def live_posts(world: World) -> list:
    return [m for m in world.fake.messages(world.channel) if "new item" in (m.content or "")]


async def until(check, within: float = 15) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


# ---------------------------------------------------------------------- permissions and SSRF


async def test_members_are_refused_and_nothing_is_saved(world: World) -> None:
    url = world.feeds.serve("/blog.xml", rss(range(3)))
    async with feed_world(world).run_bot() as bot:
        with pytest.raises(NotAvailable):  # Discord hides /feed from members...
            await world.fake.invoke(world.member, world.guild, world.channel, "feed", subcommand="list")
        unhidden = [{**c, "default_member_permissions": None} for c in world.fake.commands()]
        world.fake.register_commands(unhidden)
        for sub, options in (("add", {"url": url}), ("test", {"url": url}), ("list", {}),
                             ("remove", {"feed": 1})):
            refused = await world.fake.invoke(world.member, world.guild, world.channel, "feed",
                                              subcommand=sub, options=options)
            assert refused.ephemeral
            assert "Manage Server" in refused.all_text(), sub
        assert await bot.store.list_server_feeds() == []
        assert world.feeds.requests == []


@pytest.mark.parametrize("host", ["127.0.0.2", "localhost", "[::ffff:127.0.0.1]", "169.254.169.254"])
async def test_feeds_on_private_addresses_are_refused_with_a_clear_message(world: World, host: str) -> None:
    """As deployed (no allow list): a loopback literal, a DNS name resolving to loopback, an
    IPv6-mapped loopback address, the cloud metadata address."""
    world.feeds.serve("/blog.xml", rss(range(3)))
    fast_sends(world.fake)
    async with world.run_bot() as bot:
        for sub in ("test", "add"):
            answer = await feed(world, sub, url=f"http://{host}:{world.feeds.port}/blog.xml")
            text = answer.all_text()
            assert "private or local address" in text, text
            assert "http.allow_private_addresses" in text
        assert await bot.store.list_server_feeds() == []
        assert [f for f in await bot.store.list_feeds() if f.origin == "admin"] == []
    assert world.feeds.requests == []


async def test_a_redirect_into_private_space_is_refused(world: World) -> None:
    world.feeds.serve("/inner.xml", rss(range(3)))
    url = world.feeds.serve("/moved", redirect_to=f"http://127.0.0.5:{world.feeds.port}/inner.xml")
    async with feed_world(world).run_bot() as bot:
        answer = await feed(world, "add", url=url)
        assert "127.0.0.5 is a private or local address" in answer.all_text()
        assert await bot.store.list_server_feeds() == []
    assert [r.path for r in world.feeds.requests] == ["/moved"]


async def test_without_the_allow_list_even_the_loopback_feed_server_is_refused(world: World) -> None:
    url = world.feeds.serve("/blog.xml", rss(range(3)))
    fast_sends(world.fake)
    async with world.run_bot():
        answer = await feed(world, "add", url=url)
        assert "127.0.0.1 is a private or local address" in answer.all_text()
    assert world.feeds.requests == []


# ---------------------------------------------------------------------- test, add, list, remove


async def test_feed_test_shows_how_the_feed_is_read_and_saves_nothing(world: World) -> None:
    url = world.feeds.serve("/blog.xml", rss(range(12)))
    async with feed_world(world).run_bot() as bot:
        answer = await feed(world, "test", url=url)
        text = answer.all_text()
        assert "Lab Blog" in text
        assert "Read as: **rss**" in text
        assert "12 items" in text
        assert "Nothing was saved" in text
        titles = [e["title"] for e in answer.message.embeds]
        assert len(titles) == 3 and titles[0].startswith("1. Post number")
        assert await bot.store.list_server_feeds() == []
        bad = await feed(world, "test", url="ftp://example.org/feed")
        assert "https://" in bad.all_text()
        world.feeds.serve("/page.html", "<html><body>Hello</body></html>", content_type="text/html")
        html = await feed(world, "test", url=world.feeds.url("/page.html"))
        assert "did not give me a feed" in html.all_text()


async def test_add_list_remove_and_the_per_server_limit(world: World) -> None:
    world.sections["community"] = {"max_feeds_per_server": 2}
    urls = [world.feeds.serve(f"/f{n}.xml", rss(range(2), title=f"Feed {n}", prefix=f"f{n}"))
            for n in range(3)]
    async with feed_world(world).run_bot() as bot:
        first = await feed(world, "add", url=urls[0], filter="attention")
        assert "Following **Feed 0**" in first.all_text()
        assert "holds 2 items now" in first.all_text()
        second = await feed(world, "add", url=urls[1], mode="digest")
        assert "no digest in that channel" in second.all_text()
        third = await feed(world, "add", url=urls[2])
        assert "limit" in third.all_text()
        listing = (await feed(world, "list")).all_text()
        assert "#1" in listing and "#2" in listing and "Feed 0" in listing and "Feed 1" in listing
        assert "filter `attention`" in listing and "digest" in listing
        assert "2 of 2" in listing
        removed = await feed(world, "remove", feed=1)
        assert "removed" in removed.all_text()
        assert "no feed #1" in (await feed(world, "remove", feed=1)).all_text()
        # The removed feed is no longer polled; the other still is.
        enabled = {f.url for f in await bot.store.list_feeds(enabled_only=True)}
        assert urls[0] not in enabled and urls[1] in enabled
        assert "Following **Feed 2**" in (await feed(world, "add", url=urls[2])).all_text()


# ---------------------------------------------------------------------- live posting


async def test_a_live_feed_posting_300_items_in_one_poll_is_capped_and_paged(world: World) -> None:
    world.feeds.serve("/blog.xml", rss(range(5)))
    async with feed_world(world).run_bot() as bot:
        await feed(world, "add", url=world.feeds.url("/blog.xml"))
        assert live_posts(world) == []  # what the feed held when added is backlog, not news
        world.feeds.serve("/blog.xml", rss(range(305)))
        await bot.poll_feeds(force=True)
        [post] = live_posts(world)
        assert "**300** new items from **Lab Blog**" in post.content
        description = post.embeds[0]["description"]
        assert description.count("**") >= 20  # ten numbered items
        assert "**10.**" in description and "**11.**" not in description
        assert "…and **290 more** new items." in description
        # The new items (not the five seen when it was added), in the feed's order, each linked.
        assert "(https://blog.example.org/post/5)" in description
        assert "blog.example.org/post/4)" not in description
        [button] = [c for row in post.components for c in row["components"]]
        assert button["label"] == "Show 290 more"
        page = await world.fake.click(world.member, post, button["custom_id"])
        assert page.ephemeral
        assert "items 11–20 of 300" in page.message.embeds[0]["title"]
        assert "**11.**" in page.message.embeds[0]["description"]
        # Page on to the end.
        message = page.message
        for _ in range(28):
            [next_button] = [c for row in message.components for c in row["components"]]
            page = await world.fake.click(world.member, message, next_button["custom_id"])
            message = page.message
        assert "items 291–300 of 300" in message.embeds[0]["embeds"][0]["title"] \
            if "embeds" in message.embeds[0] else "items 291–300 of 300" in message.embeds[0]["title"]
        assert not message.components or not [c for r in message.components for c in r["components"]]
        # The next poll with nothing new posts nothing.
        await bot.poll_feeds(force=True)
        assert len(live_posts(world)) == 1


async def test_live_items_are_filtered_and_posted_once_across_a_restart(world: World) -> None:
    world.feeds.serve("/blog.xml", rss(range(2)))
    feed_world(world)
    async with world.run_bot() as bot:
        await feed(world, "add", url=world.feeds.url("/blog.xml"), filter="number 7")
        world.feeds.serve("/blog.xml", rss(range(10)))
        await bot.poll_feeds(force=True)
        [post] = live_posts(world)
        assert "**1** new item from" in post.content
        assert "post/7" in post.embeds[0]["description"]
        assert "post/8" not in post.embeds[0]["description"]
    async with world.run_bot() as bot:
        await bot.poll_feeds(force=True)
        await asyncio.sleep(0.5)
        assert len(live_posts(world)) == 1


async def test_a_live_post_whose_answers_were_lost_is_finished_once_after_a_restart(world: World) -> None:
    """Discord stores the message but every answer is lost (503 after processing): the post stays
    claimed; the restart finds the message in the channel by its marker and does not send again."""
    world.feeds.serve("/blog.xml", rss(range(2)))
    feed_world(world)
    async with world.run_bot() as bot:
        await feed(world, "add", url=world.feeds.url("/blog.xml"))
        world.feeds.serve("/blog.xml", rss(range(4)))
        world.fake.inject("POST /channels/*/messages", status=503, count=3, after_processing=True)
        await bot.poll_feeds(force=True)
        assert len(live_posts(world)) == 1  # retries carried the same nonce: no duplicate
        [claimed] = await bot.store.unfinished_live_posts()
        assert claimed.message_id is None
    async with world.run_bot() as bot:
        for _ in range(100):
            if not await bot.store.unfinished_live_posts():
                break
            await asyncio.sleep(0.1)
        assert await bot.store.unfinished_live_posts() == []
        assert len(live_posts(world)) == 1
        post = await bot.store.get_live_post(claimed.id)
        assert post is not None and post.message_id == live_posts(world)[0].id
        await bot.poll_feeds(force=True)
        assert len(live_posts(world)) == 1


async def test_one_servers_slow_feed_does_not_delay_anothers_live_post(world: World) -> None:
    other_guild = world.fake.create_guild("Other Lab", owner=world.admin)
    world.fake.add_member(other_guild, world.admin, admin=True)
    other_channel = world.fake.create_channel(other_guild, "news")
    world.feeds.serve("/slow.xml", rss(range(2), prefix="slow"))
    world.feeds.serve("/fast.xml", rss(range(2), prefix="fast"))
    feed_world(world)
    async with world.run_bot() as bot:
        await feed(world, "add", url=world.feeds.url("/slow.xml"))
        await world.fake.invoke(world.admin, other_guild, other_channel, "feed", subcommand="add",
                                options={"url": world.feeds.url("/fast.xml")})
        world.feeds.serve("/slow.xml", rss(range(4), prefix="slow"), delay=6)
        world.feeds.serve("/fast.xml", rss(range(4), prefix="fast"))
        started = asyncio.get_running_loop().time()
        poll = asyncio.create_task(bot.poll_feeds(force=True))
        await until(lambda: any("new item" in (m.content or "") for m in world.fake.messages(other_channel)),
                    within=5)
        fast_done = asyncio.get_running_loop().time() - started
        assert fast_done < 4  # the other server's slow feed is still being fetched
        assert not poll.done()
        await poll
        assert len(live_posts(world)) == 1


# ---------------------------------------------------------------------- failures


async def test_a_failing_feed_is_shown_retried_and_disabled_with_one_message(world: World) -> None:
    world.sections["community"] = {"disable_feed_after_failures": 3}
    world.feeds.serve("/blog.xml", rss(range(2)))
    async with feed_world(world).run_bot() as bot:
        await feed(world, "add", url=world.feeds.url("/blog.xml"))
        world.feeds.serve("/blog.xml", "Rate exceeded.", status=503, content_type="text/plain")
        await bot.poll_feeds(force=True)
        listing = (await feed(world, "list")).all_text()
        assert "failing (1 in a row" in listing and "HTTP 503" in listing
        status = await world.fake.invoke(world.admin, world.guild, world.channel, "status")
        assert "HTTP 503" in status.all_text()
        # Backoff: an ordinary poll right after does not hit the feed again.
        hits = len(world.feeds.hits("/blog.xml"))
        await bot.poll_feeds()
        assert len(world.feeds.hits("/blog.xml")) == hits
        await bot.poll_feeds(force=True)
        await bot.poll_feeds(force=True)
        notices = [m for m in world.fake.messages(world.channel) if "stopped checking" in m.content]
        assert len(notices) == 1
        assert "failed 3 times in a row" in notices[0].content
        listing = (await feed(world, "list")).all_text()
        assert "disabled" in listing
        hits = len(world.feeds.hits("/blog.xml"))
        await bot.poll_feeds(force=True)
        assert len(world.feeds.hits("/blog.xml")) == hits  # no longer polled
        assert len([m for m in world.fake.messages(world.channel) if "stopped checking" in m.content]) == 1
        # Adding it again once it works brings it back.
        world.feeds.serve("/blog.xml", rss(range(3)))
        again = await feed(world, "add", url=world.feeds.url("/blog.xml"))
        assert "Updated" in again.all_text()
        assert "disabled" not in (await feed(world, "list")).all_text()


async def test_digest_mode_puts_new_filtered_items_into_the_channels_digest(world: World) -> None:
    from tests.test_digests import CL, add_digest

    world.serve_feed("/rss/cs.CL", fixture=CL)
    world.feeds.serve("/blog.xml", rss(range(2)))
    async with feed_world(world).run_bot() as bot:
        await bot.poll_feeds()
        await add_digest(world, max_papers=25)
        await feed(world, "add", url=world.feeds.url("/blog.xml"), mode="digest",
                   filter="number 3 OR number 4")
        world.feeds.serve("/blog.xml", rss(range(6)))
        await bot.poll_feeds(force=True)
        assert live_posts(world) == []  # digest mode: nothing posted as it arrives
        config = await bot.store.get_digest(1)
        assert config is not None
        plan, _ = await bot.digests.compose(config, run_id=0, run_date=date(2026, 8, 21))
        keys = [m.paper_key for m in plan.messages if m.paper_key] + list(plan.extra_keys)
        titles = {p.title for p in await bot.store.papers_by_keys_in_order(keys)}
        assert {"Post number 3: results & notes", "Post number 4: results & notes"} <= titles
        assert not {t for t in titles if t.startswith(("Post number 5", "Post number 1"))}  # filter; backlog
        assert len(titles) > 100  # the day's cs.CL papers are all still there


async def test_a_json_feed_is_tested_added_and_posted_live(world: World) -> None:
    def json_feed(count: int) -> str:
        items = [{"id": f"n{n}", "url": f"https://news.example.org/{n}", "title": f"Note {n}",
                  "content_text": "About attention."} for n in range(count)]
        return json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "Lab JSON",
                           "items": items})

    world.feeds.serve("/feed.json", json_feed(2), content_type="application/feed+json")
    async with feed_world(world).run_bot() as bot:
        tested = await feed(world, "test", url=world.feeds.url("/feed.json"))
        assert "Lab JSON" in tested.all_text() and "2 items" in tested.all_text()
        await feed(world, "add", url=world.feeds.url("/feed.json"))
        world.feeds.serve("/feed.json", json_feed(3), content_type="application/feed+json")
        await bot.poll_feeds(force=True)
        [post] = live_posts(world)
        assert "**1** new item from **Lab JSON**" in post.content
        assert "news.example.org/2" in post.embeds[0]["description"]


async def test_a_live_post_refused_with_5xx_is_finished_at_the_next_poll(world: World) -> None:
    world.feeds.serve("/blog.xml", rss(range(2)))
    async with feed_world(world).run_bot() as bot:
        await feed(world, "add", url=world.feeds.url("/blog.xml"))
        world.feeds.serve("/blog.xml", rss(range(4)))
        world.fake.inject("POST /channels/*/messages", status=503, count=3)  # nothing lands
        await bot.poll_feeds(force=True)
        assert live_posts(world) == []
        assert len(await bot.store.unfinished_live_posts()) == 1
        await bot.poll_feeds(force=True)  # nothing new in the feed, but the claimed post goes out
        [post] = live_posts(world)
        assert "**2** new items" in post.content
        assert await bot.store.unfinished_live_posts() == []
        await bot.poll_feeds(force=True)
        assert len(live_posts(world)) == 1


async def test_a_landed_post_whose_answers_were_lost_is_found_at_the_next_poll(world: World) -> None:
    world.feeds.serve("/blog.xml", rss(range(2)))
    async with feed_world(world).run_bot() as bot:
        await feed(world, "add", url=world.feeds.url("/blog.xml"))
        world.feeds.serve("/blog.xml", rss(range(4)))
        world.fake.inject("POST /channels/*/messages", status=503, count=3, after_processing=True)
        await bot.poll_feeds(force=True)
        [claimed] = await bot.store.unfinished_live_posts()
        await bot.poll_feeds(force=True)  # looked for in the channel, found: not sent again
        assert await bot.store.unfinished_live_posts() == []
        [post] = live_posts(world)
        assert (await bot.store.get_live_post(claimed.id)).message_id == post.id
