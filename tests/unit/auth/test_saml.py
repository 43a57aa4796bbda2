"""SAML metadata and response verification (tessera.auth.saml): responses from pysaml2
(an independent IdP, signing with xmlsec1) verify; hand-crafted attacks are refused."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
from typing import Any

import pytest
from lxml import etree
from samlidp import (
    ATTR,
    AUDIENCE,
    DIGEST_SHA1,
    ENDPOINT,
    SAML,
    SIG_RSA_SHA1,
    Idp,
    assertion_element,
    crafted,
    encode,
    response_element,
    sign,
)

from tessera.auth.saml import (
    Expected,
    OneTimeUse,
    SamlExpired,
    SamlInvalid,
    SamlRejected,
    decode_response,
    parse_instant,
    parse_metadata,
    verify_response,
)
from tessera.services.sts.saml import name_qualifier

ROLE = "arn:aws:iam::111122223333:role/SamlRole"
PROVIDER = "arn:aws:iam::111122223333:saml-provider/Corp"
ATTRS = {ATTR + "Role": [f"{ROLE},{PROVIDER}"], ATTR + "RoleSessionName": ["alice"]}
EXPECTED = Expected(recipient=ENDPOINT, audience=AUDIENCE)


@pytest.fixture(scope="module")
def idp() -> Idp:
    return Idp()


@pytest.fixture(scope="module")
def other() -> Idp:
    return Idp()


def verify(idp: Idp, b64: str, now: dt.datetime | None = None) -> Any:
    meta = parse_metadata(idp.metadata())
    return verify_response(decode_response(b64), meta.certificates, meta.entity_id, now or dt.datetime.now(dt.UTC), EXPECTED, OneTimeUse())


def test_metadata_from_pysaml2(idp: Idp) -> None:
    meta = parse_metadata(idp.metadata())
    assert meta.entity_id == idp.entity_id
    assert meta.certificates == (idp.cert_pem.decode("ascii"),)


@pytest.mark.parametrize(
    "text",
    [
        "<x/>",
        "not xml",
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="e"/>',
        '<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><md:EntityDescriptor '
        'xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&x;"/>',
    ],
)
def test_bad_metadata_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_metadata(text)


@pytest.mark.parametrize(("sign_response", "sign_assertion"), [(False, True), (True, False), (True, True)])
def test_pysaml2_responses_verify(idp: Idp, sign_response: bool, sign_assertion: bool) -> None:
    b64 = idp.response(ATTRS, sign_response=sign_response, sign_assertion=sign_assertion)
    a = verify(idp, b64)
    assert (a.issuer, a.subject, a.subject_type, a.recipient) == (idp.entity_id, "alice@example.test", "persistent", ENDPOINT)
    assert a.attributes[ATTR + "Role"] == [f"{ROLE},{PROVIDER}"]
    assert AUDIENCE in a.audiences


def test_unsigned_assertion_is_refused(idp: Idp) -> None:
    b64 = idp.response(ATTRS, sign_assertion=False)
    with pytest.raises(SamlInvalid, match="signature"):
        verify(idp, b64)


def test_assertion_signed_by_another_key_is_refused(idp: Idp, other: Idp) -> None:
    signed = sign(assertion_element(idp.entity_id, ATTRS), other.key_pem, other.cert_pem)
    with pytest.raises(SamlInvalid, match="signature"):
        verify(idp, encode(response_element(idp.entity_id, signed)))


def test_modified_signed_assertion_is_refused(idp: Idp) -> None:
    root = etree.fromstring(base64.b64decode(crafted(idp, ATTRS)))
    root.find(f".//{{{SAML}}}NameID").text = "admin@example.test"
    with pytest.raises(SamlInvalid, match="signature"):
        verify(idp, encode(root))


def test_wrapping_an_evil_assertion_beside_the_signed_one_is_refused(idp: Idp) -> None:
    root = etree.fromstring(base64.b64decode(crafted(idp, ATTRS)))
    evil = assertion_element(idp.entity_id, {**ATTRS, ATTR + "RoleSessionName": ["mallory"]}, subject="mallory", assertion_id="_evil")
    root.insert(2, evil)
    with pytest.raises(SamlInvalid):
        verify(idp, encode(root))


def test_wrapping_the_signed_assertion_moved_inside_an_evil_one_is_refused(idp: Idp) -> None:
    root = etree.fromstring(base64.b64decode(crafted(idp, ATTRS)))
    signed = root.find(f"{{{SAML}}}Assertion")
    root.remove(signed)
    evil = assertion_element(idp.entity_id, ATTRS, subject="mallory", assertion_id="_assertion1")
    evil.find(f"{{{SAML}}}Subject").append(signed)  # the signature still finds its ID
    root.append(evil)
    with pytest.raises(SamlInvalid):
        verify(idp, encode(root))


def test_wrapping_with_the_same_id_elsewhere_reads_only_the_signed_element(idp: Idp) -> None:
    """An evil Response-level copy carrying the signed assertion in Extensions."""
    root = etree.fromstring(base64.b64decode(crafted(idp, ATTRS)))
    signed = root.find(f"{{{SAML}}}Assertion")
    extensions = etree.SubElement(root, "{urn:oasis:names:tc:SAML:2.0:protocol}Extensions")
    root.remove(signed)
    extensions.append(signed)
    root.append(assertion_element(idp.entity_id, ATTRS, subject="mallory", assertion_id="_other"))
    with pytest.raises(SamlInvalid):
        verify(idp, encode(root))


def test_comment_injected_in_name_id_does_not_truncate_it(idp: Idp) -> None:
    """The IdP signs ``user@evil.test.attacker.test``; a comment inserted afterwards is
    outside the canonical form (the signature still holds), and a reader of the first
    text node only would see ``user@evil.test``: the whole signed value is read."""
    root = etree.fromstring(base64.b64decode(crafted(idp, ATTRS, subject="user@evil.test.attacker.test")))
    name_id = root.find(f".//{{{SAML}}}NameID")
    name_id.text = "user@evil.test"
    comment = etree.Comment("")
    comment.tail = ".attacker.test"
    name_id.append(comment)
    assert verify(idp, encode(root)).subject == "user@evil.test.attacker.test"


def test_xxe_and_dtd_are_refused(idp: Idp) -> None:
    good = base64.b64decode(crafted(idp, ATTRS))
    doctype = b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    with pytest.raises(SamlInvalid, match="DOCTYPE"):
        decode_response(base64.b64encode(doctype + good).decode())
    bomb = b'<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    with pytest.raises(SamlInvalid):
        decode_response(base64.b64encode(bomb + good).decode())


def test_expired_and_not_yet_valid_are_refused(idp: Idp) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    with pytest.raises(SamlExpired, match="expired"):
        verify(idp, crafted(idp, ATTRS, now=past))
    future = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    with pytest.raises(SamlExpired, match="not yet valid"):
        verify(idp, crafted(idp, ATTRS, now=future))
    # within the clock skew: accepted
    verify(idp, crafted(idp, ATTRS, now=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=7)))


def test_wrong_audience_recipient_destination_status(idp: Idp) -> None:
    with pytest.raises(SamlInvalid, match="audience"):
        verify(idp, crafted(idp, ATTRS, audience="urn:other:sp"))
    with pytest.raises(SamlInvalid, match="Recipient"):
        verify(idp, crafted(idp, ATTRS, recipient="https://evil.test/saml"))
    with pytest.raises(SamlInvalid, match="Destination"):
        verify(idp, crafted(idp, ATTRS, destination="https://evil.test/saml"))
    with pytest.raises(SamlRejected):
        verify(idp, crafted(idp, ATTRS, status="Responder"))


def test_issuer_must_be_the_providers(idp: Idp) -> None:
    signed = sign(assertion_element("https://other.test/idp", ATTRS), idp.key_pem, idp.cert_pem)
    with pytest.raises(SamlInvalid, match="Issuer"):
        verify(idp, encode(response_element("https://other.test/idp", signed)))


def test_not_base64_or_not_a_response(idp: Idp) -> None:
    with pytest.raises(SamlInvalid):
        decode_response("%%%")
    with pytest.raises(SamlInvalid):
        decode_response(base64.b64encode(b"<a/>").decode())
    element = copy.deepcopy(assertion_element(idp.entity_id, ATTRS))
    with pytest.raises(SamlInvalid):
        decode_response(encode(element))


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent", "persistent"),
        ("urn:oasis:names:tc:SAML:2.0:nameid-format:transient", "transient"),
        ("urn:oasis:names:tc:SAML:2.0:nameid-format:entity", "entity"),
        ("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress", "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"),
        ("", "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"),
    ],
)
def test_subject_type(idp: Idp, fmt: str, expected: str) -> None:
    element = assertion_element(idp.entity_id, ATTRS)
    name_id = element.find(f".//{{{SAML}}}NameID")
    if fmt:
        name_id.set("Format", fmt)
    else:
        del name_id.attrib["Format"]
    signed = sign(element, idp.key_pem, idp.cert_pem)
    assert verify(idp, encode(response_element(idp.entity_id, signed))).subject_type == expected


def test_sha1_signatures_are_refused(idp: Idp) -> None:
    """pysaml2's default algorithm is RSA-SHA1; Tessera accepts SHA-2 signatures only."""
    b64 = idp.response(ATTRS, sig_alg=SIG_RSA_SHA1, digest_alg=DIGEST_SHA1)
    with pytest.raises(SamlInvalid, match="signature"):
        verify(idp, b64)


