"""Update → IncomingMessage: private chats, group addressing, edits, buttons, files.

The real captured payloads (`load_payload`, from `../shared/fixtures`) check the parser against
Telegram; the rest use updates the tests write (`tests.support.payloads`), so a clone covers them too.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from channels.telegram.updates import BotIdentity, parse_update, reply_target
from tests.fakes.telegram_server import load_payload
from tests.support.payloads import telegram_group_update, telegram_photo_update, telegram_text_update

BOT = BotIdentity(id=123456, username="coach_test_bot")
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _parse(update: dict[str, Any]) -> Any:
    return parse_update(update, BOT, NOW)


def group_update(
    text: str,
    *,
    entities: list[dict[str, Any]] | None = None,
    update_id: int = 500,
    reply_to_from: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A group message with this text (and entities, or a reply)."""
    update = telegram_group_update(text, update_id=update_id, entities=entities or [])
    message = update["message"]
    if reply_to_from is not None:
        message["reply_to_message"] = {
            "message_id": 7,
            "date": 1644518000,
            "chat": message["chat"],
            "from": reply_to_from,
            "text": "an earlier answer",
        }
    return update


def test_a_private_text_message_is_read_with_its_sender() -> None:
    message = _parse(load_payload("aiogram_update_text_private.json"))

    assert message.channel == "telegram"
    assert message.text == "Hi, world!"
    assert message.user_id == "12345678" and message.user_name == "FirstName LastName"
    assert message.conversation.chat_id == "12345678"
    assert message.message_id == "123456789:11223"  # the update_id, then the chat message id
    assert message.received_at == NOW
    assert message.raw["update_id"] == 123456789


def test_the_same_update_always_gets_the_same_message_id() -> None:
    payload = telegram_text_update("hello", update_id=1, message_id=1)

    assert _parse(payload).message_id == _parse(copy.deepcopy(payload)).message_id == "1:1"


def test_a_group_command_without_a_bot_name_is_answered() -> None:
    message = _parse(load_payload("ha_update_message_command_group.json"))

    assert message.text == "/command"
    assert message.conversation.chat_id == "-123456789"
    assert message.user_id == "12345678" and message.user_name == "Firstname"


def test_a_group_command_for_this_bot_loses_the_suffix() -> None:
    update = group_update("/help@coach_test_bot please", entities=[_entity("bot_command", 0, 20)])

    assert _parse(update).text == "/help please"


def test_a_group_command_for_another_bot_is_ignored() -> None:
    update = group_update("/help@other_bot", entities=[_entity("bot_command", 0, 15)])

    assert _parse(update) is None


def test_group_chatter_is_ignored() -> None:
    assert _parse(group_update("anyone up for lunch?")) is None


def test_a_mention_in_a_group_is_answered_without_the_mention() -> None:
    update = group_update("@coach_test_bot what is a habit?", entities=[_entity("mention", 0, 15)])

    assert _parse(update).text == "what is a habit?"


def test_a_mention_of_someone_else_is_not_for_the_bot() -> None:
    update = group_update("@someone_else what is a habit?", entities=[_entity("mention", 0, 13)])

    assert _parse(update) is None


def test_mentions_are_cut_in_utf16_units_after_emoji() -> None:
    # "🙂" is two UTF-16 code units, so the mention starts at offset 3, not 2.
    update = group_update("🙂 @coach_test_bot, how do I start?", entities=[_entity("mention", 3, 15)])

    assert _parse(update).text == "🙂 how do I start?"


def test_a_text_mention_of_the_bot_counts() -> None:
    entity = _entity("text_mention", 0, 5) | {"user": {"id": BOT.id, "is_bot": True, "first_name": "Coach"}}
    update = group_update("Coach, any tips?", entities=[entity])

    assert _parse(update).text == "any tips?"


def test_a_reply_to_the_bot_in_a_group_is_answered() -> None:
    bot_user = {"id": BOT.id, "is_bot": True, "first_name": "Coach", "username": BOT.username}
    someone = {"id": 999, "is_bot": False, "first_name": "Sam"}

    assert _parse(group_update("and at night?", reply_to_from=bot_user)).text == "and at night?"
    assert _parse(group_update("and at night?", reply_to_from=someone)) is None


