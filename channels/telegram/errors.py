"""Bot API errors → the outbox's send errors (retry, give up, or stop writing to that person)."""

from __future__ import annotations

import datetime as dtm
import warnings

from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TelegramError,
)
from telegram.warnings import PTBDeprecationWarning

from channels.base import PermanentSendError, RecipientUnreachableError, SendError, TemporarySendError


def retry_after_seconds(error: RetryAfter) -> float:
    """The wait Telegram asked for, in seconds."""
    # PTB 22 warns that `retry_after` turns into a timedelta in a later major version; read it
    # either way without the warning (which the test suite turns into an error).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


def to_send_error(error: TelegramError) -> SendError:
    """The outbox's reading of a Bot API error.

    - 429 flood control: try again after Telegram's `retry_after`.
    - 403 (the person blocked the bot, deleted their account, the bot left the group): the recipient
      is unreachable; the core stops writing to them until they write again.
    - 400 (chat not found, message rejected): permanent for this message.
    - anything else (timeouts, 5xx, a revoked token being fixed): temporary, retried with backoff.
      A timeout after Telegram accepted the message means the retry sends it twice: at least once.
    """
    if isinstance(error, RetryAfter):
        seconds = retry_after_seconds(error)
        return TemporarySendError(f"Telegram flood control: retry after {seconds:g} s", retry_after=seconds)
    if isinstance(error, Forbidden):
        return RecipientUnreachableError(error.message)
    if isinstance(error, ChatMigrated):
        return PermanentSendError(f"the group became supergroup {error.new_chat_id}")
    if isinstance(error, BadRequest):
        return PermanentSendError(error.message)
    if isinstance(error, InvalidToken):
        return TemporarySendError(f"Telegram rejected the bot token: {error.message}")
    return TemporarySendError(f"{type(error).__name__}: {error.message}")
