"""botocore's service models (loaded by ``tessera.service_models``), indexed for the wire layer.

The three service models shipped with the pinned botocore (``iam``, ``sts``,
``organizations``) are the exact wire contract: operation names, input and output
shapes, constraints, the Query API version, the XML namespace and the JSON target
prefix all come from them, never from hand-written copies.

Public API::

    spec = service_spec("sts")            # ServiceSpec, cached per process
    spec.api_version                      # "2011-06-15"
    spec.xml_namespace                    # "https://sts.amazonaws.com/doc/2011-06-15/"
    spec.operation("AssumeRole")          # botocore OperationModel, or None
    spec.resolve("AssumeRole")            # service_models.Operation (service + model), or None
    compile_pattern(r"[\\w+=,.@-]*")       # re.Pattern with Java semantics, cached

Model patterns are Java regular expressions. ``compile_pattern`` gives them Java's
meaning under Python's ``re``: ``\\w``, ``\\d`` and ``\\s`` are ASCII-only (Java's
default), ``\\p{L}``-style Unicode categories are expanded into explicit ranges, and
callers match with ``fullmatch`` (Java's ``Matcher.matches``). ``\\uXXXX`` escapes
already read exactly four hex digits in both engines.
"""

from __future__ import annotations

import functools
import operator
import re
import sys
import unicodedata
from dataclasses import dataclass, field

from botocore.model import OperationModel, ServiceModel

from tessera.service_models import Operation, resolve_operation, service_model


@dataclass(frozen=True)
class ServiceSpec:
    """One service's wire facts plus its botocore model."""

    name: str
    protocol: str  # "query" or "json"
    api_version: str
    xml_namespace: str | None
    target_prefix: str | None
    model: ServiceModel = field(repr=False)
    operation_names: frozenset[str] = field(repr=False)
    # the operations resolved so far, by name: at most one entry per operation of the model
    _resolved: dict[str, Operation] = field(default_factory=dict, init=False, repr=False, compare=False, hash=False)

    def operation(self, name: str) -> OperationModel | None:
        """The operation called ``name`` exactly (case-sensitive, as AWS), or None."""
        if name not in self.operation_names:
            return None
        return self.model.operation_model(name)

    def resolve(self, name: str) -> Operation | None:
        """The operation called ``name`` with its service, or None; one object per
        operation (``tessera.service_models.resolve_operation``), so stages may key
        their per-operation memos on it."""
        operation = self._resolved.get(name)
        if operation is None and name in self.operation_names:
            found = resolve_operation(self.name, name)
            assert found is not None  # INVARIANT: one of the model's operations
            operation = self._resolved[name] = found
        return operation


@functools.cache
def service_spec(name: str) -> ServiceSpec:
    """Index ``name``'s service-2 model once per process."""
    model = service_model(name)
    metadata = model.metadata
    return ServiceSpec(
        name=name,
        protocol=metadata["protocol"],
        api_version=metadata["apiVersion"],
        xml_namespace=metadata.get("xmlNamespace"),
        target_prefix=metadata.get("targetPrefix"),
        model=model,
        operation_names=frozenset(model.operation_names),
    )


_UNICODE_CATEGORY = re.compile(r"\\p\{(\w+)\}")


@functools.cache
def compile_pattern(java_pattern: str) -> re.Pattern[str]:
    """Compile a model (Java) regex so that ``fullmatch`` behaves as Java's ``matches``."""
    return re.compile(_translate_unicode_categories(java_pattern), re.ASCII)


def _translate_unicode_categories(pattern: str) -> str:
    """Replace ``\\p{X}`` with an explicit class of the code points in category X."""
    out: list[str] = []
    depth = 0  # inside a [...] class?
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            match = _UNICODE_CATEGORY.match(pattern, i)
            if match:
                ranges = _category_ranges(match.group(1))
                out.append(ranges if depth else f"[{ranges}]")
                i = match.end()
                continue
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if char == "[":
            depth += 1
        elif char == "]" and depth:
            depth -= 1
        out.append(char)
        i += 1
    return "".join(out)


@functools.cache
def _category_ranges(category: str) -> str:
    """Regex class body (no brackets) for a major Unicode class such as ``L`` or ``N``."""
    if len(category) != 1 or category not in "CLMNPSZ":
        raise ValueError(f"unsupported Unicode category \\p{{{category}}} in a model pattern")
    return "".join(f"\\U{m.start():08X}-\\U{m.end() - 1:08X}" for m in re.finditer(re.escape(category) + "+", _major_classes()))


@functools.cache
def _major_classes() -> str:
    """One letter per code point: the major class of its general category (``L``, ``N``, …).

    Built once (about 0.2 s) so that class spans can be found with a C-speed regex scan.
    """
    first_letter = operator.itemgetter(0)
    code_points = map(chr, range(sys.maxunicode + 1))
    return "".join(map(first_letter, map(unicodedata.category, code_points)))
