"""The Dockerfile as stages of instructions (dockerfile-parse does the lexing), and its COPY instructions."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from dockerfile_parse import DockerfileParser


@dataclass
class Instruction:
    keyword: str
    value: str
    line: int


@dataclass
class Stage:
    name: str | None
    base: str  # with the global ARG defaults substituted
    platform: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def of(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


@dataclass
class Copy:
    sources: list[str]
    dest: str
    from_stage: str | None
    chmod: str | None
    line: int


def parse_stages(path: Path) -> list[Stage]:
    parser = DockerfileParser(str(path))
    resolved_bases = iter(parser.parent_images)  # one per FROM, global ARGs substituted
    stages: list[Stage] = []
    for item in parser.structure:
        keyword = item["instruction"]
        if keyword == "COMMENT":
            continue
        if keyword == "FROM":
            words = item["value"].split()
            platform = next((w.split("=", 1)[1] for w in words if w.startswith("--platform=")), None)
            words = [w for w in words if not w.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(name=name, base=next(resolved_bases), platform=platform))
        elif stages:
            stages[-1].instructions.append(Instruction(keyword, item["value"], item["startline"] + 1))
    return stages


def parse_copy(instruction: Instruction) -> Copy:
    """Splits `COPY [--flag=value ...] SRC... DEST` (shell or JSON form)."""
    words = shlex.split(instruction.value)
    flags = {}
    while words and words[0].startswith("--"):
        key, _, value = words.pop(0)[2:].partition("=")
        flags[key] = value
    if words and words[0].startswith("["):
        words = json.loads(" ".join(words))
    if len(words) < 2:
        raise ValueError(f"line {instruction.line}: COPY needs a source and a destination: {instruction.value!r}")
    return Copy(words[:-1], words[-1], flags.get("from"), flags.get("chmod"), instruction.line)


def expand(value: str, env: dict[str, str]) -> str:
    """Expands $VAR and ${VAR} the way Dockerfile instructions do (no defaults/modifiers needed here)."""
    out = value
    for key in sorted(env, key=len, reverse=True):
        out = out.replace("${" + key + "}", env[key]).replace("$" + key, env[key])
    if "$" in out:
        raise ValueError(f"unresolved variable in {value!r}")
    return out
