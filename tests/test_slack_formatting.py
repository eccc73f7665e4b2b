"""Slack's outgoing text: escaping, the little Markdown kept, and splitting long answers."""

from __future__ import annotations

import random

import pytest

from bot.foundation.messages import Button, ConversationReference, OutgoingMessage, Source
from channels.slack.formatting import (
    PART_CHARS,
    escape,
    mrkdwn_length,
    render,
    sources_line,
    split_text,
    to_mrkdwn,
)

TO = ConversationReference("slack", "C111", thread_id="1.2")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<@U123> hi", "&lt;@U123&gt; hi"),
        (
            "<!channel> <!here> <!subteam^S1|@team>",
            "&lt;!channel&gt; &lt;!here&gt; &lt;!subteam^S1|@team&gt;",
        ),
        ("<https://evil.example|click me>", "&lt;https://evil.example|click me&gt;"),
        ("salt & pepper", "salt &amp; pepper"),
        ("already &amp; escaped", "already &amp;amp; escaped"),  # shown as typed, not reinterpreted
        ("1 < 2 > 0", "1 &lt; 2 &gt; 0"),
    ],
)
def test_escape_neutralises_slacks_control_characters(text: str, expected: str) -> None:
    assert escape(text) == expected


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("**Rest** well", "*Rest* well"),
        ("## Your plan\n- walk\n* sleep", "*Your plan*\n• walk\n• sleep"),
        ("[guide](https://example.com/a?b=1&c=2)", "<https://example.com/a?b=1&amp;c=2|guide>"),
        ("[x](javascript:alert(1))", "[x](javascript:alert(1))"),  # only http(s) links are made
        ("[<@U1>](https://example.com)", "<https://example.com|&lt;@U1&gt;>"),
        ("`<@U1> **not bold**`", "`&lt;@U1&gt; **not bold**`"),
        ("```\nx = a < b\n```", "```\nx = a &lt; b\n```"),
    ],
)
def test_markdown_becomes_mrkdwn(markdown: str, expected: str) -> None:
    assert to_mrkdwn(markdown) == expected


def test_mrkdwn_length_is_an_upper_bound() -> None:
    text = "**a** & [b](https://c.example/?d=1&e=2) <x>\n## h\n- i"
    assert len(to_mrkdwn(text)) <= mrkdwn_length(text)


def test_short_text_is_one_part() -> None:
    assert split_text("  Hello there.  ", 100) == ["Hello there."]
    assert split_text("", 100) == []


def test_paragraphs_are_kept_whole_when_they_fit() -> None:
    paragraphs = ["A" * 40, "B" * 40, "C" * 40]
    parts = split_text("\n\n".join(paragraphs), 100)
    assert parts == ["A" * 40 + "\n\n" + "B" * 40, "C" * 40]


def test_a_long_paragraph_is_cut_between_sentences() -> None:
    sentences = [f"Sentence number {n} is here." for n in range(20)]
    parts = split_text(" ".join(sentences), 120)
    assert all(len(part) <= 120 for part in parts)
    assert all(part.endswith(".") for part in parts)
    assert " ".join(parts) == " ".join(sentences)


def test_a_word_longer_than_a_part_is_cut() -> None:
    parts = split_text("x" * 250, 100)
    assert "".join(parts) == "x" * 250 and all(len(part) <= 100 for part in parts)


def test_splitting_keeps_every_character_and_the_limit() -> None:
    rng = random.Random(7)
    words = ["sleep", "habit", "&", "<tag>", "rest.", "now!", "\n", "\n\n", "x" * 150]
    for _ in range(60):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 600)))
        parts = split_text(text, 200, mrkdwn_length)
        assert all(0 < mrkdwn_length(part) <= 200 for part in parts)
        assert "".join(text.split()) == "".join("".join(parts).split())


def test_a_long_run_of_blanks_does_not_make_empty_parts() -> None:
    parts = split_text("start\n" + " " * 500 + "\nend", 100)
    assert parts == ["start", "end"]


def test_parts_are_measured_after_escaping() -> None:
    parts = split_text("&" * 300, 100, mrkdwn_length)
    assert all(len(escape(part)) <= 100 for part in parts)


def test_a_code_fence_cut_in_two_is_closed_and_reopened() -> None:
    code = "```\n" + "\n".join(f"line {n}" for n in range(60)) + "\n```"
    parts = split_text(code, 200)
    assert len(parts) > 1
    assert all(part.count("```") % 2 == 0 for part in parts)
    assert all(len(part) <= 200 for part in parts)


def test_sources_are_one_escaped_line_without_repeats() -> None:
    sources = (
        Source("Sleep <guide>", "page 4", 0.8),
        Source("Sleep <guide>", "page 4", 0.7),
        Source("Notes", "", 0.5),
    )
    assert sources_line(sources) == "_Sources: [1] Sleep &lt;guide&gt; (page 4); [2] Notes_"


def test_render_appends_sources_and_puts_buttons_under_the_last_part() -> None:
    message = OutgoingMessage(
        TO,
        "\n\n".join(["word " * 500] * 3),
        sources=(Source("Guide", "page 2", 0.9),),
        buttons=(Button("Yes", "yes"), Button("No", "no")),
    )
    posts = render(message)
    assert len(posts) == 3 and all(len(post.text) <= PART_CHARS for post in posts)
    assert posts[-1].text.endswith("_Sources: [1] Guide (page 2)_")
    assert all(post.blocks == [] for post in posts[:-1])
    section, actions = posts[-1].blocks
    assert section == {"type": "section", "text": {"type": "mrkdwn", "text": posts[-1].text}}
    assert [(b["text"]["text"], b["value"], b["action_id"]) for b in actions["elements"]] == [
        ("Yes", "yes", "coach_button_0"),
        ("No", "no", "coach_button_1"),
    ]


def test_more_than_25_buttons_take_several_action_blocks() -> None:
    buttons = tuple(Button(f"Option {n}", str(n)) for n in range(30))
    blocks = render(OutgoingMessage(TO, "Pick", buttons=buttons))[0].blocks
    assert [len(block["elements"]) for block in blocks[1:]] == [25, 5]
    action_ids = [element["action_id"] for block in blocks[1:] for element in block["elements"]]
    assert len(set(action_ids)) == 30


def test_buttons_without_text_still_post() -> None:
    posts = render(OutgoingMessage(TO, "", buttons=(Button("Go", "go"),)))
    assert posts[0].text.strip() and posts[0].blocks
