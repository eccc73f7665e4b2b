"""Which senders have messages this instance stored and has not claimed yet: whether to look again.

When the inbox worker finishes a message it used to claim again at once, in case the sender's next
message was waiting (one message per sender is claimed at a time). Nearly always nothing was, and
that empty claim cost two statements per message. This tally answers the question in memory for
messages this instance stored; for a message it cannot vouch for (stored before a restart, by another
instance, or given back after a failure) it says "look", as before. Another instance's arrivals are
found by the worker's poll, as they always were.
"""

from __future__ import annotations

from collections import Counter

# Past this many senders the tally is dropped and every message counts as unknown (look again): a
# bound on memory when other instances claim what this one stored.
MAX_SENDERS = 10_000

Sender = tuple[str, str]  # (channel, sender id)


class UnclaimedSenders:
    """A tally of stored-but-unclaimed messages per sender, and the claimed rows it cannot vouch for."""

    def __init__(self) -> None:
        self._waiting: Counter[Sender] = Counter()
        self._unknown: set[int] = set()

    def stored(self, sender: Sender) -> None:
        """A message of `sender` was stored (and is to be answered) by this instance."""
        if len(self._waiting) >= MAX_SENDERS and sender not in self._waiting:
            self._waiting.clear()
        self._waiting[sender] += 1

    def claimed(self, inbox_id: int, sender: Sender) -> None:
        """This instance claimed a message of `sender`."""
        if self._waiting[sender] > 0:
            self._waiting[sender] -= 1
        else:
            self._unknown.add(inbox_id)  # not one we saw stored: its sender may have more waiting
        if self._waiting[sender] <= 0:
            del self._waiting[sender]

    def may_have_next(self, inbox_id: int, sender: Sender) -> bool:
        """Whether, now that `inbox_id` is finished, its sender may have a claimable message waiting."""
        if inbox_id in self._unknown:
            self._unknown.discard(inbox_id)
            return True
        return self._waiting[sender] > 0  # a Counter reads 0 for a sender it does not hold
