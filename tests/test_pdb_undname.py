"""The MSVC undecorator against LLVM's demangler test vectors.

The expected strings are LLVM's ``llvm-undname`` outputs for the mangled names
(from LLVM's Microsoft demangler tests), copied as LLVM prints them. A small
converter turns LLVM's style into the breakpad style dumplib produces (no
``class``/``struct`` keywords, calling conventions, access specifiers or
return types; ``,`` without a space; ``> >``; a space before every ``*``/``&``
and before ``const``), so the test checks the meaning, not our own output.
The corpus PDB tests check the same style against breakpad's own names.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dumplib.pdb.undname import MAX_NAME, split_c_decoration, undecorate

# (mangled, LLVM's undecorated output)
LLVM_FUNCTIONS = [
    ("?f1@@YAXPBD0@Z", "void __cdecl f1(char const *, char const *)"),
    (
        "?f5@@YAXPBDIDPBX0I@Z",
        "void __cdecl f5(char const *, unsigned int, char, void const *, char const *, "
        "unsigned int)",
    ),
    ("?f7@@YAXHPAHH0_N1PA_N@Z", "void __cdecl f7(int, int *, int, int *, bool, bool, bool *)"),
    ("?g3@@YAXUS@@0PAU1@1@Z", "void __cdecl g3(struct S, struct S, struct S *, struct S *)"),
    (
        "?g4@@YAXPBDPAUS@@01@Z",
        "void __cdecl g4(char const *, struct S *, char const *, struct S *)",
    ),
    ("?mbb@S@@QAEX_N0@Z", "void __thiscall S::mbb(bool, bool)"),
    (
        "?h1@@YAXPBD0P6AXXZ1@Z",
        "void __cdecl h1(char const *, char const *, void (__cdecl *)(void), "
        "void (__cdecl *)(void))",
    ),
    ("?h2@@YAXP6AXPAX@Z0@Z", "void __cdecl h2(void (__cdecl *)(void *), void *)"),
    ("?foo@0@YAXXZ", "void __cdecl foo::foo(void)"),
    ("??$?HH@S@@QEAAAEAU0@H@Z", "struct S & __cdecl S::operator+<int>(int)"),
    (
        "?foo_abbb@@YAXV?$A@V?$B@D@@V1@V1@@@@Z",
        "void __cdecl foo_abbb(class A<class B<char>, class B<char>, class B<char>>)",
    ),
    (
        "?foo_bt@@YAX_NV?$B@$$A6A_N_N@Z@@@Z",
        "void __cdecl foo_bt(bool, class B<bool __cdecl(bool)>)",
    ),
    (
        "?foo_abc@@YAXV?$A@DV?$B@D@N@@V?$C@D@2@@N@@@Z",
        "void __cdecl foo_abc(class N::A<char, class N::B<char>, class N::C<char>>)",
    ),
    (
        "?foo5@@YAXV?$Y@V?$Y@V?$Y@V?$Y@VX@NA@@@NB@@@NA@@@NB@@@NA@@@Z",
        "void __cdecl foo5(class NA::Y<class NB::Y<class NA::Y<class NB::Y<class NA::X>>>>)",
    ),
    (
        "?foo11@@YAXV?$Y@VX@NA@@@NA@@V1NB@@@Z",
        "void __cdecl foo11(class NA::Y<class NA::X>, class NB::Y<class NA::X>)",
    ),
    ("?foo_papad@@YAXPEAPEAD@Z", "void __cdecl foo_papad(char **)"),
    ("?foo_pbqbd@@YAXPEBQEBD@Z", "void __cdecl foo_pbqbd(char const *const *)"),
    ("?foo_pcrcd@@YAXPCRCD@Z", "void __cdecl foo_pcrcd(char volatile *volatile *)"),
    ("?foo_aapbd@@YAXAEAPEBD@Z", "void __cdecl foo_aapbd(char const *&)"),
    ("?foo_abqbd@@YAXABQBD@Z", "void __cdecl foo_abqbd(char const *const &)"),
    ("?foo_aay144h@@YAXAAY144H@Z", "void __cdecl foo_aay144h(int (&)[5][5])"),
    ("?foo_aay144cbh@@YAXAEAY144$$CBH@Z", "void __cdecl foo_aay144cbh(int const (&)[5][5])"),
    ("?foo_qay144h@@YAX$$QAY144H@Z", "void __cdecl foo_qay144h(int (&&)[5][5])"),
    ("?foo_p6ahxz@@YAXP6AHXZ@Z", "void __cdecl foo_p6ahxz(int (__cdecl *)(void))"),
    ("?foo_qay04cbh@@YAXQEAY04$$CBH@Z", "void __cdecl foo_qay04cbh(int const (*const)[5])"),
    ("?foo@@YAXPAY02NQBNN@Z", "void __cdecl foo(double (*)[3], double const *const, double)"),
    (
        "?foo_fnptrbackref4@@YAXP6AXPAH@Z1@Z",
        "void __cdecl foo_fnptrbackref4(void (__cdecl *)(int *), void (__cdecl *)(int *))",
    ),
    (
        "?mangle_yes_backref2@@YAXQBQ6AXXZ0@Z",
        "void __cdecl mangle_yes_backref2(void (__cdecl *const *const)(void), "
        "void (__cdecl *const *const)(void))",
    ),
    (
        "?mangle_yes_backref3@@YAXQAP6AXXZ0@Z",
        "void __cdecl mangle_yes_backref3(void (__cdecl **const)(void), "
        "void (__cdecl **const)(void))",
    ),
    (
        "?pr23325@@YAXQEBUS@@0@Z",
        "void __cdecl pr23325(struct S const *const, struct S const *const)",
    ),
    ("?z_foo@@YA?AVZ@N@@V12@@Z", "class N::Z __cdecl z_foo(class N::Z)"),
    (
        "?d_foo@@YA?AV?$D@DD@N@@V12@@Z",
        "class N::D<char, char> __cdecl d_foo(class N::D<char, char>)",
    ),
    ("??0Base@@QEAA@XZ", "public: __cdecl Base::Base(void)"),
    ("??1Base@@UEAA@XZ", "public: virtual __cdecl Base::~Base(void)"),
    ("??2@YAPEAX_K@Z", "void * __cdecl operator new(unsigned __int64)"),
    ("??3@YAXPEAX_K@Z", "void __cdecl operator delete(void *, unsigned __int64)"),
    ("??_U@YAPEAX_K@Z", "void * __cdecl operator new[](unsigned __int64)"),
    ("??4Base@@QEAAHH@Z", "public: int __cdecl Base::operator=(int)"),
    ("??6Base@@QEAAHH@Z", "public: int __cdecl Base::operator<<(int)"),
    ("??RBase@@QEAAXXZ", "public: void __cdecl Base::operator()(void)"),
    ("??BBase@@QEAAHXZ", "public: __cdecl Base::operator int(void)"),
    (
        "??_GBase@@UEAAPEAXI@Z",
        "public: virtual void * __cdecl Base::`scalar deleting destructor'(unsigned int)",
    ),
    ("?f@@YAXZZ", "void __cdecl f(...)"),
    ("?f@@YAXHZZ", "void __cdecl f(int, ...)"),
]

# (mangled, LLVM's output) for data and compiler-generated symbols
LLVM_DATA = [
    ("?x@@3HA", "int x"),
    ("?x@ns@@3PEAHEA", "int *ns::x"),
    ("??_7Base@@6B@", "const Base::`vftable'"),
    ("?x@?A0x12345678@@3HA", "int `anonymous namespace'::x"),
]


def _split_top(s: str) -> tuple[str, str]:
    """Split ``head(params)`` at the final top-level parameter list."""
    depth = 0
    for i in range(len(s) - 1, -1, -1):
        if s[i] == ")":
            depth += 1
        elif s[i] == "(":
            depth -= 1
            if depth == 0:
                return s[:i], s[i:]
    return s, ""


def _last_name(head: str) -> str:
    """The qualified name at the end of ``head`` (after the return type)."""
    at = head.rfind("operator")
    if at >= 0:  # ``operator<<``, ``operator new``, ``operator int``: keep the operator whole
        return _last_name(head[:at] + "X")[:-1] + head[at:]
    depth, quoted = 0, False
    for i in range(len(head) - 1, -1, -1):
        c = head[i]
        if c == "'":
            quoted = True
        elif c == "`":
            quoted = False
        elif c == ">" and not quoted:
            depth += 1
        elif c == "<" and not quoted:
            depth -= 1
        elif c in " *&" and depth == 0 and not quoted:
            return head[i + 1 :]
    return head


def breakpad_style(llvm: str) -> tuple[str, str]:
    """(name only, name with parameters) in breakpad style, from LLVM's output."""
    s = re.sub(r"^(public|private|protected): ", "", llvm)
    s = re.sub(r"^(virtual|static) ", "", s)
    s = re.sub(r"\b(class|struct|union|enum) ", "", s)
    s = re.sub(r"__(cdecl|stdcall|thiscall|fastcall|vectorcall) ?", "", s)
    s = s.replace("(void)", "()").replace(", ", ",")
    while ">>" in s:
        s = s.replace(">>", "> >")
    s = re.sub(r"\*(?=[*&\w])", "* ", s)
    head, params = _split_top(s)
    name = _last_name(head)
    return name, name + params


