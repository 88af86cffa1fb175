"""The ten questions the warehouse answers (outputs.md), one SQL query over `analytics` each.

Each `qNN_<name>.sql` starts with a comment block of `-- title:`, `-- question:` and `-- reading:`
(how to read the answer); indented comment lines continue the entry above them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import sqlalchemy as sa

from warehouse.db import query

__all__ = ["QUESTIONS_DIR", "Question", "list_questions", "get_question", "ask"]

QUESTIONS_DIR = Path(__file__).parent
_ENTRY = re.compile(r"^--\s(\w+):\s*(.*)$")


@dataclass(frozen=True)
class Question:
    name: str
    title: str
    sql: str
    question: str = ""
    reading: str = ""


def _header(sql: str) -> dict[str, str]:
    """The `-- key: text` entries of the leading comment block."""
    entries: dict[str, str] = {}
    key = None
    for line in sql.splitlines():
        if not line.startswith("--"):
            break
        match = _ENTRY.match(line)
        if match:
            key = match.group(1)
            entries[key] = match.group(2).strip()
        elif key is not None and line[2:].strip():
            entries[key] += " " + line[2:].strip()
    return entries


def _load(path: Path) -> Question:
    sql = path.read_text(encoding="utf-8")
    header = _header(sql)
    return Question(name=path.stem, title=header["title"], sql=sql,
                    question=header.get("question", ""), reading=header.get("reading", ""))


def list_questions() -> list[Question]:
    """The questions in order (q01 .. q10)."""
    return [_load(path) for path in sorted(QUESTIONS_DIR.glob("q[0-9][0-9]_*.sql"))]


def get_question(name: str) -> Question:
    """By file name (`q03_wait_to_second_contact`) or number prefix (`q03`)."""
    for question in list_questions():
        if name in (question.name, question.name.split("_", 1)[0]):
            return question
    raise KeyError(f"no question {name!r}; known: {[q.name for q in list_questions()]}")


def ask(engine: sa.Engine, name: str) -> pa.Table:
    """Run one question against the warehouse."""
    return query(engine, get_question(name).sql)
