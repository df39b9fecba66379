"""The Itanium demangler against GNU c++filt.

``EXPECTED`` holds GNU c++filt 2.40's output (``c++filt`` and ``c++filt -p``)
for each mangled name, captured from the tool, not from dumplib. When c++filt
is installed, a second test asks it live about every Itanium name found in
the fixture PDBs (MinGW programs linked by lld).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dumplib import DumpError
from dumplib.pdb import PdbFile
from dumplib.pdb.itanium import demangle, is_itanium
from dumplib.pdb.undname import undecorate

ROOT = Path(__file__).resolve().parent.parent

# (mangled, c++filt, c++filt -p)
EXPECTED = [
    (
        "_ZNSt6vectorIiSaIiEE9push_backERKi",
        "std::vector<int, std::allocator<int> >::push_back(int const&)",
        "std::vector<int, std::allocator<int> >::push_back",
    ),
    (
        "_ZN6System9Threading10Overlapped4PackEPFvmmP11_OVERLAPPEDPvES4_",
        "System::Threading::Overlapped::Pack(void (*)(unsigned long, unsigned long, _OVERLAPPED*, void*), void*)",  # noqa: E501
        "System::Threading::Overlapped::Pack",
    ),
    ("_Z1fIiEvT_", "void f<int>(int)", "f<int>"),
    ("_ZNK3Foo3barEv", "Foo::bar() const", "Foo::bar"),
    ("_ZN3FooC2Ev", "Foo::Foo()", "Foo::Foo"),
    ("_ZN3FooD0Ev", "Foo::~Foo()", "Foo::~Foo"),
    ("_ZplRK1AS1_", "operator+(A const&, A const&)", "operator+"),
    ("_ZTV3Foo", "vtable for Foo", "vtable for Foo"),
    ("_ZN12_GLOBAL__N_13fooEv", "(anonymous namespace)::foo()", "(anonymous namespace)::foo"),
    ("_ZZ4mainE1x", "main::x", "main::x"),
    ("_ZZ1fvE1x", "f()::x", "f()::x"),
    ("_Z1fPA5_i", "f(int (*) [5])", "f"),
    ("_Z1fM1AFivE", "f(int (A::*)())", "f"),
    ("_Z3fooILi5EEvv", "void foo<5>()", "foo<5>"),
    ("_ZN1AcviEv", "A::operator int()", "A::operator int"),
    ("_Z1fRA3_KPFivE", "f(int (* const (&) [3])())", "f"),
    (
        "_ZNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEED1Ev",
        "std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >::~basic_string()",  # noqa: E501
        "std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >::~basic_string",  # noqa: E501
    ),
    ("_Z1fSs", "f(std::basic_string<char, std::char_traits<char>, std::allocator<char> >)", "f"),
    ("_Z3foov.cold", "foo() [clone .cold]", "foo"),
    ("_ZN1A1fB5cxx11Ev", "A::f[abi:cxx11]()", "A::f[abi:cxx11]"),
    ("_ZGVZ4mainE1x", "guard variable for main::x", "guard variable for main::x"),
    ("_ZTI3Foo", "typeinfo for Foo", "typeinfo for Foo"),
    ("_Z1fDn", "f(decltype(nullptr))", "f"),
    ("_Z1fOi", "f(int&&)", "f"),
    ("_ZThn8_N1B1fEv", "non-virtual thunk to B::f()", "non-virtual thunk to B::f()"),
    ("_Z1fIJidEEvDpT_", "void f<int, double>(int, double)", "f<int, double>"),
    (
        "_ZGTtNKSt9exception4whatEv",
        "transaction clone for std::exception::what() const",
        "transaction clone for std::exception::what() const",
    ),
    (
        "_ZN13ThreadpoolMgr25CompletionPortThreadStartEPv",
        "ThreadpoolMgr::CompletionPortThreadStart(void*)",
        "ThreadpoolMgr::CompletionPortThreadStart",
    ),
    (
        "_ZN13ThreadpoolMgr14PostCompletionEP11_OVERLAPPEDm",
        "ThreadpoolMgr::PostCompletion(_OVERLAPPED*, unsigned long)",
        "ThreadpoolMgr::PostCompletion",
    ),
    ("_Z8snprintfPcyPKcz", "snprintf(char*, unsigned long long, char const*, ...)", "snprintf"),
    ("_Z7fprintfP6_iobufPKcz", "fprintf(_iobuf*, char const*, ...)", "fprintf"),
    (
        "_ZSt4endlIcSt11char_traitsIcEERSt13basic_ostreamIT_T0_ES6_",
        "std::basic_ostream<char, std::char_traits<char> >& std::endl<char, std::char_traits<char> >(std::basic_ostream<char, std::char_traits<char> >&)",  # noqa: E501
        "std::endl<char, std::char_traits<char> >",
    ),
    (
        "_ZNSt6vectorIiSaIiEEC2ERKS1_",
        "std::vector<int, std::allocator<int> >::vector(std::vector<int, std::allocator<int> > const&)",  # noqa: E501
        "std::vector<int, std::allocator<int> >::vector",
    ),
    (
        "_ZNKSt6vectorIiSaIiEE4sizeEv",
        "std::vector<int, std::allocator<int> >::size() const",
        "std::vector<int, std::allocator<int> >::size",
    ),
    ("_Z1fPVKi", "f(int const volatile*)", "f"),
    ("_Z1fA5_A6_i", "f(int [5][6])", "f"),
    ("_Z1fM1Ai", "f(int A::*)", "f"),
    (
        "_ZN5Outer5InnerIiE3getIdEET_v",
        "double Outer::Inner<int>::get<double>()",
        "Outer::Inner<int>::get<double>",
    ),
    (
        "_ZNSt3mapIiSsSt4lessIiESaISt4pairIKiSsEEEixERS3_",
        "std::map<int, std::basic_string<char, std::char_traits<char>, std::allocator<char> >, std::less<int>, std::allocator<std::pair<int const, std::basic_string<char, std::char_traits<char>, std::allocator<char> > > > >::operator[](int const&)",  # noqa: E501
        "std::map<int, std::basic_string<char, std::char_traits<char>, std::allocator<char> >, std::less<int>, std::allocator<std::pair<int const, std::basic_string<char, std::char_traits<char>, std::allocator<char> > > > >::operator[]",  # noqa: E501
    ),
    ("_ZN2ns1fILb1EEEvv", "void ns::f<true>()", "ns::f<true>"),
    ("_ZN2ns1fILj7EEEvv", "void ns::f<7u>()", "ns::f<7u>"),
    ("_Z1fIiJEEvv", "void f<int>()", "f<int>"),
    ("_ZN1AaSERKS_", "A::operator=(A const&)", "A::operator="),
    ("_ZN1AixEi", "A::operator[](int)", "A::operator[]"),
    ("_ZN1AclEv", "A::operator()()", "A::operator()"),
    ("_ZNKR1A1fEv", "A::f() const &", "A::f"),
    ("_Z1fPFPFivEvE", "f(int (*(*)())())", "f"),
]


@pytest.mark.parametrize(("mangled", "full", "name_only"), EXPECTED)
def test_matches_cxxfilt(mangled: str, full: str, name_only: str) -> None:
    assert demangle(mangled, params=True) == full
    assert demangle(mangled) == name_only
    # and through the PDB undecorator, which dispatches on the prefix
    assert undecorate(mangled) == name_only
    assert undecorate("_" + mangled, x86=True) == name_only  # x86 MinGW adds an underscore


def _fixture_names() -> list[str]:
    names: set[str] = set()
    for path in sorted((ROOT / "fixtures").rglob("*.pdb")):
        try:
            pdb = PdbFile.open(path)
            names.update(p.decorated_name for p in pdb.publics if is_itanium(p.decorated_name))
        except DumpError:  # a fixture being rewritten by its generator right now
            continue
    return sorted(names)


@pytest.mark.skipif(shutil.which("c++filt") is None, reason="GNU c++filt is not installed")
def test_fixture_pdb_names_match_live_cxxfilt() -> None:
    names = _fixture_names() + [m for m, _, _ in EXPECTED]
    assert len(names) > len(EXPECTED)
    for flags, params in (([], True), (["-p"], False)):
        out = subprocess.run(
            ["c++filt", *flags], input="\n".join(names), capture_output=True, text=True, check=True
        ).stdout.splitlines()
        assert [demangle(n, params=params) for n in names] == out


@pytest.mark.parametrize(
    "bad", ["_Z", "_Z1", "_Z3fo", "_ZN3Foo", "_Z1fS5_", "_Z1fT_", "_Z1fIXadL_Z1gEEEvv"]
)
def test_malformed_or_unhandled_names_come_back_unchanged(bad: str) -> None:
    assert demangle(bad, params=True) == bad
    assert demangle(bad) == bad


def test_not_itanium() -> None:
    assert demangle("main") == "main"
    assert demangle("?f@@YAXXZ") == "?f@@YAXXZ"
    assert not is_itanium("_Z")


def test_deep_nesting_is_capped() -> None:
    deep = "_Z1f" + "P" * 5000 + "i"
    assert demangle(deep, params=True) == deep
    nested = "_Z1f" + "N1aIS_" * 200 + "E" * 400 + "v"
    assert isinstance(demangle(nested, params=True), str)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="_ZNIESPKRT0123456789abcdefijlmvxyC1D2LJ.", max_size=60))
def test_arbitrary_text_never_raises(text: str) -> None:
    assert isinstance(demangle("_Z" + text, params=True), str)
    assert isinstance(demangle("_Z" + text), str)
