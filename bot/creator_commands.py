"""A creator's commands: /claim (to become one), /forget, /personality, /ask, /program, and the
creator's view of /programs. (/upload and /docs are in `knowledge_commands`.)"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from bot.claim_codes import creator_for_code, wrong_attempts
from bot.commands import CommandContext, CommandError, CommandRegistry, Reply
from bot.lookups import find_program
from bot.models import ClaimAttempt, RoleGrant
from bot.roles import CREATORS, EVERYONE, Role
from coaching.citations import source_key
from coaching.models import KnowledgeDocument
from coaching.personality.profile import PersonalityProfile
from programs.analytics import program_analytics
from programs.models import Enrollment, Program, ProgramStep
from programs.runner import program_spec

ASK_PASSAGES_SHOWN = 5


def register_creator_commands(registry: CommandRegistry) -> None:
    """Add /claim, /forget, /personality, /ask and /program."""
    # Hidden: only a creator-to-be, who has a code from `run.py creators add`, needs it.
    registry.command("claim", "claim a creator role with its one-time code", EVERYONE, "CODE", hidden=True)(
        claim
    )
    # slow: the knowledge base, the personality service and the responder open their own sessions.
    registry.command("forget", "forget a document", CREATORS, "DOC", slow=True)(forget)
    registry.command(
        "personality",
        "your twin's personality profile (refresh: analyse again)",
        CREATORS,
        "[refresh]",
        slow=True,
    )(personality)
    registry.command(
        "ask", "test a question: the answer with its sources and scores", CREATORS, "QUESTION", slow=True
    )(ask)
    registry.command("program", "a program's steps, figures and diagram link", CREATORS, "NAME")(program)


async def claim(ctx: CommandContext) -> list[Reply]:
    """Make the sender the creator whose one-time claim code they send; the code is then spent.

    A wrong code is counted: after `COACH_CLAIM_ATTEMPTS` in an hour the person must wait.
    """
    ctx.audit.args = None  # the code is a secret: it stays out of the audit log
    code = ctx.args.strip()
    if not code:
        raise CommandError(f"Send the code you were given: {ctx.form('claim CODE')}.")
    if await wrong_attempts(ctx.db, ctx.sender.user.id, ctx.now) >= ctx.services.claims.attempts_per_hour:
        raise CommandError(
            "Too many wrong claim codes in the last hour. Please wait an hour, then try again."
        )
    creator = await creator_for_code(ctx.db, code, ctx.now)
    if creator is None:
        # Kept (a reply, not a CommandError, so the attempt is committed) to limit guessing.
        ctx.db.add(ClaimAttempt(user_id=ctx.sender.user.id, at=ctx.now))
        return [Reply("That claim code is not valid, or it was used already, or it expired.")]
    user = ctx.sender.user
    held = await ctx.db.scalar(
        select(RoleGrant.id).where(
            RoleGrant.user_id == user.id, RoleGrant.role == Role.CREATOR, RoleGrant.creator_id == creator.id
        )
    )
    if held is None:
        ctx.db.add(
            RoleGrant(
                user_id=user.id,
                role=Role.CREATOR,
                creator_id=creator.id,
                granted_by="claim code",
                created_at=ctx.now,
            )
        )
    user.creator_id = creator.id  # they now talk to (and test) their own twin
    creator.claim_code_hash = None  # one-time
    creator.claim_code_expires_at = None
    ctx.db.add_all([user, creator])
    ctx.audit.wanted = True
    ctx.audit.target = f"creator {creator.id}"
    ctx.audit.creator_id = creator.id
    return [
        Reply(
            f"Welcome, {creator.name}! You are now this twin's creator. Send a document with "
            f"{ctx.form('upload')} to teach it, and {ctx.form('help')} for your commands."
        )
    ]


async def forget(ctx: CommandContext) -> list[Reply]:
    """Remove one of the creator's documents (and every passage of it) from what the twin knows."""
    creator_id = ctx.sender.creator.id
    documents = await ctx.services.knowledge.documents(creator_id)
    document = _pick_document(documents, ctx.args, ctx.form("docs"))
    if not await ctx.services.knowledge.delete(creator_id, document.id):
        raise CommandError(f'"{document.title}" was already gone.')
    ctx.audit.target = f"document {document.title}"
    ctx.audit.detail = {"document_id": document.id, "filename": document.filename}
    return [
        Reply(f'Forgotten: "{document.title}" ({document.chunk_count} passages from {document.filename}).')
    ]


def _pick_document(documents: list[KnowledgeDocument], name: str, docs_form: str) -> KnowledgeDocument:
    name = name.strip()
    if not name:
        raise CommandError(f"Which document? {docs_form} lists them.")
    wanted = name.lower()
    for matches in (
        [d for d in documents if d.id == name],
        [d for d in documents if wanted in (d.title.lower(), d.filename.lower())],
        [d for d in documents if wanted in d.title.lower() or wanted in d.filename.lower()],
    ):
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            titles = ", ".join(f'"{d.title}" ({d.filename})' for d in matches)
            raise CommandError(f"More than one document matches {name!r}: {titles}.")
    raise CommandError(f"No document called {name!r}. {docs_form} lists them.")


async def personality(ctx: CommandContext) -> list[Reply]:
    """Show the twin's personality profile, or analyse the documents again (`refresh`)."""
    creator_id = ctx.sender.creator.id
    service = ctx.services.personality
    option = ctx.args.strip().lower()
    if option not in ("", "refresh"):
        raise CommandError(
            f"Use {ctx.form('personality')} to see the profile, {ctx.form('personality refresh')} to redo it."
        )
    if option == "refresh":
        await ctx.progress("Analysing your documents…")
        outcome = await service.analyze(creator_id, force=True)
        if outcome.status == "no_documents":
            raise CommandError(f"I need documents first: send one with {ctx.form('upload')}.")
        profile = outcome.profile
    else:
        profile = await service.current(creator_id)
    if profile is None:
        return [
            Reply(
                f"No profile yet. Upload documents with {ctx.form('upload')}; the profile follows by itself, "
                f"or ask for it with {ctx.form('personality refresh')}."
            )
        ]
    return [Reply(describe_profile(profile))]


