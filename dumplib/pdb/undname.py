"""Undecorate MSVC-mangled C++ names (``?foo@bar@@YAXH@Z`` -> ``bar::foo``).

:func:`undecorate` turns a linker name from a PDB's publics into the readable
qualified name breakpad and debuggers print. It handles what compilers emit
for ordinary code:

* qualified names with namespaces and classes, name back-references (``0``-``9``),
  anonymous namespaces (`` `anonymous namespace' ``) and local scopes (`` `2' ``);
* constructors, destructors, every operator code (``?0`` ... ``?_V``, ``?__F``...),
  the compiler-generated names (`` `scalar deleting destructor' ``, `` `vftable' ``,
  RTTI descriptors, `` `string' `` literals);
* templates, nested to a depth of 32, with type, integer and pointer arguments;
* with ``params=True``, the parameter list in breakpad's style
  (``ns::f(wchar_t const *,bool (*)(void *),int &&)``): primitives, classes,
  enums, pointers and references with const/volatile, ``__ptr64``, arrays,
  function and member-function pointers, type back-references, varargs;
* plain C names of x86 images with ``x86=True``: ``_name``, ``_name@8``
  (stdcall) and ``@name@8`` (fastcall) become ``name``;
* Itanium-mangled names (``_Z...``, from MinGW's GCC or clang) are passed to
  :func:`dumplib.pdb.itanium.demangle` and come out as ``c++filt`` prints them.

Not handled (the decorated name is returned unchanged): managed/C++-CLI
names (``$$F``, ``$$J``), vtordisp/vcall thunk encodings, ``??__E``-style
dynamic initializer *signatures* beyond the name, MD5-hashed names
(``??@...``), and the rarer template argument kinds (``$2`` floats, member
data pointers ``$F``/``$G``). Return types, calling conventions, access
specifiers and the const-ness of member functions are never printed.
"""

from __future__ import annotations

from dumplib.pdb._cursor import Cursor
from dumplib.pdb._cursor import DemangleFail as _Fail
from dumplib.pdb.itanium import demangle, is_itanium

__all__ = ["split_c_decoration", "undecorate"]

MAX_DEPTH = 32
MAX_NAME = 4096

_PRIMITIVES = {
    "C": "signed char",
    "D": "char",
    "E": "unsigned char",
    "F": "short",
    "G": "unsigned short",
    "H": "int",
    "I": "unsigned int",
    "J": "long",
    "K": "unsigned long",
    "M": "float",
    "N": "double",
    "O": "long double",
    "X": "void",
    "Z": "...",
}
_EXT_PRIMITIVES = {
    "D": "__int8",
    "E": "unsigned __int8",
    "F": "__int16",
    "G": "unsigned __int16",
    "H": "__int32",
    "I": "unsigned __int32",
    "J": "__int64",
    "K": "unsigned __int64",
    "L": "__int128",
    "M": "unsigned __int128",
    "N": "bool",
    "Q": "char8_t",
    "S": "char16_t",
    "U": "char32_t",
    "W": "wchar_t",
}
_OPERATORS = {
    "0": None,  # constructor
    "1": None,  # destructor
    "2": "operator new",
    "3": "operator delete",
    "4": "operator=",
    "5": "operator>>",
    "6": "operator<<",
    "7": "operator!",
    "8": "operator==",
    "9": "operator!=",
    "A": "operator[]",
    "B": None,  # conversion operator, named by its return type
    "C": "operator->",
    "D": "operator*",
    "E": "operator++",
    "F": "operator--",
    "G": "operator-",
    "H": "operator+",
    "I": "operator&",
    "J": "operator->*",
    "K": "operator/",
    "L": "operator%",
    "M": "operator<",
    "N": "operator<=",
    "O": "operator>",
    "P": "operator>=",
    "Q": "operator,",
    "R": "operator()",
    "S": "operator~",
    "T": "operator^",
    "U": "operator|",
    "V": "operator&&",
    "W": "operator||",
    "X": "operator*=",
    "Y": "operator+=",
    "Z": "operator-=",
}
_OPERATORS_U = {
    "0": "operator/=",
    "1": "operator%=",
    "2": "operator>>=",
    "3": "operator<<=",
    "4": "operator&=",
    "5": "operator|=",
    "6": "operator^=",
    "7": "`vftable'",
    "8": "`vbtable'",
    "9": "`vcall'",
    "A": "`typeof'",
    "B": "`local static guard'",
    "C": "`string'",
    "D": "`vbase destructor'",
    "E": "`vector deleting destructor'",
    "F": "`default constructor closure'",
    "G": "`scalar deleting destructor'",
    "H": "`vector constructor iterator'",
    "I": "`vector destructor iterator'",
    "J": "`vector vbase constructor iterator'",
    "K": "`virtual displacement map'",
    "L": "`eh vector constructor iterator'",
    "M": "`eh vector destructor iterator'",
    "N": "`eh vector vbase constructor iterator'",
    "O": "`copy constructor closure'",
    "S": "`local vftable'",
    "T": "`local vftable constructor closure'",
    "U": "operator new[]",
    "V": "operator delete[]",
    "X": "`placement delete closure'",
    "Y": "`placement delete[] closure'",
}
_OPERATORS_UU = {
    "A": "`managed vector constructor iterator'",
    "B": "`managed vector destructor iterator'",
    "C": "`eh vector copy constructor iterator'",
    "D": "`eh vector vbase copy constructor iterator'",
    "E": "`dynamic initializer'",
    "F": "`dynamic atexit destructor'",
    "G": "`vector copy constructor iterator'",
    "H": "`vector vbase copy constructor iterator'",
    "I": "`managed vector copy constructor iterator'",
    "J": "`local static thread guard'",
    "K": 'operator ""',
    "L": "operator co_await",
    "M": "operator<=>",
}
_RTTI = {
    "0": "`RTTI Type Descriptor'",
    "2": "`RTTI Base Class Array'",
    "3": "`RTTI Class Hierarchy Descriptor'",
    "4": "`RTTI Complete Object Locator'",
}
#: Function class letters whose functions take a ``this`` (so carry this-qualifiers).
_MEMBER_CLASSES = frozenset("ABEFGHIJMNOPQRUVWX")
_THUNK_CLASSES = frozenset("GHOPWX")
_FUNC_CLASSES = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")




