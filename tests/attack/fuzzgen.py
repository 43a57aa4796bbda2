"""A seeded request generator for fuzzing a running ``tessera serve``.

The generator speaks the three wire protocols Tessera serves, driven by botocore's own
service models (the wire contract): for every IAM and STS Query operation and every
Organizations awsJson1_1 operation it builds a request whose members are filled with
hostile values (wrong types, lengths at and past AWS's limits, unicode that case-folds,
non-ASCII digits, numbers of thousands of digits, deep and sparse lists, missing and
extra members), and either signs it correctly (so it reaches validation and the
handlers) or mangles the envelope (garbage headers, bad percent-encoding, odd methods
and paths, truncated and tampered signatures, presigned URLs with broken parameters).

Everything comes from one ``random.Random(seed)``: the same seed and count give the same
requests, so a failure is reproduced by re-running with the seed and index the report
prints (``FuzzCase.index``). ``run(...)`` sends the cases and collects every 5xx with
the request id the server logged it under; ``tests/attack/test_fuzz.py`` runs a short
batch in ``make test`` and ``make fuzz`` a long one.
"""

from __future__ import annotations

import http.client
import json
import random
import re
import string
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from botocore.loaders import Loader
from serverproc import ACCOUNT_ID, REGION, Credentials

FORM = "application/x-www-form-urlencoded; charset=utf-8"
JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
QUERY_SERVICES = {"iam": "2010-05-08", "sts": "2011-06-15"}
ORGANIZATIONS_PREFIX = "AWSOrganizationsV20161128"


# -- the service models ------------------------------------------------------------------
@dataclass(frozen=True)
class Model:
    service: str
    shapes: dict[str, Any]
    operations: dict[str, Any]

    def input_shape(self, operation: str) -> dict[str, Any] | None:
        ref = self.operations[operation].get("input")
        return self.shapes[ref["shape"]] if ref else None


def load_models() -> dict[str, Model]:
    loader = Loader()
    models = {}
    for service in ("iam", "sts", "organizations"):
        data = loader.load_service_model(service, "service-2")
        models[service] = Model(service, data["shapes"], data["operations"])
    return models


# -- hostile values ----------------------------------------------------------------------
HUGE_DIGITS = "9" * 5000
NUMBERS = [
    "0",
    "-1",
    "1",
    "2",
    "10",
    "100",
    "900",
    "901",
    "1000",
    "3600",
    "43200",
    "43201",
    "129600",
    "2147483647",
    "2147483648",
    "-2147483649",
    "9223372036854775807",
    "9223372036854775808",
    "99999999999999999999999999",
    HUGE_DIGITS,
    "-" + HUGE_DIGITS,
    "0" * 3000 + "1",
    "\u0663\u0666\u0660\u0660",  # Arabic-Indic 3600
    "\uff13\uff16\uff10\uff10",  # full-width 3600
    "\u0969\u0966",  # Devanagari 30
    "\u00b2",
    "9\u00b2",
    "\u2460\u2461",  # digits to str.isdigit() that int() refuses (superscript, circled)
    "1e3",
    "0x10",
    "010",
    " 10",
    "10 ",
    "+10",
    "1_000",
    "1.5",
    "NaN",
    "Infinity",
    "-0",
    "",
    "ten",
]
BOOLEANS = ["true", "false", "True", "FALSE", "1", "0", "yes", "", "tru\u0435"]
TIMESTAMPS = [
    "2026-01-01T00:00:00Z",
    "2026-13-45T99:99:99Z",
    "1970-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "0",
    "-1",
    HUGE_DIGITS,
    "yesterday",
    "",
    "2026-01-01T00:00:00+99:00",
]
TRICKY_TEXT = [
    "",
    " ",
    "a",
    "A" * 64,
    "A" * 65,
    "b" * 128,
    "c" * 129,
    "d" * 512,
    "e" * 2048,
    "f" * 3000,
    "g" * 20000,
    "\u00e9",
    "\u00df",
    "\u0130",
    "\u0131",
    "\u212a",
    "\u017f",
    "\U0001d49c",
    "\U0001f600" * 40,
    "\u200b",
    "\ufeff",
    "\u0000",
    "\x7f",
    "\t",
    "x\ny",
    "x\rz",
    "%",
    "%zz",
    "%00",
    "+",
    "&=&",
    "a=b",
    "<x>&amp;'\"",
    "]]>",
    "{",
    "}",
    "*",
    "?",
    "/",
    "//",
    "/../",
    "/a/b/",
    "..",
    "${aws:username}",
    "${",
    "$$",
    "\\",
    "\\u0000",
    "null",
    "arn:aws:iam::*:user/*",
    "arn:AWS:IAM::" + ACCOUNT_ID + ":user/x",
    "arn:aws:iam::" + ACCOUNT_ID + ":",
    "arn:",
    "arn:aws:iam::1:role/r",
    "\u0430rn:aws:iam::" + ACCOUNT_ID + ":root",
]
NAME_CHARS = string.ascii_letters + string.digits + "+=,.@_-"
UNICODE_POOL = "\u00e9\u00df\u0130\u0131\u212a\u017f\u0391\u03a3\u0416\u4e2d\u0663\U0001f600\u200d\u0301"


