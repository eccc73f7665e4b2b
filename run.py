"""Coachline's one entry point: `python run.py` serves; `--help` lists the other commands."""

from __future__ import annotations

import asyncio
import getpass
import logging
import uuid
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from config import Settings, SettingsError, load_settings

cli = typer.Typer(
    help="Coachline: an AI twin for coaches on Telegram, Slack, SMS and the web.",
    no_args_is_help=False,
    add_completion=False,
)
creators_cli = typer.Typer(help="Manage creators (the coaches whose twins answer).")
cli.add_typer(creators_cli, name="creators")
console = Console(soft_wrap=True)  # the terminal wraps; hard breaks would spoil copy and paste


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        console.print(str(exc), style="red", markup=False, highlight=False)
        console.print("See config/.env.example for every setting.")
        raise typer.Exit(2) from None


def _logging(level: str) -> None:
    # Plain lines rather than a rich handler: logs are read in files and journals as often as on a tty.
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    # httpx logs every request at INFO; the outbox already says what matters.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _prepare_database(settings: Settings) -> None:
    from bot.db import DatabaseUnavailableError, prepare_database

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        asyncio.run(prepare_database(settings.resolved_database_url))
    except DatabaseUnavailableError as exc:
        console.print(str(exc), style="red", markup=False, highlight=False)
        raise typer.Exit(2) from None


@cli.callback(invoke_without_command=True)
def default(ctx: typer.Context) -> None:
    """With no command, serve."""
    if ctx.invoked_subcommand is None:
        serve()


@cli.command()
def serve() -> None:
    """Run the API, the web chat page, the enabled channels and the scheduler."""
    import uvicorn

    from bot.app import create_app
    from bot.runtime import Coachline
    from channels.registry import build_channels

    settings = _settings()
    _logging(settings.log_level)
    _prepare_database(settings)
    service = Coachline(settings, channels=build_channels(settings))
    app = create_app(service)
    console.print(f"Coachline: open http://{settings.host}:{settings.port}/ to chat (Ctrl-C stops).")
    uvicorn.run(
        app, host=settings.host, port=settings.port, log_level=settings.log_level.lower(), log_config=None
    )


@cli.command()
def chat(
    user: Annotated[str, typer.Option(help="your user id on the console channel")] = "",
    creator: Annotated[
        str, typer.Option(help="the creator id to talk to (default: the default creator)")
    ] = "",
) -> None:
    """Talk with a creator's twin in this terminal."""
    settings = _settings()
    _logging("WARNING" if settings.log_level == "INFO" else settings.log_level)
    _prepare_database(settings)
    asyncio.run(_chat(settings, user or getpass.getuser(), creator or None))


async def _chat(settings: Settings, user_id: str, creator_id: str | None) -> None:
    from bot.runtime import Coachline
    from channels.console import ConsoleChannel
    from channels.messages import ConversationReference, IncomingMessage, OutgoingMessage

    def show(message: OutgoingMessage) -> None:
        console.print(f"[bold green]twin>[/bold green] {message.text}", highlight=False)
        for source in message.sources:
            console.print(f"   [dim]source: {source.document} ({source.location})[/dim]", highlight=False)

    service = Coachline(settings, channels={"console": ConsoleChannel(show)})
    await service.start()
    try:
        llm = (await service.health())["llm"]
        creator_name = service.default_creator.name if service.default_creator else "the coach"
        console.print(f"Talking with {creator_name}'s twin as '{user_id}' (model: {llm['detail']}).")
        console.print("Type /help for commands, Ctrl-D to leave.")
        while True:
            try:
                text = await asyncio.to_thread(input, "you> ")
            except (EOFError, KeyboardInterrupt):
                console.print()
                return
            message = IncomingMessage(
                channel="console",
                user_id=user_id,
                conversation=ConversationReference("console", user_id, creator_id=creator_id),
                message_id=f"console:{uuid.uuid4().hex}",
                text=text,
                received_at=service.now(),
            )
            accepted = await service.receive(message)
            outcome = await service.wait_for_replies(accepted.inbox_id, settings.reply_wait_seconds)
            if not outcome.finished:
                console.print("[yellow](still thinking — the reply will show when it is ready)[/yellow]")
    finally:
        await service.stop()


@creators_cli.command("add")
def creators_add(name: str) -> None:
    """Add a creator and print its API key and one-time claim code."""
    settings = _settings()
    _prepare_database(settings)
    result = asyncio.run(_creators_add(settings, name))
    console.print(f"creator_id: {result[0]}\napi_key:    {result[1]}\nclaim_code: {result[2]}")
    console.print(
        "The key and code are shown only now. The creator sends the claim code in chat to claim the role."
    )


async def _creators_add(settings: Settings, name: str) -> tuple[str, str, str]:
    from bot.clock import SystemClock
    from bot.db import create_engine, session_factory
    from bot.identity import create_creator

    engine = create_engine(settings.resolved_database_url)
    try:
        async with session_factory(engine).begin() as session:
            new = await create_creator(session, name, SystemClock().now())
        return new.creator.id, new.api_key, new.claim_code
    finally:
        await engine.dispose()


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
    from bot.db import create_engine, session_factory
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


def main() -> None:
    """Console-script entry point."""
    cli()


if __name__ == "__main__":
    main()
