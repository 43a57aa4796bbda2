"""SAML 2.0: identity-provider metadata and signed authentication responses.

Two readers, both over one hardened lxml parser (no DTD, no entities, no network, no
huge trees; a document that declares a DOCTYPE at all is refused):

* ``parse_metadata(text)``: an IdP's metadata document (``md:EntityDescriptor``) → its
  entity id, its signing certificates (``KeyDescriptor`` with ``use="signing"`` or no
  ``use``) and ``validUntil``
  (https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateSAMLProvider.html);
* ``verify_response(b64, idp, now, expected)``: a base64 ``samlp:Response`` → the
  ``Assertion`` facts STS needs, read *only* from the element the XML signature covers
  (``signxml`` returns it), so a second assertion, a moved signed assertion, an unsigned
  or re-signed assertion, or a comment inside NameID cannot change what is read
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_create_saml_assertions.html).

The signature may cover the whole Response or its single Assertion; it must be made by
one of the provider's certificates, valid at the time of the request, with an RSA or
ECDSA SHA-2 algorithm (SHA-1 is refused). Times are
checked with ``CLOCK_SKEW`` of tolerance either way. Failures raise ``SamlInvalid``
(bad document or signature), ``SamlExpired`` or ``SamlRejected`` (the IdP's status is
not Success); the STS operation turns them into AWS's errors.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from signxml.algorithms import DigestAlgorithm, SignatureMethod
from signxml.exceptions import InvalidInput, InvalidSignature
from signxml.verifier import SignatureConfiguration, XMLVerifier

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
NAMEID_2_0 = "urn:oasis:names:tc:SAML:2.0:nameid-format:"
NAMEID_UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"  # a NameID without Format
CLOCK_SKEW = dt.timedelta(minutes=5)
"""Tolerance for the IdP's clock on NotBefore and NotOnOrAfter (AWS documents none;
five minutes is the usual SAML service-provider allowance)."""

_SIGNATURE_METHODS = frozenset(m for m in SignatureMethod if "SHA1" not in m.name and "HMAC" not in m.name)
_DIGESTS = frozenset(d for d in DigestAlgorithm if "SHA1" not in d.name)


class SamlInvalid(ValueError):
    """The document is not a valid, correctly signed SAML response for this provider."""


class SamlExpired(ValueError):
    """The assertion is outside its validity window."""


class SamlRejected(ValueError):
    """The IdP's response says authentication failed."""


ONE_TIME_USE_CAPACITY = 100_000

USED_ONCE = "Invalid SAML response: this OneTimeUse assertion has already been used"


class OneTimeUseRecord(Protocol):
    """Where the assertions carrying ``<OneTimeUse/>`` (SAML core 2.5.1.5: the relying
    party must not use them twice) are recorded once they have verified."""

    def consume(self, issuer: str, assertion_id: str, until: dt.datetime, now: dt.datetime) -> None:
        """Record the assertion as used until ``until`` (its ``NotOnOrAfter`` plus the
        clock allowance, past which it cannot be accepted anyway); ``SamlInvalid``
        (``USED_ONCE``) when it already is."""
        ...


class OneTimeUse:
    """A ``OneTimeUseRecord`` in one process's memory, by issuer and assertion ``ID``.
    At most ``capacity`` at once: when that many unexpired ones are held, a new one is
    refused rather than let an old one be replayed. The server records them in its store
    instead (``services.sts.saml``), which every process and node shares."""

    def __init__(self, capacity: int = ONE_TIME_USE_CAPACITY) -> None:
        self.capacity = capacity
        self._seen: dict[tuple[str, str], dt.datetime] = {}
        self._lock = threading.Lock()

    def consume(self, issuer: str, assertion_id: str, until: dt.datetime, now: dt.datetime) -> None:
        key = (issuer, assertion_id)
        with self._lock:
            held = self._seen.get(key)
            if held is not None and now < held:
                raise SamlInvalid(USED_ONCE)
            if len(self._seen) >= self.capacity:
                self._seen = {k: t for k, t in self._seen.items() if now < t}
                if len(self._seen) >= self.capacity:
                    raise SamlInvalid("Invalid SAML response: too many OneTimeUse assertions are in use; retry later")
            self._seen[key] = until


def _parser() -> etree.XMLParser:
    """One parser per use (lxml parsers are not thread-safe): no DTD loading or
    validation, no entity expansion, no network access, no huge trees, PIs dropped."""
    return etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=False,
        remove_pis=True,
        collect_ids=False,
    )