def test_a_button_tap_becomes_its_callback_data() -> None:
    message = _parse(load_payload("ha_update_callback_query.json"))

    assert message.text == "Data from button callback"
    assert message.message_id == "callback:4382bfdwdsb323b2d9"
    # An inline message has no chat: the tapper's private chat (their user id) gets the answer.
    assert message.conversation.chat_id == "12345678"
    assert message.user_name == "Test Firstname Test Lastname"


def test_a_button_tap_on_a_chat_message_answers_in_that_chat() -> None:
    update = load_payload("ha_update_callback_query.json")
    query = update["callback_query"]
    del query["inline_message_id"]
    query["message"] = {"message_id": 77, "date": 1644518000, "chat": {"id": -100200, "type": "supergroup"}}

    assert _parse(update).conversation.chat_id == "-100200"


def test_a_document_is_an_attachment_with_its_caption_as_text() -> None:
    update = load_payload("DERIVED_update_document_docx_from_aiogram.json")
    # The aiogram dataset predates Bot API 4.5; Telegram always sends file_unique_id now.
    update["message"]["document"]["file_unique_id"] = "AgADpgADy_JxSw"

    message = _parse(update)

    [attachment] = message.attachments
    assert message.text == "Read my document"
    assert attachment.kind == "document" and attachment.file_name == "test.docx"
    assert attachment.size == 21331
    assert attachment.platform_file_id == "BQADAgADpgADy_JxS66XQTBRHFleAg"
    assert attachment.mime_type is not None and attachment.mime_type.endswith("wordprocessingml.document")


def test_a_document_without_caption_has_empty_text() -> None:
    message = _parse(load_payload("ha_update_message_attachment_document.json"))

    assert message.text == ""
    assert [a.kind for a in message.attachments] == ["document"]
    assert message.attachments[0].mime_type == "application/pdf"


def test_in_a_group_a_file_is_for_the_bot_only_with_upload_or_as_a_reply_to_it() -> None:
    document = load_payload("ha_update_message_attachment_document.json")["message"]["document"]
    bot_user = {"id": BOT.id, "is_bot": True, "first_name": "Coach", "username": BOT.username}
    captioned = group_update("")
    del captioned["message"]["text"]
    captioned["message"] |= {
        "document": document,
        "caption": "/upload@coach_test_bot",
        "caption_entities": [_entity("bot_command", 0, 22)],
    }
    shared = copy.deepcopy(captioned)
    del shared["message"]["caption"], shared["message"]["caption_entities"]
    after_upload = group_update("", reply_to_from=bot_user)
    del after_upload["message"]["text"]
    after_upload["message"]["document"] = document

    message = _parse(captioned)

    assert message.text == "/upload" and [a.kind for a in message.attachments] == ["document"]
    assert _parse(shared) is None  # a file shared with the group, not sent to the bot
    assert _parse(after_upload).attachments[0].kind == "document"


def test_a_photo_is_an_image_of_its_largest_size() -> None:
    message = _parse(telegram_photo_update(largest_size=123456))

    [image] = message.attachments
    assert image.kind == "image" and image.size == 123456


def test_an_edited_question_is_a_new_question() -> None:
    update = telegram_text_update("Hi, world!", update_id=123456789, message_id=11223)
    edited = update.pop("message") | {"text": "Hi, world?", "edit_date": 1508709800}
    update["edited_message"] = edited
    update["update_id"] = 123456800

    message = _parse(update)

    assert message.text == "Hi, world?"
    assert message.message_id == "edit:123456800:11223"


@pytest.mark.parametrize("text", ["/reset", "/upload"])
def test_an_edited_command_is_not_run_again(text: str) -> None:
    update = telegram_text_update("Hi, world!")
    update["edited_message"] = update.pop("message") | {"text": text, "edit_date": 1508709800}

    assert _parse(update) is None


def test_messages_from_bots_and_service_messages_are_ignored() -> None:
    from_bot = telegram_text_update("hello")
    from_bot["message"]["from"]["is_bot"] = True
    service = telegram_text_update("hello")
    del service["message"]["text"]
    service["message"]["new_chat_title"] = "Renamed"

    assert _parse(from_bot) is None
    assert _parse(service) is None


def test_reply_target_reads_the_chat_message_id_back() -> None:
    assert reply_target("123456789:11223") == 11223
    assert reply_target("edit:5:9") == 9
    assert reply_target("callback:abc") is None
    assert reply_target(None) is None


def _entity(kind: str, offset: int, length: int) -> dict[str, Any]:
    return {"type": kind, "offset": offset, "length": length}
