"""The Slack channel end to end: signed requests into the real app, replies out to a fake Slack Web API."""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from slack_sdk.signature import Clock, SignatureVerifier
from sqlalchemy import func, select

from bot.app import create_app
from bot.foundation.clock import FakeClock
from bot.foundation.messages import Button, ConversationReference, OutgoingMessage
from bot.models import InboxMessage
from bot.runtime import Coachline
from channels.base import (
    PermanentSendError,
    RecipientUnreachableError,
    SendError,
    TemporarySendError,
)
from channels.slack.adapter import SlackChannel
from channels.slack.settings import SlackSettings
from coaching.fake_generator import ScriptedGenerator
from config import Settings
from tests.fakes.slack_server import (
    DM_CHANNEL,
    FakeSlack,
    coach_command,
    dm_event,
    load_payload,
    run_fake_slack,
    slack_request_headers,
)
from tests.support.asgi_server import serve_asgi
from tests.support.documents import guide_docx
from tests.support.gated import GatedGenerator
from tests.support.payloads import slack_app_mention, slack_file, slack_message_event, slack_url_verification
from tests.support.settle import settled
from tests.support.waiting import HANG_SECONDS, put_back_for_retry, until

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@dataclass
class SlackRig:
    """A running Coachline with the Slack channel, the fake Slack, and an HTTP client playing Slack."""

    service: Coachline
    channel: SlackChannel
    slack: FakeSlack
    http: httpx.AsyncClient

    async def post(
        self,
        body: bytes,
        *,
        content_type: str = "application/json",
        retry_num: int | None = None,
        timestamp: int | None = None,
        secret: str = SECRET,
    ) -> httpx.Response:
        """POST a body to the webhook, signed as Slack signs it."""
        headers = slack_request_headers(
            secret, body, content_type=content_type, timestamp=timestamp, retry_num=retry_num
        )
        return await self.http.post("/webhooks/slack", content=body, headers=headers)

    async def event(self, payload: dict[str, Any], **kwargs: Any) -> httpx.Response:
        """Deliver an Events API payload."""
        return await self.post(json.dumps(payload).encode(), **kwargs)

    async def form(self, fields: dict[str, str], **kwargs: Any) -> httpx.Response:
        """Deliver a form-encoded request (slash commands, interactivity)."""
        return await self.post(
            urlencode(fields).encode(), content_type="application/x-www-form-urlencoded", **kwargs
        )

    async def wait_for_posts(self, count: int) -> list[dict[str, Any]]:
        """Wait until the fake Slack has accepted `count` messages."""
        await until(lambda: len(self.slack.posts) >= count, f"{count} posts to Slack")
        return self.slack.posts

    async def settle(self) -> None:
        """Wait until every received message is answered and every reply sent or failed."""
        await settled(self.service)

    async def inbox_count(self) -> int:
        """Messages persisted from Slack."""
        async with self.service.sessions() as session:
            count = await session.scalar(
                select(func.count()).select_from(InboxMessage).where(InboxMessage.channel == "slack")
            )
        return int(count or 0)


@pytest.fixture
def start_rig(
    make_service: Callable[..., Coachline], make_settings: Callable[..., Settings]
) -> Callable[..., Any]:
    """Start a rig: `async with start_rig(generator=..., admins=[...]) as rig`."""

    @asynccontextmanager
    async def start(
        *,
        generator: ScriptedGenerator | None = None,
        admins: list[str] | None = None,
        clock: FakeClock | None = None,
        bot_token: str | None = None,
        database_url: str | None = None,
        **fake_knobs: Any,
    ) -> AsyncIterator[SlackRig]:
        async with run_fake_slack(**fake_knobs) as slack:
            own = SlackSettings.of(
                bot_token=bot_token or slack.bot_token, signing_secret=SECRET, api_url=slack.api_url
            )
            channel = SlackChannel(own, clock=clock)
            service = make_service(
                channels={"slack": channel},
                generator=generator or ScriptedGenerator(),
                admins=admins or [],
                clock=clock,
                database_url=database_url,
            )
            async with (
                serve_asgi(create_app(service)) as url,
                httpx.AsyncClient(base_url=url, timeout=15) as http,
            ):
                yield SlackRig(service, channel, slack, http)

    return start