def parse_xml(data: bytes) -> Any:
    """The root element of ``data``; ValueError for anything but one plain XML document
    (a DOCTYPE, even without entities, is refused: SAML never needs one)."""
    try:
        root = etree.fromstring(data, parser=_parser())
    except (etree.XMLSyntaxError, ValueError) as e:
        raise ValueError("not well-formed XML") from e
    if root is None:
        raise ValueError("empty document")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise ValueError("a DOCTYPE is not allowed")
    return root


# -- metadata -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IdpMetadata:
    entity_id: str
    certificates: tuple[str, ...]  # PEM, in document order
    valid_until: dt.datetime | None


def parse_metadata(text: str) -> IdpMetadata:
    """ValueError when ``text`` is not an IdP's metadata with a signing certificate."""
    root = parse_xml(text.encode("utf-8"))
    if root.tag != f"{{{MD}}}EntityDescriptor":
        raise ValueError("the root element is not md:EntityDescriptor")
    entity_id = (root.get("entityID") or "").strip()
    if not entity_id:
        raise ValueError("the entityID is missing")
    idps = root.findall(f"{{{MD}}}IDPSSODescriptor")
    if not idps:
        raise ValueError("no IDPSSODescriptor")
    certs: list[str] = []
    for idp in idps:
        for key in idp.findall(f"{{{MD}}}KeyDescriptor"):
            if key.get("use") not in (None, "signing"):
                continue
            for node in key.iterfind(f"{{{DS}}}KeyInfo/{{{DS}}}X509Data/{{{DS}}}X509Certificate"):
                certs.append(_certificate_pem(node.text or ""))
    if not certs:
        raise ValueError("no signing certificate")
    until = root.get("validUntil")
    return IdpMetadata(entity_id, tuple(dict.fromkeys(certs)), parse_instant(until) if until else None)


def _certificate_pem(b64: str) -> str:
    try:
        der = base64.b64decode("".join(b64.split()), validate=True)
        cert = x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError) as e:
        raise ValueError("an X509Certificate is not a certificate") from e
    return cert.public_bytes(Encoding.PEM).decode("ascii")


def parse_instant(text: str, *, zoned: bool = False) -> dt.datetime:
    """An xs:dateTime in UTC (SAML requires UTC: ``Z`` or an explicit offset). With
    ``zoned``, one without a time zone is refused rather than read as UTC: SAML time
    values "MUST be expressed in UTC form" (SAML core 1.3.3), and a time without a zone
    means the IdP's local time, which is unknown here."""
    value = text.strip()
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as e:
        raise ValueError(f"not a dateTime: {value[:64]}") from e
    if parsed.tzinfo is None:
        if zoned:
            raise ValueError(f"a dateTime without a time zone: {value[:64]}")
        parsed = parsed.replace(tzinfo=dt.UTC)
    # the year 9999 itself is refused: an instant there leaves no room for the clock
    # allowance added to it (an OverflowError, which would be a 500, not a refusal)
    if not 1 < parsed.year < dt.MAXYEAR:
        raise ValueError(f"a dateTime out of range: {value[:64]}")
    return parsed.astimezone(dt.UTC)


# -- responses ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Expected:
    """What this service provider requires of an assertion."""

    recipient: str  # the SAML endpoint URL (Destination and SubjectConfirmationData Recipient)
    audience: str  # one AudienceRestriction/Audience must be this


@dataclass(frozen=True, slots=True)
class Assertion:
    issuer: str
    subject: str
    subject_format: str  # the NameID Format, or "" when it had none
    recipient: str
    audiences: tuple[str, ...]
    not_on_or_after: dt.datetime  # the earliest of Conditions' and SubjectConfirmationData's
    session_not_on_or_after: dt.datetime | None
    attributes: dict[str, list[str]] = field(default_factory=dict)  # Name → values
    assertion_id: str = ""
    one_time_use: bool = False  # Conditions carry ``<OneTimeUse/>``

    @property
    def subject_type(self) -> str:
        """``SubjectType`` and ``SAML:sub_type``: the NameID Format without the
        ``urn:oasis:names:tc:SAML:2.0:nameid-format:`` prefix (``persistent``,
        ``transient``, …); any other Format in full."""
        fmt = self.subject_format or NAMEID_UNSPECIFIED
        return fmt.removeprefix(NAMEID_2_0) if fmt.startswith(NAMEID_2_0) else fmt


