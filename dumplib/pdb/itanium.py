"""Demangle Itanium C++ ABI names (``_ZN13ThreadpoolMgr4PostEPv``), as GCC/clang emit them.

MinGW-built images (and PDBs that lld writes for them) name C++ functions
with Itanium-mangled names. :func:`demangle` turns them into what
``c++filt`` prints: with ``params=False`` the qualified name alone
(``ThreadpoolMgr::Post``, ``c++filt -p``), otherwise the full signature
(``ThreadpoolMgr::Post(void*)``).

Handled: nested and unscoped names, ``std::`` and the standard
abbreviations (``St``, ``Sa``, ``Sb``, ``Ss``, ``Si``, ``So``, ``Sd``),
substitutions and template parameters, template arguments (types, integer
and boolean literals, packs), constructors and destructors, operators
(including conversion operators), ABI tags, anonymous namespaces, local
names, builtin and qualified types, pointers, references, arrays,
function and member pointers, and the special names (vtable, VTT,
typeinfo, typeinfo name, guard variables, thunks, transaction clones).

Not handled (the name is returned unchanged): expressions in template
arguments or types (``decltype``, ``X...E``), lambdas and unnamed types
(``Ul``/``Ut``), vendor-extended qualifiers and clone suffixes that follow
a failed parse.
"""

from __future__ import annotations

from dumplib.pdb._cursor import Cursor
from dumplib.pdb._cursor import DemangleFail as _Fail

__all__ = ["demangle", "is_itanium"]

MAX_DEPTH = 64
MAX_LENGTH = 4096

_BUILTINS = {
    "v": "void",
    "w": "wchar_t",
    "b": "bool",
    "c": "char",
    "a": "signed char",
    "h": "unsigned char",
    "s": "short",
    "t": "unsigned short",
    "i": "int",
    "j": "unsigned int",
    "l": "long",
    "m": "unsigned long",
    "x": "long long",
    "y": "unsigned long long",
    "n": "__int128",
    "o": "unsigned __int128",
    "f": "float",
    "d": "double",
    "e": "long double",
    "g": "__float128",
    "z": "...",
}
_D_BUILTINS = {
    "n": "decltype(nullptr)",
    "i": "char32_t",
    "s": "char16_t",
    "u": "char8_t",
    "a": "auto",
    "c": "decltype(auto)",
    "f": "decimal32",
    "d": "decimal64",
    "e": "decimal128",
    "h": "half",
}
_OPERATORS = {
    "nw": "new",
    "na": "new[]",
    "dl": "delete",
    "da": "delete[]",
    "ps": "+",
    "ng": "-",
    "ad": "&",
    "de": "*",
    "co": "~",
    "pl": "+",
    "mi": "-",
    "ml": "*",
    "dv": "/",
    "rm": "%",
    "an": "&",
    "or": "|",
    "eo": "^",
    "aS": "=",
    "pL": "+=",
    "mI": "-=",
    "mL": "*=",
    "dV": "/=",
    "rM": "%=",
    "aN": "&=",
    "oR": "|=",
    "eO": "^=",
    "ls": "<<",
    "rs": ">>",
    "lS": "<<=",
    "rS": ">>=",
    "eq": "==",
    "ne": "!=",
    "lt": "<",
    "gt": ">",
    "le": "<=",
    "ge": ">=",
    "ss": "<=>",
    "nt": "!",
    "aa": "&&",
    "oo": "||",
    "pp": "++",
    "mm": "--",
    "cm": ",",
    "pm": "->*",
    "pt": "->",
    "cl": "()",
    "ix": "[]",
    "qu": "?",
}
_STD_SUBS = {
    "a": "std::allocator",
    "b": "std::basic_string",
    "s": "std::basic_string<char, std::char_traits<char>, std::allocator<char> >",
    "i": "std::basic_istream<char, std::char_traits<char> >",
    "o": "std::basic_ostream<char, std::char_traits<char> >",
    "d": "std::basic_iostream<char, std::char_traits<char> >",
}
_LITERAL_SUFFIX = {"j": "u", "l": "l", "m": "ul", "x": "ll", "y": "ull"}




