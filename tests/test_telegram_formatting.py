"""Telegram message text: splitting under 4096 UTF-16 units on natural boundaries, sources, buttons."""

from __future__ import annotations

import re

from bot.foundation.messages import Button, ConversationReference, OutgoingMessage, Source
from channels.telegram.formatting import (
    MAX_MESSAGE_CHARS,
    render,
    sources_line,
    split_text,
    telegram_length,
)

CHAT = ConversationReference("telegram", "42")


def _sentences(count: int) -> str:
    return " ".join(f"Sentence number {index} says something useful about habits." for index in range(count))


def test_short_text_is_one_part() -> None:
    assert split_text("  Hello there.  ") == ["Hello there."]
    assert split_text("   ") == []


def test_long_text_is_cut_between_paragraphs_first() -> None:
    first, second = "A" * 3000, "B" * 3000

    parts = split_text(f"{first}\n\n{second}")

    assert parts == [first, second]


def test_a_long_paragraph_is_cut_between_sentences() -> None:
    text = _sentences(200)  # ~12,000 characters, one paragraph

    parts = split_text(text)

    assert len(parts) == 3
    assert all(telegram_length(part) <= MAX_MESSAGE_CHARS for part in parts)
    assert all(part.endswith("habits.") for part in parts)  # never mid-sentence
    assert " ".join(parts) == text


def test_small_pieces_are_packed_together_up_to_the_limit() -> None:
    text = "\n\n".join(f"Paragraph {index}." for index in range(50))

    parts = split_text(text, limit=100)

    assert all(len(part) <= 100 for part in parts)
    assert len(parts) < 50  # packed, not one message per paragraph
    assert "\n\n".join(parts) == text


def test_list_lines_stay_whole() -> None:
    text = "\n".join(f"• item {index}: do the thing" for index in range(40))

    parts = split_text(text, limit=120)

    assert all(re.fullmatch(r"(• item \d+: do the thing\n?)+", part) for part in parts)


def test_an_unbreakable_run_is_cut_without_splitting_characters() -> None:
    url = "https://example.com/" + "x" * 9000

    parts = split_text(url)

    assert [len(part) for part in parts] == [4096, 4096, 828]
    assert "".join(parts) == url


def test_length_counts_utf16_units_like_telegram() -> None:
    emoji = "🙂" * 3000  # 6000 UTF-16 units, 3000 code points

    parts = split_text(emoji)

    assert telegram_length("🙂") == 2
    assert [telegram_length(part) for part in parts] == [4096, 1904]
    assert "".join(parts) == emoji


def test_sources_are_listed_compactly_once_each() -> None:
    sources = [
        Source("Sleep guide", "page 4", 0.9),
        Source("Sleep guide", "page 4", 0.8),
        Source("Habits", "", 0.7),
    ]

    assert sources_line(sources) == "Sources: [1] Sleep guide (page 4); [2] Habits"
    assert sources_line([]) == ""


def test_sources_go_after_the_text_of_the_last_part() -> None:
    message = OutgoingMessage(CHAT, _sentences(100), sources=(Source("Sleep guide", "page 4", 0.9),))

    rendered = render(message)

    assert len(rendered.parts) == 2
    assert rendered.parts[-1].endswith("\n\nSources: [1] Sleep guide (page 4)")
    assert "Sources:" not in rendered.parts[0]


def test_sources_get_their_own_part_when_the_last_one_is_full() -> None:
    text = "x" * MAX_MESSAGE_CHARS

    rendered = render(OutgoingMessage(CHAT, text, sources=(Source("Guide", "page 1", 0.9),)))

    assert rendered.parts == (text, "Sources: [1] Guide (page 1)")


def test_buttons_are_kept_when_their_values_fit_callback_data() -> None:
    buttons = (Button("Yes, I did", "yes"), Button("Not yet", "no"))

    rendered = render(OutgoingMessage(CHAT, "Did you walk today?", buttons=buttons))

    assert rendered.buttons == buttons
    assert rendered.parts == ("Did you walk today?",)


def test_choices_too_long_for_callback_data_are_listed_in_the_text() -> None:
    long_value = "I walked for more than thirty minutes before breakfast, every single day"  # > 64 bytes
    buttons = (Button("Long walk", long_value), Button("No", "no"))

    rendered = render(OutgoingMessage(CHAT, "How did it go?", buttons=buttons))

    assert rendered.buttons == ()
    assert rendered.parts == (f"How did it go?\n\nReply with one of:\n• {long_value}\n• no",)
