"""Chat commands for a creator's knowledge: /upload (with a file) and /docs."""

from __future__ import annotations

from bot.commands import CommandContext, CommandRegistry, Reply
from bot.roles import CREATORS
from channels.base import AttachmentError
from coaching.documents import DocumentRejected


def register_knowledge_commands(registry: CommandRegistry) -> None:
    """Add /upload and /docs."""
    registry.command("upload", "teach me a document (send it with this caption)", CREATORS, slow=True)(upload)
    # slow: the knowledge base opens its own sessions, which a handler inside the answering transaction
    # must not do (on SQLite there is one connection, and it would wait for itself).
    registry.command("docs", "list the documents I answer from", CREATORS, slow=True)(docs)


async def upload(ctx: CommandContext) -> list[Reply]:
    """Ingest every document attached to the message, reporting each result."""
    files = [attachment for attachment in ctx.message.attachments if attachment.kind == "document"]
    if not files:
        return [Reply("Send the file with /upload as its caption (PDF, DOCX, TXT, Markdown or HTML).")]
    replies = []
    for attachment in files:
        name = attachment.file_name or "document"
        try:
            await ctx.progress(f"Reading {name}…")
            data = await ctx.services.fetch_attachment(ctx.message.channel, attachment)
            result = await ctx.services.knowledge.ingest(ctx.sender.creator.id, name, data)
        except (AttachmentError, DocumentRejected) as problem:
            replies.append(Reply(f"I couldn't learn from {name}: {problem.reason}"))
            continue
        document = result.document
        if result.outcome == "duplicate":
            text = f'I already know {name} (as "{document.title}") — nothing to do.'
        else:
            verb = "Updated" if result.outcome == "replaced" else "Learned"
            text = f'{verb} "{document.title}": {document.chunk_count} passages from {name}.'
            if document.warnings:
                text += " Note: " + " ".join(document.warnings)
        replies.append(Reply(text))
    return replies


async def docs(ctx: CommandContext) -> list[Reply]:
    """The documents the twin answers from."""
    documents = await ctx.services.knowledge.documents(ctx.sender.creator.id)
    if not documents:
        return [Reply("I don't have any documents yet. Send one with /upload as its caption.")]
    lines = [f"I answer from {len(documents)} document(s):"]
    lines += [
        f"• {d.title} ({d.filename}, {d.chunk_count} passages, {d.created_at:%Y-%m-%d})" for d in documents
    ]
    return [Reply("\n".join(lines))]
