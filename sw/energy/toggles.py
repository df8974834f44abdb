"""Toggle counts from Verilator's toggle coverage, per net and per block of the design.

A model built with ``verilator --coverage-toggle`` counts, for every bit of every
signal, its 0->1 and 1->0 transitions at settled values (zero delay: glitches inside
a cycle are not seen). `read_coverage` reads the ``coverage.dat`` it writes;
`physical_nets` keeps one name per net of the generated Verilog (a submodule's input
port, a wire that only renames another, the parent's copy of a submodule's output and
the clock are the same wire as something already counted, or counted elsewhere);
`classify` sums the kept counts into blocks by name patterns (`BLOCK_PATTERNS`).

Names are Amaranth's hierarchical paths (``top.core.acc_0_3``): a block is found by a
regular expression over them, never by a list of signals, so a changed design is
classified the same way, and a block whose pattern matches nothing raises.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

# Blocks of the device (hdl.top.Top), each a regular expression over a net's full path
# ``<instance path>.<signal>``, tried in order: a net belongs to the first that matches.
# "decode" is the array edge (accepted operands, decoded weights, SPx/codebook tables).
# The PE datapath is three blocks: the operands spread to the PEs and the products
# ("pe_operands"), the multipliers of the uniform and codebook modes ("pe_multiplier")
# and the shifts and adds of SPx ("pe_shift_add"). A design that decodes every mode has
# both kinds; a design built for one mode only one of them.
BLOCK_PATTERNS: dict[str, str] = {
    "decode": r"^top\.core\.(x_accepted|codes_accepted|x_decoded|x_negated_\d|weight_\d"
    r"|spx_\d|table_|mode_)",
    "pe_multiplier": r"^top\.core\.(multiplier|mul_)",
    "pe_shift_add": r"^top\.core\.(spx_spread|x_negated_spread|term_)",
    "pe_operands": r"^top\.core\.(x_spread|product_)",
    "accumulators": r"^top\.core\.acc_",
    "drain_requant": r"^top\.core\.(drain|requantizer|output_fifo|result|reserved)",
    "buffers": r"^top\.(activations|weights|sequencer\.queue|act_data)",
    "protocol": r"^top\.(receiver|responder|layer_loader|run_loader|serializer|rx_stage"
    r"|tx_stage|events|counter|rx__|tx__|payload)",
    "control": r"^top\.(core|sequencer)\.",
}
OTHER = "other"  # nets no pattern claims (reported, never dropped)
CLOCK_NAMES = ("clk",)  # counted by the clock-tree term of the energy model, not here
# Blocks of the core proper (what a "core" energy counts); the rest serve the link.
CORE_BLOCKS = (
    "decode", "pe_multiplier", "pe_shift_add", "pe_operands", "accumulators", "drain_requant",
    "buffers", "control",
)  # fmt: skip
PE_BLOCKS = ("pe_multiplier", "pe_shift_add", "pe_operands")
# Blocks a design may lack (one kind of PE), as long as it has one of them.
ALTERNATIVE_BLOCKS = ("pe_multiplier", "pe_shift_add")


@dataclass(frozen=True)
class NetToggles:
    """Transitions of one bit of one net: ``path`` is ``<instance path>.<signal>``."""

    path: str
    bit: int | None
    rises: int
    falls: int
    owner: str = ""  # the net whose block this one is counted in (itself if empty)

    @property
    def toggles(self) -> int:
        return self.rises + self.falls


_FIELD = re.compile("\x01([^\x02]+)\x02([^\x01]*)")
_LINE = re.compile(r"^C '(.*)' (\d+)$")
_POINT = re.compile(r"^(?P<name>.+?)(\[(?P<bit>\d+)\])?:(?P<edge>0->1|1->0)$")
_ENCODED = re.compile(r"__0([0-9a-fA-F]{2})")


def decode_verilator_name(name: str) -> str:
    """Verilator's encoded identifier back to the Verilog one (``__0241`` -> ``$1``,
    ``rx___05Fvalid`` -> ``rx__valid``)."""
    return _ENCODED.sub(lambda match: chr(int(match.group(1), 16)), name)


def read_coverage(path: Path) -> list[NetToggles]:
    """The toggle points of a Verilator ``coverage.dat``, rises and falls per bit."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"coverage file {path} does not exist (was the model run?)")
    counts: dict[tuple[str, int | None], list[int]] = defaultdict(lambda: [0, 0])
    lines = path.read_text(errors="replace").splitlines()
    if not lines or not lines[0].startswith("# SystemC::Coverage"):
        raise ValueError(f"{path} is not a Verilator coverage file (no SystemC::Coverage header)")
    for number, line in enumerate(lines[1:], start=2):
        match = _LINE.match(line)
        if match is None:
            raise ValueError(f"{path}:{number}: malformed coverage line {line[:80]!r}")
        fields = dict(_FIELD.findall(match.group(1)))
        if fields.get("t") != "toggle":
            continue
        point = _POINT.match(fields.get("o", ""))
        hierarchy = fields.get("h", "")
        if point is None or not hierarchy.startswith("TOP."):
            raise ValueError(f"{path}:{number}: unexpected toggle point {fields.get('o')!r}")
        name = decode_verilator_name(point.group("name"))
        key = (f"{hierarchy[len('TOP.') :]}.{name}", _bit(point.group("bit")))
        counts[key][0 if point.group("edge") == "0->1" else 1] += int(match.group(2))
    if not counts:
        raise ValueError(f"{path} has no toggle points: build the model with --coverage-toggle")
    return [NetToggles(p, bit, rises, falls) for (p, bit), (rises, falls) in counts.items()]


