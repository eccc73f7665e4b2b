"""Claim codes: the one-time secret a creator types in chat (`/claim CODE`) to take their role.

A code holds 128 random bits written as base32 in groups of four (readable aloud, no 0/1/8/9 to
confuse with letters), is stored hashed, expires (`COACH_CLAIM_CODE_HOURS`), and one person may
try only `COACH_CLAIM_ATTEMPTS` wrong codes an hour, so guessing is hopeless twice over.
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.foundation.tables import Creator
from bot.models import ClaimAttempt
from bot.secrets import hash_secret

DEFAULT_CODE_HOURS = 168.0
DEFAULT_ATTEMPTS_PER_HOUR = 5
ATTEMPT_WINDOW = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class ClaimPolicy:
    """How long codes live and how many wrong ones a person may send an hour."""

    code_hours: float = DEFAULT_CODE_HOURS
    attempts_per_hour: int = DEFAULT_ATTEMPTS_PER_HOUR


def new_claim_code() -> str:
    """A fresh code: 128 bits as 26 base32 characters in groups of four, e.g. `K7QD-2MZA-...-XQ`."""
    letters = base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=")
    return "-".join(letters[start : start + 4] for start in range(0, len(letters), 4))


def normalise_claim_code(typed: str) -> str:
    """The code as stored (hashed): case, spaces and dashes do not matter."""
    return re.sub(r"[\s-]+", "", typed).upper()


def claim_code_hash(code: str) -> str:
    """The stored form of a code."""
    return hash_secret(normalise_claim_code(code))


async def wrong_attempts(session: AsyncSession, user_id: int, now: datetime) -> int:
    """Wrong codes this person sent in the last hour."""
    count = await session.scalar(
        select(func.count())
        .select_from(ClaimAttempt)
        .where(ClaimAttempt.user_id == user_id, ClaimAttempt.at > now - ATTEMPT_WINDOW)
    )
    return int(count or 0)


async def creator_for_code(session: AsyncSession, code: str, now: datetime) -> Creator | None:
    """The creator whose unexpired, unused code this is."""
    creator = await session.scalar(select(Creator).where(Creator.claim_code_hash == claim_code_hash(code)))
    if creator is None:
        return None
    if creator.claim_code_expires_at is not None and creator.claim_code_expires_at <= now:
        return None
    return creator
