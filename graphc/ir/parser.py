"""Parse the printer's text form back into a Graph: `str(parse(text)) == text` for printed graphs."""
from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from .. import dtypes
from ..errors import ParseError, ShapeError
from .buffers import Buffer, parse_buffer
from .graph import Graph, Node, TensorType, Value, tensor_type
from .ops import OPS

_TOKEN = re.compile(r"""
    (?P<ws>[ \t\r]+)
  | (?P<nl>\n)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<arrow><-)
  | (?P<value>%[A-Za-z0-9_.]+)
  | (?P<global>@[A-Za-z0-9_.+]+)
  | (?P<number>-?(?:inf|nan|\d+\.\d*(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+|\d+)(?![A-Za-z0-9_]))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[()\[\]{},:=<>])
""", re.VERBOSE)


class _Tok:
    __slots__ = ("kind", "text", "line", "col")

    def __init__(self, kind, text, line, col):
        self.kind, self.text, self.line, self.col = kind, text, line, col

    def __repr__(self):
        return f"{self.text!r}"


def _tokenize(text: str) -> list[_Tok]:
    toks, pos, line, line_start = [], 0, 1, 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ParseError(f"line {line}, column {pos - line_start + 1}: unexpected character "
                             f"{text[pos]!r}")
        kind = m.lastgroup
        if kind == "nl":
            line, line_start = line + 1, m.end()
        elif kind != "ws":
            toks.append(_Tok(kind, m.group(), line, pos - line_start + 1))
        pos = m.end()
    toks.append(_Tok("eof", "<end of text>", line, pos - line_start + 1))
    return toks


