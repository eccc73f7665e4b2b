"""People's display names from `users.info`, looked up in the background so no acknowledgement waits.

A person's first message is stored without a name; the lookup it starts fills the cache, and their
next messages carry the name (the core updates the stored display name when one comes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)


class UserNames:
    """A bounded cache of display names by user id, filled by background `users.info` calls."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._names: OrderedDict[str, str] = OrderedDict()
        self._max = max_entries
        self._pending: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._disabled = False  # the app has no users:read scope: stop asking

    def get(self, user_id: str) -> str | None:
        """The name already known for `user_id`."""
        name = self._names.get(user_id)
        if name is not None:
            self._names.move_to_end(user_id)
        return name

    def learn(self, user_id: str, client: AsyncWebClient) -> None:
        """Look the name up in the background, unless it is known or being looked up."""
        if self._disabled or user_id in self._names or user_id in self._pending:
            return
        self._pending.add(user_id)
        task = asyncio.create_task(self._lookup(user_id, client), name=f"slack-users-info-{user_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _lookup(self, user_id: str, client: AsyncWebClient) -> None:
        try:
            response = await client.users_info(user=user_id)
        except SlackApiError as exc:
            if exc.response.get("error") == "missing_scope":
                log.info("Slack users.info needs the users:read scope; people's names stay unknown")
                self._disabled = True
            else:
                log.debug("users.info for %s failed: %s", user_id, exc)
            return
        except Exception as exc:  # a cosmetic lookup: never worth more than a log line
            log.debug("users.info for %s failed: %s", user_id, exc)
            return
        finally:
            self._pending.discard(user_id)
        user = response.get("user") or {}
        profile = user.get("profile") or {}
        name = (
            profile.get("display_name")
            or profile.get("real_name")
            or user.get("real_name")
            or user.get("name")
        )
        if name:
            self._names[user_id] = str(name)
            if len(self._names) > self._max:
                self._names.popitem(last=False)

    async def aclose(self) -> None:
        """Cancel the lookups still running."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
