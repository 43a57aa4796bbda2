"""A SAML identity provider for tests: pysaml2 (with xmlsec1) issues the metadata and
the signed responses, as an independent IdP implementation would; ``crafted`` builds
responses by hand (signed with signxml) for the cases pysaml2 will not produce:
chosen times, audiences and recipients, and the attack documents."""

from __future__ import annotations

import base64
import datetime as dt
import os
import shutil
import tempfile
import warnings
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import XMLSigner

with warnings.catch_warnings():  # pysaml2 imports a cipher mode cryptography deprecates
    warnings.simplefilter("ignore")
    from saml2 import BINDING_HTTP_REDIRECT
    from saml2.config import IdPConfig
    from saml2.metadata import entity_descriptor
    from saml2.saml import NAMEID_FORMAT_PERSISTENT, NameID
    from saml2.server import Server
    from saml2.xmldsig import DIGEST_SHA1, DIGEST_SHA256, SIG_RSA_SHA1, SIG_RSA_SHA256  # noqa: F401  (SHA-1: for tests)

ENDPOINT = "https://signin.aws.amazon.com/saml"
AUDIENCE = "urn:amazon:webservices"
ATTR = "https://aws.amazon.com/SAML/Attributes/"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
XMLSEC1 = "/usr/bin/xmlsec1"


def _key_and_cert(cn: str, valid_from: dt.datetime | None = None) -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = valid_from or dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return pem_key, cert.public_bytes(serialization.Encoding.PEM)


def role_pair(role_arn: str, provider_arn: str) -> str:
    return f"{role_arn},{provider_arn}"


