"""Programs written in YAML (or JSON), imported with `python run.py programs import FILE`.

The file holds one program in the REST API's shape (`title`, `description`, `status`,
`quiet_hours`, `steps` with `step_name`, `step_type`, `trigger_config`, `action_config`); see
`config/programs/21_day_habits.yaml`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import yaml
from fastapi import HTTPException
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from programs.api import new_program
from programs.api_models import ProgramIn
from programs.models import Program


class ProgramFileError(ValueError):
    """A program file that cannot be imported; the message says where and why."""


def read_program_file(path: Path) -> ProgramIn:
    """Parse and validate a program file (YAML is a superset of JSON, so both work)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProgramFileError(f"{path}: cannot read it ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ProgramFileError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ProgramFileError(f"{path}: expected a program (a mapping with title and steps)")
    try:
        return ProgramIn.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise ProgramFileError(f"{path}: {problems}") from None


async def import_program(session: AsyncSession, creator_id: str, body: ProgramIn, now: datetime) -> Program:
    """Store a validated program for a creator."""
    try:
        program, steps = new_program(creator_id, body, now)
    except HTTPException as exc:
        raise ProgramFileError(str(exc.detail)) from None
    session.add(program)
    await session.flush()
    session.add_all(steps)
    return program
