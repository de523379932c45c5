"""HTTP against a real server on loopback: validators, caching, errors, caps, redirects, politeness."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from bot.config import Settings
from bot.fetch import Fetcher, FetchError, freshness
from tests.feedserver import FeedServer

RSS = "arxiv_rss_cs.CL_2026-08-20_141items.xml"


@pytest.fixture
async def fetcher_for(make_settings: Callable[..., Settings]) -> AsyncIterator[Callable[..., Fetcher]]:
    sessions = []

    def build(**sections: dict) -> Fetcher:
        settings = make_settings(**sections)
        session = Fetcher.make_session(settings)
        sessions.append(session)
        return Fetcher(session, settings)

    yield build
    for session in sessions:
        await session.close()


async def test_200_then_304_with_the_stored_validator(feed_server: FeedServer, fetcher_for) -> None:
    url = feed_server.serve("/rss/cs.CL", fixture=RSS)
    fetcher = fetcher_for()
    first = await fetcher.get(url)
    assert first.status == 200
    assert first.body.startswith(b"<?xml")
    assert first.etag
    second = await fetcher.get(url, etag=first.etag)
    assert second.not_modified
    assert second.body == b""
    assert second.etag == first.etag
    assert feed_server.hits("/rss/cs.CL")[1].headers["If-None-Match"] == first.etag


async def test_user_agent_names_paperbot_and_the_contact(feed_server: FeedServer, fetcher_for) -> None:
    url = feed_server.serve("/f", b"<rss/>")
    await fetcher_for().get(url)
    agent = feed_server.requests[0].headers["User-Agent"]
    assert agent.startswith("paperbot/")
    assert "tests@example.invalid" in agent


async def test_cache_control_max_age_gives_a_freshness_deadline(feed_server: FeedServer, fetcher_for) -> None:
    url = feed_server.serve("/f", b"<rss/>", headers={"Cache-Control": "public, max-age=3600"})
    before = datetime.now(UTC)
    response = await fetcher_for().get(url)
    assert response.fresh_until is not None
    assert timedelta(minutes=59) < response.fresh_until - before <= timedelta(minutes=61)


def test_freshness_rules() -> None:
    now = datetime(2026, 5, 12, tzinfo=UTC)
    assert freshness({"Cache-Control": "no-cache, max-age=60"}, now) is None
    assert freshness({"Cache-Control": "max-age=600", "Age": "100"}, now) == now + timedelta(seconds=500)
    assert freshness({"Cache-Control": "max-age=9999999"}, now) == now + timedelta(hours=24)
    expires = format_datetime(now + timedelta(hours=2), usegmt=True)
    assert freshness({"Expires": expires}, now) == now + timedelta(hours=2)
    assert freshness({}, now) is None


async def test_429_reports_retry_after_seconds(feed_server: FeedServer, fetcher_for) -> None:
    url = feed_server.serve("/api", b"")
    feed_server.fail_next("/api", 429, headers={"Retry-After": "120"}, body=b"Too many")
    with pytest.raises(FetchError) as caught:
        await fetcher_for().get(url)
    assert caught.value.status == 429
    assert caught.value.retry_after == 120


async def test_503_html_page_with_an_http_date_retry_after(feed_server: FeedServer, fetcher_for,
                                                           real_fixture) -> None:
    url = feed_server.serve("/api", b"")
    when = format_datetime(datetime.now(UTC) + timedelta(minutes=10), usegmt=True)
    feed_server.fail_next("/api", 503, headers={"Retry-After": when},
                          body=real_fixture("arxiv_api_error_503_2026-01-08.html"))
    with pytest.raises(FetchError) as caught:
        await fetcher_for().get(url)
    assert caught.value.status == 503
    assert caught.value.retry_after is not None
    assert 500 < caught.value.retry_after <= 600
    assert "503" in caught.value.reason
    assert "<" not in caught.value.reason  # markup stripped from what people read


async def test_a_slow_server_times_out(feed_server: FeedServer, fetcher_for) -> None:
    url = feed_server.serve("/slow", b"<rss/>", delay=2.0)
    with pytest.raises(FetchError, match="timed out"):
        await fetcher_for(http={"timeout_seconds": 0.3}).get(url)


async def test_an_oversized_body_is_refused(feed_server: FeedServer, fetcher_for) -> None:
    url = feed_server.serve("/big", b"x" * 50_000)
    with pytest.raises(FetchError, match="too large"):
        await fetcher_for(http={"max_response_bytes": 20_000}).get(url)


async def test_redirects_are_followed_to_the_feed(feed_server: FeedServer, fetcher_for) -> None:
    target = feed_server.serve("/new-home", b"<rss>moved</rss>")
    url = feed_server.serve("/old-home", redirect_to=target)
    response = await fetcher_for().get(url)
    assert response.body == b"<rss>moved</rss>"
    assert response.url == target


async def test_redirect_loops_end(feed_server: FeedServer, fetcher_for) -> None:
    url = feed_server.serve("/loop", redirect_to="/loop")
    with pytest.raises(FetchError, match="too many redirects"):
        await fetcher_for().get(url)


async def test_unreachable_host_is_a_clear_error(fetcher_for) -> None:
    with pytest.raises(FetchError, match="cannot reach"):
        await fetcher_for().get("http://127.0.0.1:9/feed")


async def test_feeds_added_from_discord_cannot_reach_loopback(feed_server: FeedServer, fetcher_for) -> None:
    url = feed_server.serve("/internal", b"<rss/>")
    with pytest.raises(FetchError, match="private or local address"):
        await fetcher_for().get(url, public_only=True)
    assert feed_server.requests == []


async def test_polite_hosts_get_one_request_at_a_time_spaced_apart(feed_server: FeedServer,
                                                                   fetcher_for) -> None:
    """arXiv's rule, measured on loopback with a shorter interval: one at a time, and each request
    leaves at least `interval` after the previous answer arrived, so the server sees its arrivals at
    least interval + answer time apart, however loaded the machine is."""
    interval, answer_time = 0.4, 0.05
    fetcher = fetcher_for(arxiv={"polite_hosts": ["127.0.0.1"], "min_interval_seconds": interval})
    urls = [feed_server.serve(f"/rss/{i}", b"<rss/>", delay=answer_time) for i in range(5)]
    await asyncio.gather(*(fetcher.get(u) for u in urls))
    starts = sorted(r.started for r in feed_server.requests)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert len(starts) == 5
    assert min(gaps) >= interval + answer_time
    assert feed_server.max_active == 1


async def test_other_hosts_are_not_slowed_by_the_arxiv_limiter(feed_server: FeedServer, fetcher_for) -> None:
    fetcher = fetcher_for(arxiv={"polite_hosts": ["arxiv.org"], "min_interval_seconds": 3})
    urls = [feed_server.serve(f"/f{i}", b"<rss/>", delay=0.2) for i in range(4)]
    started = asyncio.get_running_loop().time()
    await asyncio.gather(*(fetcher.get(u) for u in urls))
    assert asyncio.get_running_loop().time() - started < 1.0
    assert feed_server.max_active >= 2


def test_retry_after_http_date_in_the_past_is_zero() -> None:
    from bot.fetch import _parse_retry_after

    now = datetime(2026, 5, 12, tzinfo=UTC)
    assert _parse_retry_after(format_datetime(now - timedelta(hours=1), usegmt=True), now) == 0
    assert _parse_retry_after("soon", now) is None


# ---------------------------------------------------------------------- the SSRF guard


@pytest.mark.parametrize("host", ["localhost", "127.0.0.2", "[::1]", "[::ffff:127.0.0.1]",
                                  "[::ffff:7f00:1]", "0.0.0.0"])
async def test_feeds_from_discord_cannot_reach_loopback_by_name_or_disguise(
    feed_server: FeedServer, fetcher_for, host: str
) -> None:
    """A DNS name resolving to loopback, other loopback addresses, IPv6-mapped forms: all refused
    before any connection is made."""
    feed_server.serve("/internal", b"<rss/>")
    url = f"http://{host}:{feed_server.port}/internal"
    with pytest.raises(FetchError, match="private or local address") as refused:
        await fetcher_for().get(url, public_only=True)
    assert "http.allow_private_addresses" in refused.value.reason
    assert feed_server.requests == []


async def test_a_redirect_into_private_space_is_refused(feed_server: FeedServer, fetcher_for) -> None:
    """The first hop is allowed (the operator allowed 127.0.0.1/32), the redirect to another
    loopback address is not: every hop is checked."""
    feed_server.serve("/inner", b"<rss/>")
    url = feed_server.serve("/hop", redirect_to=f"http://127.0.0.2:{feed_server.port}/inner")
    fetcher = fetcher_for(http={"allowed_private_networks": ["127.0.0.1/32"]})
    with pytest.raises(FetchError, match=r"127\.0\.0\.2 is a private or local address"):
        await fetcher.get(url, public_only=True)
    assert [r.path for r in feed_server.requests] == ["/hop"]
    # A redirect to an IPv6-mapped loopback address is refused as well.
    feed_server.serve("/hop2", redirect_to=f"http://[::ffff:127.0.0.3]:{feed_server.port}/inner")
    with pytest.raises(FetchError, match="private or local address"):
        await fetcher.get(feed_server.url("/hop2"), public_only=True)
    assert [r.path for r in feed_server.requests] == ["/hop", "/hop2"]


async def test_the_operator_can_allow_private_addresses(feed_server: FeedServer, fetcher_for) -> None:
    url = feed_server.serve("/internal", b"<rss/>")
    response = await fetcher_for(http={"allow_private_addresses": True}).get(
        url.replace("127.0.0.1", "localhost"), public_only=True)
    assert response.body == b"<rss/>"
    allowed = fetcher_for(http={"allowed_private_networks": ["127.0.0.0/8", "::1/128"]})
    assert (await allowed.get(url.replace("127.0.0.1", "localhost"), public_only=True)).status == 200


def test_address_policy_judges_disguised_addresses() -> None:
    from ipaddress import ip_address

    from bot.netguard import AddressPolicy, is_public

    for private in ["10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
                    "::1", "fe80::1", "fc00::1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",
                    "2002:7f00:1::", "64:ff9b::a00:1", "::127.0.0.1", "224.0.0.1", "0.0.0.0", "::"]:
        assert not is_public(ip_address(private)), private
    for public in ["93.184.216.34", "2606:4700::1111", "::ffff:93.184.216.34", "1.1.1.1"]:
        assert is_public(ip_address(public)), public
    policy = AddressPolicy(allowed_networks=["10.0.0.0/8"])
    assert policy.allows(ip_address("10.9.9.9")) and policy.allows(ip_address("::ffff:10.9.9.9"))
    assert not policy.allows(ip_address("192.168.0.1"))


async def test_feeds_from_discord_on_arxiv_hosts_still_wait_for_the_politeness_limiter(
    feed_server: FeedServer, fetcher_for
) -> None:
    """The guarded path (own pool, checked resolution) shares the one arXiv limiter."""
    interval = 0.4
    fetcher = fetcher_for(arxiv={"polite_hosts": ["127.0.0.1"], "min_interval_seconds": interval},
                          http={"allowed_private_networks": ["127.0.0.1/32"]})
    urls = [feed_server.serve(f"/rss/g{i}", b"<rss/>") for i in range(3)]
    await asyncio.gather(fetcher.get(urls[0]), *(fetcher.get(u, public_only=True) for u in urls[1:]))
    starts = sorted(r.started for r in feed_server.requests)
    assert len(starts) == 3
    assert min(b - a for a, b in itertools.pairwise(starts)) >= interval - 0.05
    assert feed_server.max_active == 1