@dataclass
class Idp:
    entity_id: str = "https://idp.example.test/saml"
    directory: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="tessera-idp-"))
    cert_valid_from: dt.datetime | None = None  # default: a day ago (valid for a year)

    def __post_init__(self) -> None:
        weakref.finalize(self, shutil.rmtree, self.directory, True)  # the key files go with the IdP
        self.key_pem, self.cert_pem = _key_and_cert("idp.example.test", self.cert_valid_from)
        self.key_file = os.path.join(self.directory, "key.pem")
        self.cert_file = os.path.join(self.directory, "cert.pem")
        with open(self.key_file, "wb") as f:
            f.write(self.key_pem)
        with open(self.cert_file, "wb") as f:
            f.write(self.cert_pem)
        sp = os.path.join(self.directory, "sp.xml")
        with open(sp, "w", encoding="utf-8") as f:
            f.write(
                '<?xml version="1.0"?><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
                f'entityID="{AUDIENCE}"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
                '<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
                f'Location="{ENDPOINT}" index="1"/></md:SPSSODescriptor></md:EntityDescriptor>'
            )
        self.config = IdPConfig()
        self.config.load(
            {
                "entityid": self.entity_id,
                "key_file": self.key_file,
                "cert_file": self.cert_file,
                "xmlsec_binary": XMLSEC1,
                "metadata": {"local": [sp]},
                "service": {
                    "idp": {
                        "endpoints": {"single_sign_on_service": [("https://idp.example.test/sso", BINDING_HTTP_REDIRECT)]},
                        "policy": {"default": {"lifetime": {"minutes": 5}, "name_form": "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"}},
                        "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                    }
                },
            }
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.server = Server(config=self.config)

    def metadata(self) -> str:
        """The IdP's metadata document, as pysaml2 publishes it."""
        return str(entity_descriptor(self.config))

    def response(
        self,
        attributes: Mapping[str, Sequence[str]],
        subject: str = "alice@example.test",
        *,
        sign_response: bool = False,
        sign_assertion: bool = True,
        sig_alg: str = SIG_RSA_SHA256,
        digest_alg: str = DIGEST_SHA256,
    ) -> str:
        """A base64 SAMLResponse issued by pysaml2 (signed with xmlsec1, RSA-SHA256)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            resp = self.server.create_authn_response(
                identity={k: list(v) for k, v in attributes.items()},
                in_response_to=None,
                destination=ENDPOINT,
                sp_entity_id=AUDIENCE,
                name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text=subject),
                sign_assertion=sign_assertion,
                sign_response=sign_response,
                sign_alg=sig_alg,
                digest_alg=digest_alg,
                authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"},
            )
        return base64.b64encode(str(resp).encode("utf-8")).decode("ascii")


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def assertion_element(
    issuer: str,
    attributes: Mapping[str, Sequence[str]],
    *,
    subject: str = "alice@example.test",
    now: dt.datetime | None = None,
    lifetime: dt.timedelta = dt.timedelta(minutes=5),
    audience: str = AUDIENCE,
    recipient: str = ENDPOINT,
    assertion_id: str = "_assertion1",
    session_not_on_or_after: dt.datetime | None = None,
    one_time_use: bool = False,
) -> Any:
    """An unsigned ``saml:Assertion`` with the given facts (``one_time_use``: its
    Conditions carry ``<OneTimeUse/>``)."""
    now = now or dt.datetime.now(dt.UTC)
    until = _iso(now + lifetime)
    session_end = f' SessionNotOnOrAfter="{_iso(session_not_on_or_after)}"' if session_not_on_or_after else ""
    attrs = "".join(
        f'<saml:Attribute Name="{name}">' + "".join(f"<saml:AttributeValue>{v}</saml:AttributeValue>" for v in values) + "</saml:Attribute>"
        for name, values in attributes.items()
    )
    text = (
        f'<saml:Assertion xmlns:saml="{SAML}" ID="{assertion_id}" Version="2.0" IssueInstant="{_iso(now)}">'
        f"<saml:Issuer>{issuer}</saml:Issuer>"
        f'<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">{subject}</saml:NameID>'
        '<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">'
        f'<saml:SubjectConfirmationData NotOnOrAfter="{until}" Recipient="{recipient}"/></saml:SubjectConfirmation></saml:Subject>'
        f'<saml:Conditions NotBefore="{_iso(now - dt.timedelta(seconds=30))}" NotOnOrAfter="{until}">'
        f"<saml:AudienceRestriction><saml:Audience>{audience}</saml:Audience></saml:AudienceRestriction>"
        + ("<saml:OneTimeUse/>" if one_time_use else "")
        + "</saml:Conditions>"
        f'<saml:AuthnStatement AuthnInstant="{_iso(now)}"{session_end}><saml:AuthnContext><saml:AuthnContextClassRef>'
        "urn:oasis:names:tc:SAML:2.0:ac:classes:Password</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>"
        f"<saml:AttributeStatement>{attrs}</saml:AttributeStatement></saml:Assertion>"
    )
    return etree.fromstring(text)


def sign(element: Any, key_pem: bytes, cert_pem: bytes) -> Any:
    """``element`` with an enveloped RSA-SHA256 signature placed after its Issuer."""
    issuer = element.find(f"{{{SAML}}}Issuer")
    placeholder = etree.Element("{http://www.w3.org/2000/09/xmldsig#}Signature", Id="placeholder")
    issuer.addnext(placeholder)
    return XMLSigner(c14n_algorithm="http://www.w3.org/2001/10/xml-exc-c14n#").sign(
        element, key=key_pem, cert=cert_pem.decode("ascii"), reference_uri=element.get("ID")
    )


def response_element(issuer: str, assertion: Any, *, destination: str = ENDPOINT, status: str = "Success") -> Any:
    """A ``samlp:Response`` around ``assertion`` (serialised and parsed again, as a
    received document would be: a signed element is never re-parented in memory)."""
    return etree.fromstring(
        f'<samlp:Response xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}" ID="_response1" Version="2.0" '
        f'IssueInstant="{_iso(dt.datetime.now(dt.UTC))}" Destination="{destination}">'
        f"<saml:Issuer>{issuer}</saml:Issuer>"
        f'<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:{status}"/></samlp:Status>'.encode()
        + etree.tostring(assertion)
        + b"</samlp:Response>"
    )


def encode(root: Any) -> str:
    return base64.b64encode(etree.tostring(root)).decode("ascii")


def crafted(idp: Idp, attributes: Mapping[str, Sequence[str]], **kwargs: Any) -> str:
    """A response with a signed assertion built by hand (``assertion_element``'s options)."""
    destination = kwargs.pop("destination", ENDPOINT)
    status = kwargs.pop("status", "Success")
    signed = sign(assertion_element(idp.entity_id, attributes, **kwargs), idp.key_pem, idp.cert_pem)
    return encode(response_element(idp.entity_id, signed, destination=destination, status=status))