def decode_response(b64: str) -> Any:
    """The base64 SAMLResponse as a parsed ``samlp:Response`` root (SamlInvalid otherwise)."""
    try:
        data = base64.b64decode("".join(b64.split()), validate=True)
    except (binascii.Error, ValueError) as e:
        raise SamlInvalid("Invalid SAML response: not base64") from e
    try:
        root = parse_xml(data)
    except ValueError as e:
        raise SamlInvalid(f"Invalid SAML response: {e}") from e
    if root.tag != f"{{{SAMLP}}}Response":
        raise SamlInvalid("Invalid SAML response: the root element is not samlp:Response")
    return root


def response_issuer(root: Any) -> str:
    """The issuer the response claims, unverified: used only to pick the provider's
    certificates, never trusted (the signed assertion's issuer must agree)."""
    for path in (f"{{{SAML}}}Issuer", f"{{{SAML}}}Assertion/{{{SAML}}}Issuer"):
        node = root.find(path)
        if node is not None and node.text:
            return str(node.text).strip()
    return ""


def verify_response(
    root: Any,
    certificates: tuple[str, ...],
    entity_id: str,
    now: dt.datetime,
    expected: Expected,
    one_time_use: OneTimeUseRecord,
) -> Assertion:
    """Verify the signature of ``root`` (from ``decode_response``) with one of
    ``certificates`` and read the signed assertion; see the module docstring. A
    OneTimeUse assertion is recorded in ``one_time_use`` once it has verified, and
    refused if it was already."""
    _check_status(root)
    if root.find(f".//{{{SAML}}}EncryptedAssertion") is not None:
        raise SamlInvalid("Invalid SAML response: encrypted assertions are not supported")
    if len(root.findall(f".//{{{SAML}}}Assertion")) != 1 or len(root.findall(f"{{{SAML}}}Assertion")) != 1:
        raise SamlInvalid("Invalid SAML response: it must contain exactly one Assertion")
    signed, signed_response = _signed_assertion(root, certificates, now)
    destination = (signed_response if signed_response is not None else root).get("Destination")
    if destination is not None and destination != expected.recipient:
        raise SamlInvalid("Invalid SAML response: Destination is not this service's SAML endpoint")
    assertion = _read_assertion(signed, entity_id, now, expected)
    if assertion.one_time_use:
        one_time_use.consume(assertion.issuer, assertion.assertion_id, assertion.not_on_or_after + CLOCK_SKEW, now)
    return assertion


def _check_status(root: Any) -> None:
    code = root.find(f"{{{SAMLP}}}Status/{{{SAMLP}}}StatusCode")
    value = code.get("Value") if code is not None else None
    if value is None:
        raise SamlInvalid("Invalid SAML response: it has no Status")
    if value != SUCCESS:
        raise SamlRejected("The identity provider reported that authentication failed.")


def _signed_assertion(root: Any, certificates: tuple[str, ...], now: dt.datetime) -> tuple[Any, Any]:
    """The Assertion element exactly as signed (the signed Response's one Assertion, or
    the signed Assertion itself) and the signed Response (None when only the Assertion
    is signed). The certificate must be valid at ``now`` (the service's
    clock, not the system's)."""
    if root.find(f"{{{DS}}}Signature") is not None:
        location, whole_response = "./", True
    elif root.find(f"{{{SAML}}}Assertion/{{{DS}}}Signature") is not None:
        location, whole_response = f"./{{{SAML}}}Assertion/", False
    else:
        raise SamlInvalid("Response signature invalid")
    config = SignatureConfiguration(
        location=location, signature_methods=_SIGNATURE_METHODS, digest_algorithms=_DIGESTS, verification_time=now
    )
    signed = None
    for pem in certificates:
        try:
            result = XMLVerifier().verify(root, x509_cert=pem, expect_config=config, id_attribute="ID")
        except (InvalidSignature, InvalidInput, ValueError):
            continue
        signed = result.signed_xml if not isinstance(result, list) else None
        break
    if signed is None:
        raise SamlInvalid("Response signature invalid")
    if whole_response:
        if signed.tag != f"{{{SAMLP}}}Response":
            raise SamlInvalid("Response signature invalid")
        assertions = signed.findall(f"{{{SAML}}}Assertion")
        if len(assertions) != 1 or len(signed.findall(f".//{{{SAML}}}Assertion")) != 1:
            raise SamlInvalid("Invalid SAML response: it must contain exactly one Assertion")
        return assertions[0], signed
    if signed.tag != f"{{{SAML}}}Assertion":
        raise SamlInvalid("Response signature invalid")
    return signed, None


def _text(node: Any) -> str:
    """The whole character content of a leaf element: comments (kept out of the signed
    form by exclusive canonicalisation) cannot split it, and child elements are refused."""
    text = _leaf_text(node)
    if text is None:
        raise SamlInvalid("Invalid SAML response: unexpected element content")
    return text


