"""Delivery planning, pure: per-user folding of query matches, and the daily DM within limits."""

from __future__ import annotations

import re
from datetime import date

from bot.digest.render import limit_problems
from bot.match import GroupMatch
from bot.merge import StoredPaper
from bot.models import FeedKind
from bot.notify import fold_per_user, matches_per_user, render_daily_dm
from bot.store.readers import QueuedMatch, QueuedUpdate


def test_users_get_each_paper_once_capped_and_counted() -> None:
    papers = list(range(100, 130))  # 30 papers in batch order
    groups = [
        GroupMatch((1, 2), tuple(papers)),  # a category: every paper, for subscriptions 1 and 2
        GroupMatch((3,), (105, 101)),  # a query of user C
        GroupMatch((4,), (129, 100)),  # another query of user A
    ]
    owners = {1: 10, 2: 20, 3: 30, 4: 10}
    result = matches_per_user(groups, owners, papers, cap=5)
    assert result[10].total == 30
    assert [p for p, _ in result[10].listed] == [100, 101, 102, 103, 104]
    assert result[10].listed[0][1] == 1  # found first by the category subscription
    assert result[30].total == 2
    assert result[30].listed == [(101, 3), (105, 3)]  # batch order, not the query's order
    assert set(result) == {10, 20, 30}



def test_folding_bitsets_lists_by_user_credits_the_first_subscription_and_counts_the_rest() -> None:
    papers = [200, 150, 300, 100, 250, 120]  # batch order, not id order
    groups = [
        ((1, 2, 5), 0b111111),  # every paper: a category, for subscriptions of users 10, 20, 50
        ((3,), 0b000110),  # papers 150 and 300, for user 10's second subscription
        ((4,), 0b100001),  # papers 200 and 120, for user 30
    ]
    owners = {1: 10, 2: 20, 3: 10, 4: 30, 5: 50}
    folded = fold_per_user(groups, owners, papers, cap=3)
    rows = list(folded.rows())
    assert [user for user, _, _ in rows] == sorted(user for user, _, _ in rows)  # written user by user
    assert [(p, s) for u, p, s in rows if u == 10] == [(200, 1), (150, 1), (300, 1)]
    assert [(p, s) for u, p, s in rows if u == 30] == [(200, 4), (120, 4)]
    assert [p for u, p, _ in rows if u == 20] == [p for u, p, _ in rows if u == 50] == [200, 150, 300]
    assert folded.totals == {10: 6, 20: 6, 30: 2, 50: 6}
    assert folded.unlisted() == {10: 3, 20: 3, 50: 3}
    # The second subscription gets the credit for what only it found.
    only_mine = fold_per_user([((1,), 0b000001), ((3,), 0b000110)], owners, papers, cap=3)
    assert list(only_mine.rows()) == [(10, 200, 1), (10, 150, 3), (10, 300, 3)]
    assert fold_per_user([], owners, papers, cap=3).totals == {}


def _paper(n: int) -> StoredPaper:
    return StoredPaper(key=f"2605.{n:05d}", title="T " * 300 + f"[{n}](x) @everyone",
                       authors=[f"Author{'x' * 150} {i}" for i in range(50)],
                       core_source=FeedKind.ARXIV_RSS, abs_url=f"https://arxiv.org/abs/2605.{n:05d}")


def test_the_daily_dm_fits_and_offers_a_save_button_per_listed_paper() -> None:
    matches = [QueuedMatch(_paper(n), "graph neural networks " * 10) for n in range(40)]
    updates = [QueuedUpdate(_paper(n), "version", "v1", "v2", n) for n in range(40)]
    embeds, buttons = render_daily_dm(matches, updates, day=date(2026, 5, 12), max_papers=20, unlisted=7)
    assert limit_problems(None, embeds, buttons) == []
    assert len(buttons) <= 20
    text = "\n".join(e["description"] for e in embeds)
    listed = len(re.findall(r"^\*\*\d+\.\*\* \[", text, flags=re.MULTILINE))
    assert 0 < listed < 20  # long titles: fewer lines fit than the cap
    assert len(buttons) == listed  # one 🔖 per listed paper, no more
    assert all(b.custom_id and b.custom_id.startswith("pb:save:") for b in buttons)
    assert "more matches today" in embeds[-1]["description"]
    assert "@everyone" not in text
    assert "more updates" in embeds[-1]["fields"][0]["value"]


def test_25_matches_get_25_lines_and_25_buttons_over_two_embeds() -> None:
    matches = [QueuedMatch(StoredPaper(
        key=f"2605.{n:05d}", title=f"A fairly long title about transformers and graphs, number {n} " * 2,
        authors=["Ada Lovelace", "Alan Turing", "Grace Hopper"], core_source=FeedKind.ARXIV_RSS,
        abs_url=f"https://arxiv.org/abs/2605.{n:05d}"), "cat:cs.LG") for n in range(40)]
    updates = [QueuedUpdate(_paper(n), "version", "v1", "v2", n) for n in range(3)]
    embeds, buttons = render_daily_dm(matches, updates, day=date(2026, 5, 12), max_papers=25)
    assert limit_problems(None, embeds, buttons) == []
    assert len(embeds) == 2  # one description cannot hold 25 such lines
    text = "\n".join(e["description"] for e in embeds)
    numbers = [int(n) for n in re.findall(r"^\*\*(\d+)\.\*\* \[", text, flags=re.MULTILINE)]
    assert numbers == list(range(1, 26))
    assert [b.label for b in buttons] == [str(n) for n in range(1, 26)]
    assert [b.custom_id for b in buttons] == [f"pb:save:2605.{n:05d}" for n in range(25)]
    assert "…and 15 more matches today." in embeds[-1]["description"]
    assert embeds[-1]["fields"][0]["name"] == "Updates to your bookmarks"
