"""Which bot token answers which Slack workspace.

Bolt asks for an `AuthorizeResult` on every request; calling `auth.test` each time would add a round
trip to Slack before every acknowledgement. Instead the workspace is looked up here by its team id:
the single-workspace set-up (`SLACK_BOT_TOKEN`) calls `auth.test` once at start and keeps the answer;
a deployment installed in several workspaces plugs in its installation store instead
(`InstallationStoreWorkspaces`, or any `WorkspaceDirectory`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from slack_bolt.authorization import AuthorizeResult
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore


@dataclass(frozen=True, slots=True)
class Workspace:
    """A workspace the bot is installed in, with its bot token and who the bot is there."""

    team_id: str | None
    enterprise_id: str | None
    bot_token: str
    bot_id: str | None
    bot_user_id: str | None

    def authorize_result(self) -> AuthorizeResult:
        """What Bolt needs to handle a request from this workspace."""
        return AuthorizeResult(
            enterprise_id=self.enterprise_id,
            team_id=self.team_id,
            bot_token=self.bot_token,
            bot_id=self.bot_id,
            bot_user_id=self.bot_user_id,
        )


class WorkspaceDirectory(Protocol):
    """Finds the workspace a request comes from, and the one a conversation belongs to."""

    async def find(self, enterprise_id: str | None, team_id: str | None) -> Workspace | None:
        """The installation for this team (or organisation), or None when the bot is not installed there."""
        ...

    def remember(self, chat_id: str, workspace: Workspace) -> None:
        """Note that `chat_id` (a channel or a person) was seen in `workspace`, so replies use its token."""
        ...

    async def for_chat(self, chat_id: str) -> Workspace | None:
        """The workspace whose token sends to `chat_id`."""
        ...


class StaticWorkspaces:
    """Workspaces known in advance, by team id. With one workspace it answers every request.

    A single bot token serves exactly one workspace (or one Enterprise Grid organisation, whose
    events carry the team of whichever workspace they happened in), and a request that passed the
    signature check was meant for this app: so with one workspace there is nothing to look up.
    """

    def __init__(self, workspaces: list[Workspace] | None = None) -> None:
        self._by_team: dict[str | None, Workspace] = {}
        self._chats: dict[str, Workspace] = {}
        for workspace in workspaces or []:
            self.add(workspace)

    def add(self, workspace: Workspace) -> None:
        """Register (or replace) a workspace."""
        self._by_team[workspace.team_id] = workspace

    def __len__(self) -> int:
        return len(self._by_team)

    async def find(self, enterprise_id: str | None, team_id: str | None) -> Workspace | None:
        """The workspace of `team_id`; the only one, when there is only one."""
        if len(self._by_team) == 1:
            return next(iter(self._by_team.values()))
        return self._by_team.get(team_id) or next(
            (ws for ws in self._by_team.values() if enterprise_id and ws.enterprise_id == enterprise_id), None
        )

    def remember(self, chat_id: str, workspace: Workspace) -> None:
        """Keep where `chat_id` lives (only useful with several workspaces)."""
        if len(self._by_team) > 1:
            self._chats[chat_id] = workspace

    async def for_chat(self, chat_id: str) -> Workspace | None:
        """The only workspace, or the one `chat_id` was last seen in."""
        if len(self._by_team) == 1:
            return next(iter(self._by_team.values()))
        return self._chats.get(chat_id)


class InstallationStoreWorkspaces:
    """Workspaces from a slack_sdk installation store (the OAuth "Add to Slack" flow saves them there).

    Replies reach the workspace a conversation was last seen in; a proactive message to a chat this
    instance has not seen since it started needs the team in the store's data, which this sketch
    does not keep: see docs/channels/slack.md.
    """

    def __init__(self, store: AsyncInstallationStore) -> None:
        self._store = store
        self._chats: dict[str, Workspace] = {}

    async def find(self, enterprise_id: str | None, team_id: str | None) -> Workspace | None:
        """The bot installed in this team, from the store."""
        bot = await self._store.async_find_bot(enterprise_id=enterprise_id, team_id=team_id)
        if bot is None:
            return None
        return Workspace(
            team_id=bot.team_id,
            enterprise_id=bot.enterprise_id,
            bot_token=bot.bot_token,
            bot_id=bot.bot_id,
            bot_user_id=bot.bot_user_id,
        )

    def remember(self, chat_id: str, workspace: Workspace) -> None:
        """Keep where `chat_id` lives."""
        self._chats[chat_id] = workspace

    async def for_chat(self, chat_id: str) -> Workspace | None:
        """The workspace `chat_id` was last seen in, with its current token from the store."""
        seen = self._chats.get(chat_id)
        if seen is None:
            return None
        return await self.find(seen.enterprise_id, seen.team_id) or seen