class _T:
    """A type split around its declarator position (see ``undname._Type``)."""

    __slots__ = ("kind", "left", "right")

    def __init__(self, left: str, right: str = "", kind: str = "plain") -> None:
        self.left = left
        self.right = right
        self.kind = kind

    def text(self) -> str:
        if self.kind == "func" and not self.left.endswith(("*", "&", "(")):
            return f"{self.left} {self.right}"
        return self.left + self.right


def _template(name: str, args: list[str]) -> str:
    body = ", ".join(args)
    return f"{name}<{body}{' ' if body.endswith('>') else ''}>"


def _indirect(inner: _T, sym: str) -> _T:
    """A pointer or reference (``sym``, possibly ``A::*``) to ``inner``."""
    if inner.kind == "plain":
        return _T(inner.left + sym)
    if inner.kind == "group":
        return _T(inner.left + sym, inner.right, "group")
    sep = "" if inner.left.endswith(("*", "&", "(")) else " "
    return _T(f"{inner.left}{sep}({sym}", f"){inner.right}", "group")


def _qualify(inner: _T, quals: str) -> _T:
    return _T(inner.left + quals, inner.right, inner.kind)


class _Parser(Cursor):
    __slots__ = ("capture", "depth", "local", "subs", "tparams")

    def __init__(self, s: str) -> None:
        super().__init__(s)
        self.subs: list[_T] = []
        self.tparams: list[str] = []
        self.depth = 0
        self.local = 0  # inside a local name's encoding: parameters end at ``E``
        self.capture = False  # template arguments parsed now are the function's parameters

    # -- low level

    def number(self) -> int:
        neg = self.consume("n")
        start = self.pos
        while self.pos < len(self.s) and self.s[self.pos].isdigit():
            self.pos += 1
        if start == self.pos:
            raise _Fail("number expected")
        value = int(self.s[start : self.pos])
        return -value if neg else value

    def seq_id(self) -> int:
        """A base-36 sequence id terminated by ``_`` (``_`` alone is 0)."""
        if self.consume("_"):
            return 0
        value = 0
        while True:
            c = self.take()
            if c == "_":
                return value + 1
            if c.isdigit():
                value = value * 36 + int(c)
            elif "A" <= c <= "Z":
                value = value * 36 + ord(c) - 55
            else:
                raise _Fail("bad sequence id")

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _Fail("nested too deeply")

    def add_sub(self, t: _T) -> None:
        if len(self.subs) < 4096:
            self.subs.append(t)

    # -- names

    def source_name(self) -> str:
        length = self.number()
        if length <= 0 or self.pos + length > len(self.s):
            raise _Fail("bad source name")
        name = self.take(length)
        if name.startswith("_GLOBAL__N"):
            return "(anonymous namespace)"
        return name

    def abi_tags(self, name: str) -> str:
        while self.consume("B"):
            name += f"[abi:{self.source_name()}]"
        return name

    def unqualified(self, enclosing: str | None) -> tuple[str, str]:
        """One name component: (text, kind) with kind ``name``, ``ctor``, ``dtor``, ``conv``."""
        c = self.peek()
        if c.isdigit():
            return self.abi_tags(self.source_name()), "name"
        if c == "L" and self.peek(2)[1:].isdigit():  # internal linkage marker
            self.take()
            return self.abi_tags(self.source_name()), "name"
        if c == "C" and self.peek(2)[1:] in ("1", "2", "3", "4", "5", "I"):
            self.take(2)
            if self.s[self.pos - 1] == "I":
                self.take()
                self.type_()
            if enclosing is None:
                raise _Fail("constructor outside a class")
            return self.abi_tags(_base_name(enclosing)), "ctor"
        if c == "D" and self.peek(2)[1:] in ("0", "1", "2", "4", "5"):
            self.take(2)
            if enclosing is None:
                raise _Fail("destructor outside a class")
            return self.abi_tags("~" + _base_name(enclosing)), "dtor"
        if c.islower():
            code = self.take(2)
            if code == "cv":
                saved = self.tparams
                target = self.type_().text()
                self.tparams = saved
                return f"operator {target}", "conv"
            if code == "li":
                return f'operator"" {self.source_name()}', "name"
            if code[0] == "v" and code[1].isdigit():
                return f"operator {self.source_name()}", "name"
            if code not in _OPERATORS:
                raise _Fail("unknown operator")
            op = _OPERATORS[code]
            return ("operator " + op if op[0].isalpha() else "operator" + op), "name"
        raise _Fail(f"unknown name component {c!r}")

    def template_args(self) -> list[str]:
        """After ``I``: arguments up to ``E``."""
        self.enter()
        capture, self.capture = self.capture, False
        args: list[str] = []
        while not self.consume("E"):
            arg = self.template_arg()
            if arg:  # an empty pack adds nothing
                args.append(arg)
            if len(args) > 256:
                raise _Fail("too many template arguments")
        self.capture = capture
        if capture:
            self.tparams = args
        self.depth -= 1
        return args

    def template_arg(self) -> str:
        if self.consume("L"):
            return self.literal()
        if self.consume("J"):
            parts: list[str] = []
            while not self.consume("E"):
                parts.append(self.template_arg())
            return ", ".join(p for p in parts if p)
        if self.peek() == "X":
            raise _Fail("expressions are not handled")
        return self.type_().text()

    def literal(self) -> str:
        """After ``L``: ``<type> <value> E`` or ``_Z <encoding> E``."""
        if self.consume("_Z"):
            text = self.encoding(params=False)
            if not self.consume("E"):
                raise _Fail("unterminated literal")
            return "&" + text
        code = self.take()
        if code == "b":
            value = self.number()
            self.take()
            return "true" if value else "false"
        if code in _BUILTINS and code not in "fdegv":
            value = self.number()
            if not self.consume("E"):
                raise _Fail("unterminated literal")
            if code in ("i", "s", "c", "a", "h", "t"):
                return str(value)
            return f"{value}{_LITERAL_SUFFIX.get(code, '')}"
        raise _Fail("literal kind not handled")

    def substitution(self) -> _T:
        """After ``S``: a substitution reference or a standard abbreviation."""
        c = self.peek()
        if c in _STD_SUBS:
            self.take()
            return _T(_STD_SUBS[c])
        index = self.seq_id()
        if index >= len(self.subs):
            raise _Fail("bad substitution")
        return self.subs[index]

    def template_param(self) -> str:
        """After ``T``."""
        index = self.seq_id()
        if index >= len(self.tparams):
            raise _Fail("bad template parameter")
        return self.tparams[index]

    def nested_name(self) -> tuple[str, str, str]:
        """After ``N``: (qualified name, kind of last component, function qualifiers)."""
        self.enter()
        quals = ""
        while self.peek() in ("r", "V", "K"):
            quals += {"r": " restrict", "V": " volatile", "K": " const"}[self.take()]
        if self.consume("R"):
            quals += " &"
        elif self.consume("O"):
            quals += " &&"
        so_far: str | None = None
        kind = "name"
        while not self.consume("E"):
            if self.pos >= len(self.s):
                raise _Fail("unterminated nested name")
            c = self.peek()
            if c == "S" and self.peek(2) != "St":
                self.take()
                so_far = self.substitution().text()
                kind = "name"
                continue
            if c == "S":
                self.take(2)
                so_far = "std"  # not a substitution candidate
                kind = "name"
                continue
            if c == "I":
                if so_far is None:
                    raise _Fail("template arguments without a name")
                self.take()
                so_far = _template(so_far, self.template_args())
            elif c == "T":
                self.take()
                so_far = self.template_param()
            else:
                part, kind = self.unqualified(so_far)
                so_far = part if so_far is None else f"{so_far}::{part}"
            self.add_sub(_T(so_far))
        if so_far is None:
            raise _Fail("empty nested name")
        if self.subs:
            self.subs.pop()
        self.depth -= 1
        return so_far, kind, quals

    def name(self) -> tuple[str, str, str, bool]:
        """(name, kind, function qualifiers, is a template instance)."""
        c = self.peek()
        if c == "N":
            self.take()
            text, kind, quals = self.nested_name()
            return text, kind, quals, text.endswith(">") and kind not in ("ctor", "dtor", "conv")
        if c == "Z":
            self.take()
            self.local += 1
            capture = self.capture
            outer = self.encoding(params=True)
            self.capture = capture
            self.local -= 1
            if not self.consume("E"):
                raise _Fail("bad local name")
            if self.consume("s"):
                inner = "string literal"
            else:
                inner, _kind, _q, _t = self.name()
            if self.consume("_"):
                if self.peek().isdigit():
                    self.take()
                elif self.consume("_"):
                    self.number()
                    self.consume("_")
            return f"{outer}::{inner}", "name", "", False
        if c == "S" and self.peek(2) == "St":
            self.take(2)
            part, kind = self.unqualified(None)
            text = "std::" + part
        elif c == "S":
            self.take()
            text = self.substitution().text()
            if not self.consume("I"):
                return text, "name", "", False
            return _template(text, self.template_args()), "name", "", True
        else:
            text, kind = self.unqualified(None)
        if self.consume("I"):
            self.add_sub(_T(text))
            args = self.template_args()
            return _template(text, args), kind, "", kind not in ("ctor", "dtor", "conv")
        return text, kind, "", False

    # -- types

    def type_(self) -> _T:
        self.enter()
        try:
            return self._type()
        finally:
            self.depth -= 1

    def _type(self) -> _T:
        c = self.take()
        if c in _BUILTINS:
            return _T(_BUILTINS[c])
        if c == "u":
            return _T(self.source_name())
        if c in ("r", "V", "K"):
            quals = {"r": " restrict", "V": " volatile", "K": " const"}[c]
            while self.peek() in ("r", "V", "K"):
                quals = {"r": " restrict", "V": " volatile", "K": " const"}[self.take()] + quals
            t = _qualify(self.type_(), quals)
            self.add_sub(t)
            return t
        if c in ("P", "R", "O"):
            t = _indirect(self.type_(), {"P": "*", "R": "&", "O": "&&"}[c])
            self.add_sub(t)
            return t
        if c == "F":
            self.consume("Y")
            ret = self.type_()
            params = self.params(end="E")
            if ret.kind == "plain":
                t = _T(ret.left, params, "func")
            else:  # returns a pointer to a function or array: ``int (*(params))()``
                t = _T(ret.left, params + ret.right, "func")
            self.add_sub(t)
            return t
        if c == "A":
            size = "" if self.peek() == "_" else str(self.number())
            if not self.consume("_"):
                raise _Fail("bad array")
            inner = self.type_()
            right = inner.right.lstrip() if inner.kind == "array" else inner.right
            t = _T(
                inner.left,
                f" [{size}]" + (right if inner.kind == "array" else inner.right),
                "array",
            )
            self.add_sub(t)
            return t
        if c == "M":
            cls = self.type_().text()
            inner = self.type_()
            t = _indirect(inner, f"{cls}::*" if inner.kind != "plain" else f" {cls}::*")
            self.add_sub(t)
            return t
        if c == "T":
            t = _T(self.template_param())
            self.add_sub(t)
            if self.peek() == "I":
                self.take()
                t = _T(_template(t.text(), self.template_args()))
                self.add_sub(t)
            return t
        if c == "S":
            if self.peek() == "t":
                self.pos -= 1
                text, _kind, _q, _t = self.name()
                t = _T(text)
                self.add_sub(t)
                return t
            t = self.substitution()
            if self.peek() == "I":
                self.take()
                t = _T(_template(t.text(), self.template_args()))
                self.add_sub(t)
            return t
        if c == "D":
            k = self.take()
            if k in _D_BUILTINS:
                return _T(_D_BUILTINS[k])
            if k == "p":
                return self.type_()
            raise _Fail("D type not handled")
        if c == "N" or c.isdigit() or c == "Z":
            self.pos -= 1
            text, _kind, _q, _t = self.name()
            t = _T(text)
            self.add_sub(t)
            return t
        raise _Fail(f"unknown type {c!r}")

    def params(self, end: str | None) -> str:
        types: list[str] = []
        while self.pos < len(self.s) and (end is None or self.peek() != end):
            if self.peek() == "." or (end is None and self.local and self.peek() == "E"):
                break
            if self.peek() in ("R", "O") and end == "E" and self.peek(2)[1:] == "E":
                self.take()  # ref-qualifier of a function type
                continue
            types.append(self.type_().text())
            if len(types) > 256:
                raise _Fail("too many parameters")
        if end is not None and not self.consume(end):
            raise _Fail("unterminated parameters")
        if types == ["void"]:
            types = []
        return "(" + ", ".join(types) + ")"

    # -- top level

    def encoding(self, *, params: bool) -> str:
        if self.consume("T"):
            return self.special_t()
        if self.consume("GTt"):
            return "transaction clone for " + self.encoding(params=True)
        if self.consume("GV"):
            return "guard variable for " + self.name()[0]
        if self.consume("GR"):
            return "reference temporary for " + self.name()[0]
        self.capture = True
        text, _kind, quals, is_template = self.name()
        self.capture = False
        if self.pos >= len(self.s) or self.peek() in ("E", "."):
            return text
        ret = ""
        if is_template:
            ret = self.type_().text()
        sig = self.params(end=None)
        if not params:
            return text
        full = f"{text}{sig}{quals}"
        return f"{ret} {full}" if ret else full

    def special_t(self) -> str:
        c = self.take()
        labels = {
            "V": "vtable for ",
            "T": "VTT for ",
            "I": "typeinfo for ",
            "S": "typeinfo name for ",
        }
        if c in labels:
            return labels[c] + self.type_().text()
        if c == "h":
            self.number()
            if not self.consume("_"):
                raise _Fail("bad thunk")
            return "non-virtual thunk to " + self.encoding(params=True)
        if c == "v":
            self.number()
            self.consume("_")
            self.number()
            if not self.consume("_"):
                raise _Fail("bad thunk")
            return "virtual thunk to " + self.encoding(params=True)
        raise _Fail("special name not handled")


