"""The canonical query string (what the signature covers) and the Query parser (what the
operation reads) must agree: two query strings with the same canonical form, hence the
same valid signature, must parse to the same parameters (or one of them be refused)."""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tessera import errors
from tessera.auth import sigv4
from tessera.protocol.query import read_form

_CHARS = "aZ09-_.~ +=&%/é"


def _spell(char: str, how: int) -> str:
    """One character of a parameter as a client might write it in a query string."""
    if char == " " and how == 1:
        return "+"
    encoded = "".join(f"%{byte:02X}" for byte in char.encode())
    if how == 2:
        return encoded.lower()
    if how == 3 or char in " +=&%é":
        return encoded
    return char


@st.composite
def _queries(draw: st.DrawFn) -> str:
    items = draw(st.lists(st.tuples(st.text(_CHARS, min_size=1, max_size=4), st.text(_CHARS, max_size=4)), max_size=4))
    parts = []
    for name, value in items:
        spelled = ["".join(_spell(c, draw(st.integers(0, 3))) for c in text) for text in (name, value)]
        parts.append("=".join(spelled))
    return "&".join(parts)


_MUTATIONS = [
    ("%2B", "+"),
    ("+", "%2B"),
    ("%20", "+"),
    ("+", "%20"),
    ("%2b", "+"),
    ("%3D", "="),
    ("%26", "&"),
    ("%25", "%"),
    ("=", "%3D"),
]


def _first_wins(pairs: list[tuple[str, str]]) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for name, value in pairs:
        parsed.setdefault(name, value)
    return parsed


def _parsed(raw: str) -> dict[str, str] | None:
    try:
        return _first_wins(read_form(b"", None, raw))
    except errors.MalformedRequest:
        return None


def _mutants(raw: str) -> list[str]:
    out = [raw[:i] + new + raw[i + len(old) :] for old, new in _MUTATIONS for i in range(len(raw)) if raw.startswith(old, i)]
    items = raw.split("&")
    out.extend(
        "&".join([*items[:i], items[j], *items[i + 1 : j], items[i], *items[j + 1 :]])
        for i in range(len(items))
        for j in range(i + 1, len(items))
    )
    return out


@settings(max_examples=400, deadline=None)
@given(_queries())
@example("a=b%2Bc")  # the reported case: %2B rewritten as +
@example("k=1&k=2")  # a repeated name: the canonical form sorts it, the parser takes the first
def test_same_canonical_query_means_same_parameters(raw: str) -> None:
    canonical = sigv4.canonical_query_string(raw)
    parsed = _parsed(raw)
    for mutant in _mutants(raw):
        if sigv4.canonical_query_string(mutant) != canonical:
            continue  # the signature would break: nothing to check
        other = _parsed(mutant)
        if parsed is not None and other is not None:
            assert other == parsed, (raw, mutant)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text(min_size=1, max_size=6), st.text(max_size=6)), max_size=5, unique_by=lambda p: p[0]))
def test_parser_reads_exactly_the_pairs_the_signature_encodes(params: list[tuple[str, str]]) -> None:
    """Any query a client writes canonically decodes, for the parser, to the pairs whose
    canonical encoding the signature covers."""
    raw = sigv4.canonical_query_from_pairs([(n.encode(), v.encode()) for n, v in params])
    assert sorted(read_form(b"", None, raw)) == sorted(params)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [b"%41", b"%5c", b"%5C", b"\\", b"\\x41", b"%", b"%4", b"%zz", b"a", b"+", b"\\\\", b"%00", b"%FF", b"x", b"\\%41"]
        ),
        min_size=1,
        max_size=400,
    )
)
def test_long_components_decode_exactly_as_short_ones(parts: list[bytes]) -> None:
    """The C fast path for long values gives the bytes ``unquote_to_bytes`` gives."""
    component = b"".join(parts) * (1 + 600 // max(1, len(b"".join(parts))))
    expected = unquote_to_bytes(component.replace(b"+", b" "))
    assert sigv4.query_pairs(b"k=" + component.replace(b"&", b"")) == [(b"k", expected)]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40) | st.text("ab=&é%+2 ", max_size=40).map(str.encode))
def test_text_pairs_are_the_byte_pairs_decoded(raw: bytes) -> None:
    try:
        expected: list[tuple[str, str]] | None = [(n.decode(), v.decode()) for n, v in sigv4.query_pairs(raw)]
    except UnicodeDecodeError:
        expected = None
    try:
        actual: list[tuple[str, str]] | None = sigv4.query_text_pairs(raw)
    except UnicodeDecodeError:
        actual = None
    assert actual == expected
