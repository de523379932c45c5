"""/search and /paper end to end: the real bot against the fake Discord, real captured feeds on loopback."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from bot.digest.model import BOOKMARK_EMOJI
from bot.digest.render import limit_problems
from bot.search import parse_query
from bot.search.render import MAX_RESULTS, page_count, result_row, results_embed, save_options
from cogs.search import SessionStore
from tests.botharness import World
from tests.fakediscord import Message, NotAvailable, P
from tests.fakediscord.interactions import Interaction
from tests.feedserver import REAL

pytestmark = pytest.mark.timeout(120)

FEEDS = {
    "/rss/cs.CL": "arxiv_rss_cs.CL_2026-08-20_141items.xml",
    "/rss/cs.LG-2024": "arxiv_rss_cs.LG_2024-05-15_213items_null-rights.xml",
    "/rss/cs.LG": "arxiv_rss_cs.LG_2026-05-12_1101items.xml",
    "/api/daily_papers": "hf_daily_papers_2025-09-30_indent2_50items.json",
}
API = "arxiv_api_NEWformat_all-electron_2025-11-21.xml"
NONEXISTENT = "arxiv_api_NEWformat_id_list_nonexistent_2025-11-11.xml"
FAILURE_WORDS = ("Something went wrong", "Traceback", "Error:", "reference `")


# ---------------------------------------------------------------------- helpers


def serve_fixtures(world: World) -> None:
    for path, name in FEEDS.items():
        content_type = "application/json" if name.endswith(".json") else "application/rss+xml"
        world.serve_feed(path, fixture=name, content_type=content_type)


@pytest.fixture
async def searchable(world: World) -> AsyncIterator[World]:
    """The bot running with the real cs.CL, cs.LG (two days) and Hugging Face captures ingested."""
    serve_fixtures(world)
    async with world.run_bot() as bot:
        await bot.poll_feeds()
        assert await bot.store.count_papers() > 1400
        yield world


async def search(world: World, query: str, *, user: Any = None, **options: Any) -> Interaction:
    answer = await world.fake.invoke(user or world.member, world.guild, world.channel, "search",
                                     options={"query": query, **options})
    assert not answer.deadline_missed
    assert answer.ephemeral  # the private answer (results, or the note about shared results)
    if (answer.content or "").startswith("📣"):
        await answer.wait_for_followups(2)  # the shared results come after the private note
    return answer


def results(answer: Interaction) -> Message:
    """The message holding the results: the private answer, or the shared one after it."""
    message = answer.followups[-1] if answer.followups else answer.message
    assert message is not None and message.embeds, f"no results in: {answer.all_text()!r}"
    return message


def select_of(message: Message) -> dict[str, Any]:
    for row in message.components:
        for item in row.get("components", []):
            if item.get("type") == 3:
                return item
    raise AssertionError(f"no Save menu on {message!r}")


def shown_keys(message: Message) -> list[str]:
    """The papers on the page, in the order shown (the Save menu lists them as numbered)."""
    return [option["value"] for option in select_of(message)["options"]]


def description(message: Message) -> str:
    return message.embeds[0]["description"]


def footer(message: Message) -> str:
    return message.embeds[0]["footer"]["text"]


def button(message: Message, direction: str) -> dict[str, Any]:
    for row in message.components:
        for item in row.get("components", []):
            if item.get("type") == 2 and item.get("custom_id", "").startswith(f"pb:search:{direction}:"):
                return item
    raise AssertionError(f"no {direction} button on {message!r}")


def numbered(message: Message) -> list[int]:
    return [int(n) for n in re.findall(r"^\*\*(\d+)\.\*\*", description(message), re.M)]


def assert_no_failure(answer: Interaction) -> None:
    text = answer.all_text()
    assert text.strip(), "an empty answer"
    for word in FAILURE_WORDS:
        assert word not in text, f"{word!r} in {text!r}"


# ---------------------------------------------------------------------- finding papers


KNOWN_ITEMS = [
    # (query, options, expected key at rank 1, every word matched?)
    ("hallucination detection novel summarization", {}, "2608.18082", True),  # cs.CL 2026
    ("catastrophic forgetting incremental", {}, "2405.08015", True),  # cs.LG 2024
    ("Cramér distance reinforcement", {}, "2605.08104", True),  # cs.LG 2026, a diacritic
    ("Visual Jigsaw Post-Training", {}, "2509.25190", True),  # Hugging Face, hyphenated
    ("Bayesian low-rank adaptation", {}, "2605.08110", True),  # hyphenated, matched as "low rank"
    ("entity tracking", {"author": "Heilbron"}, "2608.18083", True),  # author option + keyword
    ("author:heilbron entity", {}, "2608.18083", True),  # inline author + keyword
    ("Multiplayer Nash Preference Optimization zebrafish", {}, "2509.23102", False),  # a stray word
    ("https://arxiv.org/abs/nlin/0408039v2", {}, "nlin/0408039", True),  # an old-style id, as a link
]


async def test_known_papers_are_found_first(searchable: World) -> None:
    for query, options, key, strict in KNOWN_ITEMS:
        answer = await search(searchable, query, **options)
        assert_no_failure(answer)
        page = results(answer)
        assert shown_keys(page)[0] == key, (query, shown_keys(page))
        text = description(page)
        first = text[text.index("**1.**"):].split("\n")[0]
        assert f"/abs/{key}" in first, first  # rank 1 links its abstract page
        partial_note = "matching only some of your words"
        if strict:
            assert partial_note not in text.split("**1.**")[0], (query, text[:300])
        else:
            # The stray word matched nothing, so the paper is shown as a partial match, and said so.
            assert "No paper has every word" in text
            assert partial_note in text.split("**1.**")[0]


async def test_a_results_page_is_compact_numbered_and_linked(searchable: World) -> None:
    answer = await search(searchable, "graph neural networks")
    page = results(answer)
    embed = page.embeds[0]
    assert limit_problems(None, page.embeds) == []
    assert embed["title"] == "🔎 graph neural networks"
    assert numbered(page) == [1, 2, 3, 4, 5]
    assert len(re.findall(r"\]\(https://arxiv\.org/abs/[^)\s]+\)", embed["description"])) == 5
    assert "et al." in embed["description"]  # long author lists are shortened
    assert f"{MAX_RESULTS}+" in embed["description"]  # capped: "50+ ... match"
    assert footer(page).startswith(f"Page 1 of {page_count(MAX_RESULTS)} · results 1–5 of {MAX_RESULTS}+")
    assert len(shown_keys(page)) == 5
    assert not answer.followups or answer.followups[-1].ephemeral  # nothing posted to the channel
    assert searchable.fake.messages(searchable.channel) == []


async def test_filters_and_notes_are_shown(searchable: World) -> None:
    world = searchable
    answer = await search(world, "language models", category="cs.CL", has_code=False)
    page = results(answer)
    assert "cat:cs.CL" in page.embeds[0]["title"]
    bot = world.bot
    assert bot is not None
    papers = await bot.store.get_papers(shown_keys(page))
    assert all("cs.CL" in p.categories for p in papers.values())

    noted = await search(world, "transformers " + "x" * 1200)
    assert "only the first 1,000 characters of the query were used" in results(noted).embeds[0]["description"]

    code = await search(world, "benchmark", has_code=True)
    papers = await bot.store.get_papers(shown_keys(results(code)))
    assert papers and all(p.code_url for p in papers.values())


async def test_hostile_queries_get_a_sensible_answer(searchable: World) -> None:
    world = searchable
    expectations = {  # query: (what the answer says, whether it lists papers)
        '"unbalanced': ("No stored paper matches **unbalanced**", False),
        "NEAR(": ("🔎 near", True),  # an FTS5 operator, read as a word
        "title:": ("🔎 title", True),
        "🦜🦜🦜": ("nothing to search for", False),
        "' OR 1=1 --": ('🔎 "1 1"', True),  # the words it has; the rest is punctuation
        "-only -excluded": ("nothing to search for", False),
        "*": ("nothing to search for", False),
        "cs.LG": ("looks like an arXiv category", False),
        "quokka wombat platypus echidna": ("Try fewer words", False),
        "a" * 6000: ("only the first 1,000 characters", False),  # the longest text Discord accepts
        "\u200b\u0000<@everyone> `` ** [x](javascript:alert(1)) ||": (
            'No stored paper matches **everyone "x javascript alert 1"**', False),
    }
    for query, (expected, listed) in expectations.items():
        answer = await search(world, query)
        assert_no_failure(answer)
        assert expected.lower() in answer.all_text().lower(), (query[:40], answer.all_text()[:300])
        assert "@everyone" not in answer.all_text()
        message = answer.followups[-1] if answer.followups else answer.message
        assert message is not None
        assert bool(message.embeds and shown_keys(message)) == listed, query[:40]
    # Discord itself refuses option text over 6,000 characters, so 10,000 never reaches the bot;
    # the engine behind the command takes it anyway, and the page it renders fits Discord's limits.
    with pytest.raises(ValueError, match="length"):
        await world.fake.invoke(world.member, world.guild, world.channel, "search",
                                options={"query": "learning " * 1200})
    bot = world.bot
    assert bot is not None
    query = parse_query("learning " * 1111 + '"')
    hits = await bot.store.search(query, limit=MAX_RESULTS)
    rows = [result_row(h) for h in hits]
    for page in range(page_count(len(rows))):
        embed = results_embed(rows, page, heading="x" * 300, notes=[*query.notes, "n" * 500] * 3,
                              capped=True, searcher="y" * 300)
        assert limit_problems(None, [embed]) == []
        assert all(len(label) <= 100 and len(value) <= 100 and len(text) <= 100
                   for label, value, text in save_options(rows, page))


async def test_no_results_explain_what_to_try(searchable: World) -> None:
    world = searchable
    answer = await search(world, "zyzzyva cs.LG")
    text = answer.all_text()
    assert "No stored paper matches" in text
    assert "`category: cs.LG`" in text  # did you mean the category filter?
    assert "papers I have stored" in text
    filtered = await search(world, "zyzzyva", author="Nobody", has_code=True)
    assert "Try without the `author`, `has_code` filters" in filtered.all_text()
    missing = await search(world, "2401.99999")
    assert "`/paper id:2401.99999`" in missing.all_text()
    unknown = await search(world, "graphs", category="cs.CL cs.LGG")
    assert "`cs.LGG` is not an arXiv category. Did you mean `cs.LG`" in unknown.all_text()


async def test_category_autocomplete(searchable: World) -> None:
    world = searchable

    async def complete(typed: str) -> list[str]:
        choices = await world.fake.autocomplete(world.member, world.guild, world.channel, "search",
                                                focused="category", options={"query": "x", "category": typed})
        return [c["value"] for c in choices]

    values = await complete("cs.LG cs.c")
    assert "cs.LG cs.CL" in values and "cs.LG cs.CV" in values
    assert (await complete("language"))[0] == "cs.CL"
    assert len(await complete("")) == 25


async def test_search_always_meets_the_3_second_deadline(searchable: World,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    bot = searchable.bot
    assert bot is not None
    original = bot.store.search

    async def slow_search(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(3.5)
        return await original(*args, **kwargs)

    monkeypatch.setattr(bot.store, "search", slow_search)
    answer = await search(searchable, "hallucination detection novel summarization")
    assert shown_keys(results(answer))[0] == "2608.18082"


# ---------------------------------------------------------------------- paging and saving


async def test_paging_saving_and_refusing_others(searchable: World) -> None:
    world = searchable
    fake, searcher, other = world.fake, world.member, world.admin
    answer = await search(world, "reinforcement learning", public=True)
    assert "Shared 50+ results in the channel" in answer.message.content  # the private note
    shared = results(answer)
    assert not shared.ephemeral and fake.messages(world.channel)[-1].id == shared.id
    assert f"searched by {searcher.username}" in footer(shared)
    first_page = shown_keys(shared)
    assert button(shared, "prev").get("disabled") and not button(shared, "next").get("disabled")

    # The searcher turns to page 2.
    turned = await fake.click(searcher, shared, button(shared, "next")["custom_id"])
    assert turned.response_type == 7  # the page is edited in place
    assert numbered(shared) == [6, 7, 8, 9, 10]
    assert footer(shared).startswith("Page 2 of 10")
    second_page = shown_keys(shared)
    assert set(second_page).isdisjoint(first_page)

    # Someone else is refused, privately, and the page stays where it was.
    refused = await fake.click(other, shared, button(shared, "next")["custom_id"])
    assert refused.ephemeral and "Only <@" in refused.all_text()
    assert numbered(shared) == [6, 7, 8, 9, 10] and shown_keys(shared) == second_page

    # Anyone can save a paper shown, to their own bookmarks.
    saved = await fake.click(other, shared, select_of(shared)["custom_id"], values=[second_page[1]])
    assert saved.ephemeral and f"Saved `{second_page[1]}`" in saved.all_text()
    again = await fake.click(other, shared, select_of(shared)["custom_id"], values=[second_page[1]])
    assert "already in your bookmarks" in again.all_text()
    mine = await fake.click(searcher, shared, select_of(shared)["custom_id"], values=[second_page[0]])
    assert mine.ephemeral and "Saved" in mine.all_text()
    bot = world.bot
    assert bot is not None
    assert [p.key for p, _ in await bot.store.list_bookmarks(other.id)] == [second_page[1]]
    assert [p.key for p, _ in await bot.store.list_bookmarks(searcher.id)] == [second_page[0]]

    # Back to page 1, and on to the last page.
    await fake.click(searcher, shared, button(shared, "prev")["custom_id"])
    assert numbered(shared) == [1, 2, 3, 4, 5] and shown_keys(shared) == first_page
    for _ in range(12):
        if button(shared, "next").get("disabled"):
            break
        await fake.click(searcher, shared, button(shared, "next")["custom_id"])
    assert numbered(shared) == [46, 47, 48, 49, 50]
    with pytest.raises(NotAvailable):  # disabled at the end, as Discord's client would show it
        await fake.click(searcher, shared, button(shared, "next")["custom_id"])


async def test_private_results_page_and_save_for_the_searcher(searchable: World) -> None:
    world = searchable
    answer = await search(world, "graph")
    page = results(answer)
    assert page.ephemeral
    with pytest.raises(NotAvailable):  # nobody else can even see it
        await world.fake.click(world.admin, page, button(page, "next")["custom_id"])
    await world.fake.click(world.member, page, button(page, "next")["custom_id"])
    assert numbered(page) == [6, 7, 8, 9, 10]
    key = shown_keys(page)[4]
    saved = await world.fake.click(world.member, page, select_of(page)["custom_id"], values=[key])
    assert "Saved" in saved.all_text()
    bot = world.bot
    assert bot is not None
    assert [p.key for p, _ in await bot.store.list_bookmarks(world.member.id)] == [key]


async def test_an_expired_search_says_so_politely(searchable: World) -> None:
    world = searchable
    bot = world.bot
    assert bot is not None
    cog: Any = bot.get_cog("Search")
    assert cog is not None
    page = results(await search(world, "diffusion"))
    before = shown_keys(page)

    cog.sessions.clear()  # as after a restart
    click = await world.fake.click(world.member, page, button(page, "next")["custom_id"])
    assert click.ephemeral and "This search has expired" in click.all_text() and "/search" in click.all_text()
    assert_no_failure(click)
    assert shown_keys(page) == before  # the page is left as it was

    # Fifteen minutes without a click.
    page = results(await search(world, "diffusion"))
    now = [time.monotonic()]
    cog.sessions.clock = lambda: now[0]
    await world.fake.click(world.member, page, button(page, "next")["custom_id"])
    assert numbered(page)[0] == 6
    now[0] += 14 * 60  # still alive: each click restarts the 15 minutes
    await world.fake.click(world.member, page, button(page, "next")["custom_id"])
    assert numbered(page)[0] == 11
    now[0] += 15 * 60 + 1
    late = await world.fake.click(world.member, page, button(page, "next")["custom_id"])
    assert "This search has expired" in late.all_text()
    assert numbered(page)[0] == 11


async def test_after_a_restart_old_pages_expire_and_the_menu_still_saves(world: World) -> None:
    serve_fixtures(world)
    async with world.run_bot() as bot:
        await bot.poll_feeds()
        shared = results(await search(world, "language models", public=True))
    async with world.run_bot() as bot:
        click = await world.fake.click(world.member, shared, button(shared, "next")["custom_id"])
        assert click.ephemeral and "This search has expired" in click.all_text()
        other = await world.fake.click(world.admin, shared, button(shared, "next")["custom_id"])
        assert "Only <@" in other.all_text()  # the searcher is known from the button itself
        key = shown_keys(shared)[2]
        saved = await world.fake.click(world.admin, shared, select_of(shared)["custom_id"], values=[key])
        assert f"Saved `{key}`" in saved.all_text()
        assert [p.key for p, _ in await bot.store.list_bookmarks(world.admin.id)] == [key]


def test_sessions_are_bounded_and_expire_when_idle() -> None:
    now = [0.0]
    store = SessionStore(ttl=60, max_size=3, clock=lambda: now[0])

    def add(user: int) -> str:
        return store.add(user_id=user, user_name="u", heading="h", notes=(), rows=[], capped=False,
                         public=False).id

    first, second, third = add(1), add(2), add(3)
    assert len({first, second, third}) == 3
    assert store.get(first) is not None  # used: now the most recent
    fourth = add(4)
    assert len(store) == 3 and store.get(second) is None  # the least recently used went
    assert store.get(first) is not None and store.get(fourth) is not None
    now[0] = 59
    assert store.get(first) is not None  # each use restarts the clock
    now[0] = 61
    assert store.get(first) is not None and store.get(third) is None and store.get(fourth) is None
    now[0] = 200
    assert store.get(first) is None and len(store) == 0


# ---------------------------------------------------------------------- /paper


async def paper(world: World, text: str, *, user: Any = None, reacts: bool = True) -> Interaction:
    answer = await world.fake.invoke(user or world.member, world.guild, world.channel, "paper",
                                     options={"id": text})
    assert not answer.deadline_missed
    assert answer.ephemeral  # errors and the confirmation are private
    assert_no_failure(answer)
    if "the card for" in (answer.content or ""):
        await answer.wait_for_followups(2)  # the public card comes after the private note
        bot = world.bot
        assert bot is not None and bot.user is not None
        card = answer.followups[-1]
        # recorded, then the bot adds its own 🔖 as an invitation to react
        if reacts:
            await world.fake.wait_until(lambda: card.reaction_users(BOOKMARK_EMOJI) == [bot.user.id])
        else:
            await world.fake.wait_until(lambda: bool(world.fake.requests_matching(
                "PUT /channels/*/messages/*/reactions/*/@me")))
    return answer


def card_of(answer: Interaction) -> Message:
    assert len(answer.followups) == 2, answer.all_text()
    card = answer.followups[-1]
    assert not card.ephemeral
    return card


async def test_paper_posts_a_stored_card_that_can_be_bookmarked(searchable: World) -> None:
    world = searchable
    bot = world.bot
    assert bot is not None
    answer = await paper(world, "arXiv:2608.18082v1")
    assert "Posted the card for `2608.18082`" in answer.message.content
    card = card_of(answer)
    assert world.fake.messages(world.channel)[-1].id == card.id
    embed = card.embeds[0]
    assert "LongNovel" in embed["title"] and embed["url"] == "https://arxiv.org/abs/2608.18082"
    assert f"Shared by {world.member.username}" in embed["footer"]["text"]
    assert limit_problems(None, card.embeds) == []
    assert "pb:save:2608.18082" in card.custom_ids
    links = [c.get("url") for row in card.components for c in row["components"] if c.get("url")]
    assert any("/pdf/2608.18082" in (u or "") for u in links)
    assert bot.user is not None
    await world.fake.wait_until(lambda: card.reaction_users(BOOKMARK_EMOJI) == [bot.user.id])
    recorded, kind = await bot.store.paper_for_message(card.id)
    assert recorded is not None and recorded.key == "2608.18082" and kind == "card"

    # The card's Save button bookmarks it for whoever presses it.
    saved = await world.fake.click(world.admin, card, "pb:save:2608.18082")
    assert saved.ephemeral and "Saved" in saved.all_text()
    assert [p.key for p, _ in await bot.store.list_bookmarks(world.admin.id)] == ["2608.18082"]


async def test_a_card_without_permission_to_react_is_still_posted_and_recorded(searchable: World) -> None:
    world = searchable
    world.fake.deny_bot(world.channel, P.ADD_REACTIONS)
    answer = await paper(world, "2608.18083", reacts=False)
    card = card_of(answer)
    assert "Entity tracking" in card.embeds[0]["title"]
    assert card.reactions == {}
    bot = world.bot
    assert bot is not None
    recorded, kind = await bot.store.paper_for_message(card.id)
    assert recorded is not None and recorded.key == "2608.18083" and kind == "card"


def api_requests(world: World) -> list[Any]:
    return [r for r in world.feeds.requests if r.path.startswith("/api/query")]


def one_entry_api(request: web.Request) -> tuple[int, bytes, str]:
    """A loopback arXiv API: `id_list=<id>` answers that entry (from the real capture) or, for an
    id the capture lacks, arXiv's real answer for a nonexistent id."""
    wanted = request.query.get("id_list", "")
    text = (REAL / API).read_text(encoding="utf-8")
    head, _, rest = text.partition("<entry>")
    for chunk in rest.split("<entry>"):
        if f"/abs/{wanted}v" in chunk:
            entry = chunk.split("</entry>")[0]
            body = f"{head}<entry>{entry}</entry>\n</feed>\n"
            body = re.sub(r"<opensearch:totalResults>\d+", "<opensearch:totalResults>1", body)
            return 200, body.encode(), "application/atom+xml"
    return 200, (REAL / NONEXISTENT).read_bytes(), "application/atom+xml"