class _Type:
    """A type being printed, split around where a declarator would go.

    ``kind`` is ``"plain"`` (``int``), ``"func"`` / ``"array"`` (a pointer to it
    needs parentheses: ``int (*)[5]``) or ``"group"`` (a pointer to a function
    or array, whose parentheses further pointers go inside: ``void (* *)()``).
    """

    __slots__ = ("kind", "left", "right")

    def __init__(self, left: str, right: str = "", kind: str = "plain") -> None:
        self.left = left
        self.right = right
        self.kind = kind

    def text(self) -> str:
        if self.kind == "func":
            return f"{self.left} {self.right}"
        return self.left + self.right


class _Parser(Cursor):
    __slots__ = ("depth", "names", "types")

    def __init__(self, s: str, pos: int = 0, depth: int = 0) -> None:
        super().__init__(s, pos)
        self.depth = depth
        self.names: list[str] = []
        self.types: list[str] = []

    # -- low level

    def expect(self, text: str) -> None:
        if not self.s.startswith(text, self.pos):
            raise _Fail(f"expected {text!r} at {self.pos}")
        self.pos += len(text)

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _Fail("nested too deeply")

    def number(self) -> int:
        neg = self.consume("?")
        c = self.take()
        if c.isdigit():
            value = int(c) + 1
        else:
            value = 0
            while c != "@":
                if not "A" <= c <= "P":
                    raise _Fail("bad number")
                value = value * 16 + (ord(c) - 65)
                c = self.take()
        return -value if neg else value

    def simple_name(self) -> str:
        end = self.s.find("@", self.pos)
        if end < 0 or end == self.pos:
            raise _Fail("unterminated name")
        name = self.s[self.pos : end]
        self.pos = end + 1
        return name

    def memorize(self, name: str) -> None:
        if len(self.names) < 10 and name not in self.names:
            self.names.append(name)

    def name_backref(self) -> str:
        i = int(self.take())
        if i >= len(self.names):
            raise _Fail("bad name back-reference")
        return self.names[i]

    # -- names

    def template_name(self) -> str:
        """After ``?$``: name@args@, in a fresh back-reference context."""
        self.enter()
        saved_names, saved_types = self.names, self.types
        self.names, self.types = [], []
        if self.peek() == "?":
            self.take()
            name = self.operator_name()[0] or "operator"
        else:
            name = self.simple_name()
            self.memorize(name)
        args = self.template_args()
        self.names, self.types = saved_names, saved_types
        self.depth -= 1
        body = ",".join(args)
        return f"{name}<{body}{' ' if body.endswith('>') else ''}>"

    def template_args(self) -> list[str]:
        args: list[str] = []
        while not self.consume("@"):
            if self.consume("$$V") or self.consume("$$$V") or self.consume("$$Z"):
                continue
            if self.consume("$0"):
                args.append(str(self.number()))
            elif self.consume("$1"):
                if self.consume("@"):
                    args.append("nullptr")
                else:
                    sub = _Parser(self.s, self.pos, self.depth + 1)
                    args.append("&" + sub.symbol(params=False, nested=True))
                    self.pos = sub.pos
            elif self.consume("$E?"):
                sub = _Parser(self.s, self.pos, self.depth + 1)
                args.append(sub.symbol(params=False, nested=True))
                self.pos = sub.pos
            elif self.consume("$D"):
                args.append(f"`template-parameter{self.number()}'")
            elif self.peek() == "$" and self.peek(2) not in ("$$", "$Q", "$R", "$T"):
                raise _Fail("template argument kind not handled")
            else:
                args.append(self.type_().text())
        return args

    def operator_name(self) -> tuple[str | None, str]:
        """After ``?`` of a special name: (text or None for ctor/dtor/conversion, code)."""
        c = self.take()
        if c == "$":
            return self.template_name(), "$"
        if c != "_":
            if c not in _OPERATORS:
                raise _Fail("unknown operator")
            return _OPERATORS[c], c
        c = self.take()
        if c == "R":
            k = self.take()
            if k == "1":
                nums = [self.number() for _ in range(4)]
                return f"`RTTI Base Class Descriptor at ({','.join(map(str, nums))})'", "_R1"
            if k not in _RTTI:
                raise _Fail("unknown RTTI name")
            return _RTTI[k], "_R" + k
        if c == "_":
            k = self.take()
            if k not in _OPERATORS_UU:
                raise _Fail("unknown operator")
            return _OPERATORS_UU[k], "__" + k
        if c not in _OPERATORS_U:
            raise _Fail("unknown operator")
        return _OPERATORS_U[c], "_" + c

    def scope_piece(self) -> str:
        c = self.peek()
        if c.isdigit():
            return self.name_backref()
        if self.consume("?$"):
            name = self.template_name()
            self.memorize(name)
            return name
        if self.consume("?A"):
            end = self.s.find("@", self.pos)
            if end < 0:
                raise _Fail("bad anonymous namespace")
            self.memorize(self.s[self.pos - 2 : end])
            self.pos = end + 1
            return "`anonymous namespace'"
        if c == "?":
            self.take()
            if self.peek() == "?":  # nested symbol used as a scope: ``?name@@...`` inside
                self.take()
                sub = _Parser(self.s, self.pos, self.depth + 1)
                inner = sub.symbol(params=False, nested=True)
                self.pos = sub.pos
                return f"`{inner}'"
            n = self.number()
            if self.consume("??"):
                sub = _Parser(self.s, self.pos, self.depth + 1)
                inner = sub.symbol(params=False, nested=True)
                self.pos = sub.pos
                return f"`{inner}'::`{n}'"
            return f"`{n}'"
        name = self.simple_name()
        self.memorize(name)
        return name

    def qualified_tail(self) -> list[str]:
        """Scope pieces after the first, innermost first, up to the closing ``@``."""
        pieces: list[str] = []
        while not self.consume("@"):
            if self.pos >= len(self.s):
                raise _Fail("unterminated scope")
            pieces.append(self.scope_piece())
            if len(pieces) > 64:
                raise _Fail("too many scopes")
        return pieces

    def type_name(self) -> str:
        """A fully qualified class/enum name inside a type."""
        first = self.scope_piece()
        tail = self.qualified_tail()
        return "::".join([*reversed(tail), first])

    # -- types

    def cv(self, c: str) -> tuple[bool, bool]:
        table = {"A": (False, False), "B": (True, False), "C": (False, True), "D": (True, True)}
        if c not in table:
            raise _Fail("bad cv qualifier")
        return table[c]

    def ext_quals(self) -> None:
        while self.peek() in ("E", "I", "F"):
            self.take()

    def function_type(self, member: bool) -> tuple[str, str]:
        """Calling convention, return, params, throw spec: (return text, param list)."""
        if member:
            self.ext_quals()
            self.cv(self.take())
        self.take()  # calling convention
        if self.consume("@"):
            ret = ""
        else:
            if self.peek() == "?":
                self.take(2)
            ret = self.type_().text()
        params = self.param_list()
        if not self.consume("Z"):
            self.consume("_E")
        return ret, params

    def param_list(self) -> str:
        if self.consume("X"):
            return "()"
        params: list[str] = []
        while True:
            c = self.peek()
            if c == "@":
                self.take()
                break
            if c == "Z":
                self.take()
                params.append("...")
                break
            if c == "":
                raise _Fail("unterminated parameters")
            if c.isdigit():
                self.take()
                i = int(c)
                if i >= len(self.types):
                    raise _Fail("bad type back-reference")
                params.append(self.types[i])
                continue
            start = self.pos
            text = self.type_().text()
            if self.pos - start > 1 and len(self.types) < 10:
                self.types.append(text)
            params.append(text)
            if len(params) > 256:
                raise _Fail("too many parameters")
        return "(" + ",".join(params) + ")"

    def type_(self) -> _Type:
        self.enter()
        try:
            return self._type()
        finally:
            self.depth -= 1

    def _type(self) -> _Type:
        c = self.take()
        if c in ("T", "U", "V"):
            return _Type(self.type_name())
        if c == "W":
            self.take()
            return _Type(self.type_name())
        if c in _PRIMITIVES:
            return _Type(_PRIMITIVES[c])
        if c == "_":
            k = self.take()
            if k not in _EXT_PRIMITIVES:
                raise _Fail("unknown primitive")
            return _Type(_EXT_PRIMITIVES[k])
        if c in ("P", "Q", "R", "S"):
            return self.pointer("*", c)
        if c in ("A", "B"):
            return self.pointer("&", c)
        if c == "Y":
            dims = self.number()
            if not 0 < dims <= 16:
                raise _Fail("bad array rank")
            sizes = "".join(f"[{self.number()}]" for _ in range(dims))
            inner = self.type_()
            return _Type(inner.left, sizes + inner.right, "array")
        if c == "$":
            if self.consume("$Q"):
                return self.pointer("&&", "Q")
            if self.consume("$R"):
                return self.pointer("&&", "R")
            if self.consume("$T"):
                return _Type("std::nullptr_t")
            if self.consume("$C"):
                const, volatile = self.cv(self.take())
                inner = self.type_()
                return _Type(inner.left + _cv_text(const, volatile), inner.right, inner.kind)
            if self.consume("$A6"):
                ret, params = self.function_type(member=False)
                return _Type(ret, params, "func")
            if self.consume("$B"):
                return self.type_()
        raise _Fail(f"unknown type code {c!r}")

    def pointer(
        self, sym: str, code: str, more_const: bool = False, more_vol: bool = False
    ) -> _Type:
        """A pointer or reference; ``more_*`` are qualifiers its pointer-to-pointer gave it."""
        const_ptr = (code in ("Q", "S") and sym == "*") or more_const
        volatile_ptr = (code in ("R", "S") and sym == "*") or more_vol
        self.ext_quals()
        declarator = sym + _cv_text(const_ptr, volatile_ptr)
        if self.consume("6"):
            ret, params = self.function_type(member=False)
            inner = _Type(ret, params, "func")
        elif self.consume("8"):
            cls = self.type_name()
            ret, params = self.function_type(member=True)
            inner = _Type(ret, params, "func")
            declarator = f"{cls}::{declarator}"
        else:
            const, volatile = self.cv(self.take())
            nxt = self.peek()
            if nxt in ("P", "Q", "R", "S", "A", "B") or self.peek(3) in ("$$Q", "$$R"):
                # the pointee is itself a pointer: its qualifiers are the pointee's
                self.enter()
                if nxt == "$":
                    self.take(2)
                    nxt = self.take()
                    inner = self.pointer("&&", nxt, const, volatile)
                else:
                    self.take()
                    inner = self.pointer("*" if nxt in "PQRS" else "&", nxt, const, volatile)
                self.depth -= 1
            else:
                inner = self.type_()
                inner = _Type(inner.left + _cv_text(const, volatile), inner.right, inner.kind)
        if inner.kind == "plain":
            return _Type(f"{inner.left} {declarator}")
        if inner.kind == "group":
            return _Type(f"{inner.left} {declarator}", inner.right, "group")
        return _Type(f"{inner.left} ({declarator}", f"){inner.right}", "group")

    # -- symbols

    def symbol(self, *, params: bool, nested: bool = False) -> str:
        """Parse ``name-tail encoding`` after the leading ``?``."""
        self.enter()
        special: str | None = None
        code = ""
        if self.consume("?"):
            if self.peek() == "$":
                self.take()
                first = self.template_name()  # the symbol's own template name is not memorized
            else:
                text, code = self.operator_name()
                first = text or ""
                special = code
        elif self.peek().isdigit():
            first = self.name_backref()
        else:
            first = self.simple_name()
            self.memorize(first)
        if code == "_C":  # string literal: the rest is a hash and the bytes
            self.pos = len(self.s)
            return "`string'"
        if code == "_R0":  # RTTI type descriptor: ``?_R0`` + ``?A`` + the described type
            self.expect("?")
            self.cv(self.take())
            described = self.type_().text()
            self.expect("@8")
            self.depth -= 1
            return f"{described}::{first}"
        tail = self.qualified_tail()
        if special in ("0", "1"):
            if not tail:
                raise _Fail("constructor outside a class")
            first = tail[0] if special == "0" else "~" + tail[0]
        scope = "::".join(reversed(tail))
        kind = self.peek()
        sig = ""
        if special == "B" or (params and kind in _FUNC_CLASSES):
            if kind in _FUNC_CLASSES:
                self.take()
                if kind in _THUNK_CLASSES:
                    self.number()
                ret, sig = self.function_type(member=kind in _MEMBER_CLASSES)
                if special == "B":
                    first = "operator " + ret
            elif special == "B":
                raise _Fail("conversion operator without a function type")
        elif nested:
            # skip the encoding of a symbol used as a scope or template argument
            self._skip_encoding()
        name = f"{scope}::{first}" if scope else first
        self.depth -= 1
        return name + (sig if params else "")

    def _skip_encoding(self) -> None:
        kind = self.take()
        if kind in _FUNC_CLASSES:
            if kind in _THUNK_CLASSES:
                self.number()
            self.function_type(member=kind in _MEMBER_CLASSES)
        elif kind in "01234":
            self.type_()
            self.ext_quals()
            self.cv(self.take())
        elif kind in "67":
            self.ext_quals()
            self.cv(self.take())
            while not self.consume("@"):
                self.type_name()
        elif kind in "89":
            pass
        else:
            raise _Fail("unknown encoding")