def policy_documents() -> list[str]:
    """Policy documents from sane to hostile (integers of thousands of digits, deep nesting)."""
    allow = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    return [
        json.dumps(allow),
        json.dumps({"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Action": "iam:*", "NotResource": "*"}}),
        json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "*"}}]}),
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":'
        '{"NumericLessThan":{"aws:MultiFactorAuthAge":' + HUGE_DIGITS + "}}}]}",
        '{"Version":"2012-10-17","Statement":[{"Sid":' + "1" * 4400 + ',"Effect":"Allow","Action":"*","Resource":"*"}]}',
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":'
        '{"NumericEquals":{"aws:EpochTime":1e99999}}}]}',
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":'
        '{"DateLessThan":{"aws:CurrentTime":"' + HUGE_DIGITS + '"}}}]}',
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:' + "?" * 300 + '","Resource":"*"}]}',
        "[" * 3000 + "]" * 3000,
        '{"a":' * 600 + "1" + "}" * 600,
        '{"Version":"2012-10-17","Statement":[]}',
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow"}]}',
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":[],"Resource":[[["*"]]]}]}',
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringLike":'
        '{"aws:username":[' + ",".join(['"a*b*c*d?"'] * 200) + "]}}}]}",
        '{"Version":"2012-10-17","Version":"2008-10-17","Statement":[]}',
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]',
        "\ufeff" + json.dumps(allow),
        json.dumps(allow).replace("Allow", "\u0391llow"),
        "null",
        "1",
        '"x"',
        "{}",
        "",
    ]


class Values:
    """Hostile and realistic values for a member, chosen by its shape and its name."""

    def __init__(self, rng: random.Random, names: Sequence[str], arns: Sequence[str]) -> None:
        self.rng = rng
        self.names = list(names)
        self.arns = list(arns)
        self.documents = policy_documents()

    def text(self, member: str, shape: dict[str, Any]) -> str:
        rng = self.rng
        roll = rng.random()
        lower = member.lower()
        if "document" in lower or lower in ("policy", "content"):
            if roll < 0.8:
                return rng.choice(self.documents)
        elif lower.endswith(("arn", "arns")) or lower in ("resourceid", "targetid"):
            if roll < 0.5:
                return rng.choice(self.arns)
            if roll < 0.65:
                arn = rng.choice(self.arns)
                return self._case_twist(arn)
        elif lower.endswith(("name", "id")) or lower in ("path", "pathprefix", "marker"):
            if roll < 0.45:
                return rng.choice(self.names)
            if roll < 0.55:
                return self._case_twist(rng.choice(self.names))
        if "enum" in shape and roll < 0.7:
            value = str(rng.choice(shape["enum"]))
            return value if rng.random() < 0.7 else self._case_twist(value)
        return self.nasty_text(shape)

    def nasty_text(self, shape: dict[str, Any] | None = None) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.35:
            return rng.choice(TRICKY_TEXT)
        if roll < 0.55 and shape is not None and ("min" in shape or "max" in shape):
            bound = int(shape.get("max", shape.get("min", 1)))
            length = max(0, bound + rng.choice([-1, 0, 1, 2, 100, 3000]))
            return "".join(rng.choice(NAME_CHARS) for _ in range(min(length, 40000)))
        if roll < 0.6:
            return "".join(rng.choice(NAME_CHARS) for _ in range(rng.choice([129, 257, 513, 3000, 9000])))
        if roll < 0.75:
            length = rng.choice([1, 3, 16, 63, 64, 65, 200, 1025, 3000])
            return "".join(rng.choice(NAME_CHARS + UNICODE_POOL) for _ in range(length))
        if roll < 0.85:
            return rng.choice(NUMBERS)
        if roll < 0.92:
            return rng.choice(self.names) + rng.choice(["*", "?", "/", "%", "\u212a", "\u0130", " ", "\u0000"])
        return "".join(chr(rng.randrange(0x20, 0x2FFF)) for _ in range(rng.choice([1, 8, 100])))

    def _case_twist(self, value: str) -> str:
        rng = self.rng
        twist = rng.randrange(4)
        if twist == 0:
            return value.swapcase()
        if twist == 1:
            return value.upper()
        if twist == 2:
            return value.replace("k", "\u212a").replace("K", "\u212a").replace("s", "\u017f")
        return value.replace("arn:aws:", "arn:AWS:", 1)

    def scalar_for(self, member: str, shape: dict[str, Any]) -> str:
        kind = shape["type"]
        rng = self.rng
        if kind in ("integer", "long"):
            if rng.random() < 0.5 and ("min" in shape or "max" in shape):
                bound = int(shape.get("max", shape.get("min", 0)))
                return str(bound + rng.choice([-1, 0, 1, 10**9]))
            return rng.choice(NUMBERS)
        if kind == "boolean":
            return rng.choice(BOOLEANS)
        if kind == "timestamp":
            return rng.choice(TIMESTAMPS)
        if kind == "blob":
            return rng.choice(["", "AAAA", "not base64!", "=" * 9, "QUJD" * 2000, "\u00e9"])
        if kind in ("float", "double"):
            return rng.choice(["1.5", "NaN", "1e400", "-inf", HUGE_DIGITS])
        if rng.random() < 0.05:
            return rng.choice(NUMBERS)
        return self.text(member, shape)


