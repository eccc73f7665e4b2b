"""The channel interface: what a messaging platform adapter implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.foundation.messages import Attachment, ConversationReference, IncomingMessage, OutgoingMessage
from channels.plugin import Capabilities

if TYPE_CHECKING:
    from fastapi import APIRouter


@dataclass(frozen=True, slots=True)
class Accepted:
    """The inbox's receipt for a message: it is persisted (a webhook may be acknowledged now)."""

    inbox_id: int
    duplicate: bool  # the platform redelivered a message already received
    throttled: bool = False  # over the sender's rate: kept, not answered (see `bot.pacing`)


# What a channel hands received messages to: the core's inbox. It returns once the message is
# persisted, which is when a webhook may be acknowledged.
MessageSink = Callable[[IncomingMessage], Awaitable[Accepted]]


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """A platform's later word on a message it accepted (Twilio status callbacks, for instance).

    `status` is "delivered", "failed" or "undelivered"; `recipient_unreachable` says the failure
    means the person opted out or blocked the bot, so nothing more should be sent to them;
    `opted_out` that they opted out (their account is marked opted out rather than unreachable).
    """

    channel: str
    platform_message_id: str
    status: str
    error: str | None = None
    recipient_unreachable: bool = False
    opted_out: bool = False


# What a channel hands delivery reports to: the core's outbox. Returns whether a message matched.
DeliveryReportSink = Callable[[DeliveryReport], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class ChannelLimits:
    """A channel's rates as configured, which the outbox respects when sending.

    Rates are in send units per second (messages, or SMS segments: see `Channel.send_cost`);
    `None` means unlimited. `reply_chars_target` asks the responder for answers about that long
    (SMS wants them concise); `None` leaves the length to the model. What the platform can show
    (buttons, a menu, its longest message) is in `Channel.capabilities`.
    """

    per_chat_rate: float | None = None
    overall_rate: float | None = None
    reply_chars_target: int | None = None


@dataclass(frozen=True, slots=True)
class ChannelStatus:
    """How a channel is doing, for `/health/integration`."""

    state: str  # "real", "degraded" or "off"
    detail: str


@dataclass(frozen=True, slots=True)
class SendResult:
    """What the platform said about a message it accepted."""

    platform_message_id: str | None = None


class SendError(Exception):
    """A send failed. `permanent` errors are not retried."""

    permanent: bool = False

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class TemporarySendError(SendError):
    """The platform is unreachable, overloaded or rate-limiting: try again later (after `retry_after`)."""


class PermanentSendError(SendError):
    """The message can never be delivered as is (bad chat id, message rejected)."""

    permanent = True


class RecipientUnreachableError(PermanentSendError):
    """The person blocked the bot or opted out: stop sending to them until they come back.

    `opted_out` says the platform refused because the person opted out (Twilio 21610 after STOP):
    their account is then marked opted out, which only an explicit opt-in clears.
    """

    def __init__(self, reason: str, *, retry_after: float | None = None, opted_out: bool = False) -> None:
        super().__init__(reason, retry_after=retry_after)
        self.opted_out = opted_out


class AttachmentError(Exception):
    """A file could not be fetched; the message is shown to the person who sent it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Channel(ABC):
    """A messaging platform adapter: verifies, parses, sends, and respects its platform's limits.

    It never calls the model, the vector store or the program engine; it hands `IncomingMessage`s to
    the sink given at `start` and turns `OutgoingMessage`s into platform calls.
    """

    name: str
    # What the platform can show; the same object as the channel plugin's (`channels.plugin`).
    capabilities: Capabilities = Capabilities()
    limits: ChannelLimits = ChannelLimits()
    # Set by the core before `start` when the platform reports deliveries after accepting a message.
    delivery_reports: DeliveryReportSink | None = None

    @abstractmethod
    async def start(self, sink: MessageSink) -> None:
        """Begin receiving (poll, open a socket, or just accept webhooks)."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop receiving and release connections."""

    @abstractmethod
    async def send(self, message: OutgoingMessage) -> SendResult:
        """Deliver one message, raising a `SendError` subclass when it does not go out."""

    async def fetch_attachment(self, attachment: Attachment, max_bytes: int) -> bytes:
        """Download a file a person sent, refusing more than `max_bytes` (`AttachmentError` says why)."""
        raise AttachmentError(f"files cannot be received on {self.name} yet")

    def status(self) -> ChannelStatus:
        """The channel's health; adapters override this with what they know."""
        return ChannelStatus("real", "running")

    def router(self) -> APIRouter | None:
        """HTTP routes the channel serves (its webhooks), mounted on the app; None when it has none."""
        return None

    def send_cost(self, message: OutgoingMessage) -> int:
        """How many rate-limit units sending `message` uses: the parts it is split into, or SMS segments."""
        return 1

    async def indicate_typing(self, conversation: ConversationReference) -> None:
        """Show that an answer is being written (Telegram's "typing…").

        Called by the core when it starts answering, on channels whose capabilities say `typing`;
        failures are logged and ignored.
        """
        return None

    def set_command_menu(self, commands: Sequence[tuple[str, str]]) -> None:
        """The commands to list in the platform's menu, (name, description) each; called before
        `start` on channels whose capabilities say `command_menu`."""
        return None
