"""Plain words for names whose meaning is a language convention rather than spelled out.

`Message.__getitem__` is how `message[name]` reads a header, but nothing in the name says "get"; queries
are prose ("Get a header value", "Create a new parser", "Return the number of items"). Both retrievers
index these words beside the qualified name, so such a query can meet such a name.
"""

from __future__ import annotations

_SPECIAL = {
    "__init__": "initialize constructor create a new instance",
    "__new__": "create a new instance constructor",
    "__post_init__": "initialize after construction",
    "__del__": "destructor finalize",
    "__repr__": "representation repr string",
    "__str__": "string value as text",
    "__bytes__": "bytes value",
    "__format__": "format as string",
    "__len__": "length number of items count size",
    "__length_hint__": "estimated length",
    "__getitem__": "get item value by key or index",
    "__setitem__": "set item value by key or index",
    "__delitem__": "delete remove item by key or index",
    "__missing__": "missing key default",
    "__contains__": "contains membership test",
    "__iter__": "iterate over items iterator",
    "__reversed__": "iterate in reverse order",
    "__next__": "next item",
    "__aiter__": "asynchronous iterator",
    "__anext__": "next item asynchronously",
    "__call__": "call invoke",
    "__enter__": "enter context manager",
    "__exit__": "exit context manager close",
    "__aenter__": "enter asynchronous context manager",
    "__aexit__": "exit asynchronous context manager close",
    "__await__": "await",
    "__eq__": "equal compare equality",
    "__ne__": "not equal compare",
    "__lt__": "less than compare order",
    "__le__": "less than or equal compare order",
    "__gt__": "greater than compare order",
    "__ge__": "greater than or equal compare order",
    "__hash__": "hash value",
    "__bool__": "truth value boolean",
    "__getattr__": "get attribute lookup",
    "__getattribute__": "get attribute lookup",
    "__setattr__": "set attribute",
    "__delattr__": "delete attribute",
    "__get__": "descriptor get value",
    "__set__": "descriptor set value",
    "__set_name__": "descriptor owner name",
    "__copy__": "copy",
    "__deepcopy__": "deep copy",
    "__reduce__": "pickle support",
    "__reduce_ex__": "pickle support",
    "__getstate__": "pickle state",
    "__setstate__": "restore pickled state",
    "__add__": "add plus combine",
    "__radd__": "add plus combine",
    "__iadd__": "add in place",
    "__sub__": "subtract minus difference",
    "__rsub__": "subtract minus difference",
    "__isub__": "subtract in place",
    "__mul__": "multiply product",
    "__rmul__": "multiply product",
    "__truediv__": "divide division",
    "__floordiv__": "integer division",
    "__mod__": "modulo remainder",
    "__pow__": "power exponent",
    "__and__": "and intersection",
    "__or__": "or union merge",
    "__ror__": "or union merge",
    "__ior__": "update in place union merge",
    "__xor__": "exclusive or symmetric difference",
    "__neg__": "negate",
    "__abs__": "absolute value",
    "__int__": "integer value",
    "__float__": "float value",
    "__index__": "integer index value",
    "__class_getitem__": "generic type parameter",
    "__init_subclass__": "initialize subclass",
}
_CONSTRUCTORS = {
    "ruby": {"initialize"},
    "javascript": {"constructor"},
    "typescript": {"constructor"},
    "tsx": {"constructor"},
}
_CONSTRUCTOR_WORDS = "initialize constructor create a new instance"


def symbol_words(symbol: str, language: str) -> str:
    """Words that say what the symbol's last name means by convention ("" for most names)."""
    last = symbol.rsplit(".", 1)[-1]
    if language == "python":
        return _SPECIAL.get(last, "")
    if last in _CONSTRUCTORS.get(language, ()):
        return _CONSTRUCTOR_WORDS
    return ""


def document_text(row: dict[str, str]) -> str:
    """What the dense retriever embeds for a chunk: its header (with any conventional meaning), then the code."""
    words = symbol_words(row["symbol"], row["language"])
    return f"{row['header']} ({words})\n{row['text']}" if words else f"{row['header']}\n{row['text']}"