def _bit(text: str | None) -> int | None:
    return None if text is None else int(text)


# ---- which names are physical nets -----------------------------------------------------------

_MODULE = re.compile(r"^module\s+(\\\S+|\w+)\s*\(", re.M)
_DECLARATION = re.compile(r"^\s*(input|output|inout)\s+(?:\[[^\]]+\]\s+)?(\\\S+|\w+)\s*;", re.M)
_ASSIGN = re.compile(r"^\s*assign\s+(\\\S+|\w+)\s*=\s*(.+?);\s*$", re.M)
_INSTANCE = re.compile(r"^\s*(\\\S+|\w+)\s+(\\\S+|\w+)\s*\((.*?)\);", re.M | re.S)
_CONNECTION = re.compile(r"\.(\\\S+|\w+)\s*\(\s*([^()]*?)\s*\)")
# An expression that only renames bits: identifiers, slices, constants, concatenations.
_ALIAS_TERM = r"(?:\\\S+\s*|[A-Za-z_$][\w$]*)(?:\s*\[\d+(?::\d+)?\])?|\d+'[bhdo][0-9a-fA-FxzXZ_]+"
_ALIAS = re.compile(
    rf"^\s*(?:{_ALIAS_TERM}|\{{\s*(?:{_ALIAS_TERM})(?:\s*,\s*(?:{_ALIAS_TERM}))*\s*\}})\s*$"
)


_NEXT_STATE = re.compile(r"^\s*(\\\S+|\w+)\s*<=\s*(\\\$\S+)\s*;", re.M)
_IDENTIFIER = re.compile(r"\\\S+|(?<![\w$'])[A-Za-z_$][\w$]*")


def _name(token: str) -> str:
    return token[1:].strip() if token.startswith("\\") else token.strip()


@dataclass
class _Module:
    inputs: set[str]
    outputs: set[str]
    aliases: set[str]
    anonymous: dict[str, list[str]]  # Yosys-named ($N) wire -> the names its expression reads
    instances: list[tuple[str, str, dict[str, str]]]  # (module, instance, port -> expression)