def describe_profile(profile: PersonalityProfile) -> str:
    """A profile in a few lines: summary, dominant traits, methods, confidence and provenance."""
    traits = ", ".join(
        f"{trait.dimension} {trait.value:.2f} (confidence {trait.confidence:.2f})"
        for trait in profile.dominant_traits
    )
    lines = [
        f"Personality v{profile.version} ({profile.analyser}), confidence {profile.confidence_score:.2f}:",
        profile.personality_summary,
        f"Dominant traits: {traits or 'none measured'}",
    ]
    if profile.key_methodologies:
        lines.append("Methods: " + ", ".join(profile.key_methodologies))
    lines += [f"Note: {note}" for note in profile.notes]
    return "\n".join(lines)


async def ask(ctx: CommandContext) -> list[Reply]:
    """Answer as the twin would, then show every passage it was given with its relevance."""
    question = ctx.args.strip()
    if not question:
        raise CommandError(f"Ask a question: {ctx.form('ask How much sleep do I need?')}")
    creator = ctx.sender.creator
    answer = await ctx.services.responder.answer(
        creator_id=creator.id, creator_name=creator.name, question=question
    )
    # The reply's [n] are numbered as it cites them: list those sources under the same numbers, then
    # the other passages it was given, unnumbered, so no number points at something else.
    lines = [answer.text, ""]
    cited = {source_key(source) for source in answer.sources}
    for number, source in enumerate(answer.sources, start=1):
        where = f", {source.location}" if source.location else ""
        lines.append(f"[{number}] {source.document}{where} — relevance {source.relevance_score:.2f}")
    others = [p.source for p in answer.context if source_key(p.source) not in cited][:ASK_PASSAGES_SHOWN]
    if others:
        lines.append("Also considered (not cited):")
        for source in others:
            where = f", {source.location}" if source.location else ""
            lines.append(f"- {source.document}{where} — relevance {source.relevance_score:.2f}")
    if not answer.context:
        lines.append("No passage of your materials was relevant enough to use.")
    if answer.answerability is not None:
        verdict = "declined" if answer.declined else "answered"
        lines.append(f"Answerability {answer.answerability:.2f} ({verdict}).")
    took = answer.timings.get("total")
    lines.append(
        f"Answered by {answer.generator}" + (f" in {took / 1000:.1f} s." if took is not None else ".")
    )
    if answer.fallback_reason:
        lines.append(f"({answer.fallback_reason})")
    ctx.audit.detail = {"passages": len(answer.context), "cited": len(answer.sources)}
    return [Reply("\n".join(lines))]


async def creator_programs(ctx: CommandContext) -> list[Reply]:
    """The creator's programs, every status, with their enrolments by status."""
    rows = (
        await ctx.db.execute(
            select(Program.id, Program.title, Program.status, Enrollment.status, func.count(Enrollment.id))
            .join(Enrollment, Enrollment.program_id == Program.id, isouter=True)
            .where(Program.creator_id == ctx.sender.creator.id)
            .group_by(Program.id, Program.title, Program.status, Enrollment.status)
            .order_by(Program.title)
        )
    ).all()
    if not rows:
        return [Reply("You have no programs yet. Build one in the dashboard or with the REST API.")]
    programs: dict[str, tuple[str, str, Counter[str]]] = {}
    for program_id, title, status, enrollment_status, count in rows:
        entry = programs.setdefault(program_id, (title, status, Counter()))
        if enrollment_status is not None:
            entry[2][enrollment_status] += count
    lines = ["Your programs (enrolments):"]
    for title, status, counts in programs.values():
        figures = ", ".join(f"{counts[kind]} {kind}" for kind in ("active", "completed", "stopped"))
        lines.append(f"• {title} [{status}] — {figures}")
    lines.append(f"Details: {ctx.form('program NAME')}")
    return [Reply("\n".join(lines))]


async def program(ctx: CommandContext) -> list[Reply]:
    """One program: its steps in order with their timing, its figures, and where to see the diagram."""
    found = await find_program(ctx.db, ctx.sender.creator.id, ctx.args)
    steps = list(
        await ctx.db.scalars(
            select(ProgramStep).where(ProgramStep.program_id == found.id).order_by(ProgramStep.position)
        )
    )
    spec = program_spec(found, steps)
    figures = await program_analytics(ctx.db, found.id, ctx.now, time_range_days=30)
    lines = [f"{found.title} [{found.status}]" + (f" — {found.description}" if found.description else "")]
    lines.append(f"{len(spec.steps)} steps:")
    lines += [
        f"{index}. {step.name} ({step.type.value.lower()}, {step.trigger.describe()})"
        for index, step in enumerate(spec.steps, start=1)
    ]
    rate = figures["completion_rate"]
    lines.append(
        f"Last 30 days: {figures['enrollments']} enrolled, {figures['active_enrollments']} active, "
        f"{figures['completed_enrollments']} completed"
        + (f" ({rate:.0%} completion)" if rate is not None else "")
    )
    base = ctx.services.public_url.rstrip("/")
    lines.append(f"Diagram: {base}/dashboard#/programs/{found.id}")
    lines.append(f"Mermaid: {base}/api/v1/creators/programs/{found.id}/diagram?format=mermaid")
    ctx.audit.target = f"program {found.title}"
    return [Reply("\n".join(lines))]