# -- verification ------------------------------------------------------------------------------


async def test_url_verification_challenge_is_answered(start_rig: Callable[..., Any]) -> None:
    payload = slack_url_verification()
    async with start_rig() as rig:
        response = await rig.event(payload)

    assert response.status_code == 200
    assert payload["challenge"] in response.text


@pytest.mark.parametrize("problem", ["unsigned", "stale", "forged", "tampered"])
async def test_unverified_requests_get_401_and_are_not_stored(
    start_rig: Callable[..., Any], problem: str
) -> None:
    body = json.dumps(dm_event("hello")).encode()
    async with start_rig() as rig:
        if problem == "unsigned":
            response = await rig.http.post(
                "/webhooks/slack", content=body, headers={"Content-Type": "application/json"}
            )
        elif problem == "stale":  # signed correctly, six minutes ago: outside the 5-minute window
            response = await rig.post(body, timestamp=int(time.time()) - 360)
        elif problem == "forged":
            response = await rig.post(body, secret="not-the-signing-secret")
        else:  # signed, then changed on the way
            headers = slack_request_headers(SECRET, body)
            response = await rig.http.post(
                "/webhooks/slack", content=body.replace(b"hello", b"HELLO"), headers=headers
            )
        await rig.settle()  # a 401 stored nothing; were something stored, it would be answered by now
        stored = await rig.inbox_count()

    assert response.status_code == 401
    assert stored == 0 and rig.slack.posts == []


async def test_the_documented_signature_vector_is_accepted_by_the_verifier() -> None:
    # The channel verifies with slack_sdk's SignatureVerifier, checked here against Slack's own example.

    vector = load_payload("signature_vectors_and_retry_headers.json")["slack_docs_slash_command_vector"]
    headers = vector["headers"]
    verifier = SignatureVerifier(
        vector["signing_secret"], clock=_FrozenClock(int(headers["X-Slack-Request-Timestamp"]))
    )

    assert verifier.is_valid(
        vector["raw_body"], headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    )
    assert not SignatureVerifier("wrong", clock=verifier.clock).is_valid(
        vector["raw_body"], headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    )


class _FrozenClock(Clock):
    def __init__(self, now: int) -> None:
        self._now = now

    def now(self) -> float:
        return float(self._now)


def test_the_channel_is_on_when_its_token_is_set(make_settings: Callable[..., Settings]) -> None:
    from channels.registry import build_channels

    own = SlackSettings.of(bot_token="xoxb-1", signing_secret=SECRET)
    on = build_channels(make_settings(), ["slack"], channel_settings={"slack": own})
    off = build_channels(make_settings(), ["slack"], channel_settings={"slack": SlackSettings.of()})

    assert isinstance(on["slack"], SlackChannel) and off == {}
    assert on["slack"].limits.per_chat_rate == 1.0 and on["slack"].capabilities.buttons


async def test_a_bad_token_degrades_the_channel_and_events_are_left_for_slack_to_retry(
    start_rig: Callable[..., Any],
) -> None:
    async with start_rig(bot_token="xoxb-revoked") as rig:
        health = (await rig.http.get("/health/integration")).json()
        response = await rig.event(dm_event("anyone?"))
        stored = await rig.inbox_count()

    detail = str(health)
    assert "auth.test failed: invalid_auth" in detail and "degraded" in detail
    assert response.status_code == 500  # not acknowledged: Slack delivers it again once fixed
    assert stored == 0


# -- answering ---------------------------------------------------------------------------------