@pytest.mark.parametrize(("mangled", "llvm"), LLVM_FUNCTIONS)
def test_functions_match_llvm(mangled: str, llvm: str) -> None:
    name, full = breakpad_style(llvm)
    assert undecorate(mangled) == name
    assert undecorate(mangled, params=True) == full


@pytest.mark.parametrize(("mangled", "llvm"), LLVM_DATA)
def test_data_names_match_llvm(mangled: str, llvm: str) -> None:
    name, _full = breakpad_style(llvm)
    assert undecorate(mangled) == name
    assert undecorate(mangled, params=True) == name


def test_breakpad_style_converter() -> None:
    # the converter itself, on one worked example
    assert breakpad_style("void __cdecl h2(void (__cdecl *)(void *), void *)") == (
        "h2",
        "h2(void (*)(void *),void *)",
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("_foo", ("foo", None)),
        ("_foo@12", ("foo", 12)),
        ("@foo@8", ("foo", 8)),
        ("foo", ("foo", None)),
        ("___CxxFrameHandler3", ("__CxxFrameHandler3", None)),
        ("__CxxThrowException@8", ("_CxxThrowException", 8)),
        ("foo@bar", ("foo@bar", None)),
    ],
)
def test_x86_c_decoration(name: str, expected: tuple[str, int | None]) -> None:
    assert split_c_decoration(name) == expected
    assert undecorate(name, x86=True) == expected[0]
    assert undecorate(name) == name  # x64 names have no C decoration