# -- Query serialisation (IAM and STS) ---------------------------------------------------
class QueryBuilder:
    """``Name.member.N`` / ``Name.entry.N.key`` parameters from a model shape, with faults."""

    def __init__(self, model: Model, values: Values) -> None:
        self.model = model
        self.values = values
        self.rng = values.rng

    def params(self, operation: str) -> list[tuple[str, str]]:
        rng = self.rng
        out: list[tuple[str, str]] = []
        action = operation
        roll = rng.random()
        if roll < 0.02:
            action = operation.lower()
        elif roll < 0.03:
            action = rng.choice(["", "GetCallerIdentity\u0000", "Bogus", operation + " "])
        if rng.random() > 0.01:
            out.append(("Action", action))
        version = QUERY_SERVICES[self.model.service]
        roll = rng.random()
        if roll < 0.02:
            version = rng.choice(["", "2010-05-08", "2011-06-15", "2099-01-01", "\u0662\u0660\u0661\u0660"])
        if rng.random() > 0.01:
            out.append(("Version", version))
        shape = self.model.input_shape(operation)
        if shape is not None:
            self._structure("", shape, out, depth=0)
        if rng.random() < 0.1:
            out.append((rng.choice(["Bogus", "member.1", "Action", "Version", "a" * 300, "\u00e9"]), self.values.nasty_text()))
        if out and rng.random() < 0.05:
            out.append(rng.choice(out))  # a duplicated parameter
        if rng.random() < 0.1:
            rng.shuffle(out)
        return out

    def _structure(self, prefix: str, shape: dict[str, Any], out: list[tuple[str, str]], depth: int) -> None:
        required = set(shape.get("required", ()))
        for member, ref in shape.get("members", {}).items():
            roll = self.rng.random()
            if member in required and roll < 0.05:
                continue  # a missing required member
            if member not in required and roll < 0.45:
                continue
            name = ref.get("locationName", member)
            self._value(f"{prefix}{name}", member, self.model.shapes[ref["shape"]], out, depth + 1)

    def _value(self, key: str, member: str, shape: dict[str, Any], out: list[tuple[str, str]], depth: int) -> None:
        rng = self.rng
        kind = shape["type"]
        if depth > 6:
            return
        if kind == "structure":
            self._structure(key + ".", shape, out, depth)
            if rng.random() < 0.05:
                out.append((key, self.values.nasty_text()))  # a scalar where a structure goes
        elif kind == "list":
            element = self.model.shapes[shape["member"]["shape"]]
            count = rng.choice([0, 1, 1, 2, 3, 11, 60])
            indices: list[Any] = list(range(1, count + 1))
            if rng.random() < 0.1:
                indices = [rng.choice([0, -1, 2, 99999999, HUGE_DIGITS[:30], "\u0661", "x", ""]) for _ in range(max(count, 1))]
            item = "" if shape.get("flattened") else ".member"
            for index in indices:
                self._value(f"{key}{item}.{index}", member, element, out, depth)
            if count == 0 and rng.random() < 0.5:
                out.append((key, ""))
        elif kind == "map":
            key_shape = self.model.shapes[shape["key"]["shape"]]
            value_shape = self.model.shapes[shape["value"]["shape"]]
            for index in range(1, rng.choice([1, 2, 51]) + 1):
                self._value(f"{key}.entry.{index}.key", "Key", key_shape, out, depth)
                self._value(f"{key}.entry.{index}.value", "Value", value_shape, out, depth)
        else:
            out.append((key, self.values.scalar_for(member, shape)))


