"""The pure engine: a 21-day program in milliseconds, triggers, quiet hours, branches, answers, actions."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from programs.engine import (
    MAX_STEPS_PER_ADVANCE,
    CaptureAnswer,
    Completed,
    Deliver,
    Enrolled,
    EnrollInto,
    EnrollmentState,
    Evaluated,
    ProgramSpec,
    QuietHours,
    Reply,
    StepSpec,
    TagUser,
    Tick,
    advance,
)
from programs.importer import read_program_file
from programs.spec import validate_step

SAMPLE = Path(__file__).resolve().parents[1] / "config" / "programs" / "21_day_habits.yaml"
START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday


def step(name: str, step_type: str, trigger: dict[str, Any] | None = None, **action: Any) -> StepSpec:
    """A validated step."""
    kind, parsed_trigger, parsed_action = validate_step(step_type, trigger or {}, action)
    return StepSpec(name, name, kind, parsed_trigger, parsed_action)


def sample_program() -> ProgramSpec:
    """The 21-day sample program of config/programs."""
    body = read_program_file(SAMPLE)
    names = {item.step_name for item in body.steps}
    steps = []
    for item in body.steps:
        kind, trigger, action = validate_step(
            item.step_type, item.trigger_config or {}, item.action_config or {}, names
        )
        steps.append(StepSpec(item.step_name, item.step_name, kind, trigger, action))
    return ProgramSpec("sample", body.title, tuple(steps))


def test_the_21_day_program_runs_start_to_finish_on_an_injected_clock() -> None:
    program = sample_program()
    state = EnrollmentState(enrolled_at=START, timezone="Europe/Paris")
    delivered: list[tuple[str, datetime]] = []
    actions: list[Any] = []

    decision = advance(program, state, Enrolled(), START)
    now = START
    for _ in range(24 * 23):  # every hour for 23 days
        actions += decision.actions
        delivered += [(a.step.name, now) for a in decision.actions if isinstance(a, Deliver)]
        state = decision.state
        if state.status != "active":
            break
        if state.awaiting_answer == "focus":
            decision = advance(program, state, Reply("movement"), now)
        elif state.awaiting_answer == "checkin":
            decision = advance(program, state, Reply("4"), now)
        else:
            now += timedelta(hours=1)
            decision = advance(program, state, Tick(), now)

    counts = Counter(name for name, _ in delivered)
    assert state.status == "completed"
    assert counts["welcome"] == counts["focus"] == counts["first_step"] == counts["wrap_up"] == 1
    assert counts["daily_tip"] == 20  # days 2 to 21
    assert counts["checkin"] == 2 and counts["checkin_reply"] == 2  # days 7 and 14
    # Every daily tip went out at 08:00 Paris time (07:00 UTC in March), once a day.
    tip_times = [at for name, at in delivered if name == "daily_tip"]
    assert all(at.astimezone(ZoneInfo("Europe/Paris")).hour == 8 for at in tip_times)
    assert len({at.date() for at in tip_times}) == 20
    assert state.answers == {"focus": "Movement", "progress": "4"}
    assert TagUser("21-day-graduate") in actions and isinstance(actions[-1], Completed)


def test_delay_triggers_count_from_enrolment_or_the_previous_step() -> None:
    program = ProgramSpec(
        "p",
        "Delays",
        (
            step("a", "MESSAGE", message_template="one"),
            step(
                "b", "MESSAGE", {"trigger_type": "TIME_BASED", "delay_seconds": 3600}, message_template="two"
            ),
            step(
                "c",
                "MESSAGE",
                {"trigger_type": "TIME_BASED", "delay_seconds": 7200, "after": "enrollment"},
                message_template="three",
            ),
        ),
    )
    first = advance(program, EnrollmentState(enrolled_at=START), Enrolled(), START)
    early = advance(program, first.state, Tick(), START + timedelta(minutes=59))
    second = advance(program, first.state, Tick(), START + timedelta(minutes=61))
    third = advance(program, second.state, Tick(), START + timedelta(hours=2))

    assert [a.step.name for a in first.actions if isinstance(a, Deliver)] == ["a"]
    assert first.state.due_at == START + timedelta(hours=1)
    assert early.actions == ()
    assert [a.step.name for a in second.actions if isinstance(a, Deliver)] == ["b"]
    assert second.state.due_at == START + timedelta(hours=2)  # from enrolment, not from step b
    assert [type(a) for a in third.actions] == [Deliver, Completed]


def test_a_step_missed_during_downtime_goes_out_once() -> None:
    program = ProgramSpec(
        "p",
        "Daily",
        (
            step(
                "tip",
                "MESSAGE",
                {"trigger_type": "TIME_BASED", "schedule": "daily", "time": "08:00"},
                message_template="tip",
            ),
        ),
    )
    state = advance(program, EnrollmentState(enrolled_at=START), Enrolled(), START).state

    back_after_three_days = advance(program, state, Tick(), START + timedelta(days=3))

    assert sum(isinstance(a, Deliver) for a in back_after_three_days.actions) == 1


def test_cron_and_quiet_hours_in_the_users_time_zone() -> None:
    program = ProgramSpec(
        "p",
        "Cron",
        (
            step(
                "weekday",
                "MESSAGE",
                {"trigger_type": "TIME_BASED", "cron": "30 6 * * 1-5"},
                message_template="hi",
            ),
        ),
        QuietHours(datetime.strptime("21:00", "%H:%M").time(), datetime.strptime("07:00", "%H:%M").time()),
    )
    friday_evening = datetime(2026, 3, 6, 18, 0, tzinfo=UTC)
    state = EnrollmentState(enrolled_at=friday_evening, timezone="America/New_York")

    decision = advance(program, state, Enrolled(), friday_evening)

    # Next weekday 06:30 New York is Monday, but 06:30 is inside quiet hours: released at 07:00.
    assert decision.state.due_at == datetime(2026, 3, 9, 11, 0, tzinfo=UTC)  # 07:00 EDT


def test_questions_capture_answers_and_conditions_branch_on_them() -> None:
    program = ProgramSpec(
        "p",
        "Branch",
        (
            step(
                "mood",
                "QUESTION",
                message_template="How do you feel?",
                answer_name="mood",
                choices=["Good", "Tired"],
            ),
            step("route", "CONDITION", condition='answer.mood == "tired"', if_true="rest", if_false="push"),
            step("push", "MESSAGE", message_template="Let's go!"),
            step("stop_here", "ACTION", action="end"),
            step("rest", "MESSAGE", message_template="Rest today."),
            step("tag", "ACTION", action="tag", tag="needs-rest"),
            step("next", "ACTION", action="enroll", program="Recovery"),
        ),
    )
    asked = advance(program, EnrollmentState(enrolled_at=START), Enrolled(), START)
    ignored_tick = advance(program, asked.state, Tick(), START + timedelta(days=1))
    answered = advance(program, asked.state, Reply("2"), START + timedelta(minutes=5))

    assert asked.state.awaiting_answer == "mood" and ignored_tick.actions == ()
    assert answered.consumed
    assert answered.actions[0] == CaptureAnswer(program.steps[0], "mood", "Tired")  # "2" = the 2nd choice
    delivered = [a.step.name for a in answered.actions if isinstance(a, Deliver)]
    assert delivered == ["rest"]
    assert TagUser("needs-rest") in answered.actions and EnrollInto("Recovery") in answered.actions
    assert answered.state.status == "completed"

    good = advance(program, asked.state, Reply("good"), START)
    assert [a.step.name for a in good.actions if isinstance(a, Deliver)] == ["push"]
    assert good.state.status == "completed"


def test_reply_and_keyword_triggers_wait_for_the_person() -> None:
    program = ProgramSpec(
        "p",
        "Events",
        (
            step("hello", "MESSAGE", message_template="Say 'ready' when you are."),
            step(
                "go",
                "MESSAGE",
                {"trigger_type": "EVENT", "event": "keyword", "keywords": ["ready"]},
                message_template="Go!",
            ),
            step("after", "MESSAGE", {"trigger_type": "EVENT", "event": "reply"}, message_template="Thanks."),
        ),
    )
    waiting = advance(program, EnrollmentState(enrolled_at=START), Enrolled(), START)
    later = advance(program, waiting.state, Tick(), START + timedelta(days=30))
    other_words = advance(program, waiting.state, Reply("not yet"), START)
    ready = advance(program, waiting.state, Reply("I'm READY now"), START)
    any_reply = advance(program, ready.state, Reply("ok"), START)

    assert waiting.state.due_at is None and later.actions == ()
    assert not other_words.consumed and other_words.actions == ()
    assert ready.consumed and [a.step.name for a in ready.actions if isinstance(a, Deliver)] == ["go"]
    assert [a.step.name for a in any_reply.actions if isinstance(a, Deliver)] == ["after"]


def test_a_condition_loop_without_a_wait_cannot_spin_forever() -> None:
    program = ProgramSpec(
        "p", "Loop", (step("again", "CONDITION", condition="true", if_true="again", if_false="next"),)
    )

    decision = advance(program, EnrollmentState(enrolled_at=START), Enrolled(), START)

    # Stopped after the per-call limit (each pass evaluated the condition), to try again later.
    assert sum(isinstance(a, Evaluated) for a in decision.actions) == MAX_STEPS_PER_ADVANCE
    assert decision.state.status == "active"


def test_finished_enrolments_do_nothing() -> None:
    program = sample_program()
    done = EnrollmentState(enrolled_at=START, status="completed")

    assert advance(program, done, Tick(), START).actions == ()


def test_a_clock_time_step_missed_beyond_the_grace_moves_to_its_next_time() -> None:
    program = ProgramSpec(
        "p",
        "Daily",
        (
            step(
                "tip",
                "MESSAGE",
                {"trigger_type": "TIME_BASED", "schedule": "daily", "time": "08:00"},
                message_template="tip",
            ),
        ),
    )
    state = advance(program, EnrollmentState(enrolled_at=START), Enrolled(), START).state
    noon_three_days_later = START + timedelta(days=3, hours=2)  # the 08:00 tips were missed

    late = advance(program, state, Tick(), noon_three_days_later, grace=timedelta(hours=1))
    within = advance(program, state, Tick(), START + timedelta(days=1), grace=timedelta(hours=3))

    assert late.actions == ()
    assert late.state.due_at == datetime(2026, 3, 6, 8, 0, tzinfo=UTC)  # the next 08:00
    assert [type(a) for a in within.actions] == [Deliver, Completed]  # 2 h late: sent once