async def test_a_direct_message_is_answered_in_the_conversation(start_rig: Callable[..., Any]) -> None:
    async with start_rig() as rig:
        response = await rig.event(dm_event("How do I sleep better?"))
        posts = await rig.wait_for_posts(1)

    assert response.status_code == 200
    assert posts[0]["channel"] == "U111"  # the person's DM with the app
    assert posts[0]["text"] == "echo: How do I sleep better?"
    assert "thread_ts" not in posts[0]
    assert posts[0]["link_names"] is False
    assert len(rig.slack.calls_to("auth.test")) == 1  # once at start, never per request


async def test_a_message_inside_a_dm_thread_is_answered_in_that_thread(start_rig: Callable[..., Any]) -> None:
    async with start_rig() as rig:
        await rig.event(dm_event("and then?", ts="1700000002.000200", thread_ts="1700000001.000100"))
        posts = await rig.wait_for_posts(1)

    assert posts[0]["channel"] == DM_CHANNEL
    assert posts[0]["thread_ts"] == "1700000001.000100"


async def test_a_mention_in_a_channel_is_answered_in_its_thread_without_the_mention(
    start_rig: Callable[..., Any],
) -> None:
    payload = slack_app_mention("<@W111> Hi there!", channel="C111")
    async with start_rig(bot_user_id="W111") as rig:
        response = await rig.event(payload)
        posts = await rig.wait_for_posts(1)

    assert response.status_code == 200
    assert posts[0]["channel"] == "C111"
    assert posts[0]["thread_ts"] == payload["event"]["ts"]
    assert posts[0]["text"] == "echo: Hi there!"


@pytest.mark.parametrize(
    "change",
    [
        {"bot_id": "B999", "user": "U777"},  # another bot
        {"user": "UBOT"},  # the bot itself
        {"subtype": "bot_message", "bot_id": "B999"},
        {"subtype": "message_deleted"},
        {"subtype": "channel_join"},
        {"channel": "C111", "channel_type": "channel"},  # a channel message without a mention
    ],
)
async def test_messages_not_for_the_bot_are_acknowledged_and_ignored(
    start_rig: Callable[..., Any], change: dict[str, Any]
) -> None:
    async with start_rig() as rig:
        response = await rig.event(dm_event("ignore me", **change))
        await rig.settle()  # acknowledged once stored or ignored: nothing is left to answer
        stored = await rig.inbox_count()

    assert response.status_code == 200
    assert stored == 0 and rig.slack.posts == []


async def test_other_events_are_acknowledged_not_404(start_rig: Callable[..., Any]) -> None:
    payload = dm_event("x")
    payload["event"] = {"type": "reaction_added", "user": "U111", "reaction": "thumbsup", "event_ts": "1.2"}
    async with start_rig() as rig:
        response = await rig.event(payload)

    assert response.status_code == 200  # anything else would make Slack retry it


async def test_an_edited_question_is_answered_again_but_an_unfurl_is_not(
    start_rig: Callable[..., Any],
) -> None:
    original: dict[str, Any] = {
        "type": "message",
        "user": "U111",
        "text": "How long shoud I sleep?",
        "ts": "1700000001.000100",
    }

    def changed(new_text: str, edited: bool, event_ts: str) -> dict[str, Any]:
        payload = dm_event("", ts=event_ts)
        message = {**original, "text": new_text}
        if edited:
            message["edited"] = {"user": "U111", "ts": event_ts}
        payload["event"] = {
            "type": "message",
            "subtype": "message_changed",
            "channel": DM_CHANNEL,
            "channel_type": "im",
            "hidden": True,
            "message": message,
            "previous_message": original,
            "ts": event_ts,
            "event_ts": event_ts,
        }
        return payload

    async with start_rig() as rig:
        await rig.event(
            changed("How long shoud I sleep?", edited=False, event_ts="1700000002.000001")
        )  # unfurl
        await rig.event(changed("How long should I sleep?", edited=True, event_ts="1700000003.000001"))
        await rig.event(
            changed("How long should I sleep?", edited=True, event_ts="1700000003.000001"), retry_num=1
        )
        await rig.wait_for_posts(1)
        await rig.settle()

    assert [post["text"] for post in rig.slack.posts] == ["echo: How long should I sleep?"]