def test_name_qualifier_formula() -> None:
    """The API reference's example: BASE64(SHA1("https://example.com/saml" + "123456789012" + "/MySAMLIdP"))."""
    digest = hashlib.sha1(b"https://example.com/saml123456789012/MySAMLIdP", usedforsecurity=False).digest()
    assert name_qualifier("https://example.com/saml", "123456789012", "MySAMLIdP") == base64.b64encode(digest).decode()


def test_certificate_validity_is_judged_by_the_given_clock() -> None:
    """The signing certificate must be valid at the request's time (the injected clock)."""
    old = Idp(cert_valid_from=dt.datetime.now(dt.UTC) - dt.timedelta(days=400))  # expired 35 days ago
    b64 = crafted(old, ATTRS)
    with pytest.raises(SamlInvalid, match="signature"):
        verify(old, b64)
    then = dt.datetime.now(dt.UTC) - dt.timedelta(days=100)
    verify(old, crafted(old, ATTRS, now=then), now=then)


def test_structured_attribute_values_are_skipped_not_fatal(idp: Idp) -> None:
    """eduPersonTargetedID carries a NameID element, not text: the value is not read, the
    assertion still is."""
    element = assertion_element(idp.entity_id, {**ATTRS, "urn:oid:1.3.6.1.4.1.5923.1.1.1.10": ["placeholder"]})
    value = element.find(f".//{{{SAML}}}Attribute[@Name='urn:oid:1.3.6.1.4.1.5923.1.1.1.10']/{{{SAML}}}AttributeValue")
    value.text = None
    etree.SubElement(value, f"{{{SAML}}}NameID").text = "opaque-id"
    signed = sign(element, idp.key_pem, idp.cert_pem)
    a = verify(idp, encode(response_element(idp.entity_id, signed)))
    assert a.attributes["urn:oid:1.3.6.1.4.1.5923.1.1.1.10"] == []
    assert a.attributes[ATTR + "RoleSessionName"] == ["alice"]


