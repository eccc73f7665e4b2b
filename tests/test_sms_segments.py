"""SMS text: GSM-7 or UCS-2, segment counts (160/153, 70/67), splitting at sentences, the segment cap."""

from __future__ import annotations

import pytest

from bot.foundation.messages import Button, ConversationReference, OutgoingMessage, Source
from channels.sms.formatting import CUT_NOTE, render
from channels.sms.keywords import keyword_command
from channels.sms.segments import (
    Encoding,
    encoding_of,
    measure,
    plain_typography,
    segment_count,
    split_message,
    units,
)
from tests.fakes.twilio_server import twilio_segments

TO = ConversationReference("sms", "+15550001111")


def _message(text: str, **extra: object) -> OutgoingMessage:
    return OutgoingMessage(TO, text, **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "encoding", "segments"),
    [
        ("a" * 160, Encoding.GSM7, 1),
        ("a" * 161, Encoding.GSM7, 2),
        ("a" * 306, Encoding.GSM7, 2),  # 2 x 153
        ("a" * 307, Encoding.GSM7, 3),
        ("€" * 80, Encoding.GSM7, 1),  # extension characters cost two septets: 160
        ("€" + "a" * 159, Encoding.GSM7, 2),  # 161 septets
        ("Ça coûte 5€ {ok}", Encoding.UCS2, 1),  # û is not GSM-7
        ("Größe: 5 [m]", Encoding.GSM7, 1),
        ("a" * 69 + "é", Encoding.GSM7, 1),  # é is in the GSM-7 alphabet
        ("a" * 70 + "ç", Encoding.UCS2, 2),  # ç is not (only Ç is)
        ("😀" * 35, Encoding.UCS2, 1),  # 70 UTF-16 code units
        ("😀" * 36, Encoding.UCS2, 2),
        ("a" * 69 + "😀", Encoding.UCS2, 2),  # one emoji makes it UCS-2; 71 code units
        ("a" * 68 + "😀", Encoding.UCS2, 1),  # exactly 70
        ("a" * 134, Encoding.GSM7, 1),
        ("a" * 134 + "😀", Encoding.UCS2, 3),  # 136 code units: 67 + 67 + 2
    ],
)
def test_encoding_and_segment_count(text: str, encoding: Encoding, segments: int) -> None:
    assert encoding_of(text) is encoding
    assert segment_count(text) == segments
    assert twilio_segments(text) == segments  # the fake's independent count agrees


def test_an_extension_character_is_never_split_across_segments() -> None:
    # 152 plain septets then "€" (2): the pair does not fit in segment one's 153 septets.
    text = "a" * 152 + "€" + "a" * 10

    assert measure(text).units == 164
    assert segment_count(text) == 2
    assert segment_count("a" * 152 + "€" + "a" * 152) == 3  # 152 | € + 151 | 1


def test_a_surrogate_pair_is_never_split_across_segments() -> None:
    # 66 code units then an emoji (2 units): segment one holds 67, so the emoji starts segment two.
    text = "a" * 66 + "😀" + "b" * 66

    assert units(text) == 134  # 2 x 67 would fit if pairs could be split...
    assert segment_count(text) == 3  # ...but they are not


def test_typography_is_made_gsm_friendly_but_emoji_are_kept() -> None:
    text = "“Don’t stop” – keep going… 💪"

    assert plain_typography(text) == '"Don\'t stop" - keep going... 💪'
    assert encoding_of(plain_typography("It’s “fine” — really…")) is Encoding.GSM7


def test_split_keeps_each_message_within_1600_and_cuts_at_sentences() -> None:
    sentences = [f"Sentence number {index} is here." for index in range(120)]
    text = " ".join(sentences)

    parts = split_message(text)

    assert len(parts) > 1
    assert all(units(part) <= 1600 for part in parts)
    assert all(part.endswith(".") for part in parts)  # every cut is at a sentence's end
    assert " ".join(parts) == text  # nothing lost, nothing added


