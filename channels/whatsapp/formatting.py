"""An outgoing message as WhatsApp text: Markdown bold in WhatsApp's form, choices as a numbered list
(free-form WhatsApp messages have no buttons), sources in one short line, split into Twilio's
1,600-character messages.
"""

from __future__ import annotations

import re

from bot.foundation.messages import OutgoingMessage
from channels.sms.formatting import as_parts, buttons_line, sources_line

# WhatsApp template variables hold at most 1,024 characters.
TEMPLATE_VARIABLE_CHARS = 1024
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")


def whatsapp_text(markdown: str) -> str:
    """Markdown as WhatsApp writes it: `**bold**` → `*bold*` (the rest reads the same)."""
    return _BOLD.sub(r"*\1*", markdown)


def body(message: OutgoingMessage) -> str:
    """The whole message as one text: answer, choices, sources."""
    blocks = (
        whatsapp_text(message.text.strip()),
        buttons_line(message.buttons),
        sources_line(message.sources),
    )
    return "\n\n".join(block for block in blocks if block)


def render(message: OutgoingMessage) -> tuple[str, ...]:
    """The Twilio messages the reply goes out as (one unless it is over 1,600 characters)."""
    text = body(message)
    return as_parts(text) if text else ()


def template_text(message: OutgoingMessage) -> str:
    """The message for a template variable: the answer and choices, cut at a sentence to fit."""
    blocks = (whatsapp_text(message.text.strip()), buttons_line(message.buttons))
    text = "\n\n".join(block for block in blocks if block)
    if len(text) <= TEMPLATE_VARIABLE_CHARS:
        return text
    room = text[: TEMPLATE_VARIABLE_CHARS - 1]
    cut = max(room.rfind(". "), room.rfind("\n"))
    if cut < TEMPLATE_VARIABLE_CHARS // 2:
        cut = room.rfind(" ")
    return room[: cut + 1].rstrip() + "…"