async def test_every_request_is_acknowledged_before_a_slow_answer(start_rig: Callable[..., Any]) -> None:
    model = GatedGenerator()  # answers only when released: the 200 cannot have waited for it
    async with start_rig(generator=model) as rig:
        async with asyncio.timeout(HANG_SECONDS):  # an acknowledgement that waited would hang here
            response = await rig.event(dm_event("slow one"))
        posts_at_ack = list(rig.slack.posts)
        model.release()
        posts = await rig.wait_for_posts(1)

    assert response.status_code == 200
    assert posts_at_ack == []  # the answer came later, on its own
    assert posts[0]["text"] == "echo: slow one"


async def test_a_retry_storm_and_a_double_event_produce_one_reply(
    start_rig: Callable[..., Any], database_url: str
) -> None:
    message = dm_event("answer me once", ts="1700000005.000500")
    # Slack sends a mention in a DM as `message` and as `app_mention`: other event ids, same message.
    mention = copy.deepcopy(message)
    mention["event_id"] = "EvOTHER"
    mention["event"] = {k: v for k, v in message["event"].items() if k != "channel_type"}
    mention["event"]["type"] = "app_mention"
    async with start_rig(generator=ScriptedGenerator(delay_seconds=0.5), database_url=database_url) as rig:
        responses = await asyncio.gather(
            rig.event(message),
            *(rig.event(message, retry_num=n) for n in range(1, 5)),
            rig.event(mention),
        )
        await rig.wait_for_posts(1)
        await rig.settle()  # all six were stored (or found duplicate) before their 200
        stored = await rig.inbox_count()

    assert [response.status_code for response in responses] == [200] * 6
    assert stored == 1
    assert [post["text"] for post in rig.slack.posts] == ["echo: answer me once"]


async def test_a_persisting_failure_is_a_500_so_slack_retries(start_rig: Callable[..., Any]) -> None:
    async with start_rig() as rig:

        async def broken_sink(message: Any) -> Any:
            raise RuntimeError("database is down")

        real_sink = rig.channel._sink
        rig.channel._sink = broken_sink
        failed = await rig.event(dm_event("are you there?"))
        rig.channel._sink = real_sink
        retried = await rig.event(dm_event("are you there?"), retry_num=1)
        posts = await rig.wait_for_posts(1)

    assert failed.status_code == 500
    assert retried.status_code == 200
    assert posts[0]["text"] == "echo: are you there?"


async def test_names_are_looked_up_in_the_background(start_rig: Callable[..., Any]) -> None:
    from tests.fakes.slack_server import slack_user

    async with start_rig(users={"U111": slack_user("U111", "Ann")}) as rig:
        await rig.event(dm_event("first", ts="1700000001.000001"))
        await rig.wait_for_posts(1)
        await rig.event(dm_event("/start", ts="1700000002.000001"))
        posts = await rig.wait_for_posts(2)

    assert len(rig.slack.calls_to("users.info")) == 1
    assert posts[1]["text"].startswith("Hi Ann!")


# -- /coach and buttons ------------------------------------------------------------------------


async def test_coach_command_reaches_the_command_set(start_rig: Callable[..., Any]) -> None:
    async with start_rig(admins=["slack:W111"]) as rig:
        response = await rig.form(coach_command("docs"))
        posts = await rig.wait_for_posts(1)

    assert response.status_code == 200
    assert response.json() == {"text": "On it…", "response_type": "ephemeral"}
    assert posts[0]["channel"] == "C111"
    assert "I don't have any documents yet" in posts[0]["text"]


