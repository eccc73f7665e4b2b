"""Slack payloads as normalised messages: what is answered, what is ignored, where replies go.

Tests named for a fixture read the real captured payloads (`../shared/fixtures`, skipped without it);
the others use payloads the tests write (`tests.support.payloads`), so a clone covers every case.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from slack_sdk.oauth.installation_store import Bot, FileInstallationStore

from channels.slack.events import (
    BotIdentity,
    attachment_from_file,
    from_action,
    from_command,
    from_event,
    plain_text,
)
from channels.slack.workspaces import InstallationStoreWorkspaces, StaticWorkspaces, Workspace
from tests.fakes.slack_server import load_payload
from tests.support.payloads import slack_app_mention, slack_file, slack_message_event, slack_slash_command

NOW = datetime(2026, 1, 1, tzinfo=UTC)
BOT = BotIdentity(user_id="W111", bot_id="B111")


def test_the_mention_fixture_is_answered_in_the_thread_of_the_message() -> None:
    payload = load_payload("bolt_event_callback_app_mention.json")
    message = from_event(payload, BOT, NOW)

    assert message is not None
    assert message.text == "Hi there!"
    assert message.user_id == "W222"
    assert message.message_id == "C111:1595926230.009600"
    assert (message.conversation.chat_id, message.conversation.thread_id) == ("C111", "1595926230.009600")
    assert message.raw["event_id"] == "Ev111"


def test_a_mention_is_answered_in_the_thread_of_the_message() -> None:
    payload = slack_app_mention("<@W111> Hi there!", user="W222", channel="C111", ts="1595926230.009600")
    message = from_event(payload, BOT, NOW)

    assert message is not None
    assert (message.text, message.user_id) == ("Hi there!", "W222")
    assert message.message_id == "C111:1595926230.009600"
    assert (message.conversation.chat_id, message.conversation.thread_id) == ("C111", "1595926230.009600")


def test_a_channel_message_without_a_mention_is_not_for_the_bot() -> None:
    payload = slack_message_event("Hello World!", channel_type="channel")
    assert from_event(payload, BotIdentity("UBOT", "BBOT"), NOW) is None


def test_a_shared_image_stays_an_image() -> None:
    file = slack_file("F111", "file.png", "image/png", 92582)
    payload = slack_message_event(
        "Hi there!", channel="D1", channel_type="im", subtype="file_share", files=[file]
    )
    message = from_event(payload, BOT, NOW)

    assert message is not None and message.text == "Hi there!"
    (attachment,) = message.attachments
    assert (attachment.kind, attachment.file_name, attachment.mime_type) == ("image", "file.png", "image/png")
    assert attachment.url == file["url_private_download"]
    assert (attachment.size, attachment.platform_file_id) == (92582, "F111")


def test_a_coach_slash_command_becomes_the_command() -> None:
    fields = slack_slash_command("docs", user="W111", channel="C111", trigger="111.111.xxx")
    message = from_command(fields, NOW)

    assert message.text == "/docs"
    assert message.message_id == "command:111.111.xxx"
    assert message.user_id == "W111" and message.user_name == "sam"
    assert message.conversation.chat_id == "C111"
    assert from_command({**fields, "text": ""}, NOW).text == "/help"


def test_a_dm_and_a_mention_of_the_same_message_share_an_id() -> None:
    message = slack_message_event(
        "Hello World!", channel="D1", channel_type="im", user="U5", ts="1596183880.004200"
    )
    mention = copy.deepcopy(message)
    mention["event"]["type"] = "app_mention"
    mention["event"].pop("channel_type")
    mention["event_id"] = "EvOther"

    first, second = from_event(message, BOT, NOW), from_event(mention, BOT, NOW)
    assert first is not None and second is not None
    assert first.message_id == second.message_id == "D1:1596183880.004200"
    assert first.conversation == second.conversation
    assert (first.conversation.chat_id, first.conversation.thread_id) == ("U5", None)


def test_the_file_share_fixture_keeps_its_image_as_an_image() -> None:
    payload = copy.deepcopy(load_payload("bolt_event_callback_message_file_share.json"))
    payload["event"].update({"channel": "D1", "channel_type": "im"})
    message = from_event(payload, BOT, NOW)

    assert message is not None and message.text == "Hi there!"
    (attachment,) = message.attachments
    assert (attachment.kind, attachment.file_name, attachment.mime_type) == ("image", "file.png", "image/png")
    assert attachment.url == "https://files.slack.com/files-pri/T111-F111/download/file.png"
    assert (attachment.size, attachment.platform_file_id) == (92582, "F111")
    assert "thumb_64" not in str(message.raw)  # the inbox keeps the essentials, not the thumbnails


@pytest.mark.parametrize(
    ("file", "kind"),
    [
        ({"id": "F1", "name": "Plan.PDF", "mimetype": "application/pdf"}, "document"),
        ({"id": "F1", "name": "notes.md", "mimetype": "text/plain"}, "document"),
        ({"id": "F1", "name": "export", "mimetype": "text/html"}, "document"),
        ({"id": "F1", "name": "clip.mp4", "mimetype": "video/mp4"}, "video"),
        ({"id": "F1", "name": "data.zip", "mimetype": "application/zip"}, "file"),
        ({"id": "F1", "file_access": "check_file_info"}, "document"),  # described later by files.info
    ],
)
def test_shared_files_are_documents_when_coachline_can_read_them(file: dict[str, Any], kind: str) -> None:
    assert attachment_from_file(file).kind == kind


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<@W111> what now?", "what now?"),
        ("hey <@W111|coach>, help", "hey , help"),
        ("ask <@U2|ann> in <#C9|general>", "ask @ann in #general"),
        ("<@U2> and <#C9>", "@U2 and #C9"),
        ("see <https://a.example/x?y=1&amp;z=2|the page> or <https://b.example>", None),
        ("<mailto:a@b.example|a@b.example> &lt;3 &amp; more", "a@b.example <3 & more"),
        ("<!here> <!subteam^S1|@coaches> <!date^1392734382^{date}|Feb 18>", "@here @coaches Feb 18"),
    ],
)
def test_plain_text_reads_like_the_person_wrote_it(text: str, expected: str | None) -> None:
    if expected is None:
        expected = "see the page (https://a.example/x?y=1&z=2) or https://b.example"
    assert plain_text(text, "W111") == expected


def test_the_slash_command_fixture_as_a_coach_command() -> None:
    fields = dict(parse_qsl(load_payload("bolt_slash_command_body.form-urlencoded.txt")))
    message = from_command({**fields, "command": "/coach", "text": "docs"}, NOW)

    assert message.text == "/docs"
    assert message.message_id == "command:111.111.xxx"
    assert message.user_id == "W111" and message.user_name == "primary-owner"
    assert message.conversation.chat_id == "C111"
    assert from_command({**fields, "text": ""}, NOW).text == "/help"
    assert from_command({**fields, "text": "/reset now"}, NOW).text == "/reset now"


def test_a_click_in_a_channel_thread_is_answered_in_that_thread() -> None:
    body = {
        "type": "block_actions",
        "user": {"id": "U5", "username": "ann"},
        "channel": {"id": "C1"},
        "message": {"ts": "2.0", "thread_ts": "1.0"},
        "actions": [
            {"type": "button", "action_id": "coach_button_0", "value": "yes", "action_ts": "3.0"},
            {"type": "static_select", "action_id": "other", "action_ts": "3.0"},
        ],
    }
    (message,) = from_action(body, NOW)
    assert (message.text, message.user_id, message.user_name) == ("yes", "U5", "ann")
    assert (message.conversation.chat_id, message.conversation.thread_id) == ("C1", "1.0")
    assert message.message_id == "action:3.0:U5:coach_button_0"


async def test_one_static_workspace_answers_every_team() -> None:
    workspace = Workspace("T1", None, "xoxb-1", "B1", "U1")
    directory = StaticWorkspaces([workspace])

    assert await directory.find(None, "T-other") == workspace
    assert await directory.for_chat("C-any") == workspace
    assert workspace.authorize_result()["bot_user_id"] == "U1"


async def test_several_static_workspaces_are_kept_apart() -> None:
    one, two = Workspace("T1", None, "xoxb-1", "B1", "U1"), Workspace("T2", "E1", "xoxb-2", "B2", "U2")
    directory = StaticWorkspaces([one, two])
    directory.remember("C2", two)

    assert await directory.find(None, "T2") == two
    assert await directory.find("E1", "T-unknown") == two
    assert await directory.find(None, "T-unknown") is None
    assert await directory.for_chat("C2") == two
    assert await directory.for_chat("C-never-seen") is None


async def test_workspaces_come_from_an_installation_store(tmp_path: Path) -> None:
    store = FileInstallationStore(base_dir=str(tmp_path))
    await store.async_save_bot(
        Bot(team_id="T9", bot_token="xoxb-9", bot_id="B9", bot_user_id="U9", installed_at=NOW.timestamp())
    )
    directory = InstallationStoreWorkspaces(store)

    found = await directory.find(None, "T9")
    assert found == Workspace("T9", None, "xoxb-9", "B9", "U9")
    assert await directory.find(None, "T-elsewhere") is None
    directory.remember("C9", found)
    assert await directory.for_chat("C9") == found