def _base_name(qualified: str) -> str:
    """The last component of ``qualified`` without template arguments."""
    depth = 0
    end = len(qualified)
    if qualified.endswith(">"):
        for i in range(len(qualified) - 1, -1, -1):
            if qualified[i] == ">":
                depth += 1
            elif qualified[i] == "<":
                depth -= 1
                if depth == 0:
                    end = i
                    break
    head = qualified[:end]
    depth = 0
    for i in range(len(head) - 1, 0, -1):
        if head[i] == ">":
            depth += 1
        elif head[i] == "<":
            depth -= 1
        elif depth == 0 and head[i] == ":" and head[i - 1] == ":":
            return head[i + 1 :]
    return head


def is_itanium(name: str) -> bool:
    """Whether ``name`` looks like an Itanium-mangled C++ name (``_Z...``)."""
    return name.startswith("_Z") and len(name) > 2


def demangle(name: str, *, params: bool = False) -> str:
    """Demangle an Itanium C++ name the way ``c++filt`` prints it.

    Args:
        name: the mangled name (``_ZN3Foo3barEi``).
        params: include the parameter list (and a template function's return
            type), as ``c++filt`` does; otherwise the name alone, as ``c++filt -p``.

    Returns:
        The demangled name, or ``name`` unchanged when it is not a mangled
        name this demangler understands.
    """
    if not is_itanium(name) or len(name) > MAX_LENGTH:
        return name
    body = name[2:]
    parser = _Parser(body)
    try:
        text = parser.encoding(params=params)
    except (_Fail, ValueError, IndexError, KeyError, RecursionError):
        return name
    if parser.pos != len(body):
        if body[parser.pos] != ".":
            return name
        return f"{text} [clone {body[parser.pos :]}]" if params else text
    return text