async def test_coach_alone_is_help_and_commands_keep_their_roles(start_rig: Callable[..., Any]) -> None:
    async with start_rig() as rig:
        await rig.form(coach_command("", trigger="1.1.a"))
        await rig.wait_for_posts(1)
        await rig.form(coach_command("docs", trigger="1.1.b"))
        posts = await rig.wait_for_posts(2)

    assert posts[0]["text"].startswith("Here is what I can do:")
    assert "/coach help" in posts[0]["text"]  # commands shown as they are typed in Slack
    assert posts[1]["text"] == "Sorry, /coach docs is only for creators."


async def test_a_coach_command_typed_in_a_dm_is_answered_in_the_bots_dm(
    start_rig: Callable[..., Any],
) -> None:
    fields = coach_command("help", channel="D0OTHER")
    fields["channel_name"] = "directmessage"
    async with start_rig() as rig:
        response = await rig.form(fields)
        posts = await rig.wait_for_posts(1)

    assert "direct messages" in response.json()["text"]
    assert posts[0]["channel"] == "W111"


async def test_buttons_are_blocks_and_a_click_is_the_buttons_value(start_rig: Callable[..., Any]) -> None:
    async with start_rig() as rig:
        await rig.channel.send(
            OutgoingMessage(
                ConversationReference("slack", "U111"),
                "Ready for today's step?",
                buttons=(Button("Yes", "yes please"), Button("Later", "later")),
            )
        )
        posted = rig.slack.posts[0]
        click = {
            "type": "block_actions",
            "team": {"id": "T111", "domain": "coachline"},
            "user": {"id": "U111", "username": "ann", "team_id": "T111"},
            "api_app_id": "A111",
            "token": "verification_token",
            "container": {"type": "message", "message_ts": "1700000000.000001", "channel_id": DM_CHANNEL},
            "trigger_id": "222.222.yyy",
            "channel": {"id": DM_CHANNEL, "name": "directmessage"},
            "message": {"type": "message", "ts": "1700000000.000001", "text": posted["text"]},
            "actions": [
                {
                    "type": "button",
                    "action_id": "coach_button_0",
                    "block_id": "b1",
                    "text": {"type": "plain_text", "text": "Yes"},
                    "value": "yes please",
                    "action_ts": "1700000009.123456",
                }
            ],
        }
        response = await rig.form({"payload": json.dumps(click)})
        posts = await rig.wait_for_posts(2)

    actions = next(block for block in posted["blocks"] if block["type"] == "actions")
    assert [element["value"] for element in actions["elements"]] == ["yes please", "later"]
    assert posted["text"] == "Ready for today's step?"
    assert response.status_code == 200
    assert posts[1] == posts[1] | {"channel": "U111", "text": "echo: yes please"}


# -- sending -----------------------------------------------------------------------------------


async def test_long_answers_are_split_in_order_in_the_thread(start_rig: Callable[..., Any]) -> None:
    paragraphs = [(f"Paragraph {n}. " + "Sleep matters a great deal. " * 40).strip() for n in range(8)]
    long_answer = "\n\n".join(paragraphs)  # about 9,000 characters
    async with start_rig(generator=ScriptedGenerator(lambda request: long_answer), bot_user_id="W111") as rig:
        await rig.event(slack_app_mention("<@W111> Hi there!", channel="C111", ts="1595926230.009600"))
        await rig.settle()

    texts = [post["text"] for post in rig.slack.posts]
    assert len(texts) >= 3 and all(len(text) <= 3000 for text in texts)
    assert "\n\n".join(texts) == long_answer
    assert {post["thread_ts"] for post in rig.slack.posts} == {"1595926230.009600"}


async def test_model_and_user_text_cannot_mention_or_ping(start_rig: Callable[..., Any]) -> None:
    answer = "Ask <!channel> & <@U999>; see [the guide](https://example.com/g?a=1&b=2)."
    async with start_rig(generator=ScriptedGenerator(lambda request: answer)) as rig:
        await rig.event(dm_event("hi"))
        posts = await rig.wait_for_posts(1)

    assert posts[0]["text"] == (
        "Ask &lt;!channel&gt; &amp; &lt;@U999&gt;; see <https://example.com/g?a=1&amp;b=2|the guide>."
    )


