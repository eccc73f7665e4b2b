"""When the inbox worker, having finished a message, must look for the sender's next one."""

from __future__ import annotations

from bot.unclaimed import MAX_SENDERS, UnclaimedSenders

ANA = ("telegram", "ana")
BEN = ("telegram", "ben")


def test_a_sender_with_nothing_else_stored_needs_no_second_look() -> None:
    tally = UnclaimedSenders()
    tally.stored(ANA)
    tally.claimed(1, ANA)

    assert not tally.may_have_next(1, ANA)


def test_messages_stored_before_the_claim_are_looked_for_one_after_another() -> None:
    tally = UnclaimedSenders()
    tally.stored(ANA)
    tally.stored(ANA)  # both stored before the claim, which takes one per sender
    tally.claimed(1, ANA)

    assert tally.may_have_next(1, ANA)
    tally.claimed(2, ANA)
    assert not tally.may_have_next(2, ANA)


def test_a_message_arriving_while_the_first_is_answered_is_looked_for() -> None:
    tally = UnclaimedSenders()
    tally.stored(ANA)
    tally.claimed(1, ANA)
    tally.stored(ANA)

    assert tally.may_have_next(1, ANA)


def test_another_senders_message_does_not_call_for_a_look() -> None:
    tally = UnclaimedSenders()
    tally.stored(ANA)
    tally.claimed(1, ANA)
    tally.stored(BEN)  # its own arrival already woke the worker

    assert not tally.may_have_next(1, ANA)


def test_a_message_it_did_not_see_stored_always_calls_for_a_look() -> None:
    tally = UnclaimedSenders()  # say, stored before a restart or by another instance
    tally.claimed(7, ANA)

    assert tally.may_have_next(7, ANA)
    assert not tally.may_have_next(7, ANA)  # once: the row's id is forgotten when it is finished


def test_a_tally_over_its_bound_is_dropped_so_its_messages_count_as_unknown() -> None:
    tally = UnclaimedSenders()
    for n in range(MAX_SENDERS):
        tally.stored(("telegram", str(n)))
    tally.stored(ANA)  # the bound is reached: the tally starts again
    tally.claimed(1, ("telegram", "0"))

    assert tally.may_have_next(1, ("telegram", "0"))
