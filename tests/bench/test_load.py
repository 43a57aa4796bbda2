"""The load benchmark's own logic: pre-signed targets Tessera would accept, and the
verdicts drawn from measurements (a refused run is never a result)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from botocore.credentials import Credentials

from bench import load
from bench.wrk import WrkResult
from tessera.auth import presign, sigv4
from tessera.auth.authenticate import AuthSettings, HttpRequest, ResolvedCredential, headers_from_raw, verify
from tessera.auth.caller import Caller

PRINCIPAL = load.Principal(
    "AKIAEXAMPLEBENCH0001", "benchSecretKey000000000000000000000000000", "arn:aws:iam::123456789012:role/bench-role-009"
)
HOST = "127.0.0.1:8686"


def expected_signature(target: str) -> tuple[str, str]:
    """(signature carried, signature Tessera's SigV4 steps compute) for one target."""
    path, _, query = target.partition("?")
    pairs = sigv4.query_pairs(query)
    params = presign.parse_presigned(pairs)
    creq = presign.presigned_canonical_request("GET", path, pairs, {"host": HOST}, params, sigv4.payload_hash(b""))
    scope = sigv4.credential_scope(params.credential.date, params.credential.region, params.credential.service)
    key = sigv4.signing_key(PRINCIPAL.secret_access_key, params.credential.date, params.credential.region, "sts")
    return params.signature, sigv4.signature(key, sigv4.string_to_sign(params.timestamp, scope, creq))


@pytest.mark.parametrize("operation", load.OPERATIONS)
def test_targets_are_distinct_and_verify_with_tesseras_sigv4(tmp_path: Path, operation: str) -> None:
    targets = load.write_targets(tmp_path / "t.txt", f"http://{HOST}", PRINCIPAL, operation, 20)
    assert len(set(targets)) == 20
    assert (tmp_path / "t.txt").read_text().splitlines() == targets
    for target in targets[:3]:
        carried, computed = expected_signature(target)
        assert carried == computed


def test_each_assume_role_target_has_its_own_session_name(tmp_path: Path) -> None:
    targets = load.write_targets(tmp_path / "t.txt", f"http://{HOST}", PRINCIPAL, load.ASSUME_ROLE, 5)
    params = [dict(parse_qsl(t.partition("?")[2])) for t in targets]
    assert {p["RoleArn"] for p in params} == {PRINCIPAL.role_arn}
    assert [p["RoleSessionName"] for p in params] == [f"bench-{i:05d}" for i in range(5)]


def measurement(server: str, operation: str, concurrency: int, rps: float, *, p99: float = 2.0, refused: int = 0) -> load.Measurement:
    result = WrkResult(requests=int(rps * 5), seconds=5.0, rps=rps, p50_ms=1.0, p99_ms=p99, refused=refused, socket_errors=0)
    return load.Measurement(server, operation, concurrency, result, server_cpu=1.0)


def results(
    *,
    assume_rps: float = 13_000,
    refused: int = 0,
    with_moto: bool = True,
    web_identity_rps: float = 12_000,
    flood: load.Flood | None = None,
    authorize_rps: float = 14_000,
    with_floor: bool = True,
    assume_floor_rps: float = 15_000,
) -> load.Results:
    reports = [load.ServerReport(load.CEILING, [measurement(load.CEILING, load.FIXED, c, 30_000) for c in (16, 64)])]
    for server in (load.TESSERA, load.TESSERA_SCALE):
        rows = [measurement(server, load.ASSUME_ROLE, c, assume_rps, refused=refused if c == 16 else 0) for c in (16, 64)]
        rows += [measurement(server, load.CALLER_IDENTITY, c, 17_000) for c in (16, 64)]
        if server == load.TESSERA:
            rows.append(measurement(server, load.AUTHORIZE, 16, authorize_rps))
        reports.append(load.ServerReport(server, rows))
    tessera = reports[1]
    tessera.measurements += [measurement(load.TESSERA, op, c, web_identity_rps) for op in load.FEDERATION for c in (16, 64)]
    tessera.flood = flood or load.Flood(requests=5000, refused=5000, jwks_requests=1, seconds=5.0, refetch_seconds=10.0)
    if with_floor:
        rows = [measurement(load.FLOOR, load.ASSUME_ROLE, c, assume_floor_rps) for c in (16, 64)]
        rows += [measurement(load.FLOOR, load.CALLER_IDENTITY, c, 20_000) for c in (16, 64)]
        reports.append(load.ServerReport(load.FLOOR, rows))
    if with_moto:
        reports.append(load.ServerReport(load.MOTO, [measurement(load.MOTO, op, 16, 300) for op in load.OPERATIONS]))
    return load.Results(reports)


class _Keys:
    """Two key pairs, as a credential resolver: the resource server's and the bench user's."""

    def __init__(self, *pairs: tuple[str, str]) -> None:
        self.secrets = dict(pairs)

    def resolve(self, access_key_id: str, security_token: str | None) -> ResolvedCredential:
        caller = Caller("user", "123456789012", f"arn:aws:iam::123456789012:user/{access_key_id}", "AIDA0", access_key_id, access_key_id)
        return ResolvedCredential(self.secrets[access_key_id], caller)


def test_authorize_requests_are_distinct_and_both_signatures_verify(tmp_path: Path) -> None:
    server = Credentials("AKIAEXAMPLENOTES0001", "notesSecretKey00000000000000000000000000")
    lines = load.write_authorize_requests(tmp_path / "r.txt", f"http://{HOST}", server, PRINCIPAL, 5)
    assert len(set(lines)) == 5 and (tmp_path / "r.txt").read_text().splitlines() == lines
    keys = _Keys((server.access_key, server.secret_key), (PRINCIPAL.access_key_id, PRINCIPAL.secret_access_key))
    now = dt.datetime.now(dt.UTC)
    for line in lines[:2]:
        method, path, body, *header_lines = line.split("\t")
        headers = headers_from_raw([("host", HOST), *(tuple(h.split(": ", 1)) for h in header_lines)])
        outer = verify(HttpRequest(method, path, "", headers, body.encode()), now, keys, AuthSettings(services=frozenset({"tessera"})))
        assert outer.caller.access_key_id == server.access_key
        assert headers["x-amz-target"] == load.AUTHORIZE_TARGET
        client = json.loads(body)["Request"]
        inner_headers = headers_from_raw((h["Name"], h["Value"]) for h in client["Headers"])
        inner = verify(
            HttpRequest(client["Method"], client["Path"], "", inner_headers), now, keys, AuthSettings(services=frozenset({"notes"}))
        )
        assert inner.caller.access_key_id == PRINCIPAL.access_key_id


def test_authorize_below_four_fifths_of_get_caller_identity_is_not_met() -> None:
    assert verdicts(load.targets(results(authorize_rps=13_600)))["AuthorizeRequest vs GetCallerIdentity (c=16)"] is True
    assert verdicts(load.targets(results(authorize_rps=13_500)))["AuthorizeRequest vs GetCallerIdentity (c=16)"] is False


def verdicts(found: list[load.Target]) -> dict[str, bool]:
    return {t.name: t.met for t in found}


def test_fast_enough_server_meets_every_target() -> None:
    found = load.targets(results())
    assert all(t.met for t in found), [t for t in found if not t.met]
    assert {t.name: t.value for t in found}["AssumeRole vs ceiling (c=16)"] == pytest.approx(13_000 / 30_000, abs=1e-3)


def test_throughput_below_the_floor_is_not_met() -> None:
    found = verdicts(load.targets(results(assume_rps=6_000)))
    assert found["AssumeRole vs ceiling (c=16)"] is False
    assert found["AssumeRole vs moto (c=16)"] is False  # 20x moto
    assert found["GetCallerIdentity vs ceiling (c=16)"] is True


def test_a_run_with_refusals_is_not_a_result() -> None:
    found = {t.name: t for t in load.targets(results(refused=3))}
    target = found["AssumeRole vs ceiling (c=16)"]
    assert (target.met, target.value) == (False, None)
    assert "3 refused" in target.why


def test_missing_moto_leaves_its_target_unmet_and_says_why() -> None:
    target = {t.name: t for t in load.targets(results(with_moto=False))}["AssumeRole vs moto (c=16)"]
    assert not target.met
    assert target.why == "moto AssumeRole c=16 not measured"


def test_table_reports_ratios_to_the_ceiling() -> None:
    text = load.table(results(), (16, 64))
    line = next(row for row in text.splitlines() if row.startswith("AssumeRole") and " tessera " in row and " 16 " in row)
    assert line.split()[-2:] == ["0.43", "43.3"]


def test_targets_show_what_the_floor_reached() -> None:
    measured = results(assume_rps=6_000, with_floor=False)
    floor = [measurement(load.FLOOR, load.ASSUME_ROLE, c, 9_000, p99=12.5) for c in (16, 64)]
    measured = load.Results([*measured.reports, load.ServerReport(load.FLOOR, floor)])
    found = {t.name: t for t in load.targets(measured)}
    assert found["AssumeRole vs ceiling (c=16)"].floor == pytest.approx(0.3)
    assert found["AssumeRole vs moto (c=16)"].floor == pytest.approx(30.0)
    assert found["AssumeRole p99 at c=64"].floor == 12.5
    assert found["GetCallerIdentity vs ceiling (c=16)"].floor is None  # the floor did not run it
    assert found["AssumeRole 100k roles vs 10 (c=16)"].floor is None  # no floor for a scale ratio
    assert "(floor 0.3)" in load.targets_table(list(found.values()))


def test_throughput_against_the_floor_in_the_same_run() -> None:
    found = {t.name: t for t in load.targets(results(assume_rps=13_000, assume_floor_rps=16_000))}
    assert found["AssumeRole vs floor (c=16)"].value == pytest.approx(13_000 / 16_000, abs=1e-3)
    assert found["AssumeRole vs floor (c=16)"].met
    assert found["GetCallerIdentity vs floor (c=16)"].value == pytest.approx(17_000 / 20_000, abs=1e-3)
    assert found["AssumeRole vs floor (c=16)"].floor is None  # the floor against itself says nothing
    below = {t.name: t for t in load.targets(results(assume_rps=13_000, assume_floor_rps=16_500))}
    assert not below["AssumeRole vs floor (c=16)"].met  # 0.788
    missing = {t.name: t for t in load.targets(results(with_floor=False))}["GetCallerIdentity vs floor (c=16)"]
    assert (missing.met, missing.why) == (False, "floor GetCallerIdentity c=16 not measured")


@pytest.mark.parametrize(("p99", "met"), [(3.0, True), (3.1, False)])
def test_the_tail_at_64_is_held_to_three_times_its_median(p99: float, met: bool) -> None:
    measured = results()
    slow = [measurement(load.TESSERA, load.ASSUME_ROLE, 64, 13_000, p99=p99)]  # p50 1.0 ms
    floor = [measurement(load.FLOOR, load.ASSUME_ROLE, 64, 15_000, p99=2.5)]
    reports = [*measured.reports, load.ServerReport("extra", slow), load.ServerReport(load.FLOOR, floor)]
    found = {t.name: t for t in load.targets(load.Results(reports))}
    target = found["AssumeRole p99/p50 at c=64"]
    assert (target.value, target.met, target.floor) == (p99, met, 2.5)
    assert found["GetCallerIdentity p99/p50 at c=64"].met


def test_federation_is_measured_against_assume_role_in_the_same_run() -> None:
    found = {t.name: t for t in load.targets(results(web_identity_rps=9_000))}
    target = found["AssumeRoleWithWebIdentity vs AssumeRole (c=16)"]
    assert target.value == pytest.approx(9_000 / 13_000, abs=1e-3)
    assert not target.met
    assert not found["workload-creds vs AssumeRole (c=16)"].met
    assert found["unknown-kid flood: JWKS requests at the IdP"].met


@pytest.mark.parametrize(
    ("flood", "why"),
    [
        (load.Flood(requests=5000, refused=5000, jwks_requests=3, seconds=5.0, refetch_seconds=10.0), ""),
        (load.Flood(requests=5000, refused=4990, jwks_requests=1, seconds=5.0, refetch_seconds=10.0), "10 flood tokens accepted"),
    ],
)
def test_a_flood_that_reaches_the_idp_too_often_or_is_accepted_is_not_met(flood: load.Flood, why: str) -> None:
    target = {t.name: t for t in load.targets(results(flood=flood))}["unknown-kid flood: JWKS requests at the IdP"]
    assert (target.met, target.why, target.goal) == (False, why, "<= 1")


def test_the_flood_allows_one_fetch_per_refetch_period_and_one_at_once() -> None:
    flood = load.Flood(requests=100, refused=100, jwks_requests=4, seconds=30.5, refetch_seconds=10.0)
    assert (flood.allowed, flood.met) == (4, True)