def _cv_text(const: bool, volatile: bool) -> str:
    return (" const" if const else "") + (" volatile" if volatile else "")


def split_c_decoration(name: str) -> tuple[str, int | None]:
    """Strip x86 C decoration: ``_name`` -> ``name``, ``_name@8``/``@name@8`` -> (``name``, 8).

    Args:
        name: a public symbol name without C++ decoration.

    Returns:
        The bare name and the stdcall/fastcall argument byte count (None without one).
    """
    if "?" in name:
        return name, None
    size: int | None = None
    base = name
    at = base.rfind("@")
    if at > 0 and base[at + 1 :].isdigit():
        size = int(base[at + 1 :])
        base = base[:at]
        if base.startswith("@"):
            return base[1:], size
    if base.startswith("_"):
        return base[1:], size
    return (base, size) if size is not None else (name, None)


def undecorate(name: str, *, params: bool = False, x86: bool = False) -> str:
    """Return the readable form of a decorated (mangled) MSVC name.

    Args:
        name: the decorated name (``?RequestDump@Client@ns@@QAE_NPAUX@@@Z``).
        params: append the parameter list, breakpad style (``ns::Client::RequestDump(X *)``).
        x86: treat undecorated names as x86 C names and strip their
            ``_``/``@N`` decoration.

    Returns:
        The undecorated name, or ``name`` unchanged when it is not a C++ name this
        undecorator understands (see the module docstring for what is not handled).
    """
    if len(name) > MAX_NAME:
        return name
    prefix = ""
    body = name
    if body.startswith("__imp_"):
        prefix, body = "__imp_", body[6:]
    if not body.startswith("?") or body.startswith("??@"):
        if x86:
            body = split_c_decoration(body)[0]
        if is_itanium(body):  # GCC/clang (MinGW) names
            return prefix + demangle(body, params=params)
        return prefix + body if x86 else name
    parser = _Parser(body, 1)
    try:
        text = parser.symbol(params=params)
    except (_Fail, ValueError, IndexError, KeyError):
        if params:
            return name
        try:
            text = _Parser(body, 1).symbol(params=False)
        except (_Fail, ValueError, IndexError, KeyError):
            return name
    return prefix + text