def _parse_modules(verilog: str) -> dict[str, _Module]:
    starts = [(m.start(), _name(m.group(1))) for m in _MODULE.finditer(verilog)]
    modules = {}
    for index, (start, name) in enumerate(starts):
        end = starts[index + 1][0] if index + 1 < len(starts) else len(verilog)
        body = verilog[start:end]
        header_end = body.index(";") + 1
        inner = body[header_end:]
        declarations = [(kind, _name(token)) for kind, token in _DECLARATION.findall(inner)]
        assigns = _ASSIGN.findall(inner)
        aliases = {_name(lhs) for lhs, rhs in assigns if _ALIAS.match(rhs)}
        anonymous = {
            _name(lhs): [_name(token) for token in _IDENTIFIER.findall(rhs)]
            for lhs, rhs in assigns
            if _name(lhs).startswith("$")
        }
        # A register's next state (``acc_0_0 <= $263;``) belongs with the register.
        for register, next_state in _NEXT_STATE.findall(inner):
            anonymous[_name(next_state)] = [_name(register)]
        instances = []
        for child, instance, ports in _INSTANCE.findall(inner):
            if child in ("module", "assign", "always", "initial", "if", "case", "begin"):
                continue
            connections = {_name(port): expr for port, expr in _CONNECTION.findall(ports)}
            instances.append((_name(child), _name(instance), connections))
        modules[name] = _Module(
            inputs={n for kind, n in declarations if kind == "input"},
            outputs={n for kind, n in declarations if kind == "output"},
            aliases=aliases,
            anonymous=anonymous,
            instances=instances,
        )
    if not modules:
        raise ValueError("no Verilog modules found in the design source")
    return modules


@dataclass
class NetMap:
    """What `physical_nets` found: nets to drop, and for each Yosys-named (``$N``) wire the
    named net whose block it is counted in."""

    dropped: set[str]
    owner: dict[str, str]


SYSTEM_FUNCTIONS = {"$signed", "$unsigned"}


def physical_nets(verilog: str, top: str = "top") -> NetMap:
    """Which nets of Amaranth's generated Verilog to count, and where.

    Dropped: every input port below the top (its parent's net), a parent's net that only
    carries a submodule's output (counted inside the submodule), and a wire assigned a
    plain rename of other bits (``assign a = count;``, a slice, a concatenation): each
    physical net is then counted once, where it is driven. A Yosys-named wire (``$59 =
    $58 << shift``, an adder, a mux) has no name of its own: it is counted with the named
    nets its expression reads (the most frequent one's block; the first on a tie).
    """
    modules = _parse_modules(verilog)
    if top not in modules:
        raise ValueError(f"the design has no top module {top!r}; modules: {sorted(modules)[:5]}")
    dropped: set[str] = set()
    owner: dict[str, str] = {}
    pending = [(top, modules[top])]
    while pending:
        path, module = pending.pop()
        dropped.update(f"{path}.{alias}" for alias in module.aliases)
        if path != top:
            dropped.update(f"{path}.{name}" for name in module.inputs)
        for anonymous in module.anonymous:
            named = _named_sources(anonymous, module, set())
            if named:
                owner[f"{path}.{anonymous}"] = _majority(path, named)
        for child_name, instance, connections in module.instances:
            child = modules.get(child_name)
            if child is None:
                continue  # a primitive (SB_MAC16, MULT18X18D): its model is not ours to count
            pending.append((f"{path}.{instance}", child))
            for port, expression in connections.items():
                if port in child.outputs and _ALIAS.match(expression):
                    base = re.match(r"\s*(\\\S+|[A-Za-z_$][\w$]*)", expression)
                    if base is not None:
                        dropped.add(f"{path}.{_name(base.group(1))}")
    return NetMap(dropped, owner)


def _named_sources(name: str, module: _Module, seen: set[str]) -> list[str]:
    """The named nets an anonymous wire's expression reads, through other anonymous ones."""
    if name in seen:
        return []
    seen.add(name)
    found = []
    for source in module.anonymous.get(name, []):
        if source in SYSTEM_FUNCTIONS:
            continue
        if source.startswith("$"):
            found += _named_sources(source, module, seen)
        else:
            found.append(source)
    return found