class _Parser:
    def __init__(self, text: str):
        self.toks = _tokenize(text)
        self.i = 0

    # -- token helpers ---------------------------------------------------------------------------
    def peek(self, skip_comments=True) -> _Tok:
        """The next token, not consumed (comments skipped unless skip_comments is False)."""
        j = self.i
        while skip_comments and self.toks[j].kind == "comment":
            j += 1
        return self.toks[j]

    def next(self) -> _Tok:
        """Consume and return the next token that is not a comment."""
        while self.toks[self.i].kind == "comment":
            self.i += 1
        t = self.toks[self.i]
        self.i += 1
        return t

    def error(self, tok: _Tok, msg: str) -> ParseError:
        """A ParseError for `msg` at `tok`'s line and column."""
        return ParseError(f"line {tok.line}, column {tok.col}: {msg} (found {tok.text!r})")

    def expect(self, text: str | None = None, kind: str | None = None) -> _Tok:
        """Consume the next token; raise unless it has this text and/or kind."""
        t = self.next()
        if (text is not None and t.text != text) or (kind is not None and t.kind != kind):
            raise self.error(t, f"expected {text or kind}")
        return t

    def accept(self, text: str) -> bool:
        """Consume the next token if its text is `text`; return whether it did."""
        if self.peek().text == text:
            self.next()
            return True
        return False

    # -- grammar ---------------------------------------------------------------------------------
    def parse_graph(self) -> Graph:
        """`graph @name(inputs) [state(...)] [arena(n)] { nodes return ... [updates(...)] }`."""
        self.expect("graph")
        g = Graph(self.expect(kind="global").text[1:])
        self.env: dict[str, Value] = {}
        self.expect("(")
        for name, t in self.typed_list(")"):
            self.define(name, g.add_input(name[1:], t))
        if self.accept("state"):
            self.expect("(")
            for name, t in self.typed_list(")"):
                if name in self.env:  # before add_state, which would raise a plain ValueError
                    raise self.error(self.toks[self.i - 1], f"{name} is defined twice")
                self.define(name, g.add_state(name[1:], t))
        if self.accept("arena"):
            self.expect("(")
            g.meta["arena"] = int(self.expect(kind="number").text)
            self.expect(")")
        self.expect("{")
        while self.peek().text != "return":
            self.parse_node(g)
        self.expect("return")
        if self.peek().kind == "value":
            g.outputs.append(self.use())
            while self.accept(","):
                g.outputs.append(self.use())
        if self.accept("updates"):
            self.expect("(")
            while True:
                t = self.expect(kind="value")
                if t.text[1:] not in g.state:
                    raise self.error(t, "update of a name that is not state")
                self.expect("<-")
                g.updates[t.text[1:]] = self.use()
                if not self.accept(","):
                    break
            self.expect(")")
        self.expect("}")
        return g

    def typed_list(self, close: str):
        """`%name: type` pairs separated by commas, up to the token `close`."""
        out = []
        if self.accept(close):
            return out
        while True:
            name = self.expect(kind="value")
            self.expect(":")
            out.append((name.text, self.parse_type()))
            if self.accept(close):
                return out
            self.expect(",")

    def define(self, name: str, v: Value, tok: _Tok | None = None):
        """Bind a value name; it is an error to define one twice."""
        if name in self.env:
            raise self.error(tok or self.toks[self.i - 1], f"{name} is defined twice")
        self.env[name] = v

    def use(self) -> Value:
        """The Value a `%name` token refers to (it must be defined already)."""
        t = self.expect(kind="value")
        try:
            return self.env[t.text]
        except KeyError:
            raise self.error(t, f"{t.text} is used before it is defined") from None

    def parse_type(self) -> TensorType:
        """A tensor type such as `f32[2,3]`."""
        t = self.expect(kind="ident")
        try:
            dt = dtypes.from_name(t.text)
        except KeyError:
            raise self.error(t, "unknown dtype") from None
        self.expect("[")
        dims = []
        if not self.accept("]"):
            while True:
                d = self.expect(kind="number")
                if not d.text.isdigit():
                    raise self.error(d, "a dimension must be a non-negative integer")
                dims.append(int(d.text))
                if self.accept("]"):
                    break
                self.expect(",")
        return tensor_type(dims, dt)

    def parse_node(self, g: Graph):
        """One node (`%r: type = op [attrs] operands [{ body }] # loc`), checked and added to g."""
        results, buffers = [], []
        while True:
            tok = self.expect(kind="value")
            self.expect(":")
            results.append((tok, self.parse_type()))
            buffers.append(self.next() if self.peek().kind == "global" else None)
            if not self.accept(","):
                break
        self.expect("=")
        optok = self.expect(kind="ident")
        opdef = OPS.get(optok.text)
        if opdef is None:
            raise self.error(optok, "unknown op")
        attrs = {}
        if self.peek().text == "[":
            self.next()
            while not self.accept("]"):
                key = self.expect(kind="ident")
                if key.text in attrs:
                    raise self.error(key, "attribute given twice")
                self.expect("=")
                attrs[key.text] = self.parse_attr()
                if self.peek().text != "]":
                    self.expect(",")
        inputs = []
        if self.peek().kind == "value" and self.peek().line == optok.line:
            inputs.append(self.use())
            while self.accept(","):
                inputs.append(self.use())
        body_open = self.peek().text == "{" and self.peek().line == optok.line
        if body_open:
            self.next()
        loc = None
        nxt = self.peek(skip_comments=False)
        if nxt.kind == "comment" and nxt.line == optok.line:
            loc = nxt.text[1:].strip() or None
            self.i += 1
        if body_open:
            outer_env = self.env
            attrs["body"] = self.parse_graph()
            self.env = outer_env
            self.expect("}")
        if optok.text == "constant" and "value" in attrs and not isinstance(attrs["value"], np.ndarray):
            attrs["value"] = self.constant_value(attrs["value"], results[0][1], optok)
        try:
            types = opdef.result_types([v.type for v in inputs], attrs)
        except ShapeError as e:
            raise self.error(optok, f"{optok.text}: {e}") from None
        except (KeyError, TypeError) as e:
            raise self.error(optok, f"{optok.text}: bad or missing attribute {e}") from None
        if [t for _, t in results] != types:
            raise self.error(optok, f"declared type {', '.join(str(t) for _, t in results)} but "
                                    f"{optok.text} gives {', '.join(map(str, types))}")
        node = g.add_node(Node(optok.text, inputs, attrs, types, loc))
        for (tok, _), v, buf in zip(results, node.outputs, buffers):
            self.define(tok.text, v, tok)
            if buf is not None:
                g.meta.setdefault("buffers", {})[v] = self.buffer(buf, g)

    def buffer(self, tok: _Tok, g: Graph) -> Buffer:
        """A result's `@location` (after its type) as a Buffer of graph `g`."""
        try:
            return parse_buffer(tok.text[1:], g.state, [v.name for v in g.inputs])
        except ValueError as e:
            raise self.error(tok, str(e)) from None

    def constant_value(self, raw, t: TensorType, tok: _Tok) -> np.ndarray:
        """A constant's literals as an array of type `t` (each of the dtype's kind, in range)."""
        flat = raw if isinstance(raw, tuple) else (raw,)
        if len(flat) != t.size:
            raise self.error(tok, f"constant of type {t} needs {t.size} elements, got {len(flat)}")
        # each element must be a literal of the dtype's kind: no silent truncation or wrap-around
        ok = ((lambda x: type(x) is bool) if t.dtype.is_bool else
              (lambda x: type(x) is int) if t.dtype.is_int else
              (lambda x: type(x) in (int, float)))
        bad = [x for x in flat if not ok(x)]
        if bad:
            raise self.error(tok, f"{bad[0]!r} is not a {t.dtype} literal")
        try:
            with np.errstate(over="raise"):  # 1e39 as f32 would silently become inf
                return np.array(flat, dtype=t.dtype.np).reshape(t.shape)
        except (OverflowError, FloatingPointError):
            raise self.error(tok, f"a value is out of range for {t.dtype}") from None

    def parse_attr(self) -> Any:
        """One attribute value: number, string, list, true/false/none, dense<type>[...] or dtype."""
        t = self.next()
        if t.kind == "number":
            return _number(t.text)
        if t.kind == "string":
            return json.loads(t.text)
        if t.text == "[":
            items = []
            while not self.accept("]"):
                items.append(self.parse_attr())
                if self.peek().text != "]":
                    self.expect(",")
            return tuple(items)
        if t.kind == "ident":
            if t.text in ("true", "false"):
                return t.text == "true"
            if t.text == "none":
                return None
            if t.text == "dense":
                self.expect("<")
                typ = self.parse_type()
                self.expect(">")
                items = self.parse_attr()
                if not isinstance(items, tuple):
                    raise self.error(t, "dense<...> needs a [list] of elements")
                return self.constant_value(items, typ, t)
            try:
                return dtypes.from_name(t.text)
            except KeyError:
                pass
        raise self.error(t, "expected an attribute value")


def _number(s: str):
    if any(c in s for c in ".eni"):  # float, inf, nan
        return float(s)
    return int(s)


def parse(text: str) -> Graph:
    """Read a graph printed by `print_graph` (or written by hand); ParseError names line and column."""
    p = _Parser(text)
    g = p.parse_graph()
    t = p.peek()
    if t.kind != "eof":
        raise p.error(t, "text after the end of the graph")
    return g
