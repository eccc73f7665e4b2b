"""Slack Web API failures as the outbox's send errors: retry later, give up, or stop writing to someone."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError

from channels.base import PermanentSendError, RecipientUnreachableError, SendError, TemporarySendError

# Slack is overloaded or hiccuping: worth another try.
_TEMPORARY = {"ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable",
              "request_timeout"}  # fmt: skip
# The app's token or set-up is wrong: nothing goes out until the operator fixes it.
APP_PROBLEMS = {
    "account_inactive": "the bot token belongs to a deleted bot or workspace",
    "invalid_auth": "the bot token is not valid",
    "not_authed": "no bot token was sent",
    "token_revoked": "the bot token was revoked (the app was uninstalled?)",
    "token_expired": "the bot token expired",
    "missing_scope": "the app lacks the chat:write scope",
    "no_permission": "the app may not post here",
    "team_access_not_granted": "the app is not installed in this workspace",
    "ekm_access_denied": "the workspace's administrators suspended posting",
}
# Writing to a person (their user id as the address) who left or was deactivated.
_PERSON_GONE = {"channel_not_found", "user_not_found", "user_disabled", "cannot_dm_bot", "is_archived"}


def is_user_id(chat_id: str) -> bool:
    """Whether a chat id is a person (U..., W...) rather than a conversation (C..., G..., D...)."""
    return chat_id[:1] in ("U", "W")


def send_error(exc: SlackApiError, chat_id: str) -> SendError:
    """The send error a failed `chat.postMessage` to `chat_id` means."""
    status = getattr(exc.response, "status_code", 0)
    error = str(exc.response.get("error") or "") if exc.response is not None else ""
    if status == 429 or error in ("ratelimited", "rate_limited"):
        return TemporarySendError(f"Slack rate limit ({error or 'HTTP 429'})", retry_after=retry_after(exc))
    if status >= 500 or error in _TEMPORARY:
        return TemporarySendError(f"Slack is unavailable ({error or f'HTTP {status}'})")
    if error in APP_PROBLEMS:
        return PermanentSendError(f"{error}: {APP_PROBLEMS[error]}")
    if is_user_id(chat_id) and error in _PERSON_GONE:
        return RecipientUnreachableError(f"{error}: the person can no longer be reached on Slack")
    if error == "not_in_channel":
        return PermanentSendError(
            "not_in_channel: invite the bot to the channel (or grant chat:write.public)"
        )
    return PermanentSendError(f"Slack refused the message: {error or f'HTTP {status}'}")


def retry_after(exc: SlackApiError) -> float:
    """Seconds Slack asked us to wait (`Retry-After`), one if it did not say."""
    headers = getattr(exc.response, "headers", None) or {}
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else 1.0
    except ValueError:
        return 1.0