@pytest.fixture
async def with_api(world: World) -> AsyncIterator[World]:
    world.feeds.serve("/api/query", handler=one_entry_api)
    world.sections["arxiv"] = {"api_url": world.feeds.url("/api/query")}
    world.rebuild_settings()
    async with world.run_bot():
        yield world


async def test_paper_fetches_an_unknown_id_from_arxiv_once(with_api: World) -> None:
    world = with_api
    bot = world.bot
    assert bot is not None
    assert await bot.store.get_paper("1711.09828") is None
    answer = await paper(world, "https://arxiv.org/abs/1711.09828v1")
    assert "Fetched it from arXiv" in answer.message.content
    card = card_of(answer)
    assert "graphene densely decorated with 3d metallic adatoms" in card.embeds[0]["title"]
    asked = api_requests(world)
    assert [h.path for h in asked] == ["/api/query?id_list=1711.09828"]
    assert asked[0].headers["User-Agent"].startswith("paperbot/")  # through the shared fetcher
    stored = await bot.store.get_paper("1711.09828")
    assert stored is not None and stored.authors
    recorded, kind = await bot.store.paper_for_message(card.id)
    assert recorded is not None and recorded.key == "1711.09828" and kind == "card"
    # Only the asked-for paper is stored, and it can be searched now.
    assert await bot.store.count_papers() == 1
    found = await search(world, "graphene adatoms")
    assert shown_keys(results(found))[0] == "1711.09828"
    # Asked again: the stored card, no second request to arXiv.
    again = await paper(world, "1711.09828")
    assert "Posted the card" in again.message.content
    assert len(api_requests(world)) == 1
    # An old-style id goes to arXiv with its slash.
    old = await paper(world, "cond-mat/0011267")
    assert "cuprates" in card_of(old).embeds[0]["title"]