async def test_a_429_waits_retry_after_then_sends(start_rig: Callable[..., Any]) -> None:
    clock = FakeClock()
    async with start_rig(clock=clock, post_failures=[(429, "ratelimited", {"Retry-After": "30"})]) as rig:
        await rig.event(dm_event("hi"))
        retry = await put_back_for_retry(rig.service)
        clock.advance(29)
        not_due = retry.next_attempt_at > clock.now()  # no worker can claim it before Retry-After
        early = list(rig.slack.posts)
        clock.advance(2)
        posts = await rig.wait_for_posts(1)

    assert retry.attempts == 1
    assert not_due
    assert early == []
    assert posts[0]["text"] == "echo: hi"


async def test_a_failed_part_is_retried_without_repeating_the_parts_sent(
    start_rig: Callable[..., Any],
) -> None:
    text = "\n\n".join(f"Part {n}. " + "word " * 500 for n in range(3))
    message = OutgoingMessage(ConversationReference("slack", "C111", thread_id="1.1"), text)
    async with start_rig() as rig:
        rig.slack.post_failures = [None, (503, "service_unavailable", {})]  # part 1 in, part 2 fails
        with pytest.raises(TemporarySendError):
            await rig.channel.send(message)
        await rig.channel.send(message)  # the outbox's retry

    assert rig.channel.send_cost(message) == 3
    assert [post["text"].split(".")[0] for post in rig.slack.posts] == ["Part 0", "Part 1", "Part 2"]


@pytest.mark.parametrize(
    ("chat_id", "status", "error", "expected"),
    [
        ("C111", 200, "channel_not_found", PermanentSendError),
        ("C111", 200, "not_in_channel", PermanentSendError),
        ("C111", 200, "is_archived", PermanentSendError),
        ("U111", 200, "user_not_found", RecipientUnreachableError),
        ("U111", 200, "channel_not_found", RecipientUnreachableError),
        ("C111", 500, "internal_error", TemporarySendError),
        ("C111", 200, "account_inactive", PermanentSendError),
    ],
)
async def test_slack_errors_become_the_right_send_errors(
    start_rig: Callable[..., Any], chat_id: str, status: int, error: str, expected: type[SendError]
) -> None:
    async with start_rig() as rig:
        rig.slack.post_failures = [(status, error, {})]
        with pytest.raises(SendError) as raised:
            await rig.channel.send(OutgoingMessage(ConversationReference("slack", chat_id), "hello"))
        health = rig.channel.status()

    assert type(raised.value) is expected
    assert error in raised.value.reason
    if error == "account_inactive":  # our own token is dead: the operator must hear of it
        assert health.state == "degraded" and "account_inactive" in health.detail
    else:
        assert health.state == "real"


# -- files -------------------------------------------------------------------------------------


def file_share_event(slack: FakeSlack, name: str, content: bytes, *, user: str = "U111") -> dict[str, Any]:
    """A file-share message in a DM, sharing a file the fake serves."""
    from tests.fakes.slack_server import FakeFile

    mimetype = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    shared = slack.add_file(FakeFile("F111", name, content, mimetype=mimetype, content_type=mimetype))
    file = slack_file("F111", name, mimetype, len(content)) | shared
    return slack_message_event(
        "", user=user, channel=DM_CHANNEL, channel_type="im", subtype="file_share", files=[file], upload=False
    )