def test_string_literals_and_rtti() -> None:
    assert undecorate("??_C@_0BA@JFNIOLAK@string?5too?5long?$AA@") == "`string'"
    assert undecorate("??_R0?AVbad_alloc@std@@@8") == "std::bad_alloc::`RTTI Type Descriptor'"
    assert undecorate("??_R4exception@std@@6B@") == (
        "std::exception::`RTTI Complete Object Locator'"
    )


@pytest.mark.parametrize(
    "bad",
    ["?", "?x", "??", "?x@@YA", "?x@@YAXPAX", "??@f2a3c1@", "?x@@YAX9@Z", "?x@@YAXPAV5@@Z"],
)
def test_unknown_or_broken_names_come_back_unchanged(bad: str) -> None:
    assert undecorate(bad, params=True) in (bad, undecorate(bad))
    assert isinstance(undecorate(bad), str)


def test_deep_nesting_is_capped() -> None:
    deep = "?x@@YAX" + "PA" * 500 + "H@Z"
    assert undecorate(deep, params=True) == deep
    nested_templates = "?f@@YAXV" + "?$A@V" * 100 + "X@@" + "@@" * 100 + "@Z"
    assert isinstance(undecorate(nested_templates, params=True), str)
    assert undecorate("?" + "a" * (MAX_NAME + 1) + "@@3HA") == "?" + "a" * (MAX_NAME + 1) + "@@3HA"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="?@$ABCDEHIPQUVXYZ_0123456789xyz", max_size=60))
def test_arbitrary_text_never_raises(text: str) -> None:
    for candidate in (text, "?" + text):
        assert isinstance(undecorate(candidate), str)
        assert isinstance(undecorate(candidate, params=True, x86=True), str)