# -- JSON serialisation (Organizations) --------------------------------------------------
class JsonBuilder:
    def __init__(self, model: Model, values: Values) -> None:
        self.model = model
        self.values = values
        self.rng = values.rng

    def body(self, operation: str) -> bytes:
        rng = self.rng
        shape = self.model.input_shape(operation)
        document: Any = self._structure(shape, 0) if shape is not None else {}
        roll = rng.random()
        if roll < 0.03:
            return rng.choice(
                [
                    b"",
                    b"{",
                    b"[]",
                    b"null",
                    b"1",
                    b'"x"',
                    b"{}" * 2,
                    b"\xff\xfe{}",
                    b"[" * 5000,
                    b'{"a":' * 2000,
                    b'{"Name": NaN}',
                    b'{"\\ud800": 1}',
                    b"\xef\xbb\xbf{}",
                ]
            )
        text = json.dumps(document, ensure_ascii=rng.random() < 0.5)
        if roll < 0.06:
            text = text.replace("}", ', "Bogus": 1}', 1)
        elif roll < 0.08 and len(text) > 2:
            text = text[: rng.randrange(1, len(text))]
        elif roll < 0.1:
            text = text.replace('"', '"' + "\u212a", 1)
        return text.replace('"__HUGE__"', HUGE_DIGITS).encode("utf-8", "surrogatepass")

    def _structure(self, shape: dict[str, Any], depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        required = set(shape.get("required", ()))
        for member, ref in shape.get("members", {}).items():
            roll = self.rng.random()
            if (member in required and roll < 0.05) or (member not in required and roll < 0.45):
                continue
            out[member] = self._value(member, self.model.shapes[ref["shape"]], depth + 1)
        return out

    def _value(self, member: str, shape: dict[str, Any], depth: int) -> Any:
        rng = self.rng
        if rng.random() < 0.07:  # a value of the wrong type
            return rng.choice([None, True, 0, -1, 1.5, "__HUGE__", "x", [], {}, [[["x"]]], {"a": {"b": 1}}, 2**70])
        kind = shape["type"]
        if depth > 6:
            return None
        if kind == "structure":
            return self._structure(shape, depth)
        if kind == "list":
            element = self.model.shapes[shape["member"]["shape"]]
            return [self._value(member, element, depth + 1) for _ in range(rng.choice([0, 1, 2, 3, 21]))]
        if kind == "map":
            value_shape = self.model.shapes[shape["value"]["shape"]]
            return {self.values.nasty_text(): self._value(member, value_shape, depth + 1) for _ in range(rng.choice([0, 1, 2]))}
        if kind in ("integer", "long"):
            return rng.choice([0, -1, 1, 20, 1000, 2**31, 2**63, "__HUGE__", "10", 1.5, "\u0663"])
        if kind == "boolean":
            return rng.choice([True, False, "true", 0, None])
        if kind == "timestamp":
            return rng.choice([0, -1, 1.5e300, "2026-01-01T00:00:00Z", "x", "__HUGE__"])
        return self.values.scalar_for(member, shape)


# -- cases -------------------------------------------------------------------------------
@dataclass
class FuzzCase:
    index: int
    kind: str
    label: str
    method: str
    target: str
    headers: list[tuple[str, str | bytes]]
    body: bytes


@dataclass
class FuzzFailure:
    case: FuzzCase
    status: int
    request_id: str
    excerpt: str

    def describe(self) -> str:
        body = self.case.body[:300]
        return (
            f"#{self.case.index} {self.case.kind} {self.case.label} -> {self.status} (request id {self.request_id})\n"
            f"  {self.case.method} {self.case.target[:300]}\n  body[:300]={body!r}\n  {self.excerpt[:300]}"
        )


@dataclass
class FuzzReport:
    sent: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[FuzzFailure] = field(default_factory=list)
    connection_errors: int = 0

    def distinct(self) -> dict[str, list[FuzzFailure]]:
        """Failures grouped by fault: the operation and the last traceback line, numbers blurred."""
        groups: dict[str, list[FuzzFailure]] = {}
        for failure in self.failures:
            last = failure.excerpt.rpartition(" | ")[2].split(" request_id=")[0]
            blurred = re.sub(r"\([^()]*\)$", "(...)", re.sub(r"'[^']*'", "'...'", re.sub(r"[0-9]+", "N", last)))
            key = blurred or f"(no traceback) {failure.case.label}"
            groups.setdefault(key, []).append(failure)
        return groups

    def summary(self, limit: int = 25) -> str:
        groups = self.distinct()
        lines = [f"{len(self.failures)} of {self.sent} requests got a 5xx, {len(groups)} distinct faults:"]
        for key, failures in list(groups.items())[:limit]:
            operations = sorted({failure.case.label for failure in failures})
            lines.append(f"- {key} ({len(failures)}x, in {', '.join(operations[:12])}); first: {failures[0].describe()}")
        return "\n".join(lines)


class Generator:
    """Seeded fuzz cases for a server at ``host`` signed with ``creds`` (the first is used most)."""

    def __init__(
        self,
        seed: int,
        host: str,
        creds: Sequence[Credentials],
        names: Sequence[str],
        arns: Sequence[str],
        implemented: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.rng = random.Random(seed)
        self.host = host
        self.creds = list(creds)
        self.models = load_models()
        self.values = Values(self.rng, names, arns)
        implemented = implemented or (lambda service, operation: True)
        self.operations: dict[str, list[str]] = {}
        self.unimplemented: list[tuple[str, str]] = []
        for service, model in self.models.items():
            ops = sorted(model.operations)
            self.operations[service] = [op for op in ops if implemented(service, op)]
            self.unimplemented += [(service, op) for op in ops if not implemented(service, op)]

    def cases(self, count: int) -> Iterator[FuzzCase]:
        makers: list[tuple[float, Callable[[int], FuzzCase | None]]] = [
            (0.40, self.signed_query),
            (0.15, self.signed_json),
            (0.06, self.signed_query_get),
            (0.07, self.presigned),
            (0.12, self.tampered),
            (0.20, self.unsigned),
        ]
        weights = [weight for weight, _ in makers]
        index = 0
        while index < count:
            maker = self.rng.choices([m for _, m in makers], weights)[0]
            case = maker(index)
            if case is not None:
                yield case
                index += 1

    # -- helpers --
    def _creds(self) -> Credentials:
        return self.creds[0] if self.rng.random() < 0.8 or len(self.creds) == 1 else self.rng.choice(self.creds)

    def _operation(self, service: str) -> str:
        if self.unimplemented and self.rng.random() < 0.03:
            return self.rng.choice([op for s, op in self.unimplemented if s == service] or self.operations[service])
        return self.rng.choice(self.operations[service])

    def _sign(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes,
        service: str,
        creds: Credentials | None = None,
        region: str = REGION,
    ) -> list[tuple[str, str | bytes]]:
        creds = creds or self._creds()
        request = AWSRequest(method, f"http://{self.host}{target}", data=body, headers=headers)
        boto = BotoCredentials(creds.access_key_id, creds.secret_access_key, creds.session_token)
        SigV4Auth(boto, service, region).add_auth(request)
        return list(request.headers.items())

    def _content_type(self) -> str:
        roll = self.rng.random()
        if roll < 0.9:
            return FORM
        return self.rng.choice(
            [
                "application/x-www-form-urlencoded",
                "application/x-www-form-urlencoded; charset=latin-1",
                "application/x-www-form-urlencoded; charset=utf-16",
                "application/x-www-form-urlencoded; charset=bogus-8",
                "application/x-www-form-urlencoded; charset=",
                'application/x-www-form-urlencoded;;;charset="utf-8"',
                "APPLICATION/X-WWW-FORM-URLENCODED",
                "text/plain",
                "application/json",
                "",
                "multipart/form-data; boundary=x",
                "application/x-www-form-urlencoded; charset=utf-8; charset=idna",
                "application/x-www-form-urlencoded; charset=punycode",
                "application/x-www-form-urlencoded; charset=undefined",
                "application/x-www-form-urlencoded; charset=unicode_escape",
                "application/x-www-form-urlencoded; charset=utf-7",
                "application/x-www-form-urlencoded; charset=rot13",
                "application/x-www-form-urlencoded; charset=x\x00y",
            ]
        )

    def _query_body(self, service: str, operation: str) -> bytes:
        params = QueryBuilder(self.models[service], self.values).params(operation)
        text = urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
        roll = self.rng.random()
        if roll < 0.03:
            text += self.rng.choice(["&%zz=1", "&a=%", "&=", "&&&", "&a", "&%E9=1", "&x=%ED%A0%80", "&y=%FF%FE", "&+=+"])
        elif roll < 0.05:
            text = text.replace("%", "%25", 1)
        return text.encode("ascii")

    # -- signed --
    def signed_query(self, index: int) -> FuzzCase:
        service = "iam" if self.rng.random() < 0.75 else "sts"
        operation = self._operation(service)
        body = self._query_body(service, operation)
        headers = {"Content-Type": self._content_type()}
        if self.rng.random() < 0.1:
            headers["User-Agent"] = self.values.nasty_text()[:2000].encode("utf-8", "surrogatepass").decode("latin-1")
        signed = self._sign("POST", "/", headers, body, service)
        return FuzzCase(index, "signed-query", f"{service}:{operation}", "POST", "/", signed, body)

    def signed_query_get(self, index: int) -> FuzzCase | None:
        service = "iam" if self.rng.random() < 0.6 else "sts"
        operation = self._operation(service)
        query = self._query_body(service, operation).decode("ascii")
        try:
            signed = self._sign("GET", "/?" + query, {}, b"", service)
        except Exception:  # botocore refuses some hostile query strings; that is not the server's business
            return None
        return FuzzCase(index, "signed-get", f"{service}:{operation}", "GET", "/?" + query, signed, b"")

    def signed_json(self, index: int) -> FuzzCase:
        operation = self._operation("organizations")
        body = JsonBuilder(self.models["organizations"], self.values).body(operation)
        target = f"{ORGANIZATIONS_PREFIX}.{operation}"
        roll = self.rng.random()
        if roll < 0.03:
            target = self.rng.choice(
                [
                    "",
                    ".",
                    operation,
                    f"{ORGANIZATIONS_PREFIX}.",
                    f"Bogus.{operation}",
                    f"{ORGANIZATIONS_PREFIX}.{operation}.{operation}",
                    "x" * 3000,
                ]
            )
        content_type = (
            JSON_CONTENT_TYPE
            if self.rng.random() < 0.9
            else self.rng.choice(
                ["application/json", FORM, "", "application/x-amz-json-1.0", "application/x-amz-json-1.1; charset=latin-1"]
            )
        )
        headers = {"Content-Type": content_type, "X-Amz-Target": target}
        scope = "organizations" if self.rng.random() < 0.95 else self.rng.choice(["sts", "iam", "s3"])
        signed = self._sign("POST", "/", headers, body, scope)
        return FuzzCase(index, "signed-json", f"organizations:{operation}", "POST", "/", signed, body)

    def presigned(self, index: int) -> FuzzCase | None:
        rng = self.rng
        service = "sts" if rng.random() < 0.7 else "iam"
        operation = "GetCallerIdentity" if service == "sts" and rng.random() < 0.6 else self._operation(service)
        params = QueryBuilder(self.models[service], self.values).params(operation)
        url = f"http://{self.host}/?" + urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
        creds = self._creds()
        request = AWSRequest("GET", url)
        expires = rng.choice([1, 900, 3600, 604800, 604801])
        try:
            SigV4QueryAuth(
                BotoCredentials(creds.access_key_id, creds.secret_access_key, creds.session_token), service, REGION, expires=expires
            ).add_auth(request)
        except Exception:
            return None
        full = str(request.prepare().url)
        target = full[len(f"http://{self.host}") :]
        if rng.random() < 0.5:
            target = self._mangle_presigned(target)
        return FuzzCase(index, "presigned", f"{service}:{operation}", "GET", target, [("Host", self.host)], b"")

    def _mangle_presigned(self, target: str) -> str:
        rng = self.rng
        name = rng.choice(
            [
                "X-Amz-Expires",
                "X-Amz-Date",
                "X-Amz-Signature",
                "X-Amz-Credential",
                "X-Amz-SignedHeaders",
                "X-Amz-Algorithm",
                "X-Amz-Security-Token",
            ]
        )
        value = rng.choice(
            NUMBERS
            + TIMESTAMPS
            + [
                "",
                "%",
                "%zz",
                "host;x-amz-target",
                "AWS4-HMAC-SHA1",
                "a" * 5000,
                "\u0661\u0662",
                "20260101T000000Z",
                "AKIA/20260101/us-east-1/sts",
            ]
        )
        quoted = urllib.parse.quote(value, safe="%") if rng.random() < 0.8 else value.replace(" ", "+")
        if re.search(f"[?&]{name}=", target):
            return re.sub(f"([?&]{name}=)[^&]*", lambda m: m.group(1) + quoted, target, count=1)
        return f"{target}&{name}={quoted}"

    def tampered(self, index: int) -> FuzzCase:
        """A correctly signed request whose security headers are then mangled."""
        rng = self.rng
        service = rng.choice(["sts", "iam"])
        body = urllib.parse.urlencode(
            {"Action": "GetCallerIdentity" if service == "sts" else "ListUsers", "Version": QUERY_SERVICES[service]}
        ).encode()
        creds = self._creds()
        headers = dict(self._sign("POST", "/", {"Content-Type": FORM}, body, service, creds))
        auth = str(headers["Authorization"])
        kind = rng.randrange(9)
        if kind == 0:
            headers["Authorization"] = auth[: rng.randrange(len(auth))]
        elif kind == 1:
            position = rng.randrange(len(auth))
            headers["Authorization"] = auth[:position] + rng.choice(", =/;\u00e9x0") + auth[position + 1 :]
        elif kind == 2:
            headers["X-Amz-Date"] = rng.choice(TIMESTAMPS + NUMBERS + ["20260101T000000", "20261301T256199Z"])
        elif kind == 3:
            headers["Authorization"] = auth.replace("Credential=", "Credential=" + rng.choice(["", "/", "AKIA", "%"]), 1)
        elif kind == 4:
            token = str(headers.get("X-Amz-Security-Token", "AAAA"))
            position = rng.randrange(len(token))
            headers["X-Amz-Security-Token"] = rng.choice(
                [
                    token[:position],
                    token[:position] + "A" + token[position + 1 :],
                    token + "=",
                    token.replace("-", "+"),
                    "A" * 20000,
                    "",
                    "%%%",
                    token + "\u00e9",
                ]
            )
        elif kind == 5:
            del headers["X-Amz-Date"]
            headers["Date"] = rng.choice(["Tue, 01 Dec 2026 00:00:00 GMT", "garbage", "", HUGE_DIGITS])
        elif kind == 6:
            headers["Authorization"] = rng.choice(
                [
                    "AWS4-HMAC-SHA256",
                    "AWS4-HMAC-SHA256 ",
                    "AWS AKIA:sig",
                    "Bearer x",
                    "AWS4-HMAC-SHA256 Credential=",
                    auth.replace("SignedHeaders=", "SignedHeaders=;;", 1),
                    auth + ", Signature=00",
                    auth.replace("AWS4-HMAC-SHA256", "aws4-hmac-sha256"),
                    auth.replace(REGION, "\u00e9" * 3),
                    auth.replace("/aws4_request", "/aws4_request/x"),
                    auth.replace(REGION, "a" * 3000),
                ]
            )
        elif kind == 7:
            headers["X-Amz-Content-Sha256"] = rng.choice(["UNSIGNED-PAYLOAD", "x", "0" * 64, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"])
        else:
            headers[rng.choice(["X-Amz-Target", "X-Amz-Date", "X-Amz-Security-Token", "Authorization", "Host"])] = rng.choice(
                ["", "x", ORGANIZATIONS_PREFIX + ".ListAccounts", "\u00e9"]
            )
        items = [(k, v.encode("utf-8") if isinstance(v, str) and not v.isascii() else v) for k, v in headers.items()]
        return FuzzCase(index, "tampered", f"{service}:mangled-{kind}", "POST", "/", items, body)

    # -- unsigned --
    def unsigned(self, index: int) -> FuzzCase:
        rng = self.rng
        method = rng.choice(
            ["POST", "POST", "GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "FOO", "get", "CONNECT", "PROPFIND", "M" * 100]
        )
        path = rng.choice(
            [
                "/",
                "/",
                "/",
                "//",
                "/%zz",
                "/%00",
                "/../../etc/passwd",
                "/healthz",
                "/metrics",
                "/healthz/",
                "/" + "a" * 4000,
                "/\u00e9".encode().decode("latin-1"),
                "/?",
                "/;x",
                "/%2F",
                "*",
            ]
        )
        query = ""
        if rng.random() < 0.5:
            query = rng.choice(
                [
                    "Action=GetCallerIdentity&Version=2011-06-15",
                    "%zz",
                    "a=%",
                    "Action",
                    "&&=&",
                    "%E9",
                    "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=" + rng.choice(NUMBERS[:10]),
                    "X-Amz-Credential=%2F%2F%2F&X-Amz-Signature=0",
                    "a=" + "b" * 8000,
                    "+=+&%2B=%20",
                ]
            )
        target = path + ("?" + query if query and path != "*" else "")
        headers: list[tuple[str, str | bytes]] = [("Host", self.host)]
        for _ in range(rng.choice([0, 1, 2, 5, 40])):
            name = rng.choice(
                [
                    "Content-Type",
                    "X-Amz-Target",
                    "Authorization",
                    "X-Amz-Date",
                    "X-Amz-Security-Token",
                    "User-Agent",
                    "X-Forwarded-For",
                    "Transfer-Encoding",
                    "Expect",
                    "X-Amz-Content-Sha256",
                    "Content-Encoding",
                    "X-" + "h" * 200,
                    "Cookie",
                    "Range",
                ]
            )
            value = rng.choice(
                [
                    "",
                    "x",
                    "AWS4-HMAC-SHA256 Credential=a/b/c/d/e",
                    "gzip",
                    "100-continue",
                    f"{ORGANIZATIONS_PREFIX}.ListAccounts",
                    "application/x-amz-json-1.1",
                    "application/x-www-form-urlencoded; charset=bogus",
                    "1.2.3.4, 5.6.7.8",
                    "z" * 6000,
                    "\u00e9\u212a".encode(),
                    "\u0661",
                    "deflate, br",
                    "bytes=0-1",
                ]
            )
            if name == "Transfer-Encoding":
                continue  # http.client frames the body with Content-Length; a second framing is a different test
            headers.append((name, value))
        body = b""
        if method not in ("GET", "HEAD") or rng.random() < 0.2:
            body = rng.choice(
                [
                    b"",
                    b"Action=GetCallerIdentity&Version=2011-06-15",
                    b"%zz",
                    b"Action=%",
                    b"\xff\xfe\x00",
                    b"{}",
                    b'{"a":' * 1000,
                    b"A" * 70000,
                    b"&" * 5000,
                    b"Action=ListUsers&Version=2010-05-08&MaxItems=" + HUGE_DIGITS.encode(),
                    "Action=\u00e9".encode(),
                    b"a=" + b"%41" * 20000,
                ]
            )
        return FuzzCase(index, "unsigned", "-", method, target, headers, body)


# -- sending -----------------------------------------------------------------------------
def send(port: int, case: FuzzCase, timeout: float = 30) -> tuple[int, str, bytes]:
    """(status, request id, body) of one case; status 0 when the server hung up (a 4xx at the HTTP layer)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        target = "".join(c if 0x21 <= ord(c) < 0x7F else urllib.parse.quote(c) for c in case.target)
        connection.putrequest(case.method, target, skip_host=any(k.lower() == "host" for k, _ in case.headers), skip_accept_encoding=True)
        for name, value in case.headers:
            if name.lower() != "content-length":
                connection.putheader(name, _header_bytes(value))
        connection.putheader("Content-Length", str(len(case.body)))
        connection.endheaders(case.body)
        reply = connection.getresponse()
        return reply.status, reply.getheader("x-amzn-requestid") or "", reply.read()
    except (TimeoutError, ConnectionError, http.client.HTTPException):
        return 0, "", b""
    finally:
        connection.close()


def _header_bytes(value: str | bytes) -> bytes:
    """A header value as bytes on the wire: UTF-8 for text beyond Latin-1, line breaks dropped."""
    raw = value if isinstance(value, bytes) else value.encode("utf-8")
    return raw.replace(b"\r", b"").replace(b"\n", b"")


def run(port: int, cases: Iterator[FuzzCase], log_text: Callable[[], str]) -> FuzzReport:
    """Send every case; every status of 500 or more is a failure, with its log excerpt."""
    report = FuzzReport()
    pending: list[tuple[FuzzCase, int, str]] = []
    for case in cases:
        status, request_id, _ = send(port, case)
        report.sent += 1
        report.statuses[status] = report.statuses.get(status, 0) + 1
        if status == 0:
            report.connection_errors += 1
        if status >= 500:
            pending.append((case, status, request_id))
    log = log_text() if pending else ""
    for case, status, request_id in pending:
        report.failures.append(FuzzFailure(case, status, request_id, traceback_of(log, request_id)))
    return report


def traceback_of(log: str, request_id: str) -> str:
    """The last lines of the traceback logged for ``request_id`` (what names the fault)."""
    if not request_id or request_id not in log:
        return ""
    start = log.index(request_id)
    lines = log[start:].splitlines()
    block: list[str] = []
    for line in lines[1:]:
        if re.match(r"^\d{4}-\d{2}-\d{2}", line):
            break
        block.append(line)
    return " | ".join(block[-3:])