def _edited(idp: Idp, edit: Any) -> str:
    """A signed response whose assertion ``edit`` changed before it was signed."""
    element = assertion_element(idp.entity_id, ATTRS)
    edit(element)
    return encode(response_element(idp.entity_id, sign(element, idp.key_pem, idp.cert_pem)))


def _conditions(element: Any) -> Any:
    return element.find(f"{{{SAML}}}Conditions")


def _confirmation_data(element: Any) -> Any:
    return element.find(f"{{{SAML}}}Subject/{{{SAML}}}SubjectConfirmation/{{{SAML}}}SubjectConfirmationData")


def _add_restriction(element: Any, *audiences: str) -> None:
    restriction = etree.SubElement(_conditions(element), f"{{{SAML}}}AudienceRestriction")
    for audience in audiences:
        etree.SubElement(restriction, f"{{{SAML}}}Audience").text = audience


def test_every_audience_restriction_must_name_this_service_provider(idp: Idp) -> None:
    """Several AudienceRestriction elements all apply (SAML core 2.5.1.4)."""
    with pytest.raises(SamlInvalid, match="audience"):
        verify(idp, _edited(idp, lambda e: _add_restriction(e, "urn:other:sp")))
    assert verify(idp, _edited(idp, lambda e: _add_restriction(e, "urn:other:sp", AUDIENCE)))

    def no_restriction(element: Any) -> None:
        for restriction in list(_conditions(element)):
            _conditions(element).remove(restriction)

    with pytest.raises(SamlInvalid, match="audience"):
        verify(idp, _edited(idp, no_restriction))


