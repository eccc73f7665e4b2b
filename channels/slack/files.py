"""Downloading a file someone shared with the bot: `url_private` with the bot token, size-capped."""

from __future__ import annotations

from urllib.parse import urlparse

import httpx

from bot.foundation.messages import Attachment
from channels.base import AttachmentError

_MB = 1024 * 1024


def _size(size: int) -> str:
    if size < _MB // 10:
        return f"{max(1, round(size / 1024))} KB"
    return f"{size / _MB:.1f}".removesuffix(".0") + " MB"


def too_big(name: str, size: int, max_bytes: int, *, at_least: bool = False) -> AttachmentError:
    """The refusal for a file over the upload limit (`at_least`: the download was stopped at `size`)."""
    more = "more than " if at_least else ""
    return AttachmentError(f"{name} is {more}{_size(size)}; the upload limit is {_size(max_bytes)}")


def trusted_file_host(url: str, api_url: str) -> bool:
    """Whether the bot token may be sent to `url`: Slack's own hosts (or the configured API's, in tests)."""
    parsed = urlparse(url)
    host = (parsed.hostname or "").lower()
    if parsed.scheme == "https" and (host == "slack.com" or host.endswith(".slack.com")):
        return True
    api = urlparse(api_url)
    return parsed.scheme == api.scheme and host == (api.hostname or "").lower() and parsed.port == api.port


async def download(
    http: httpx.AsyncClient, attachment: Attachment, url: str, token: str, max_bytes: int
) -> bytes:
    """The file's bytes, streamed and refused as soon as they pass `max_bytes`.

    Slack answers a request without the right token, or from an app without the `files:read` scope,
    with its sign-in web page rather than an error: an HTML answer for a file that is not HTML is
    refused with that explanation.
    """
    name = attachment.file_name or "the file"
    try:
        async with http.stream(
            "GET", url, headers={"Authorization": f"Bearer {token}"}, follow_redirects=True
        ) as response:
            if response.status_code in (401, 403, 404):
                raise AttachmentError(
                    f"Slack would not let me download {name} (HTTP {response.status_code}); "
                    "the app may need the files:read scope"
                )
            if response.status_code >= 400:
                raise AttachmentError(
                    f"Slack did not send {name} (HTTP {response.status_code}); please try again later"
                )
            content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type == "text/html" and not _is_html(attachment):
                raise AttachmentError(
                    f"Slack sent a sign-in page instead of {name}: the Slack app needs the files:read "
                    "scope (add it under OAuth & Permissions and reinstall the app)"
                )
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise too_big(name, int(declared), max_bytes)
            chunks: list[bytes] = []
            received = 0
            async for chunk in response.aiter_bytes():
                received += len(chunk)
                if received > max_bytes:
                    raise too_big(name, max_bytes, max_bytes, at_least=True)
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise AttachmentError(f"I couldn't download {name} from Slack ({type(exc).__name__})") from exc
    return b"".join(chunks)


def _is_html(attachment: Attachment) -> bool:
    name = (attachment.file_name or "").lower()
    return attachment.mime_type == "text/html" or name.endswith((".html", ".htm"))