async def test_paper_explains_unknown_ids_and_arxiv_failures(with_api: World) -> None:
    world = with_api
    missing = await paper(world, "1201.56789")
    assert "arXiv has no paper `1201.56789`" in missing.all_text()
    assert len(missing.followups) <= 1 and world.fake.messages(world.channel) == []
    again = await paper(world, "1201.56789")
    assert "arXiv has no paper" in again.all_text()
    assert len(api_requests(world)) == 1  # not asked twice in a row

    route = world.feeds.routes["/api/query"]
    rate = (REAL / "arxiv_api_error_rate_exceeded_2026-01-08.txt").read_bytes()
    route.handler = lambda request: (200, rate, "text/plain")
    limited = await paper(world, "2401.00001")
    assert "Rate exceeded" in limited.all_text() and "Try again in a minute" in limited.all_text()

    route.handler = None
    world.feeds.fail_next("/api/query", 503, body=rate)
    limited = await paper(world, "2401.00003")
    assert "Rate exceeded" in limited.all_text()

    world.feeds.fail_next("/api/query", 503, headers={"Retry-After": "30"},
                          body=(REAL / "arxiv_api_error_503_2026-01-08.html").read_bytes())
    down = await paper(world, "2401.00002")
    assert "could not reach arXiv" in down.all_text() and "HTTP 503" in down.all_text()
    assert "wait 30 s" in down.all_text()

    before = len(world.feeds.requests)
    for text in ("hello world", "2405.123", "https://example.com/abs/2405.12345", "`; DROP TABLE papers"):
        refused = await paper(world, text)
        assert "is not an arXiv id" in refused.all_text(), text
        assert "/search" in refused.all_text()
    assert len(world.feeds.requests) == before  # nothing was asked of arXiv
    assert world.fake.messages(world.channel) == []  # and nothing was posted in the channel
    bot = world.bot
    assert bot is not None
    assert await bot.store.count_papers() == 0


async def test_paper_lookup_that_times_out_is_a_clear_message(with_api: World,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    world = with_api
    world.feeds.routes["/api/query"].delay = 2.0
    bot = world.bot
    assert bot is not None
    monkeypatch.setattr(bot.get_cog("Search"), "lookup_timeout", 0.5)
    answer = await paper(world, "1401.3078")
    assert "did not answer in time" in answer.all_text()