def test_bearer_confirmation_data_with_not_before_is_refused(idp: Idp) -> None:
    def not_before(element: Any) -> None:
        _confirmation_data(element).set("NotBefore", "2000-01-01T00:00:00Z")

    with pytest.raises(SamlInvalid, match="NotBefore"):
        verify(idp, _edited(idp, not_before))


@pytest.mark.parametrize("where", ["confirmation", "conditions"])
def test_times_without_a_time_zone_are_refused(idp: Idp, where: str) -> None:
    def local_time(element: Any) -> None:
        node = _confirmation_data(element) if where == "confirmation" else _conditions(element)
        node.set("NotOnOrAfter", node.get("NotOnOrAfter").removesuffix("Z"))

    with pytest.raises(SamlInvalid, match="NotOnOrAfter is not a dateTime in UTC"):
        verify(idp, _edited(idp, local_time))


def _one_time(element: Any) -> None:
    etree.SubElement(_conditions(element), f"{{{SAML}}}OneTimeUse")


def _verify_once(idp: Idp, b64: str, record: OneTimeUse, now: dt.datetime | None = None) -> Any:
    meta = parse_metadata(idp.metadata())
    return verify_response(decode_response(b64), meta.certificates, meta.entity_id, now or dt.datetime.now(dt.UTC), EXPECTED, record)


def test_a_one_time_use_assertion_is_accepted_once(idp: Idp) -> None:
    record = OneTimeUse()
    once = _edited(idp, _one_time)
    assertion = _verify_once(idp, once, record)
    assert assertion.one_time_use and assertion.assertion_id == "_assertion1"
    with pytest.raises(SamlInvalid, match="already been used"):
        _verify_once(idp, once, record)
    # an ordinary assertion may be presented again (AWS keeps no record of them)
    ordinary = crafted(idp, ATTRS)
    _verify_once(idp, ordinary, record)
    _verify_once(idp, ordinary, record)


def test_the_one_time_use_record_is_bounded(idp: Idp) -> None:
    record = OneTimeUse(capacity=1)
    _verify_once(idp, _edited(idp, _one_time), record)

    def second(element: Any) -> None:
        _one_time(element)
        element.set("ID", "_assertion2")

    other = _edited(idp, second)
    with pytest.raises(SamlInvalid, match="retry later"):
        _verify_once(idp, other, record)  # the first has not expired: refused, never forgotten
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)  # the first one has expired: it is dropped
    record.consume("issuer", "x", later + dt.timedelta(minutes=5), later)
    assert list(record._seen) == [("issuer", "x")]


@pytest.mark.parametrize("instant", ["9999-12-31T23:59:59Z", "9999-12-31T20:00:00-05:00", "0001-01-01T00:00:00Z"])
def test_an_instant_at_the_ends_of_the_calendar_is_refused_not_a_crash(instant: str) -> None:
    with pytest.raises(ValueError, match="out of range"):
        parse_instant(instant, zoned=True)


def test_a_one_time_use_assertion_valid_until_the_year_9999_is_invalid_not_a_crash(idp: Idp) -> None:
    far = crafted(idp, ATTRS, lifetime=dt.datetime(9999, 12, 31, 23, 0, tzinfo=dt.UTC) - dt.datetime.now(dt.UTC))
    with pytest.raises(SamlInvalid):
        _verify_once(idp, far, OneTimeUse())
