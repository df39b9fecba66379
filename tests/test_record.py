"""The light frozen records (``dumplib._record``) behave as ``dataclasses.dataclass``.

The oracle is the standard library: for every record class on the start-up path,
the same declaration (field names, annotations, defaults, ``repr``/``compare``
options) is given to ``dataclasses.dataclass(frozen=True, slots=True)`` and both
classes are driven with the same values: construction (positional, keyword,
defaults), ``repr``, equality, hashing, ``__match_args__``, frozenness, pickling,
copying, and the ``dataclasses`` functions.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import Any

import pytest

import dumplib
import dumplib.format.records as records
import dumplib.model.hexdump as hexdump
import dumplib.model.memory as memory
import dumplib.model.objects as objects
from dumplib._record import dataclass as light_dataclass
from dumplib._record import field as light_field

ROOT_SAMPLE = "dumplib/samples/test.dmp"

LIGHT = [cls for mod in (records, hexdump, memory, objects) for cls in vars(mod).values()
         if isinstance(cls, type) and "_record_spec" in cls.__dict__
         and cls.__module__ == mod.__name__]


def _standard(cls: type) -> type:
    """The standard library's dataclass made from ``cls``'s declaration."""
    spec = cls.__dict__["_record_spec"]
    body: dict[str, Any] = {"__annotations__": dict(spec.annotations), "__module__": cls.__module__}
    for name, f in spec.declared.items():
        body[name] = dataclasses.field(
            default=dataclasses.MISSING if name not in spec.defaults else f.default,
            repr=f.repr, compare=f.compare)
    return dataclasses.dataclass(frozen=True, slots=True)(type(cls.__name__, (), body))


def _values(cls: type, salt: int) -> list[Any]:
    return [(salt, i, f"v{i}") for i in range(len(cls.__dict__["_record_spec"].names))]


def test_every_record_on_the_start_up_path_is_light() -> None:
    # 30 format records + HexLine, HexDump + MemoryRegion + System, Module, UnloadedModule
    assert len(LIGHT) == 36
    assert records.ModuleRecord in LIGHT and objects.Module in LIGHT


@pytest.mark.parametrize("cls", LIGHT, ids=lambda c: c.__name__)
def test_behaves_as_the_standard_dataclass(cls: type) -> None:
    std = _standard(cls)
    args = _values(cls, 1)
    a, s = cls(*args), std(*args)
    names = [f.name for f in dataclasses.fields(std)]
    assert [f.name for f in dataclasses.fields(cls)] == names
    defaults = [f.default for f in dataclasses.fields(std)]
    assert [f.default for f in dataclasses.fields(cls)] == defaults
    assert dataclasses.is_dataclass(cls) and dataclasses.is_dataclass(a)
    assert cls.__match_args__ == std.__match_args__  # type: ignore[attr-defined]
    assert cls.__slots__ == std.__slots__  # type: ignore[attr-defined]
    own_repr = not cls.__repr__.__code__.co_filename.endswith("_record.py")  # HexDump's
    assert own_repr or repr(a) == repr(s)
    assert hash(a) == hash(s)
    kw = dict(zip(names, args, strict=True))
    assert cls(**kw) == a and not (cls(**kw) != a)
    other = cls(*_values(cls, 2))
    assert (other == a) == (std(*_values(cls, 2)) == s)
    assert a != s and a.__eq__(s) is NotImplemented  # another class, as for dataclasses
    assert dataclasses.asdict(a) == dataclasses.asdict(s)
    assert dataclasses.astuple(a) == dataclasses.astuple(s)
    first = names[0]
    changed = dataclasses.replace(a, **{first: "new"})
    assert getattr(changed, first) == "new" and type(changed) is cls
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(a, first, 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        delattr(a, first)
    with pytest.raises(AttributeError):
        a.not_a_field = 1  # type: ignore[attr-defined]
    assert not hasattr(a, "__dict__")
    assert pickle.loads(pickle.dumps(a)) == a
    assert copy.copy(a) == a and copy.deepcopy(a) == a
    # defaults: only trailing fields may have them, and both classes agree on which
    required = [f for f in dataclasses.fields(std) if f.default is dataclasses.MISSING]
    if len(required) < len(names):
        short = args[: len(required)]
        assert dataclasses.astuple(cls(*short)) == dataclasses.astuple(std(*short))
        assert own_repr or repr(cls(*short)) == repr(std(*short))
    with pytest.raises(TypeError):
        cls(*args, "one too many")


def test_compare_and_repr_options() -> None:
    @light_dataclass(frozen=True, slots=True)
    class Light:
        a: int
        raw: object = light_field(repr=False, compare=False)

    @dataclasses.dataclass(frozen=True, slots=True)
    class Light2:
        a: int
        raw: object = dataclasses.field(repr=False, compare=False)

    assert repr(Light(1, "x")).split("(", 1)[1] == repr(Light2(1, "x")).split("(", 1)[1]
    assert Light(1, "x") == Light(1, "y") and hash(Light(1, "x")) == hash(Light2(1, "y"))
    assert Light(1, "x") != Light(2, "x")


def test_parsed_records_of_a_real_dump_pickle_and_convert() -> None:
    with dumplib.open(ROOT_SAMPLE) as d:
        for m in d.modules:
            assert pickle.loads(pickle.dumps(m.raw)) == m.raw
            assert dataclasses.asdict(m.raw)["base_of_image"] == m.base
            assert pickle.loads(pickle.dumps(m)) == m
        for t in d.threads:
            assert dataclasses.asdict(t.raw)["thread_id"] == t.id
        assert dataclasses.replace(d.system, present=False).arch == d.system.arch


@pytest.mark.parametrize("cls", LIGHT, ids=lambda c: c.__name__)
def test_generic_and_compiled_init_agree_with_the_standard_one(cls: type) -> None:
    """The first instances go through the generic ``__init__``, later ones through the
    compiled one; both give the standard dataclass's values and errors."""
    std = _standard(cls)
    names = [f.name for f in dataclasses.fields(std)]
    required = [f.name for f in dataclasses.fields(std) if f.default is dataclasses.MISSING]
    for salt in range(40):  # well past the generic calls
        args = _values(cls, salt)
        kw = dict(zip(names, args, strict=True))
        assert dataclasses.astuple(cls(*args)) == dataclasses.astuple(std(*args))
        assert dataclasses.astuple(cls(**kw)) == dataclasses.astuple(std(**kw))
        half = len(names) // 2
        mixed = dict(list(kw.items())[half:])
        assert dataclasses.astuple(cls(*args[:half], **mixed)) == \
            dataclasses.astuple(std(*args[:half], **mixed))
        for bad_args, bad_kw in [((), {}), (tuple(args), {"nope": 1}),
                                 (tuple(args), {names[0]: 1}),
                                 ((), {n: 1 for n in required[1:]})]:
            if not required and not bad_kw:
                continue  # a class whose fields all have defaults accepts no arguments
            with pytest.raises(TypeError):
                std(*bad_args, **bad_kw)
            with pytest.raises(TypeError):
                cls(*bad_args, **bad_kw)
