"""Reading a uv-compiled requirements.lock as blocks: one `name==version` line with its hashes.

make dev installs a lock minus its acme-* blocks (those come editable from libs/); the all-in-one
deployable installs the union of its services' locks, which is only defined when they agree on every pin.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s\\;]+)")
_HASH = re.compile(r"--hash=(sha256:[0-9a-f]{64})")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Block:
    name: str                 # canonical distribution name
    version: str
    lines: list[str] = field(default_factory=list)

    @property
    def hashes(self) -> list[str]:
        return _HASH.findall("\n".join(self.lines))

    @property
    def is_acme(self) -> bool:
        return self.name.startswith("acme-")


def blocks(text: str) -> list[Block]:
    """Every pinned requirement of a lock, with its continuation lines (hashes, `# via` comments)."""
    found: list[Block] = []
    for line in text.splitlines():
        m = _PIN.match(line)
        if m:
            found.append(Block(canonical(m.group(1)), m.group(3), [line]))
        elif found and line.startswith((" ", "\t")):
            found[-1].lines.append(line)
    return found


def render(pins: list[Block], header: str) -> str:
    return header + "".join("\n".join(b.lines) + "\n" for b in sorted(pins, key=lambda b: b.name))
