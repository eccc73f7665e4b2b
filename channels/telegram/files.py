"""Downloading the files people send: getFile, then the file URL, within Telegram's and our size limits."""

from __future__ import annotations

from telegram import Bot
from telegram.error import BadRequest

from bot.foundation.messages import Attachment
from channels.base import AttachmentError

# The Bot API serves files up to this size to bots (getFile); bigger ones cannot be fetched at all.
TELEGRAM_DOWNLOAD_LIMIT = 20 * 1024 * 1024


async def download(bot: Bot, attachment: Attachment, max_bytes: int) -> bytes:
    """The file's bytes, or `AttachmentError` saying why not (too big for Telegram or for us).

    The size Telegram announced in the update is checked first, so that a file that cannot be
    fetched costs no request; network errors are left to propagate, so the core retries.
    """
    if not attachment.platform_file_id:
        raise AttachmentError("Telegram did not say where the file is")
    if attachment.size is not None:
        _check_size(attachment.size, max_bytes)
    try:
        file = await bot.get_file(attachment.platform_file_id)
    except BadRequest as exc:
        if "too big" in exc.message.lower():
            raise AttachmentError(_too_big_for_telegram(attachment.size, max_bytes)) from exc
        raise AttachmentError(f"Telegram could not give me the file ({exc.message})") from exc
    if file.file_size is not None:
        _check_size(file.file_size, max_bytes)
    data = await file.download_as_bytearray(read_timeout=120)
    if len(data) > max_bytes:
        raise AttachmentError(f"it is {_megabytes(len(data))}; I accept up to {_megabytes(max_bytes)}")
    return bytes(data)


def _check_size(size: int, max_bytes: int) -> None:
    if size > TELEGRAM_DOWNLOAD_LIMIT:
        raise AttachmentError(_too_big_for_telegram(size, max_bytes))
    if size > max_bytes:
        raise AttachmentError(f"it is {_megabytes(size)}; I accept up to {_megabytes(max_bytes)}")


def _too_big_for_telegram(size: int | None, max_bytes: int) -> str:
    what = f"it is {_megabytes(size)}, and " if size else ""
    # The REST API and the CLI take files Telegram will not hand over, up to our own limit.
    advice = (
        "upload it through the REST API (POST /api/v1/creators/knowledge/upload) or the CLI "
        "(python run.py ingest FILE) instead"
        if max_bytes > TELEGRAM_DOWNLOAD_LIMIT or size is None or size <= max_bytes
        else "send a smaller file"
    )
    return f"{what}Telegram lets bots download files up to 20 MB — {advice}."


def _megabytes(size: int | None) -> str:
    return f"{(size or 0) / (1024 * 1024):.1f} MB"