async def test_a_creator_shares_a_document_and_it_is_learned(start_rig: Callable[..., Any]) -> None:
    document = guide_docx()
    async with start_rig(admins=["slack:U111"]) as rig:
        await rig.event(file_share_event(rig.slack, "docling_word_sample.docx", document))
        posts = await rig.wait_for_posts(2)
        downloads = rig.slack.calls_to("download")
        assert rig.service.default_creator is not None
        documents = await rig.service.knowledge.documents(rig.service.default_creator.id)

    assert posts[0]["text"] == "Reading docling_word_sample.docx…"
    assert posts[1]["text"].startswith("Learned ") and "docling_word_sample.docx" in posts[1]["text"]
    assert [call.authorization for call in downloads] == [f"Bearer {rig.slack.bot_token}"]
    assert [doc.filename for doc in documents] == ["docling_word_sample.docx"]


async def test_someone_else_sharing_a_document_is_told_politely(start_rig: Callable[..., Any]) -> None:
    async with start_rig() as rig:
        await rig.event(file_share_event(rig.slack, "notes.docx", b"PK\x03\x04 not read"))
        posts = await rig.wait_for_posts(1)

    assert posts[0]["text"].startswith("Sorry,") and "only for creators" in posts[0]["text"]
    assert rig.slack.calls_to("download") == []


async def test_file_downloads_refuse_big_files_and_sign_in_pages(start_rig: Callable[..., Any]) -> None:
    from bot.foundation.messages import Attachment
    from channels.base import AttachmentError
    from tests.fakes.slack_server import FakeFile

    async with start_rig() as rig:
        big = rig.slack.file_object(
            rig.slack.files.setdefault("F2", FakeFile("F2", "big.pdf", b"%PDF" + b"0" * 3000))
        )
        streamed = Attachment("document", "big.pdf", url=big["url_private_download"], platform_file_id="F2")
        with pytest.raises(AttachmentError) as over_limit:
            await rig.channel.fetch_attachment(streamed, max_bytes=1024)
        declared = Attachment("document", "huge.pdf", size=30 * 1024 * 1024, url=big["url_private"])
        with pytest.raises(AttachmentError) as declared_too_big:
            await rig.channel.fetch_attachment(declared, max_bytes=20 * 1024 * 1024)
        chunked = rig.slack.file_object(
            rig.slack.files.setdefault("F4", FakeFile("F4", "long.txt", b"z" * 5000, chunked=True))
        )
        unsized = Attachment("document", "long.txt", url=chunked["url_private_download"])
        with pytest.raises(AttachmentError) as streamed_over:
            await rig.channel.fetch_attachment(unsized, max_bytes=2048)
        rig.slack.bot_token = "xoxb-rotated"  # our token no longer opens the file: Slack's sign-in page
        with pytest.raises(AttachmentError) as sign_in:
            await rig.channel.fetch_attachment(streamed, max_bytes=10_000)
        elsewhere = Attachment("document", "x.pdf", url="https://evil.example/x.pdf")
        with pytest.raises(AttachmentError) as foreign:
            await rig.channel.fetch_attachment(elsewhere, max_bytes=10_000)

    assert over_limit.value.reason == "big.pdf is 3 KB; the upload limit is 1 KB"
    assert streamed_over.value.reason == "long.txt is more than 2 KB; the upload limit is 2 KB"
    assert declared_too_big.value.reason == "huge.pdf is 30 MB; the upload limit is 20 MB"
    assert "files:read" in sign_in.value.reason
    assert "only download files from Slack" in foreign.value.reason


async def test_a_file_known_only_by_id_is_described_by_files_info(start_rig: Callable[..., Any]) -> None:
    from bot.foundation.messages import Attachment
    from tests.fakes.slack_server import FakeFile

    async with start_rig() as rig:
        rig.slack.add_file(
            FakeFile("F3", "plan.txt", b"Walk daily.", mimetype="text/plain", content_type="text/plain")
        )
        data = await rig.channel.fetch_attachment(
            Attachment("document", platform_file_id="F3"), max_bytes=1000
        )

    assert data == b"Walk daily."
    assert [call.params["file"] for call in rig.slack.calls_to("files.info")] == ["F3"]
