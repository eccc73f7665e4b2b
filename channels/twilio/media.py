"""Message media (MMS, WhatsApp): what kind of file a content type is, and downloading it from Twilio.

Twilio hosts inbound media at `https://api.twilio.com/.../Media/ME…` and, when the account enforces
HTTP authentication on media URLs, wants the account SID and auth token as basic auth; the URL then
redirects to a storage host, which must not be given those credentials (httpx drops them when a
redirect leaves the origin).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from channels.base import AttachmentError

# Content types the knowledge base can learn from, with the extension its parser goes by.
DOCUMENT_EXTENSIONS = {
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "text/plain": "txt",
    "text/markdown": "md",
    "text/x-markdown": "md",
    "text/html": "html",
}
DOWNLOAD_TIMEOUT_SECONDS = 60.0


def media_kind(content_type: str) -> str:
    """The attachment kind of an MMS content type: "document", "image", "audio", "video" or "file"."""
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime in DOCUMENT_EXTENSIONS:
        return "document"
    family = mime.split("/", 1)[0]
    return family if family in ("image", "audio", "video") else "file"


def media_file_name(message_sid: str, index: int, content_type: str, prefix: str = "mms") -> str | None:
    """A name for a document (Twilio passes none), e.g. "mms-SM123-0.pdf"; None for other media."""
    extension = DOCUMENT_EXTENSIONS.get(content_type.split(";", 1)[0].strip().lower())
    return f"{prefix}-{message_sid}-{index}.{extension}" if extension else None


def is_twilio_hosted(url: str, api_url: str) -> bool:
    """Whether `url` is on Twilio (over HTTPS) or on the configured Twilio API host."""
    target, api = urlsplit(url), urlsplit(api_url)
    if target.netloc and target.scheme == api.scheme and target.netloc == api.netloc:
        return True
    host = (target.hostname or "").lower()
    return target.scheme == "https" and (host == "twilio.com" or host.endswith(".twilio.com"))


async def download(url: str, *, auth: tuple[str, str] | None, max_bytes: int) -> bytes:
    """Fetch a media file, following redirects, refusing more than `max_bytes`."""
    limit_mb = max_bytes / (1024 * 1024)
    try:
        async with (
            httpx.AsyncClient(follow_redirects=True, timeout=DOWNLOAD_TIMEOUT_SECONDS) as client,
            client.stream("GET", url, auth=auth) as response,
        ):
            if response.status_code != 200:
                raise AttachmentError(f"Twilio would not hand over the file (HTTP {response.status_code})")
            declared = response.headers.get("Content-Length")
            if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                raise AttachmentError(f"the file is larger than the {limit_mb:.3g} MB limit")
            received = bytearray()
            async for chunk in response.aiter_bytes():
                received += chunk
                if len(received) > max_bytes:
                    raise AttachmentError(f"the file is larger than the {limit_mb:.3g} MB limit")
            return bytes(received)
    except httpx.HTTPError as exc:
        raise AttachmentError(f"the file could not be downloaded ({type(exc).__name__})") from exc