def _majority(path: str, named: list[str]) -> str:
    """The first of ``named`` whose block is the most frequent among them."""
    blocks = [block_of(f"{path}.{name}") for name in named]
    best = max(blocks, key=lambda block: (blocks.count(block), -blocks.index(block)))
    return f"{path}.{named[blocks.index(best)]}"


def block_of(path: str, patterns: dict[str, str] | None = None) -> str:
    """The block whose pattern first matches ``path`` (``"other"`` if none)."""
    for block, pattern in (patterns or BLOCK_PATTERNS).items():
        if re.search(pattern, path):
            return block
    return OTHER


def keep_physical(points: list[NetToggles], verilog: str, top: str = "top") -> list[NetToggles]:
    """The points of physical nets only (see `physical_nets`), clocks left out; an
    anonymous net's ``owner`` is the named net it is counted with."""
    nets = physical_nets(verilog, top)
    kept = []
    for point in points:
        signal = point.path.rsplit(".", 1)[-1]
        if point.path in nets.dropped or signal in CLOCK_NAMES:
            continue
        owner = nets.owner.get(point.path, point.path)
        kept.append(NetToggles(point.path, point.bit, point.rises, point.falls, owner))
    return kept


# ---- blocks ----------------------------------------------------------------------------------


def classify(
    points: list[NetToggles], patterns: dict[str, str] | None = None
) -> dict[str, dict[str, int]]:
    """Per block: ``{"toggles": sum of transitions, "bits": net bits}``; unclaimed nets go
    to ``"other"``. Raises ``ValueError`` naming every block whose pattern matched no net
    (a renamed design must be classified again, not reported with an empty block); of
    `ALTERNATIVE_BLOCKS` one is enough."""
    patterns = BLOCK_PATTERNS if patterns is None else patterns
    compiled = {block: re.compile(pattern) for block, pattern in patterns.items()}
    totals = {block: {"toggles": 0, "bits": 0} for block in [*patterns, OTHER]}
    for point in points:
        name = point.owner or point.path
        block = next((b for b, rx in compiled.items() if rx.search(name)), OTHER)
        totals[block]["toggles"] += point.toggles
        totals[block]["bits"] += 1
    empty = [block for block in patterns if totals[block]["bits"] == 0]
    if all(block in patterns for block in ALTERNATIVE_BLOCKS):
        if any(totals[block]["bits"] for block in ALTERNATIVE_BLOCKS):
            empty = [block for block in empty if block not in ALTERNATIVE_BLOCKS]
    if empty:
        detail = "; ".join(f"{block}: {patterns[block]!r}" for block in empty)
        raise ValueError(f"block patterns matched no net of the design ({detail})")
    return totals


def subtract(after: dict[str, dict[str, int]], before: dict[str, dict[str, int]]) -> dict:
    """Toggles of ``after`` minus ``before``, block by block (a differential run)."""
    return {block: after[block]["toggles"] - before[block]["toggles"] for block in after}


_REG = re.compile(
    r"^\s*reg\s+(?:signed\s+)?(?:\[(\d+):(\d+)\]\s+)?(\\\S+|\w+)\s*(\[[^\]]*\])?", re.M
)
_CLOCKED_ASSIGN = re.compile(r"^\s*(\\\S+|\w+)(?:\s*\[[^\]]*\])?\s*<=", re.M)


def register_bits(verilog: str) -> int:
    """Flip-flop bits of the design: registers assigned on a clock edge (``<=``), memories
    (arrays, which map to block RAM) left out. The clock tree reaches each one every cycle."""
    modules = re.split(r"^module\s", verilog, flags=re.M)[1:]
    if not modules:
        raise ValueError("no Verilog modules found in the design source")
    total = 0
    for body in modules:
        widths = {}
        for high, low, name, array in _REG.findall(body):
            if not array:
                widths[_name(name)] = abs(int(high) - int(low)) + 1 if high else 1
        clocked = {_name(name) for name in _CLOCKED_ASSIGN.findall(body)}
        total += sum(widths[name] for name in clocked if name in widths)
    return total
