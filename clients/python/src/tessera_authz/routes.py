"""The route table: which action on which resource a request asks for.

A route is a method and a path pattern (``/notebooks/{notebook}/notes/{note}``; a
parameter matches one path segment, ``{name+}`` the rest of the path), the action it
performs and a template of its resource's ARN, filled from the path parameters and
``{partition}``, ``{region}``, ``{account}``. Patterns are matched against the path as
received (still percent-encoded, so an encoded ``/`` stays inside its segment); the
parameters are the decoded segments.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(\+?)\}")


@dataclass(frozen=True)
class Resource:
    """What the resource server knows of a resource: its owner, resource policy and tags."""

    account: str | None = None
    policy: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Match:
    """A request matched to a route: the route and the path parameters."""

    route: Route
    params: Mapping[str, str]


# A lookup of the resource a matched request names (None: unknown, the defaults apply).
ResourceLookup = Callable[[Match], Resource | None]
# Extra condition keys of a request: name → (type, values), as AuthorizeRequest takes them.
ContextFunction = Callable[[Match, Mapping[str, Any]], Mapping[str, tuple[str, Sequence[str]]]]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    action: str
    resource: str = "*"
    lookup: ResourceLookup | None = None
    context: ContextFunction | None = None
    public: bool = False  # no authorization at all (health checks)
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.pattern.startswith("/"):
            raise ValueError(f"route pattern must start with '/': {self.pattern!r}")
        if not self.public and not re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9*]+", self.action):
            raise ValueError(f"route action must read service:Action: {self.action!r}")
        names = [m.group(1) for m in _PARAM.finditer(self.pattern)]
        if len(names) != len(set(names)):
            raise ValueError(f"route pattern repeats a parameter: {self.pattern!r}")
        unknown = {m.group(1) for m in _PARAM.finditer(self.resource)} - set(names) - {"partition", "region", "account"}
        if unknown:
            raise ValueError(f"resource template names unknown parameters {sorted(unknown)}: {self.resource!r}")
        regex, last = "", 0
        for m in _PARAM.finditer(self.pattern):
            regex += re.escape(self.pattern[last : m.start()])
            regex += f"(?P<{m.group(1)}>.+)" if m.group(2) else f"(?P<{m.group(1)}>[^/]+)"
            last = m.end()
        regex += re.escape(self.pattern[last:])
        object.__setattr__(self, "_regex", re.compile(regex))

    def match(self, method: str, path: str) -> Match | None:
        if method.upper() != self.method.upper():
            return None
        found = self._regex.fullmatch(path)
        if found is None:
            return None
        return Match(self, {k: unquote(v) for k, v in found.groupdict().items()})

    def resource_arn(self, params: Mapping[str, str], *, partition: str, region: str, account: str) -> str:
        values = {**params, "partition": partition, "region": region, "account": account}
        return _PARAM.sub(lambda m: values[m.group(1)], self.resource)


class RouteTable:
    """Routes tried in order; the first that matches method and path wins."""

    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = tuple(routes)

    def match(self, method: str, raw_path: str) -> Match | None:
        # Matched on the path with its segments intact: an encoded '/' (%2F) stays in its segment.
        segments = raw_path.split("?", 1)[0]
        for route in self.routes:
            found = route.match(method, segments)
            if found is not None:
                return found
        return None

    def path_known(self, raw_path: str) -> bool:
        return any(route._regex.fullmatch(raw_path) for route in self.routes)