def test_split_falls_back_to_words_then_characters() -> None:
    words = "word " * 500  # one 2,500-character "sentence"
    parts = split_message(words.strip())
    assert all(units(part) <= 1600 and not part.endswith(" ") for part in parts)
    assert all(part.split() == ["word"] * len(part.split()) for part in parts)  # no word cut

    emoji = "😀" * 1000  # 2,000 code units, no spaces: cut between characters, never inside a pair
    parts = split_message(emoji)
    assert [units(part) for part in parts] == [1600, 400]
    assert "".join(parts) == emoji


def test_split_does_not_break_an_emoji_sequence() -> None:
    family = "👩\u200d👩\u200d👧"  # one picture, five code points
    text = "a" * 1597 + family
    parts = split_message(text, 1600)
    assert family in parts[-1]  # kept whole in one message


def test_render_lists_buttons_and_sources_compactly() -> None:
    message = _message(
        "Did you run today?",
        buttons=(Button("Yes", "yes"), Button("Not yet", "no")),
        sources=(
            Source("Running for Beginners: A Very Long Title Indeed", "page 4", 0.9),
            Source("Goals", "section 'Weekly'", 0.8),
            Source("Third", "part 1", 0.7),
        ),
    )

    (text,) = render(message, max_segments=10).parts

    assert text == (
        "Did you run today?\n\nReply 1 for Yes, 2 for Not yet.\n\n"
        "Sources: [1] Running for Beginners: A Very Long Ti... (page 4); [2] Goals (section 'Weekly')"
    )


def test_a_reply_over_1600_characters_becomes_numbered_messages() -> None:
    text = " ".join(f"Point {index} matters a lot." for index in range(150))  # ~3,900 characters

    rendered = render(_message(text), max_segments=100)

    assert len(rendered.parts) == 3
    assert [part[:4] for part in rendered.parts] == ["1/3 ", "2/3 ", "3/3 "]
    assert all(len(part) <= 1600 for part in rendered.parts)
    assert rendered.segments == sum(twilio_segments(part) for part in rendered.parts)


def test_the_segment_cap_cuts_at_a_sentence_and_says_so() -> None:
    text = " ".join(f"Sentence {index} has some words in it." for index in range(100))

    rendered = render(_message(text, sources=(Source("Doc", "page 1", 0.9),)), max_segments=3)

    (body,) = rendered.parts
    assert rendered.segments <= 3
    assert body.endswith(CUT_NOTE)
    assert body.removesuffix(" " + CUT_NOTE).endswith("in it.")  # a whole sentence
    assert "Source" not in body  # the sources line goes before any of the answer


def test_the_cap_keeps_the_choices() -> None:
    text = "Long preamble, really long. " * 40
    rendered = render(_message(text, buttons=(Button("Yes", "y"), Button("No", "n"))), max_segments=2)

    assert rendered.segments <= 2
    assert rendered.parts[0].endswith("Reply 1 for Yes, 2 for No.")


def test_the_cap_counts_ucs2_segments() -> None:
    text = "Great job today 💪. " * 40  # UCS-2: 67 code units a segment

    rendered = render(_message(text), max_segments=4)

    assert rendered.segments <= 4
    assert sum(twilio_segments(part) for part in rendered.parts) == rendered.segments
    assert rendered.parts[0].endswith(CUT_NOTE)


def test_a_sentence_longer_than_the_cap_is_cut_between_words() -> None:
    text = "and then " * 200

    (body,) = render(_message(text), max_segments=2).parts

    assert body.endswith("... " + CUT_NOTE)
    assert segment_count(body) <= 2


@pytest.mark.parametrize(
    ("body", "command"),
    [
        ("STOP", "/optout"),
        ("  stop \n", "/optout"),
        ("Unsubscribe", "/optout"),
        ("stopall", "/optout"),
        ("cancel", "/optout"),
        ("END", "/optout"),
        ("quit", "/optout"),
        ("START", "/optin"),
        ("unstop", "/optin"),
        ("Yes", "/optin"),
        ("help", "/help"),
        ("INFO", "/help"),
        ("stop it", None),
        ("please stop", None),
        ("Hello", None),
    ],
)
def test_keywords_are_whole_messages(body: str, command: str | None) -> None:
    assert keyword_command(body) == command