def _leaf_text(node: Any) -> str | None:
    """``node``'s character content, or None when it holds elements (an AttributeValue
    may hold a NameID, as eduPersonTargetedID does: such values are not text)."""
    parts = [node.text or ""]
    for child in node:
        if not isinstance(child, etree._Comment | etree._ProcessingInstruction):
            return None
        parts.append(child.tail or "")
    return "".join(parts).strip()


def _instant(node: Any, name: str) -> dt.datetime | None:
    value = node.get(name) if node is not None else None
    if value is None:
        return None
    try:
        return parse_instant(value, zoned=True)
    except ValueError as e:
        raise SamlInvalid(f"Invalid SAML response: {name} is not a dateTime in UTC") from e


def _read_assertion(assertion: Any, entity_id: str, now: dt.datetime, expected: Expected) -> Assertion:
    issuer_node = assertion.find(f"{{{SAML}}}Issuer")
    issuer = _text(issuer_node) if issuer_node is not None else ""
    if issuer != entity_id:
        raise SamlInvalid("Issuer not present in specified provider")
    name_id = assertion.find(f"{{{SAML}}}Subject/{{{SAML}}}NameID")
    if name_id is None or not _text(name_id):
        raise SamlInvalid("Invalid SAML response: the Subject has no NameID")
    confirmations = assertion.findall(f"{{{SAML}}}Subject/{{{SAML}}}SubjectConfirmation")
    if len(confirmations) != 1 or confirmations[0].get("Method") != BEARER:
        raise SamlInvalid("Invalid SAML response: it must have exactly one bearer SubjectConfirmation")
    data = confirmations[0].find(f"{{{SAML}}}SubjectConfirmationData")
    recipient = data.get("Recipient") if data is not None else None
    confirm_until = _instant(data, "NotOnOrAfter")
    if recipient is None or confirm_until is None:
        raise SamlInvalid("Invalid SAML response: SubjectConfirmationData needs Recipient and NotOnOrAfter")
    if data is not None and data.get("NotBefore") is not None:
        # the Web Browser SSO profile (SAML profiles 4.1.4.2): bearer confirmation data
        # MUST NOT have NotBefore
        raise SamlInvalid("Invalid SAML response: a bearer SubjectConfirmationData must not have NotBefore")
    if recipient != expected.recipient:
        raise SamlInvalid("Invalid SAML response: the Recipient is not this service's SAML endpoint")
    conditions = assertion.find(f"{{{SAML}}}Conditions")
    not_before = _instant(conditions, "NotBefore")
    until = min(t for t in (confirm_until, _instant(conditions, "NotOnOrAfter")) if t is not None)
    if not_before is not None and now + CLOCK_SKEW < not_before:
        raise SamlExpired("The SAML assertion is not yet valid (NotBefore is in the future).")
    if now - CLOCK_SKEW >= until:
        raise SamlExpired("The SAML assertion has expired (NotOnOrAfter has passed).")
    restrictions = list(conditions.iterfind(f"{{{SAML}}}AudienceRestriction")) if conditions is not None else []
    audiences = tuple(_text(a) for r in restrictions for a in r.iterfind(f"{{{SAML}}}Audience"))
    # each AudienceRestriction must name this service provider (SAML core 2.5.1.4: the
    # assertion is addressed to the intersection of the restrictions)
    if not restrictions or any(expected.audience not in (_text(a) for a in r.iterfind(f"{{{SAML}}}Audience")) for r in restrictions):
        raise SamlInvalid("Response does not contain the required audience.")
    authn = assertion.find(f"{{{SAML}}}AuthnStatement")
    attributes: dict[str, list[str]] = {}
    for attribute in assertion.iterfind(f"{{{SAML}}}AttributeStatement/{{{SAML}}}Attribute"):
        name = attribute.get("Name")
        if name:
            values = attributes.setdefault(name, [])
            texts = (_leaf_text(v) for v in attribute.iterfind(f"{{{SAML}}}AttributeValue"))
            values.extend(text for text in texts if text is not None)
    return Assertion(
        issuer=issuer,
        subject=_text(name_id),
        subject_format=name_id.get("Format") or "",
        recipient=recipient,
        audiences=audiences,
        not_on_or_after=until,
        session_not_on_or_after=_instant(authn, "SessionNotOnOrAfter"),
        attributes=attributes,
        assertion_id=assertion.get("ID") or "",
        one_time_use=conditions is not None and conditions.find(f"{{{SAML}}}OneTimeUse") is not None,
    )
